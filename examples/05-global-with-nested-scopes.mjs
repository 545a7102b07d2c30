// 05 — activate() + nested scopes: each level restricts further.
//
// Run: node examples/05-global-with-nested-scopes.mjs
import { activate, deactivate, scope } from 'tethered'
import { startServer } from './_support/local-server.mjs'
import { tryFetch } from './_support/try-fetch.mjs'

const api = await startServer('api')
const payments = await startServer('payments')
const analytics = await startServer('analytics')

const rule = (server) => `localhost:${server.port}`

// Process ceiling: three services. (Loopback is allowed by default; allowLocalhost: false
// makes the ports matter.)
activate({ allow: [rule(api), rule(payments), rule(analytics)], allowLocalhost: false })

// Outer scope: analytics is cut out.
await scope({ allow: [rule(api), rule(payments)], allowLocalhost: false, label: 'outer' }, async () => {
  console.log('--- outer scope ---')
  await tryFetch('outer, analytics', analytics.url)

  // Inner scope: payments is cut out too; only the api remains.
  await scope({ allow: [rule(api)], allowLocalhost: false, label: 'inner' }, async () => {
    console.log('--- inner scope ---')
    await tryFetch('inner, api', api.url)
    await tryFetch('inner, payments', payments.url) // in global and outer, not in inner
  })

  // Back in the outer scope: payments is reachable again.
  console.log('--- outer scope again ---')
  await tryFetch('outer, payments', payments.url)
})

deactivate()
await Promise.all([api.close(), payments.close(), analytics.close()])
