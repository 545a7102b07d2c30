// HTTP client libraries and fetch: global fetch, the undici package (request and fetch),
// axios and got. Each must reach an allowed host and fail on a blocked hostname or IP with the
// EgressBlocked where the library puts a connection error, reported once (no retry), with the
// blocked server seeing nothing and the DNS responder never asked for the blocked name.
import axios from 'axios'
import got from 'got'
import { fetch as undiciFetch, request as undiciRequest } from 'undici'
import { ALLOWED_V4, BLOCKED_V4, countingHttpServer, dnsCount, netTest, uniqueName } from './harness/index.js'
import { activateFor, BLOCKED_CODE, expectBlocked, type Via } from './support/blocked.js'
import { attempt } from './support/timeout.js'

const ALLOW = ['*.allowed.test', 'api.stripe.test'] // names only: the allowed dial passes via the name->IP map

interface Response {
  status: number
  body: string
}

interface Client {
  name: string
  get(url: string): Promise<Response>
  /** Where the EgressBlocked sits in the rejection. */
  via: Via
  /** Library wrappers that copy the cause's `code` onto themselves. */
  wrapperCode?: boolean
}

const promised = (what: string, run: () => Promise<Response>): Promise<Response> =>
  attempt(what, (resolve, reject) => void run().then(resolve, reject))

const clients: Client[] = [
  {
    name: 'global fetch',
    via: 'cause', // TypeError('fetch failed', { cause })
    get: (url) => promised('fetch', async () => {
      const res = await fetch(url)
      return { status: res.status, body: await res.text() }
    }),
  },
  {
    name: 'undici.fetch',
    via: 'cause',
    get: (url) => promised('undici.fetch', async () => {
      const res = await undiciFetch(url)
      return { status: res.status, body: await res.text() }
    }),
  },
  {
    name: 'undici.request',
    via: 'self',
    get: (url) => promised('undici.request', async () => {
      const res = await undiciRequest(url)
      return { status: res.statusCode, body: await res.body.text() }
    }),
  },
  {
    name: 'axios',
    via: 'cause', // AxiosError.from(err): same code, the original as `cause`
    wrapperCode: true,
    get: (url) => promised('axios', async () => {
      const res = await axios.get<string>(url, { proxy: false, responseType: 'text' })
      return { status: res.status, body: res.data }
    }),
  },
  {
    name: 'got',
    via: 'cause', // RequestError: same code, the original as `cause`; default retry settings
    wrapperCode: true,
    get: (url) => promised('got', async () => {
      const res = await got(url)
      return { status: res.statusCode, body: res.body }
    }),
  },
]

for (const c of clients) {
  netTest.serial(`${c.name}: an allowed hostname gets its response`, async (t) => {
    const srv = await countingHttpServer(ALLOWED_V4)
    t.teardown(() => srv.close())
    activateFor(t, { allow: ALLOW })
    const name = uniqueName('allowed.test')
    t.deepEqual(await c.get(`http://${name}:${srv.port}/`), { status: 200, body: 'ok' })
    t.is(srv.requests, 1)
    t.true((await dnsCount(name)) > 0, 'the responder saw this name, so its 0 for blocked names is meaningful')
  })

  for (const target of ['hostname', 'IP'] as const) {
    netTest.serial(`${c.name}: a blocked ${target} fails with EgressBlocked, reported once`, async (t) => {
      const sink = await countingHttpServer(BLOCKED_V4)
      t.teardown(() => sink.close())
      const reported: string[] = []
      activateFor(t, { allow: ALLOW, onBlocked: (host) => void reported.push(host) })
      const host = target === 'IP' ? BLOCKED_V4 : uniqueName('blocked.test')
      const attemptResult = c.get(`http://${host}:${sink.port}/`)
      const blocked = await expectBlocked(t, attemptResult, { via: c.via, host, port: sink.port })
      if (c.wrapperCode) await attemptResult.catch((err: { code?: unknown }) => t.is(err.code, BLOCKED_CODE))
      t.truthy(blocked)
      t.deepEqual(reported, [host], 'one attempt, one report: the client did not retry')
      t.is(sink.connections, 0)
      t.is(sink.requests, 0)
      if (target === 'hostname') t.is(await dnsCount(host), 0)
    })
  }
}
