// 04 — activate() + scope(): the effective policy is the intersection.
//
// Run: node examples/04-global-with-scope.mjs
//
// The global policy is the ceiling for the whole process; a scope narrows it for one code
// path and can never widen it. A connection must pass the global policy AND every scope.
import { activate, deactivate, scope } from 'tethered'
import { startServer } from './_support/local-server.mjs'
import { tryFetch } from './_support/try-fetch.mjs'

const api = await startServer('api')
const db = await startServer('db')

// Process ceiling: the api and the database. (Loopback is allowed by default;
// allowLocalhost: false makes the ports matter.)
activate({ allow: [`localhost:${api.port}`, `localhost:${db.port}`], allowLocalhost: false })

await tryFetch('global only, db', db.url)

// This code path needs the api only, so the database is cut out. The scope also lists
// mail.example.invalid, which the global policy does not allow: tethered warns (on stderr)
// when the scope is created that the rule can never match — a scope cannot widen.
const handler = scope({
  allow: [`localhost:${api.port}`, 'mail.example.invalid:443'],
  allowLocalhost: false,
  label: 'charge-handler',
})

await handler.run(async () => {
  await tryFetch('in scope, api', api.url) // in both: allowed
  await tryFetch('in scope, db', db.url) // global allows it, the scope does not
  await tryFetch('in scope, mail', 'https://mail.example.invalid/send') // the scope allows it, global does not
})

deactivate()
await api.close()
await db.close()
