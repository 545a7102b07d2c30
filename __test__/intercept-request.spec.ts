// Request-level checks (src/intercept/request.ts): a request is checked against its target
// when it is made, not only when a socket dials. The proof is a keep-alive connection opened
// before activate(): the next request over it makes no connect at all, so only the request
// layer can refuse it, and the server must not receive it (counted in `requests`).
import dc from 'node:diagnostics_channel'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import test, { type ExecutionContext } from 'ava'
import type { Dispatcher } from 'undici'
import { activate, deactivate, EgressBlocked, scope } from '../dist/index.mjs'
import { ALLOWED_V4, BLOCKED_V4, BLOCKED_V6, countingHttpServer, countingHttpsServer, netTest, testCert, type CountingServer } from './harness/index.js'

const ALLOW = ['api.stripe.test']
const HANG_MS = 5_000

/** Whether this Node publishes `http.client.request.created` (22+; not 20): a request on a socket that never connects, destroyed at once. */
function publishesCreatedChannel(): boolean {
  let seen = false
  const onCreated = (): void => void (seen = true)
  dc.subscribe('http.client.request.created', onCreated)
  try {
    const req = http.request({ host: '127.0.0.1', createConnection: () => new net.Socket() } as http.RequestOptions)
    req.on('error', () => {})
    req.destroy()
  } finally {
    dc.unsubscribe('http.client.request.created', onCreated)
  }
  return seen
}
const hasCreatedChannel = publishesCreatedChannel()
const createdTest = hasCreatedChannel ? netTest.serial : netTest.skip
const NEEDS_CREATED = hasCreatedChannel ? '' : ' [needs Node 22+: http.client.request.created]'

// The undici package is loaded lazily: if it loaded first, its Agent would become the global
// dispatcher, and global fetch would no longer exercise Node's bundled undici.
const undici = (): Promise<typeof import('undici')> => import('undici')

function activateFor(t: ExecutionContext, allow: string[] = ALLOW): void {
  activate({ allow, logger: null })
  t.teardown(() => deactivate())
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${HANG_MS} ms (hang)`)), HANG_MS)
  })
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer))
}

interface Response {
  status: number
  body: string
}

/** http(s).get as a promise; the error must come through 'error', never as a throw. */
function get(url: string, options: https.RequestOptions = {}): Promise<Response> {
  const client = url.startsWith('https:') ? https : http
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = client.get(url, options, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        res.on('error', reject)
      })
      req.on('error', reject)
    }),
    `GET ${url}`,
  )
}

/** Asserts that `promise` rejects with an EgressBlocked for host:port, itself or as `cause`. */
async function expectBlocked(t: ExecutionContext, promise: Promise<unknown>, where: 'self' | 'cause', host: string, port: number): Promise<void> {
  const err = await t.throwsAsync(promise)
  const blocked = where === 'self' ? err : (err as { cause?: unknown } | undefined)?.cause
  if (where === 'cause') t.is(err?.name, 'TypeError', 'fetch rejects with TypeError("fetch failed")')
  t.true(blocked instanceof EgressBlocked, `expected EgressBlocked (${where}), got ${String(err)} (cause: ${String((err as { cause?: unknown })?.cause)})`)
  t.like(blocked, { host, port, kind: 'request' })
}

/** Idle sockets in the agent's pool, after waiting (briefly) for the last one to be put back. */
async function pooled(agent: http.Agent): Promise<number> {
  const count = (): number => Object.values(agent.freeSockets).reduce((n, list) => n + (list?.length ?? 0), 0)
  for (let i = 0; i < 50 && count() === 0; i++) await new Promise((r) => setTimeout(r, 10))
  return count()
}

const ca = (): string => testCert().ca

// ---------------------------------------------------------------- http / https

netTest.serial('http keep-alive agent: an allowed host answers, twice over one connection', async (t) => {
  const srv = await countingHttpServer(ALLOWED_V4)
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => (agent.destroy(), srv.close()))
  activateFor(t)
  const url = `http://api.stripe.test:${srv.port}/`
  t.deepEqual(await get(url, { agent }), { status: 200, body: 'ok' })
  t.is(await pooled(agent), 1)
  t.deepEqual(await get(url, { agent }), { status: 200, body: 'ok' })
  t.is(srv.requests, 2)
  t.is(srv.connections, 1, 'the second request went over the pooled connection')
})

