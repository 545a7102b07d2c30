// 12 — Scopes reach child processes: a Node child launched inside a scope enforces the
// parent's effective policy at the launch site (global ∩ every active scope).
//
// Run: node examples/12-scope-subprocess.mjs
import { activate, deactivate, scope } from 'tethered'
import { runFetchingChild } from './_support/fetching-child.mjs'
import { startServer } from './_support/local-server.mjs'

const api = await startServer('api')
const partner = await startServer('partner')

/** The child fetches both servers and prints what happened. */
const runNodeChild = () => runFetchingChild({ api: api.url, partner: partner.url })

// The process may reach the api and the partner. (Loopback is allowed by default;
// allowLocalhost: false makes the ports matter.)
activate({ allow: [`localhost:${api.port}`, `localhost:${partner.port}`], allowLocalhost: false })

const apiOnly = { allow: [`localhost:${api.port}`], allowLocalhost: false, label: 'api-only' }

console.log('child launched inside scope(api only):')
await scope(apiOnly, () => runNodeChild())

console.log('child launched outside the scope (global policy only):')
await runNodeChild()

// The same through a wrapped function, the natural unit for a library.
console.log('child launched from a function wrapped with the scope:')
const runRestricted = scope(apiOnly).wrap(runNodeChild)
await runRestricted()

deactivate()
await api.close()
await partner.close()
