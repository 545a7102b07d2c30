// Proxies (PRODUCT.md Clarifications): an allowed proxy must not make a blocked target
// reachable. The proxy here is allowed (loopback, allowLocalhost defaults to true) and counts
// what it relays per target; the checks must refuse a request for evil.test before the proxy
// gets it, so the proxy relays nothing for evil.test and the evil servers see nothing.
// - Node's built-in env proxy (NODE_USE_ENV_PROXY=1 + HTTP(S)_PROXY, Node 22.21+ / 24.5+) in a
//   child process (the env proxy is configured at startup): http.get, https.get (CONNECT),
//   fetch over http and https.
// - In-process, any Node: undici's ProxyAgent (tunnelling and not) and EnvHttpProxyAgent, and
//   requests written for a proxy by hand (absolute-form URL, CONNECT).
import { execFile, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'
import { activate, deactivate, EgressBlocked } from '../dist/index.mjs'
import { ALLOWED_V4, BLOCKED_V4, countingHttpServer, countingHttpsServer, netTest, testCert, type CountingServer } from './harness/index.js'

const CHILD = fileURLToPath(new URL('./fixtures/env-proxy-child.mjs', import.meta.url))
const HANG_MS = 10_000


/** Whether this Node honours NODE_USE_ENV_PROXY (22.21+, 24.5+; not 20): asked of a child, as it is read at startup. */
function supportsEnvProxy(): boolean {
  const env = { ...process.env, NODE_USE_ENV_PROXY: '1', HTTP_PROXY: 'http://127.0.0.1:9', NODE_OPTIONS: '' }
  const probe = 'process.stdout.write(String(!!require("node:http").globalAgent.options.proxyEnv))'
  return execFileSync(process.execPath, ['-e', probe], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }) === 'true'
}
const hasEnvProxy = supportsEnvProxy()
const envProxyTest = hasEnvProxy ? netTest.serial : netTest.skip
const NEEDS_ENV_PROXY = hasEnvProxy ? '' : ' [needs Node 22.21+/24.5+: NODE_USE_ENV_PROXY]'

// ---------------------------------------------------------------- the proxy

interface CountingProxy {
  port: number
  url: string
  /** Requests relayed (absolute-form or CONNECT), by target host. */
  relayed: Record<string, number>
  close(): Promise<void>
}

function splitAuthority(authority: string): [string, number] {
  const colon = authority.lastIndexOf(':')
  return [authority.slice(0, colon).replace(/^\[|\]$/g, ''), Number(authority.slice(colon + 1))]
}

/** A forward proxy on 127.0.0.1: absolute-form HTTP requests and CONNECT tunnels. */
async function countingProxy(): Promise<CountingProxy> {
  const relayed: Record<string, number> = {}
  const count = (host: string): void => void (relayed[host] = (relayed[host] ?? 0) + 1)
  const sockets = new Set<net.Socket>()
  const track = (s: net.Socket): net.Socket => (sockets.add(s), s.on('close', () => sockets.delete(s)), s.on('error', () => {}))
  const server = http.createServer((req, res) => {
    let target: URL
    try {
      target = new URL(req.url ?? '')
    } catch {
      res.writeHead(400).end('not a proxy request')
      return
    }
    count(target.hostname)
    const upstream = http.request(
      { host: target.hostname, port: target.port || 80, method: req.method, path: `${target.pathname}${target.search}`, headers: req.headers, agent: false },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
      },
    )
    upstream.on('error', () => res.headersSent ? res.destroy() : res.writeHead(502).end())
    req.pipe(upstream)
  })
  server.on('connection', track)
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    track(client)
    const [host, port] = splitAuthority(req.url ?? '')
    count(host)
    const upstream = track(net.connect(port, host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(client).pipe(upstream)
    }))
    upstream.on('error', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    relayed,
    close: () => new Promise<void>((resolve) => (server.close(() => resolve()), sockets.forEach((s) => s.destroy()))),
  }
}

interface World {
  proxy: CountingProxy
  api: CountingServer
  evil: CountingServer
  apiTls: CountingServer
  evilTls: CountingServer
}

