// HTTP client libraries and fetch: global fetch, the undici package (request and fetch),
// axios and got. Each must reach an allowed host and fail on a blocked hostname or IP with the
// EgressBlocked where the library puts a connection error, with the blocked server seeing
// nothing and the DNS responder never asked for the blocked name; clients with retry logic
// must not retry it.
import test, { type ExecutionContext } from 'ava'
import axios from 'axios'
import got from 'got'
import { Agent, fetch as undiciFetch, request as undiciRequest } from 'undici'
import { ALLOWED_V4, BLOCKED_V4, SKIP_PREFIX, countingHttpServer, dnsCount, inNetns, netTest, uniqueName } from './harness/index.js'
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
  /** Has retry logic of its own (then exactly one block may be reported: no retry). */
  retries?: boolean
}

// The undici package's own Agent: its default global dispatcher can be Node's bundled one
// (always on Node 26, whose undici installs itself under the package's symbol), and then the
// package's Client would not be what is tested.
const undiciAgent = new Agent()
test.after.always(() => undiciAgent.close())

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
      const res = await undiciFetch(url, { dispatcher: undiciAgent })
      return { status: res.status, body: await res.text() }
    }),
  },
  {
    name: 'undici.request',
    via: 'self',
    get: (url) => promised('undici.request', async () => {
      const res = await undiciRequest(url, { dispatcher: undiciAgent })
      return { status: res.statusCode, body: await res.body.text() }
    }),
  },
  {
    name: 'axios',
    via: 'cause', // AxiosError.from(err): same code, the original as `cause`
    wrapperCode: true,
    retries: true, // axios-retry style wrappers key on the code; axios itself must not retry
    get: (url) => promised('axios', async () => {
      const res = await axios.get<string>(url, { proxy: false, responseType: 'text' })
      return { status: res.status, body: res.data }
    }),
  },
  {
    name: 'got',
    via: 'cause', // RequestError: same code, the original as `cause`; default retry settings
    wrapperCode: true,
    retries: true,
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
    netTest.serial(`${c.name}: a blocked ${target} fails with EgressBlocked${c.retries ? ', not retried' : ''}`, async (t) => {
      const sink = await countingHttpServer(BLOCKED_V4)
      t.teardown(() => sink.close())
      const reported: string[] = []
      activateFor(t, { allow: ALLOW, onBlocked: (host) => void reported.push(host) })
      const host = target === 'IP' ? BLOCKED_V4 : uniqueName('blocked.test')
      const attemptResult = c.get(`http://${host}:${sink.port}/`)
      const blocked = await expectBlocked(t, attemptResult, { via: c.via, host, port: sink.port })
      if (c.wrapperCode) await attemptResult.catch((err: { code?: unknown }) => t.is(err.code, BLOCKED_CODE))
      t.truthy(blocked)
      t.true(reported.length > 0 && reported.every((h) => h === host), `reports: ${reported.join(', ')}`)
      if (c.retries) t.is(reported.length, 1, 'one attempt, one report: the client did not retry')
      t.is(sink.connections, 0)
      t.is(sink.requests, 0)
      if (target === 'hostname') t.is(await dnsCount(host), 0)
    })
  }
}

// undici 7's Client (the package; also Node 20-24's bundled fetch) still dials for a request the
// `undici:request:create` check already failed; the socket-level shim blocks that dial (no
// packet leaves) and must not report the same block a second time.
function oncePerRequest(title: string, fn: (t: ExecutionContext) => Promise<void>): void {
  if (inNetns) test.serial(title, fn)
  else test.skip(`${SKIP_PREFIX} ${title}`, fn)
}
oncePerRequest('undici package: one block reported per blocked request', async (t) => {
  const sink = await countingHttpServer(BLOCKED_V4)
  t.teardown(() => sink.close())
  const reported: string[] = []
  activateFor(t, { allow: ALLOW, onBlocked: (host) => void reported.push(host) })
  for (const c of clients.filter((c) => c.name.startsWith('undici.'))) {
    reported.length = 0
    await expectBlocked(t, c.get(`http://${BLOCKED_V4}:${sink.port}/`), { via: c.via })
    t.deepEqual(reported, [BLOCKED_V4], c.name)
  }
  t.is(sink.connections, 0)
})
