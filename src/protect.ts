// Every property tethered replaces is registered here. Unlocked, they stay ordinary writable
// properties (APM tools such as OpenTelemetry wrap net and dns the same way). When a policy is
// locked they become non-configurable accessors: assignment, delete and defineProperty fail or
// have no effect, yet Node's own per-instance copies (udp6 handles do `handle.send =
// handle.send6`) still work. Each locked decision re-checks that every shim is still in place.
import { ArrayPush, ObjectDefineProperty } from './primordials'

interface Patched {
  readonly holder: object
  readonly key: PropertyKey
  readonly value: unknown
}

const patched: Patched[] = []

export function registerPatch(holder: object, key: PropertyKey, value: unknown): void {
  ArrayPush(patched, { holder, key, value })
}

/** Makes one registered property immovable. */
function lockProperty({ holder, key, value }: Patched): void {
  const descriptor = Object.getOwnPropertyDescriptor(holder, key)
  if (!descriptor || descriptor.configurable === false) return
  ObjectDefineProperty(holder, key, {
    configurable: false,
    enumerable: descriptor.enumerable ?? false,
    get() {
      return value
    },
    set(this: object, next: unknown) {
      // On the patched object itself: no effect. On an instance inheriting from it: an own
      // property, as a data property would have given (Node relies on this for udp6 handles).
      if (this !== holder) {
        ObjectDefineProperty(this, key, { value: next, writable: true, configurable: true, enumerable: true })
      }
    },
  })
}

let locked = false

/** Converts every shim to a locked accessor; later patches are locked as they are made. */
export function lockPatches(): void {
  locked = true
  for (let i = 0; i < patched.length; i++) lockProperty(patched[i]!)
}

export function lockIfLocked(holder: object, key: PropertyKey): void {
  if (!locked) return
  for (let i = 0; i < patched.length; i++) {
    const p = patched[i]!
    if (p.holder === holder && p.key === key) lockProperty(p)
  }
}

const extraChecks: Array<() => boolean> = []

/** Adds a condition the integrity check verifies (e.g. a diagnostics subscription still there). */
export function registerIntegrityCheck(check: () => boolean): void {
  ArrayPush(extraChecks, check)
}

/** True while every registered shim is still the value tethered installed. */
export function patchesIntact(): boolean {
  for (let i = 0; i < patched.length; i++) {
    const p = patched[i]!
    if ((p.holder as Record<PropertyKey, unknown>)[p.key] !== p.value) return false
  }
  for (let i = 0; i < extraChecks.length; i++) {
    if (!extraChecks[i]!()) return false
  }
  return true
}
