// 03 — scope() as a method decorator, and .wrap() for plain functions.
//
// Run: node --import tsx examples/03-scope-decorator.mts
//
// TypeScript 5 (TC39) decorators; legacy `experimentalDecorators` work too. Node cannot run
// decorators natively yet, hence tsx. In plain JavaScript, use .wrap() (shown at the end).
import { EgressBlocked, scope } from 'tethered'
import { startServer } from './_support/local-server.mjs'

const api = await startServer('api')
const tracker = await startServer('tracker')

// Loopback is allowed by default; allowLocalhost: false makes the ports matter.
const apiOnly = { allow: [`localhost:${api.port}`], allowLocalhost: false }

class ApiClient {
  constructor(private readonly baseUrl: string) {}

  // Everything this method starts, whatever library it calls, can reach only the api.
  @scope({ ...apiOnly, label: 'api-client' })
  async getStatus(): Promise<string> {
    const res = await fetch(this.baseUrl) // `this` and arguments are kept as usual
    return `HTTP ${res.status}, "${await res.text()}"`
  }

  // Simulates a compromised dependency running inside a scoped method.
  @scope({ ...apiOnly, label: 'api-client' })
  async sendAnalytics(): Promise<string> {
    const res = await fetch(tracker.url)
    return `HTTP ${res.status}`
  }
}

/** Runs a call and prints whether tethered let it through. */
async function attempt(label: string, call: () => Promise<string>): Promise<void> {
  try {
    console.log(`${label}: allowed (${await call()})`)
  } catch (err) {
    const cause = (err as Error).cause
    if (!(cause instanceof EgressBlocked)) throw err
    console.log(`${label}: blocked — ${cause.message}`)
  }
}

const client = new ApiClient(api.url)
await attempt('client.getStatus()', () => client.getStatus())
await attempt('client.sendAnalytics()', () => client.sendAnalytics())

// .wrap(fn): the same for any function (it keeps `this`, arguments and the return value).
const apiScope = scope({ ...apiOnly, label: 'report-job' })
const fetchText = apiScope.wrap(async (url: string) => {
  const res = await fetch(url)
  return `HTTP ${res.status}, "${await res.text()}"`
})
await attempt('wrapped fetchText(api)', () => fetchText(api.url))
await attempt('wrapped fetchText(tracker)', () => fetchText(tracker.url))

// Outside the decorated methods and wrapped functions, nothing is restricted.
await attempt('outside any scope, tracker', async () => `HTTP ${(await fetch(tracker.url)).status}`)

await api.close()
await tracker.close()