async function world(t: ExecutionContext): Promise<World> {
  const [proxy, api, evil, apiTls, evilTls] = await Promise.all([
    countingProxy(),
    countingHttpServer(ALLOWED_V4),
    countingHttpServer(BLOCKED_V4),
    countingHttpsServer(ALLOWED_V4),
    countingHttpsServer(BLOCKED_V4),
  ])
  t.teardown(() => Promise.all([proxy.close(), api.close(), evil.close(), apiTls.close(), evilTls.close()]))
  return { proxy, api, evil, apiTls, evilTls }
}

/** The blocked side saw nothing: the proxy relayed nothing for evil.test, no server traffic. */
function assertNothingReachedEvil(t: ExecutionContext, w: World): void {
  t.is(w.proxy.relayed['evil.test'] ?? 0, 0, 'the proxy relayed nothing for evil.test')
  for (const s of [w.evil, w.evilTls]) {
    t.is(s.connections, 0)
    t.is(s.requests, 0)
  }
}

// ---------------------------------------------------------------- Node's env proxy (child)

interface ErrorShape {
  name?: string
  code?: string
  host?: string
  port?: number
  kind?: string
  message?: string
  cause?: ErrorShape
}

type Outcome = { name: string; status: number; body: string } | { name: string; error: ErrorShape }

interface ChildResult {
  outcomes: Map<string, Outcome>
  reports: { host: string; port: number | null; kind: string }[]
}

function runChild(t: ExecutionContext, w: World, plan: { name: string; client: 'http' | 'fetch'; url: string }[], allow?: string[]): Promise<ChildResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tethered-proxy-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const caFile = path.join(dir, 'ca.pem')
  fs.writeFileSync(caFile, testCert().ca)
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const key of ['http_proxy', 'https_proxy', 'no_proxy', 'NO_PROXY', 'NODE_OPTIONS']) delete env[key]
  Object.assign(env, { NODE_USE_ENV_PROXY: '1', HTTP_PROXY: w.proxy.url, HTTPS_PROXY: w.proxy.url, NODE_EXTRA_CA_CERTS: caFile })
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CHILD, JSON.stringify(plan), ...(allow ? [JSON.stringify(allow)] : [])], { env, timeout: HANG_MS * plan.length }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`child failed: ${err.message}\n${stderr}`))
      const outcomes = new Map<string, Outcome>()
      let reports: ChildResult['reports'] = []
      for (const line of stdout.split('\n').filter(Boolean)) {
        const parsed = JSON.parse(line) as Outcome & { reports?: ChildResult['reports'] }
        if (parsed.name === 'reports') reports = parsed.reports ?? []
        else outcomes.set(parsed.name, parsed)
      }
      resolve({ outcomes, reports })
    })
  })
}

function assertOk(t: ExecutionContext, result: ChildResult, name: string): void {
  t.deepEqual(result.outcomes.get(name), { name, status: 200, body: 'ok' }, name)
}

/** http.get fails with the EgressBlocked itself; fetch with TypeError('fetch failed', { cause }). */
function assertBlocked(t: ExecutionContext, result: ChildResult, name: string, client: 'http' | 'fetch', port: number): void {
  const outcome = result.outcomes.get(name)
  const error = outcome && 'error' in outcome ? outcome.error : undefined
  if (!error) return void t.fail(`${name}: expected EgressBlocked, got ${JSON.stringify(outcome)}`)
  const blocked = client === 'fetch' ? error.cause : error
  if (client === 'fetch') t.is(error.name, 'TypeError', `${name}: fetch failed`)
  t.like(blocked, { name: 'EgressBlocked', code: 'ERR_TETHERED_EGRESS_BLOCKED', host: 'evil.test', port, kind: 'request' }, name)
}

