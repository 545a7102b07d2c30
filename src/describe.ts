// Short, safe descriptions of arbitrary values for error messages.
import { inspect } from 'node:util'

export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  const type = typeof value
  if (type === 'function') return 'a function'
  if (type === 'object') return `an object (${inspect(value, { depth: 0, breakLength: Infinity }).slice(0, 60)})`
  return `${type} (${inspect(value).slice(0, 60)})`
}
