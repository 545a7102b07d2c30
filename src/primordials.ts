// Built-ins captured when tethered loads. The shims run on every connect and lookup and must
// not call anything that code loaded later can replace (Array.prototype.*, Reflect.apply,
// process.nextTick, ...): a replaced built-in must never change a decision or its delivery.

export const ReflectApply = Reflect.apply
export const ArrayIsArray = Array.isArray
export const ObjectDefineProperty = Object.defineProperty
export const ObjectGetOwnPropertySymbols = Object.getOwnPropertySymbols
export const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor
export const ObjectFreeze = Object.freeze
export const nextTick: typeof process.nextTick = process.nextTick.bind(process)
export const SymbolDescription = (s: symbol): string | undefined => s.description
const stringIndexOf = String.prototype.indexOf
export const StringIndexOf: (s: string, search: string) => number = (s, search) => ReflectApply(stringIndexOf, s, [search])

const arrayPush = Array.prototype.push
/** `array.push(value)` immune to a replaced Array.prototype.push. */
export function ArrayPush<T>(array: T[], value: T): void {
  ReflectApply(arrayPush, array, [value])
}

/** Gives a wrapper the name and arity of the function it wraps (APM tools look at them). */
export function nameLike<F extends (...args: never[]) => unknown>(wrapper: F, original: (...args: never[]) => unknown): F {
  ObjectDefineProperty(wrapper, 'name', { value: original.name, configurable: true })
  ObjectDefineProperty(wrapper, 'length', { value: original.length, configurable: true })
  return wrapper
}

export const PromiseCtor = Promise
export const PromiseThen = Promise.prototype.then
const promiseReject = Promise.reject
export const PromiseReject = (reason: unknown): Promise<never> => ReflectApply(promiseReject, PromiseCtor, [reason])
