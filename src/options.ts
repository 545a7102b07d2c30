// The options activate() and scope() share, validated the same way: type errors name the option.
import type { OnBlocked } from './activate'
import { describe } from './describe'
import { invalidArgType, invalidArgValue } from './errors'
import { validateAllow, validateBool, validateOptions } from './validate'

export function rejectUnknownKeys(options: Record<string, unknown>, known: Set<string>, fn: string): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw invalidArgValue(`${fn}(): unknown option '${key}' (known: ${[...known].join(', ')})`)
    }
  }
}

function validateCallback(value: unknown, name: string): OnBlocked | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'function') throw invalidArgType(`${name} must be a function or null, got ${describe(value)}`)
  return value as OnBlocked
}

export interface PolicyOptions {
  opts: Record<string, unknown>
  allow: string[]
  logOnly: boolean
  failClosed: boolean
  allowLocalhost: boolean
  onBlocked: OnBlocked | null
}

/** Validates the options object and the policy options common to activate() and scope(). */
export function policyOptions(options: unknown, fn: 'activate' | 'scope', known: Set<string>): PolicyOptions {
  if (options === null || typeof options !== 'object') {
    throw invalidArgType(`${fn}() takes an options object like { allow: ['api.example.com:443'] }, got ${describe(options)}`)
  }
  const opts = validateOptions(options, 'options')
  rejectUnknownKeys(opts, known, fn)
  return {
    opts,
    allow: validateAllow(opts.allow),
    allowLocalhost: validateBool(opts.allowLocalhost, 'allowLocalhost', true),
    logOnly: validateBool(opts.logOnly, 'logOnly', false),
    failClosed: validateBool(opts.failClosed, 'failClosed', false),
    onBlocked: validateCallback(opts.onBlocked, 'onBlocked'),
  }
}
