// Locked mode closes the in-process doors around the shims: the debugger (node:inspector,
// inspector/promises, the raw inspector binding, SIGUSR1), node:ffi (Node 26), optionally new
// native code (addons, SQLite extensions), and tethered's own module objects. Each replacement
// is itself a protected patch.
import { createRequire } from 'node:module'
import { sep } from 'node:path'
import { binding } from './intercept/bindings'
import { standInFor } from './intercept/dns'
import { lockIfLocked, registerPatch } from './protect'
import { ObjectFreeze, ReflectApply } from './primordials'

const requireBuiltin = createRequire(__filename)

/**
 * Loads a built-in without the ExperimentalWarning its first load prints (node:ffi on Node 26,
 * node:sqlite on 22): tethered loads them only to disable them, and a lock must not print that.
 */
function requireQuietly(id: string): unknown {
  const emitWarning = process.emitWarning
  process.emitWarning = function (this: unknown, warning: unknown, ...rest: unknown[]) {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: unknown } | undefined)?.type
    if (type === 'ExperimentalWarning') return
    return ReflectApply(emitWarning, this, [warning, ...rest])
  } as typeof process.emitWarning
  try {
    return requireBuiltin(id)
  } finally {
    process.emitWarning = emitWarning
  }
}

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
    protectedPatch(exports, name, stub)
  }
}

/** Sets `holder[key]` and makes it a protected patch (a locked accessor once locked). */
function protectedPatch(holder: object, key: string, value: unknown): void {
  ;(holder as Record<string, unknown>)[key] = value
  registerPatch(holder, key, value)
  lockIfLocked(holder, key)
}

function disableModule(id: string, what: string): void {
  let exports: Record<string, unknown>
  try {
    exports = requireQuietly(id) as Record<string, unknown>
  } catch {
    return // not in this Node version
  }
  for (const name of Object.keys(exports)) {
    if (typeof exports[name] === 'function') disable(exports, name, what)
  }
}

function guardProcessBinding(): void {
  const original = (process as unknown as { binding(name: string): unknown }).binding
  const guarded = function binding(this: unknown, name: unknown) {
    // Node converts the name with String(); convert it once here and pass on the very string
    // checked, or `{ toString: () => 'inspector' }` / `new String('inspector')` would get through.
    const id = `${name as string}`
    if (id === 'inspector') throw refusal("process.binding('inspector')")
    // Its pushAsyncContext enters any async context, and setupHooks sees every resource.
    if (id === 'async_wrap') throw refusal("process.binding('async_wrap')")
    return ReflectApply(original, this, [id])
  }
  protectedPatch(process, 'binding', guarded)
}

type HookCallback = (...args: unknown[]) => unknown

/**
 * tethered's private DNS requests (intercept/dns.ts) stay out of JS reach while locked: where
 * Node hands request objects to JS — async_hooks `init` hooks, `executionAsyncResource()`,
 * `process._getActiveRequests()` — code sees, in their place, the caller's request they stand
 * for, which is what it would see without tethered.
 */
function hidePrivateRequests(): void {
  const asyncHooks = requireBuiltin('node:async_hooks') as Record<string, unknown>
  const createHook = asyncHooks.createHook as (callbacks: unknown) => unknown
  protectedPatch(asyncHooks, 'createHook', function createHookHidingRequests(this: unknown, callbacks: unknown) {
    const given = (callbacks ?? {}) as Record<string, unknown>
    const init = given.init
    if (typeof init !== 'function') return ReflectApply(createHook, this, [callbacks])
    // Node reads the five callbacks once, here; the wrapped init replaces the given one.
    const copy = {
      init(this: unknown, asyncId: unknown, type: unknown, triggerAsyncId: unknown, resource: unknown) {
        return ReflectApply(init as HookCallback, this, [asyncId, type, triggerAsyncId, standInFor(resource) ?? resource])
      },
      before: given.before,
      after: given.after,
      destroy: given.destroy,
      promiseResolve: given.promiseResolve,
    }
    return ReflectApply(createHook, this, [copy])
  })
  const executionAsyncResource = asyncHooks.executionAsyncResource as () => unknown
  protectedPatch(asyncHooks, 'executionAsyncResource', function executionAsyncResourceHidingRequests(this: unknown) {
    const resource = ReflectApply(executionAsyncResource, this, [])
    return standInFor(resource) ?? resource
  })
  const getActiveRequests = (process as unknown as Record<string, unknown>)._getActiveRequests
  if (typeof getActiveRequests === 'function') {
    protectedPatch(process, '_getActiveRequests', function _getActiveRequests(this: unknown) {
      const requests = ReflectApply(getActiveRequests as () => unknown, this, []) as unknown[]
      for (let i = 0; i < requests.length; i++) requests[i] = standInFor(requests[i]) ?? requests[i]
      return requests
    })
  }
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
    protectedPatch(process, method, guarded)
  }
}