netTest.serial('http keep-alive agent: a pooled connection to a host blocked by activate() carries no request', async (t) => {
  const sink = await countingHttpServer(BLOCKED_V4)
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => (agent.destroy(), sink.close()))
  const url = `http://evil.test:${sink.port}/`
  t.deepEqual(await get(url, { agent }), { status: 200, body: 'ok' }, 'before activate() the host answers')
  t.is(await pooled(agent), 1, 'a keep-alive connection is ready for reuse')
  activateFor(t)
  await expectBlocked(t, get(url, { agent }), 'self', 'evil.test', sink.port)
  t.is(sink.requests, 1, 'the blocked request never reached the server')
  t.is(sink.connections, 1)
  t.is(await pooled(agent), 1, 'the pooled connection was left alone')
})

netTest.serial('http global agent, agent: false and a maxSockets: 1 agent: a blocked host gets no request', async (t) => {
  const sink = await countingHttpServer(BLOCKED_V4)
  const single = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => (single.destroy(), sink.close()))
  activateFor(t)
  const url = `http://evil.test:${sink.port}/`
  await expectBlocked(t, get(url), 'self', 'evil.test', sink.port)
  await expectBlocked(t, get(url, { agent: false }), 'self', 'evil.test', sink.port)
  await expectBlocked(t, get(url, { agent: single }), 'self', 'evil.test', sink.port)
  t.is(sink.connections, 0)
  t.is(sink.requests, 0)
})

netTest.serial('https keep-alive agent: a pooled TLS connection to a host blocked by activate() carries no request', async (t) => {
  const sink = await countingHttpsServer(BLOCKED_V4)
  const agent = new https.Agent({ keepAlive: true, ca: ca() })
  t.teardown(() => (agent.destroy(), sink.close()))
  const url = `https://evil.test:${sink.port}/`
  t.deepEqual(await get(url, { agent }), { status: 200, body: 'ok' })
  t.is(await pooled(agent), 1)
  activateFor(t)
  await expectBlocked(t, get(url, { agent }), 'self', 'evil.test', sink.port)
  t.is(sink.requests, 1)
  t.is(sink.connections, 1)
})

netTest.serial('https: a blocked host never sees a connection or a request; an allowed one answers', async (t) => {
  const sink = await countingHttpsServer(BLOCKED_V4)
  const srv = await countingHttpsServer(ALLOWED_V4)
  t.teardown(() => Promise.all([sink.close(), srv.close()]))
  activateFor(t)
  await expectBlocked(t, get(`https://evil.test:${sink.port}/`, { ca: ca() }), 'self', 'evil.test', sink.port)
  t.deepEqual(await get(`https://api.stripe.test:${srv.port}/`, { ca: ca() }), { status: 200, body: 'ok' })
  t.is(sink.connections, 0)
  t.is(sink.requests, 0)
  t.is(srv.requests, 1)
})

// Requests that do not go through Node's Agent#addRequest are caught by the
// `http.client.request.created` backstop: after the custom code dialled, before a byte of the
// request is written. The relay stands for a tunnel or proxy the custom code connects to.

interface Relay {
  port: number
  /** Bytes received from clients. */
  bytes: number
  close(): Promise<void>
}

/** A TCP relay on loopback to `target`, counting the bytes it receives. */
async function relayTo(target: CountingServer): Promise<Relay> {
  const sockets = new Set<net.Socket>()
  const relay = { port: 0, bytes: 0, close: () => new Promise<void>((r) => (server.close(() => r()), sockets.forEach((s) => s.destroy()))) }
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
    }
    client.on('data', (chunk: Buffer) => (relay.bytes += chunk.length))
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  relay.port = (server.address() as net.AddressInfo).port
  return relay
}

/** A connection to the relay, destroyed when the test ends (a refused request leaves it idle). */
function dial(t: ExecutionContext, relay: Relay): net.Socket {
  const socket = net.connect(relay.port, '127.0.0.1')
  socket.on('error', () => {})
  t.teardown(() => socket.destroy())
  return socket
}

