// Policy: a compiled allow list for dry-run checks, using the same engine as enforcement.
import { InvalidRuleError, invalidArgType, invalidArgValue } from './errors'
import { type CompiledPolicy, type PolicyCheck, native } from './native'
import { describe } from './describe'
import { validateAllow, validateBool, validateOptions, validatePort } from './validate'

export interface PolicyOptions {
  /** Allow 127.0.0.0/8, ::1, 0.0.0.0, :: and `localhost` without a rule (default true). */
  allowLocalhost?: boolean
}

/** Compiles validated rules, turning the first malformed one into an InvalidRuleError. */
export function compileRules(rules: string[], allowLocalhost: boolean, name = 'allow'): CompiledPolicy {
  const compiled = native.compilePolicy(rules, allowLocalhost)
  if ('message' in compiled) {
    const rule = rules[compiled.index] ?? ''
    throw new InvalidRuleError(`${name}[${compiled.index}]: ${compiled.message}`, rule, compiled.index, compiled.kind)
  }
  return compiled
}

export class Policy {
  readonly #compiled: CompiledPolicy
  readonly #check: PolicyCheck

  /**
   * @param allow allow rules: `api.example.com`, `*.example.com:443`, `10.0.0.0/8:5432`,
   *   `[2001:db8::1]:443`, … A malformed rule throws an `InvalidRuleError`.
   */
  constructor(allow: readonly string[], options?: PolicyOptions) {
    const opts = validateOptions(options, 'options')
    const allowLocalhost = validateBool(opts.allowLocalhost, 'allowLocalhost', true)
    this.#compiled = compileRules(validateAllow(allow), allowLocalhost)
    this.#check = native.policyChecker(this.#compiled)
  }

  /**
   * Would a connection to `host:port` be allowed? `port` null/undefined means a DNS lookup of
   * `host`. `resolvedFrom` means `host` is an IP that a lookup of that hostname returned: it is
   * allowed when either the hostname or the IP matches.
   */
  allows(host: string, port?: number | null, resolvedFrom?: string | null): boolean {
    if (typeof host !== 'string') throw invalidArgType(`host must be a string, got ${describe(host)}`)
    const p = validatePort(port)
    if (resolvedFrom !== undefined && resolvedFrom !== null && typeof resolvedFrom !== 'string') {
      throw invalidArgType(`resolvedFrom must be a string, null or undefined, got ${describe(resolvedFrom)}`)
    }
    const verdict = this.#check(host, p, resolvedFrom)
    if (verdict < 0) {
      throw invalidArgValue(`resolvedFrom is only meaningful when host is an IP address, got host ${JSON.stringify(host)}`)
    }
    return verdict === 1
  }

  /** Number of rules the policy was built from. */
  get ruleCount(): number {
    return this.#compiled.ruleCount
  }

  /** @internal the native handle, for activate() and scope(). */
  static compiled(policy: Policy): CompiledPolicy {
    return policy.#compiled
  }
}
