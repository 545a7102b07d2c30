// http, https (test-time self-signed cert via `ca`) and http2 (h2c and TLS): an allowed host
// answers, a blocked hostname or IP fails on the request's / session's 'error' with
// EgressBlocked, and the blocked server never sees a connection or a request.
import dc from 'node:diagnostics_channel'
import { native } from '../dist/native.js'
import {
  ALLOWED_V4,
  BLOCKED_V4,
  BLOCKED_V6,
  countingHttp2Server,
  countingHttpServer,
  countingHttpsServer,
  dnsCount,
  netTest,
  origin,
  testCert,
  uniqueName,
  type CountingServer,
} from './harness/index.js'
import { activateFor, expectBlocked } from './support/blocked.js'
import { http2Get, httpGet, type Response } from './support/clients.js'

const ALLOW = ['*.allowed.test', 'api.stripe.test'] // names only: the allowed dial passes via the name->IP map

interface Case {
  name: string
  scheme: 'http' | 'https'
  serve(host: string): Promise<CountingServer>
  get(url: string): Promise<Response>
}

const ca = (): string => testCert().ca

const cases: Case[] = [
  { name: 'http.get', scheme: 'http', serve: (h) => countingHttpServer(h), get: (u) => httpGet(u) },
  { name: 'http.get (agent: false)', scheme: 'http', serve: (h) => countingHttpServer(h), get: (u) => httpGet(u, { agent: false }) },
  { name: 'https.get', scheme: 'https', serve: (h) => countingHttpsServer(h), get: (u) => httpGet(u, { ca: ca() }) },
  { name: 'http2 (h2c)', scheme: 'http', serve: (h) => countingHttp2Server(h), get: (u) => http2Get(u) },
  { name: 'http2 (TLS)', scheme: 'https', serve: (h) => countingHttp2Server(h, 0, { tls: true }), get: (u) => http2Get(u, { ca: ca() }) },
]

for (const c of cases) {
  netTest.serial(`${c.name}: an allowed hostname gets its response`, async (t) => {
    const srv = await c.serve(ALLOWED_V4)
    t.teardown(() => srv.close())
    activateFor(t, { allow: ALLOW })
    const name = uniqueName('allowed.test')
    t.deepEqual(await c.get(`${origin(c.scheme, name, srv.port)}/`), { status: 200, body: 'ok' })
    t.is(srv.requests, 1)
    t.true((await dnsCount(name)) > 0, 'the responder saw this name, so its 0 for blocked names is meaningful')
  })

  netTest.serial(`${c.name}: a blocked hostname fails with EgressBlocked, never resolved`, async (t) => {
    const sink = await c.serve(BLOCKED_V4) // where the DNS-only name would lead
    t.teardown(() => sink.close())
    activateFor(t, { allow: ALLOW })
    const name = uniqueName('blocked.test')
    await expectBlocked(t, c.get(`${origin(c.scheme, name, sink.port)}/`), { host: name, port: sink.port })
    t.is(sink.connections, 0)
    t.is(sink.requests, 0)
    t.is(await dnsCount(name), 0)
  })

  netTest.serial(`${c.name}: a blocked IP fails with EgressBlocked`, async (t) => {
    const sink = await c.serve(BLOCKED_V4)
    t.teardown(() => sink.close())
    activateFor(t, { allow: ALLOW })
    await expectBlocked(t, c.get(`${origin(c.scheme, BLOCKED_V4, sink.port)}/`), { host: BLOCKED_V4, port: sink.port })
    t.is(sink.connections, 0)
    t.is(sink.requests, 0)
  })
}

netTest.serial('http.get by name is decided once: the connect, the lookup and the dial Node makes for it are handed off', async (t) => {
  const srv = await countingHttpServer(ALLOWED_V4)
  t.teardown(() => srv.close())
  activateFor(t, { allow: ALLOW })
  const decided: string[] = []
  const real = native.checkEgress
  native.checkEgress = (host, port, check, first) => {
    decided.push(`${host}:${port}`)
    return real(host, port, check, first)
  }
  t.teardown(() => {
    native.checkEgress = real
  })
  const name = uniqueName('allowed.test')
  t.deepEqual(await httpGet(`${origin('http', name, srv.port)}/`, { agent: false }), { status: 200, body: 'ok' })
  t.deepEqual(decided, [`${name}:${srv.port}`])
  // A tethered:allowed subscriber sees every decision: then nothing is handed off.
  decided.length = 0
  const listener = (): void => {}
  dc.subscribe('tethered:allowed', listener)
  t.teardown(() => dc.unsubscribe('tethered:allowed', listener))
  const again = uniqueName('allowed.test')
  t.deepEqual(await httpGet(`${origin('http', again, srv.port)}/`, { agent: false }), { status: 200, body: 'ok' })
  t.deepEqual(decided, [`${again}:${srv.port}`, `${again}:${srv.port}`, `${again}:-1`, `${ALLOWED_V4}:${srv.port}`])
})

/** An http `lookup` option answering `answers` (a list when net asks for all), counting calls. */
function fixedLookup(answers: { address: string; family: number }[]): { lookup: never; calls: () => number } {
  let calls = 0
  const lookup = (_h: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void): void => {
    calls++
    process.nextTick(() => (opts.all ? cb(null, answers) : cb(null, answers[0]!.address, answers[0]!.family)))
  }
  return { lookup: lookup as never, calls: () => calls }
}

netTest.serial('http.get with a custom lookup: an allowed name mapped to a blocked IP is blocked', async (t) => {
  // PRODUCT.md Clarifications: a caller's `lookup` is not a resolver.
  const sink = await countingHttpServer(BLOCKED_V4)
  t.teardown(() => sink.close())
  activateFor(t, { allow: ALLOW })
  const { lookup, calls } = fixedLookup([{ address: BLOCKED_V4, family: 4 }])
  await expectBlocked(t, httpGet(`http://api.stripe.test:${sink.port}/`, { lookup }), { host: BLOCKED_V4, port: sink.port })
  t.is(calls(), 1)
  t.is(sink.connections, 0)
  t.is(sink.requests, 0)
})

netTest.serial('http.get with a custom lookup: happy eyeballs skips the blocked address and answers', async (t) => {
  // The agent passes `path: null`; the JS-layer shim must still filter the lookup's answer,
  // otherwise the blocked first attempt fails the whole request at the binding layer.
  const srv = await countingHttpServer(ALLOWED_V4)
  const sink = await countingHttpServer(BLOCKED_V6, srv.port)
  t.teardown(() => Promise.all([srv.close(), sink.close()]))
  activateFor(t, { allow: [...ALLOW, '198.51.100.0/24'] })
  const { lookup, calls } = fixedLookup([
    { address: BLOCKED_V6, family: 6 },
    { address: ALLOWED_V4, family: 4 },
  ])
  t.deepEqual(await httpGet(`http://api.stripe.test:${srv.port}/`, { lookup }), { status: 200, body: 'ok' })
  t.is(calls(), 1)
  t.is(srv.requests, 1)
  t.is(sink.connections, 0)
})