envProxyTest(`NODE_USE_ENV_PROXY: http.get and fetch reach an allowed target through the proxy; a blocked target is refused before the proxy${NEEDS_ENV_PROXY}`, async (t) => {
  const w = await world(t)
  const api = `http://api.stripe.test:${w.api.port}/`
  const evil = `http://evil.test:${w.evil.port}/`
  const result = await runChild(t, w, [
    { name: 'http api', client: 'http', url: api },
    { name: 'http api (pooled proxy connection)', client: 'http', url: api },
    { name: 'http evil', client: 'http', url: evil },
    { name: 'fetch api', client: 'fetch', url: api },
    { name: 'fetch api (pooled)', client: 'fetch', url: api },
    { name: 'fetch evil', client: 'fetch', url: evil },
  ])
  for (const name of ['http api', 'http api (pooled proxy connection)', 'fetch api', 'fetch api (pooled)']) assertOk(t, result, name)
  assertBlocked(t, result, 'http evil', 'http', w.evil.port)
  assertBlocked(t, result, 'fetch evil', 'fetch', w.evil.port)
  t.is(w.api.requests, 4, 'every allowed request arrived')
  t.true((w.proxy.relayed['api.stripe.test'] ?? 0) > 0, 'the allowed requests went through the proxy')
  assertNothingReachedEvil(t, w)
  const requestReports = result.reports.filter((r) => r.kind === 'request')
  t.deepEqual(requestReports, [
    { host: 'evil.test', port: w.evil.port, kind: 'request' },
    { host: 'evil.test', port: w.evil.port, kind: 'request' },
  ], 'one report per refused request')
  t.false(result.reports.some((r) => r.host !== 'evil.test'), 'nothing allowed was reported')
})

envProxyTest(`NODE_USE_ENV_PROXY: https.get and fetch over a CONNECT tunnel: allowed target answers, blocked target is refused${NEEDS_ENV_PROXY}`, async (t) => {
  const w = await world(t)
  const api = `https://api.stripe.test:${w.apiTls.port}/`
  const evil = `https://evil.test:${w.evilTls.port}/`
  const result = await runChild(t, w, [
    { name: 'https api', client: 'http', url: api },
    { name: 'https evil', client: 'http', url: evil },
    { name: 'fetch https api', client: 'fetch', url: api },
    { name: 'fetch https evil', client: 'fetch', url: evil },
  ])
  assertOk(t, result, 'https api')
  assertOk(t, result, 'fetch https api')
  assertBlocked(t, result, 'https evil', 'http', w.evilTls.port)
  assertBlocked(t, result, 'fetch https evil', 'fetch', w.evilTls.port)
  t.is(w.apiTls.requests, 2)
  t.true((w.proxy.relayed['api.stripe.test'] ?? 0) > 0, 'the allowed requests were tunnelled through the proxy')
  assertNothingReachedEvil(t, w)
  t.is(result.reports.filter((r) => r.kind === 'request').length, 2, 'one report per refused request')
})

// Node 26's undici dials an IP-literal proxy with `host` set to the target's name and a lookup
// returning the proxy's address: the socket must be judged by that address (the proxy), not
// by the target's name with the proxy's port.
const portRuleTest = !hasEnvProxy ? netTest.skip : netTest.serial
const PORT_RULE_NOTE = !hasEnvProxy ? NEEDS_ENV_PROXY : ''
portRuleTest(`NODE_USE_ENV_PROXY: a port-specific rule for the target lets http.get and fetch through the proxy${PORT_RULE_NOTE}`, async (t) => {
  const w = await world(t)
  const api = `http://api.stripe.test:${w.api.port}/`
  const result = await runChild(t, w, [
    { name: 'http api', client: 'http', url: api },
    { name: 'fetch api', client: 'fetch', url: api },
  ], [`api.stripe.test:${w.api.port}`])
  assertOk(t, result, 'http api')
  assertOk(t, result, 'fetch api')
  t.deepEqual(result.reports, [])
})

// ---------------------------------------------------------------- in-process proxies

