// tethered: runtime network egress control for Node.js.
export { Policy, type PolicyOptions } from './policy'
export { InvalidRuleError } from './errors'