createdTest(`http createConnection option (no agent): a blocked host gets no request over the custom connection${NEEDS_CREATED}`, async (t) => {
  const sink = await countingHttpServer(BLOCKED_V4)
  const relay = await relayTo(sink)
  t.teardown(() => Promise.all([relay.close(), sink.close()]))
  const createConnection = (): net.Socket => dial(t, relay)
  const url = `http://evil.test:${sink.port}/`
  t.deepEqual(await get(url, { createConnection } as http.RequestOptions), { status: 200, body: 'ok' }, 'the relay works before activate()')
  const before = relay.bytes
  activateFor(t)
  await expectBlocked(t, get(url, { createConnection } as http.RequestOptions), 'self', 'evil.test', sink.port)
  t.is(relay.bytes, before, 'not a byte of the request was written')
  t.is(sink.requests, 1)
})

createdTest(`http agent with its own addRequest (agent-base <= 6 style): a blocked host gets no request${NEEDS_CREATED}`, async (t) => {
  const sink = await countingHttpServer(BLOCKED_V4)
  const relay = await relayTo(sink)
  t.teardown(() => Promise.all([relay.close(), sink.close()]))
  class RelayAgent extends http.Agent {
    addRequest(req: http.ClientRequest): void {
      ;(req as unknown as { onSocket(s: net.Socket): void }).onSocket(dial(t, relay))
    }
  }
  const url = `http://evil.test:${sink.port}/`
  t.deepEqual(await get(url, { agent: new RelayAgent() }), { status: 200, body: 'ok' }, 'the agent works before activate()')
  const before = relay.bytes
  activateFor(t)
  await expectBlocked(t, get(url, { agent: new RelayAgent() }), 'self', 'evil.test', sink.port)
  t.is(relay.bytes, before)
  t.is(sink.requests, 1)
})

// ---------------------------------------------------------------- fetch / undici

netTest.serial('global fetch (bundled undici): a pooled connection to a host blocked by activate() carries no request', async (t) => {
  const sink = await countingHttpServer(BLOCKED_V4)
  t.teardown(() => sink.close())
  const url = `http://evil.test:${sink.port}/`
  const res = await withTimeout(fetch(url), 'fetch')
  t.is(await res.text(), 'ok')
  t.is(sink.connections, 1)
  activateFor(t)
  await expectBlocked(t, withTimeout(fetch(url), 'fetch'), 'cause', 'evil.test', sink.port)
  t.is(sink.requests, 1)
  t.is(sink.connections, 1, 'the request was refused before the pooled connection was used')
})

netTest.serial('global fetch: an allowed host answers, repeatedly', async (t) => {
  const srv = await countingHttpServer(ALLOWED_V4)
  t.teardown(() => srv.close())
  activateFor(t)
  for (let i = 0; i < 2; i++) t.is(await (await withTimeout(fetch(`http://api.stripe.test:${srv.port}/`), 'fetch')).text(), 'ok')
  t.is(srv.requests, 2)
})

/** Runs `use` with `dispatcher`, closing it afterwards. */
function closing<D extends Dispatcher>(t: ExecutionContext, dispatcher: D): D {
  t.teardown(() => dispatcher.destroy())
  return dispatcher
}

netTest.serial('undici.fetch (package, Agent): a pooled connection to a host blocked by activate() carries no request', async (t) => {
  const { Agent, fetch: undiciFetch } = await undici()
  const sink = await countingHttpServer(BLOCKED_V4)
  t.teardown(() => sink.close())
  const dispatcher = closing(t, new Agent())
  const url = `http://evil.test:${sink.port}/`
  t.is(await (await withTimeout(undiciFetch(url, { dispatcher }), 'fetch')).text(), 'ok')
  activateFor(t)
  await expectBlocked(t, withTimeout(undiciFetch(url, { dispatcher }), 'fetch'), 'cause', 'evil.test', sink.port)
  t.is(sink.requests, 1)
  t.is(sink.connections, 1)
})