function activateFor(t: ExecutionContext): void {
  activate({ allow: ['api.stripe.test'], logger: null })
  t.teardown(() => deactivate())
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: hang`)), HANG_MS)))
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer))
}

async function expectBlocked(t: ExecutionContext, promise: Promise<unknown>, port: number, where: 'self' | 'cause' = 'self'): Promise<void> {
  const err = await t.throwsAsync(withTimeout(promise, 'blocked request'))
  const blocked = where === 'self' ? err : (err as { cause?: unknown } | undefined)?.cause
  t.true(blocked instanceof EgressBlocked, `expected EgressBlocked (${where}), got ${String(err)}`)
  t.like(blocked, { host: 'evil.test', port, kind: 'request' })
}

/** A request written for a proxy by hand: to the proxy's address, naming the target. */
function viaProxy(proxy: CountingProxy, options: http.RequestOptions): Promise<{ status: number; body: string }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: proxy.port, agent: false, ...options }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      req.on('connect', (res: http.IncomingMessage, socket: net.Socket) => (socket.destroy(), resolve({ status: res.statusCode ?? 0, body: '' })))
      req.on('error', reject)
      req.end()
    }),
    'request via proxy',
  )
}

netTest.serial('http request written for a proxy (absolute-form URL): the target, not the proxy, is checked', async (t) => {
  const w = await world(t)
  activateFor(t)
  t.deepEqual(await viaProxy(w.proxy, { path: `http://api.stripe.test:${w.api.port}/` }), { status: 200, body: 'ok' })
  await expectBlocked(t, viaProxy(w.proxy, { path: `http://evil.test:${w.evil.port}/` }), w.evil.port)
  t.is(w.api.requests, 1)
  assertNothingReachedEvil(t, w)
})

netTest.serial('http CONNECT request to a proxy: the tunnel target is checked', async (t) => {
  const w = await world(t)
  activateFor(t)
  t.is((await viaProxy(w.proxy, { method: 'CONNECT', path: `api.stripe.test:${w.apiTls.port}` })).status, 200)
  await expectBlocked(t, viaProxy(w.proxy, { method: 'CONNECT', path: `evil.test:${w.evilTls.port}` }), w.evilTls.port)
  t.is(w.proxy.relayed['api.stripe.test'], 1)
  assertNothingReachedEvil(t, w)
})

const undici = (): Promise<typeof import('undici')> => import('undici')

for (const proxyTunnel of [true, false]) {
  netTest.serial(`undici ProxyAgent (proxyTunnel: ${proxyTunnel}): allowed target answers through the proxy, blocked target is refused, also over a pooled proxy connection`, async (t) => {
    const { ProxyAgent, request, fetch: undiciFetch } = await undici()
    const w = await world(t)
    const dispatcher = new ProxyAgent({ uri: w.proxy.url, proxyTunnel })
    t.teardown(() => dispatcher.destroy())
    activateFor(t)
    const api = `http://api.stripe.test:${w.api.port}/`
    const evil = `http://evil.test:${w.evil.port}/`
    const res = await withTimeout(request(api, { dispatcher }), 'request')
    t.is(await res.body.text(), 'ok')
    await expectBlocked(t, request(evil, { dispatcher }), w.evil.port)
    await expectBlocked(t, undiciFetch(evil, { dispatcher }), w.evil.port, 'cause')
    t.is(await (await withTimeout(undiciFetch(api, { dispatcher }), 'fetch')).text(), 'ok')
    t.is(w.api.requests, 2)
    t.true((w.proxy.relayed['api.stripe.test'] ?? 0) > 0)
    assertNothingReachedEvil(t, w)
  })
}

netTest.serial('undici EnvHttpProxyAgent: https through the proxy\'s CONNECT: allowed target answers, blocked target is refused', async (t) => {
  const { EnvHttpProxyAgent, request } = await undici()
  const w = await world(t)
  const dispatcher = new EnvHttpProxyAgent({ httpProxy: w.proxy.url, httpsProxy: w.proxy.url, noProxy: '', requestTls: { ca: testCert().ca } } as ConstructorParameters<typeof EnvHttpProxyAgent>[0])
  t.teardown(() => dispatcher.destroy())
  activateFor(t)
  const res = await withTimeout(request(`https://api.stripe.test:${w.apiTls.port}/`, { dispatcher }), 'request')
  t.is(await res.body.text(), 'ok')
  await expectBlocked(t, request(`https://evil.test:${w.evilTls.port}/`, { dispatcher }), w.evilTls.port)
  await expectBlocked(t, request(`http://evil.test:${w.evil.port}/`, { dispatcher }), w.evil.port)
  t.is(w.apiTls.requests, 1)
  assertNothingReachedEvil(t, w)
})
