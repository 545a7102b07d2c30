// 02 — scope(options, fn): restrict one code path (the Python original's `with scope(...)`).
//
// Run: node examples/02-scope-run.mjs
//
// No activate() here: a scope works on its own. Inside it, the scope IS the policy; code
// outside it is unaffected. The scope ends when fn's promise settles — nothing to clean up.
import { scope } from 'tethered'
import { startServer } from './_support/local-server.mjs'
import { tryFetch } from './_support/try-fetch.mjs'

const api = await startServer('api')
const tracker = await startServer('tracker')

// 1. Run a function in a scope. Everything it starts — awaits, timers, callbacks, the
//    libraries it calls — is restricted to the allow list. `label` names the scope in errors.
//    (Loopback is allowed by default; allowLocalhost: false makes the ports matter.)
await scope({ allow: [`localhost:${api.port}`], allowLocalhost: false, label: 'checkout' }, async () => {
  await tryFetch('inside scope, api', api.url)
  await tryFetch('inside scope, tracker', tracker.url)
})

// Outside the scope there is no restriction at all.
await tryFetch('outside scope, tracker', tracker.url)

// 2. A reusable scope: the rules are compiled once, then .run() as often as needed.
//    The tracker request below reuses the keep-alive connection opened outside the scope
//    just above, and is still refused: every request is checked, not only new sockets.
const checkout = scope({ allow: [`localhost:${api.port}`], allowLocalhost: false, label: 'checkout' })
await checkout.run(() => tryFetch('checkout.run(), api', api.url))
await checkout.run(() => tryFetch('checkout.run(), tracker', tracker.url))

// Only the one request made outside the scope reached the tracker.
console.log(`tracker server saw ${tracker.requests} request(s)`)

await api.close()
await tracker.close()
