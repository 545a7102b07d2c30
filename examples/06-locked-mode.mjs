// 06 — Locked mode: no code in the process can replace or remove the policy without the token.
//
// Run: node examples/06-locked-mode.mjs
import { activate, deactivate, TetheredLocked } from 'tethered'
import { startServer } from './_support/local-server.mjs'
import { tryFetch } from './_support/try-fetch.mjs'

const api = await startServer('api')
const tracker = await startServer('tracker')

/** Runs a policy change and prints whether the lock refused it. */
function tryChange(label, change) {
  try {
    change()
    console.log(`${label}: succeeded`)
  } catch (err) {
    if (!(err instanceof TetheredLocked)) throw err
    console.log(`${label}: refused — ${err.message}`)
  }
}

// The token is any object, compared by identity: keep it private (a module-level const the
// rest of the app never sees). Strings or numbers are refused, since any code could forge them.
const token = {}
activate({ allow: [`localhost:${api.port}`], allowLocalhost: false, locked: true, lockToken: token })
console.log('policy activated and locked')

// A dependency trying to widen the policy, switch it off, or guess the token:
tryChange('activate() without the token', () => activate({ allow: [`localhost:${tracker.port}`] }))
tryChange('deactivate() without the token', () => deactivate())
tryChange('deactivate() with a look-alike token', () => deactivate({ lockToken: {} }))

// The original policy is still in force.
await tryFetch('api', api.url)
await tryFetch('tracker', tracker.url)

// The owner of the token can unlock.
tryChange('deactivate({ lockToken: token })', () => deactivate({ lockToken: token }))
await tryFetch('tracker after unlocking', tracker.url)

await api.close()
await tracker.close()
