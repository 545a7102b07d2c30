// Argument validation shared by Policy, activate() and scope(): type errors name the option.
import { invalidArgType, outOfRange } from './errors'
import { describe } from './describe'

/** Copies and checks an allow list: an array of strings. */
export function validateAllow(allow: unknown, name = 'allow'): string[] {
  if (!Array.isArray(allow)) {
    throw invalidArgType(`${name} must be an array of strings, got ${describe(allow)}`)
  }
  const rules: string[] = []
  for (let i = 0; i < allow.length; i++) {
    const rule: unknown = allow[i]
    if (typeof rule !== 'string') {
      throw invalidArgType(`${name}[${i}] must be a string, got ${describe(rule)}`)
    }
    rules.push(rule)
  }
  return rules
}

/** An optional boolean option: `undefined` gives the default; anything but a boolean throws. */
export function validateBool(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') {
    throw invalidArgType(`${name} must be a boolean, got ${describe(value)}`)
  }
  return value
}

/** A port: null/undefined is "no port" (-1, a DNS lookup); otherwise an integer 0-65535. */
export function validatePort(port: unknown, name = 'port'): number {
  if (port === undefined || port === null) return -1
  if (typeof port !== 'number') {
    throw invalidArgType(`${name} must be a number, null or undefined, got ${describe(port)}`)
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw outOfRange(`${name} must be an integer from 0 to 65535, got ${port}`)
  }
  return port
}

/** An options object: undefined gives `{}`; anything but a plain object throws. */
export function validateOptions(options: unknown, name: string): Record<string, unknown> {
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgType(`${name} must be an object, got ${describe(options)}`)
  }
  return options as Record<string, unknown>
}
