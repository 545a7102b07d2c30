// tethered: runtime network egress control for Node.js.
export { activate, deactivate, type ActivateOptions, type DeactivateOptions, type OnBlocked, type SubprocessPolicy } from './activate'
export { EgressBlocked, SubprocessBlocked, TetheredLocked, type EgressKind } from './egress-blocked'
export { InvalidRuleError } from './errors'
export type { Logger } from './logger'
export { Policy, type PolicyOptions } from './policy'
export type { BlockInfo } from './report'
export type { EgressEvent } from './observe'
export type { Initiator } from './initiator'
export { scope, type Scope, type ScopeOptions } from './scope'

// Locked deployments rely on these staying what they are: no swapping an error class or an
// export (checked by the tamper suite).
import { EgressBlocked as EgressBlockedClass, SubprocessBlocked as SubprocessBlockedClass, TetheredLocked as TetheredLockedClass } from './egress-blocked'
import { InvalidRuleError as InvalidRuleErrorClass } from './errors'
import { Policy as PolicyClass } from './policy'
for (const cls of [EgressBlockedClass, SubprocessBlockedClass, TetheredLockedClass, InvalidRuleErrorClass, PolicyClass]) {
  Object.freeze(cls.prototype)
  Object.freeze(cls)
}
Object.freeze(module.exports)

// The Worker class is replaced as soon as tethered loads, not at activate(): code that takes
// `const { Worker } = require('worker_threads')` between the two would otherwise keep the
// original. (ESM named imports are live and re-synced.)
import { installWorkers } from './workers'
import { syncBuiltinESMExports } from 'node:module'
installWorkers()
syncBuiltinESMExports()