/** SQLite's loadExtension() (node:sqlite, Node 22+) loads native code like an addon. */
function denySqliteExtensions(): void {
  let sqlite: Record<string, unknown>
  try {
    sqlite = requireQuietly('node:sqlite') as Record<string, unknown>
  } catch {
    return // not in this Node version, or behind a flag
  }
  const guarded = function loadExtension(): never {
    throw refusal('loading SQLite extensions (denyNativeAddons: true)')
  }
  for (const name of Object.keys(sqlite)) {
    const proto = (sqlite[name] as { prototype?: Record<string, unknown> } | null)?.prototype
    // Once per prototype: Node 26 exports the same class as Database and DatabaseSync.
    if (!proto || typeof proto.loadExtension !== 'function' || proto.loadExtension === guarded) continue
    protectedPatch(proto, 'loadExtension', guarded)
  }
}

let addonsDenied = false

function denyAddons(): void {
  // Once: a second lock with the option must not register a second, different value.
  if (addonsDenied) return
  addonsDenied = true
  const guarded = function dlopen(): never {
    throw refusal('loading native addons (process.dlopen, denyNativeAddons: true)')
  }
  protectedPatch(process, 'dlopen', guarded)
  denySqliteExtensions()
}

/** The raw Node-API module of tethered: what native.ts loaded (recognised by its functions). */
function isTetheredBinding(exports: unknown): exports is Record<string, unknown> {
  if (exports === null || typeof exports !== 'object') return false
  const e = exports as Record<string, unknown>
  return typeof e.claim === 'function' && typeof e.chainChecker === 'function' && typeof e.nativeVersion === 'function'
}

/**
 * tethered's own module objects are reachable by path (`require('tethered/dist/decide.js')`,
 * `require.cache`) and the raw native module by `require()` of its file. Their exports are read
 * at call time (`decide_1.check(...)`, `raw.recordResolution(capability, ...)`), so replacing
 * one would swap the decision or hand out the capability: freeze them all, the native classes'
 * prototypes included.
 */
function freezeInternals(): void {
  const dist = __dirname + sep
  const cache = requireBuiltin.cache
  for (const file of Object.keys(cache)) {
    const exports = cache[file]?.exports as unknown
    if (file.startsWith(dist) && file.endsWith('.js') && exports !== null && typeof exports === 'object') {
      ObjectFreeze(exports)
    } else if (file.endsWith('.node') && isTetheredBinding(exports)) {
      for (const key of Object.keys(exports)) {
        const value = exports[key]
        const proto = typeof value === 'function' ? (value as { prototype?: object }).prototype : undefined
        if (proto) {
          ObjectFreeze(proto)
          ObjectFreeze(value)
        }
      }
      ObjectFreeze(exports)
    }
  }
}

let hardened = false

/** Applies once, at the first lock; stays for the life of the process. */
export function harden(options: { denyNativeAddons: boolean }): void {
  if (options.denyNativeAddons) denyAddons()
  if (hardened) return
  hardened = true
  binding('tcp_wrap') // make sure the binding layer is reachable before process.binding is wrapped
  // inspector/promises first: it builds on node:inspector's Session and fails to load after it.
  disableModule('node:inspector/promises', 'node:inspector/promises')
  disableModule('node:inspector', 'node:inspector')
  disableModule('node:ffi', 'node:ffi')
  guardProcessBinding()
  hidePrivateRequests()
  guardSigusr1()
  freezeInternals()
}
