// Locked mode closes the in-process doors around the shims: the debugger (node:inspector,
// inspector/promises, the raw inspector binding, SIGUSR1), node:ffi (Node 26), optionally new
// native addons. Each replacement is itself a protected patch.
import { createRequire } from 'node:module'
import { binding } from './intercept/bindings'
import { registerPatch } from './protect'
import { ReflectApply } from './primordials'

const requireBuiltin = createRequire(__filename)

function refusal(what: string): Error {
  return Object.assign(new Error(`tethered: ${what} is disabled while the egress policy is locked`), {
    code: 'ERR_TETHERED_LOCKED',
  })
}

/** Replaces `exports[name]` with a function or class that always throws. */
function disable(exports: Record<string, unknown>, name: string, what: string): void {
  if (!(name in exports)) return
  const stub = function disabled(): never {
    throw refusal(what)
  }
  try {
    Object.defineProperty(exports, name, { value: stub, writable: false, configurable: false, enumerable: true })
  } catch {
    exports[name] = stub
    registerPatch(exports, name, stub)
  }
}

function disableModule(id: string, what: string): void {
  let exports: Record<string, unknown>
  try {
    exports = requireBuiltin(id) as Record<string, unknown>
  } catch {
    return // not in this Node version
  }
  for (const name of Object.keys(exports)) {
    if (typeof exports[name] === 'function') disable(exports, name, what)
  }
}

function guardProcessBinding(): void {
  const original = (process as unknown as { binding(name: string): unknown }).binding
  const guarded = function binding(this: unknown, name: string) {
    if (name === 'inspector') throw refusal("process.binding('inspector')")
    return ReflectApply(original, this, [name])
  }
  ;(process as unknown as Record<string, unknown>).binding = guarded
  registerPatch(process, 'binding', guarded)
}

/** A SIGUSR1 listener stops Node from opening the debugger; keep it from being removed. */
function guardSigusr1(): void {
  const listener = function tetheredSigusr1(): void {}
  process.on('SIGUSR1', listener)
  for (const method of ['removeListener', 'off', 'removeAllListeners'] as const) {
    const original = process[method] as (...args: unknown[]) => unknown
    const guarded = function (this: unknown, ...args: unknown[]) {
      const result = ReflectApply(original, this, args)
      if (process.listeners('SIGUSR1').indexOf(listener) === -1) process.on('SIGUSR1', listener)
      return result
    }
    ;(process as unknown as Record<string, unknown>)[method] = guarded
    registerPatch(process, method, guarded)
  }
}

function denyAddons(): void {
  const guarded = function dlopen(): never {
    throw refusal('loading native addons (process.dlopen, denyNativeAddons: true)')
  }
  ;(process as unknown as Record<string, unknown>).dlopen = guarded
  registerPatch(process, 'dlopen', guarded)
}

let hardened = false

/** Applies once, at the first lock; stays for the life of the process. */
export function harden(options: { denyNativeAddons: boolean }): void {
  if (options.denyNativeAddons) denyAddons()
  if (hardened) return
  hardened = true
  binding('tcp_wrap') // make sure the binding layer is reachable before process.binding is wrapped
  disableModule('node:inspector', 'node:inspector')
  disableModule('node:inspector/promises', 'node:inspector/promises')
  disableModule('node:ffi', 'node:ffi')
  guardProcessBinding()
  guardSigusr1()
}
