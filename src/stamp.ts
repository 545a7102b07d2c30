// Per-object marks on the connection path (a socket's early verdict, a request already checked)
// that no other code can read or forge, and that cost the garbage collector nothing.
//
// A WeakMap or WeakSet would do the same, but every entry is an ephemeron the collector traces
// on each cycle: measured at ~0.5 µs per entry, paid on every connect and every request. A
// symbol-keyed property is cheap but readable (Object.getOwnPropertySymbols) and so forgeable.
// A private class field is neither: it is added to the existing object through the constructor
// return-override idiom (a base "constructor" that returns the object it is given).

export interface Stamp<T> {
  /** Marks `target` with `value`, replacing an earlier mark; false if it cannot be marked. */
  set(target: object, value: T): boolean
  /** The mark on `target`, now removed; undefined when there is none. */
  take(target: object): T | undefined
}

// Called with `new` by the subclass below: returning `target` makes it the instance, so the
// subclass's private field is added to `target` itself.
const ReturnTarget = function (target: object): object {
  return target
} as unknown as new (target: object) => object

export function createStamp<T>(): Stamp<T> {
  class Marked extends ReturnTarget {
    #mark: T | undefined
    constructor(target: object, mark: T) {
      super(target)
      this.#mark = mark
    }
    static set(target: object, mark: T): boolean {
      if (#mark in target) {
        ;(target as Marked).#mark = mark
        return true
      }
      try {
        new Marked(target, mark)
        return true
      } catch {
        return false // an object V8 refuses to extend (a non-extensible one, in future versions)
      }
    }
    static take(target: object): T | undefined {
      if (!(#mark in target)) return undefined
      const mark = (target as Marked).#mark
      ;(target as Marked).#mark = undefined
      return mark
    }
  }
  return { set: Marked.set, take: Marked.take }
}