netTest.serial('undici.request (package, Pool): a pooled connection to a host blocked by activate() carries no request', async (t) => {
  const { Pool, request } = await undici()
  const sink = await countingHttpServer(BLOCKED_V4)
  t.teardown(() => sink.close())
  const url = `http://evil.test:${sink.port}`
  const pool = closing(t, new Pool(url))
  const first = await withTimeout(request(`${url}/`, { dispatcher: pool }), 'request')
  t.is(await first.body.text(), 'ok')
  activateFor(t)
  await expectBlocked(t, withTimeout(request(`${url}/`, { dispatcher: pool }), 'request'), 'self', 'evil.test', sink.port)
  await expectBlocked(t, withTimeout(pool.request({ path: '/', method: 'GET' }), 'pool.request'), 'self', 'evil.test', sink.port)
  t.is(sink.requests, 1)
  t.is(sink.connections, 1)
})

netTest.serial('undici Client: an allowed host answers; a blocked host, on a fresh client, gets nothing', async (t) => {
  const { Client } = await undici()
  const srv = await countingHttpServer(ALLOWED_V4)
  const sink = await countingHttpServer(BLOCKED_V4)
  t.teardown(() => Promise.all([srv.close(), sink.close()]))
  activateFor(t)
  const allowed = closing(t, new Client(`http://api.stripe.test:${srv.port}`))
  const res = await withTimeout(allowed.request({ path: '/', method: 'GET' }), 'request')
  t.is(await res.body.text(), 'ok')
  const blocked = closing(t, new Client(`http://evil.test:${sink.port}`))
  await expectBlocked(t, withTimeout(blocked.request({ path: '/', method: 'GET' }), 'request'), 'self', 'evil.test', sink.port)
  t.is(srv.requests, 1)
  t.is(sink.connections, 0)
  t.is(sink.requests, 0)
})

netTest.serial('IPv6 literal targets (http agent and undici Pool): pooled connections to a blocked address carry no request', async (t) => {
  const { Pool, request } = await undici()
  const sink = await countingHttpServer(BLOCKED_V6)
  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => (agent.destroy(), sink.close()))
  const url = `http://[${BLOCKED_V6}]:${sink.port}`
  const pool = closing(t, new Pool(url))
  t.deepEqual(await get(`${url}/`, { agent }), { status: 200, body: 'ok' })
  t.is(await (await withTimeout(request(`${url}/`, { dispatcher: pool }), 'request')).body.text(), 'ok')
  activateFor(t)
  await expectBlocked(t, get(`${url}/`, { agent }), 'self', BLOCKED_V6, sink.port)
  await expectBlocked(t, withTimeout(request(`${url}/`, { dispatcher: pool }), 'request'), 'self', BLOCKED_V6, sink.port)
  t.is(sink.requests, 2)
  t.is(sink.connections, 2)
})

// A Pool (or an Agent's per-origin Pool) with a `connections` limit queues a request while its
// connections are busy and creates it later from another request's 'drain', in that request's
// async context. The check must still use the caller's scope.
netTest.serial('undici Pool with connections: 1: a request queued behind an unscoped one is checked in its own scope', async (t) => {
  const { Pool, request } = await undici()
  const sink = await countingHttpServer(BLOCKED_V4)
  t.teardown(() => sink.close())
  activateFor(t, ['api.stripe.test', 'evil.test'])
  const url = `http://evil.test:${sink.port}`
  const pool = closing(t, new Pool(url, { connections: 1 }))
  const narrow = scope({ allow: ['api.stripe.test'], label: 'narrow' })
  const outside = [0, 1].map(() => withTimeout(request(`${url}/`, { dispatcher: pool }), 'request'))
  const inside = narrow.run(() => withTimeout(request(`${url}/`, { dispatcher: pool }), 'request'))
  for (const res of await Promise.all(outside)) t.is(await res.body.text(), 'ok')
  const err = await t.throwsAsync(inside)
  t.true(err instanceof EgressBlocked, String(err))
  t.like(err, { host: 'evil.test', port: sink.port, kind: 'request', scopeLabel: 'narrow' })
  t.is(sink.requests, 2, 'only the unscoped requests reached the server')
})

test.serial('request layer: the http.Agent wrapper keeps the name and arity of addRequest', (t) => {
  activate({ allow: ALLOW, logger: null })
  t.teardown(() => deactivate())
  const addRequest = (agent: typeof http.Agent): Function => (agent.prototype as unknown as { addRequest: Function }).addRequest
  t.is(addRequest(http.Agent).name, 'addRequest')
  t.is(addRequest(https.Agent), addRequest(http.Agent), 'https.Agent inherits the wrapped method')
})
