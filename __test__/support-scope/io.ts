// Real egress for the scope tests, as promises that cannot hang: a getaddrinfo lookup (callback
// or promise API), a c-ares query, a TCP round trip to an echo server, an HTTP GET and a fetch.
import dns from 'node:dns'
import http from 'node:http'
import net from 'node:net'

/** How long one lookup or connect may take before it counts as a hang. */
export const TIMEOUT_MS = 5_000

export function withTimeout<T>(promise: Promise<T>, what: string, ms = TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms (hang)`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** dns.lookup with a callback (the getaddrinfo binding): the first address. */
export function lookup(name: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      dns.lookup(name, (err, address) => (err ? reject(err) : resolve(address)))
    }),
    `dns.lookup ${name}`,
  )
}

/** dns.promises.lookup (tethered's JS shim, then the binding): the first address. */
export function lookupPromise(name: string): Promise<string> {
  return withTimeout(
    dns.promises.lookup(name).then((r) => r.address),
    `dns.promises.lookup ${name}`,
  )
}

/** An A query through c-ares (a fresh Resolver: the query itself is the egress). */
export function resolve4(name: string): Promise<string> {
  return withTimeout(
    new dns.promises.Resolver().resolve4(name).then((r) => r[0] ?? ''),
    `Resolver.resolve4 ${name}`,
  )
}

/**
 * net.connect, write "ping", resolve with the echo: "allowed" means a real round trip. A
 * blocked connect rejects with exactly what the socket's 'error' event delivered.
 */
export function connect(host: string, port: number): Promise<string> {
  let socket: net.Socket | undefined
  const result = new Promise<string>((resolve, reject) => {
    socket = net.connect({ host, port })
    let echoed = ''
    socket.setEncoding('utf8')
    socket.on('error', reject)
    socket.on('connect', () => socket?.write('ping'))
    socket.on('data', (chunk: string) => {
      echoed += chunk
      if (echoed.length >= 4) resolve(echoed)
    })
  })
  return withTimeout(result, `net.connect ${host}:${port}`).finally(() => socket?.destroy())
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown }

/** The settled result of an attempt, so one test can check many without try/catch noise. */
export function settle<T>(attempt: Promise<T>): Promise<Outcome<T>> {
  return attempt.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  )
}

/** A promise plus its resolve, for ordering code inside and outside a scope. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

/** http.get through `agent`, resolving with the status once the whole body arrived. */
export function httpGet(url: string, agent: http.Agent): Promise<number> {
  let req: http.ClientRequest | undefined
  const result = new Promise<number>((resolve, reject) => {
    req = http.get(url, { agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
  return withTimeout(result, `http.get ${url}`)
}

/** Global fetch, resolving with the status; a failure rejects with fetch's `cause` when it has one. */
export function fetchStatus(url: string): Promise<number> {
  const result = fetch(url).then(
    async (res) => {
      await res.arrayBuffer()
      return res.status
    },
    (err: unknown) => {
      throw (err as { cause?: unknown }).cause ?? err
    },
  )
  return withTimeout(result, `fetch ${url}`)
}
