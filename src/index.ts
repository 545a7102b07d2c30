// tethered: runtime network egress control for Node.js.
export { activate, deactivate, type ActivateOptions, type DeactivateOptions, type OnBlocked, type SubprocessPolicy } from './activate'
export { EgressBlocked, TetheredLocked, type EgressKind } from './egress-blocked'
export { InvalidRuleError } from './errors'
export type { Logger } from './logger'
export { Policy, type PolicyOptions } from './policy'
export type { BlockInfo } from './report'
export { scope, type Scope, type ScopeOptions } from './scope'
