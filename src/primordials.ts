// Built-ins captured when tethered loads. The shims run on every connect and lookup and must
// not call anything that code loaded later can replace (Array.prototype.*, Reflect.apply,
// process.nextTick, ...): a replaced built-in must never change a decision or its delivery.

export const ReflectApply = Reflect.apply
export const ReflectConstruct = Reflect.construct
export const ArrayIsArray = Array.isArray
export const ObjectDefineProperty = Object.defineProperty
const ObjectGetOwnPropertySymbols = Object.getOwnPropertySymbols
export const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor
export const ObjectFreeze = Object.freeze
export const nextTick: typeof process.nextTick = process.nextTick.bind(process)
const symbolDescription = Object.getOwnPropertyDescriptor(Symbol.prototype, 'description')?.get

/**
 * The own symbol of `target` with this description: how the shims reach Node's private
 * symbols (`owner_symbol` on a handle, `state symbol` on a dgram socket, undici's `handler`).
 * Null when there is none.
 */
export function findSymbol(target: object, description: string): symbol | null {
  const symbols = ObjectGetOwnPropertySymbols(target)
  for (let i = 0; i < symbols.length; i++) {
    const symbol = symbols[i]!
    if (symbolDescription && ReflectApply(symbolDescription, symbol, []) === description) return symbol
  }
  return null
}

const stringIndexOf = String.prototype.indexOf
export const StringIndexOf: (s: string, search: string) => number = (s, search) => ReflectApply(stringIndexOf, s, [search])

const arrayPush = Array.prototype.push
/** `array.push(value)` immune to a replaced Array.prototype.push. */
export function ArrayPush<T>(array: T[], value: T): void {
  ReflectApply(arrayPush, array, [value])
}

export const PromiseCtor = Promise
export const PromiseThen = Promise.prototype.then
const promiseReject = Promise.reject
export const PromiseReject = (reason: unknown): Promise<never> => ReflectApply(promiseReject, PromiseCtor, [reason])
