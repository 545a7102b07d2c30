// scope(): narrows egress for one code path, following it through every await, timer and
// callback (AsyncLocalStorage), never into concurrent work (BEHAVIOUR.md §7.3-§7.7).
import type { OnBlocked } from './activate'
import { policyOptions } from './options'
import { describe } from './describe'
import { invalidArgType } from './errors'
import { installShims } from './intercept/index'
import { log } from './logger'
import { native } from './native'
import { compileRules } from './policy'
import { ReflectApply } from './primordials'
import { type ScopeEntry, type ScopeFrame, currentFrame, runInFrame } from './scope-context'

export interface ScopeOptions {
  /** Destinations this code path may reach (still bounded by the global policy). */
  allow: readonly string[]
  /** Allow loopback and `localhost` without a rule (default true). */
  allowLocalhost?: boolean
  /** Report instead of blocking (default false). */
  logOnly?: boolean
  /** Block when the check itself fails (default false). */
  failClosed?: boolean
  /** Called when this scope blocks (in log-only mode too). */
  onBlocked?: OnBlocked | null
  /** Shown in errors and logs; default (also for null) `scope(<first 3 rules>)`. */
  label?: string | null
}

type AnyFn = (...args: never[]) => unknown

/** A reusable scope: `run(fn)`, `wrap(fn)`, and usable as a method decorator. */
export interface Scope {
  /** TC39 method decorator (`@scope({...}) async get() {}`), also legacy decorators. */
  <F extends AnyFn>(method: F, context?: unknown, descriptor?: PropertyDescriptor): F
  readonly label: string
  /** Runs `fn` inside the scope and returns its result (a promise stays a promise). */
  run<R>(fn: () => R): R
  /** A function that always runs `fn` inside the scope, keeping `this` and arguments. */
  wrap<F extends AnyFn>(fn: F): F
}

const SCOPE_KEYS = new Set(['allow', 'allowLocalhost', 'logOnly', 'failClosed', 'onBlocked', 'label'])

function defaultLabel(allow: readonly string[]): string {
  return `scope(${allow.slice(0, 3).join(', ')}${allow.length > 3 ? '...' : ''})`
}

/** The advisory warnings for scope rules the global policy can never (fully) allow. */
function warnOverlap(label: string, allow: readonly string[]): void {
  if (!native.globalFlags().active) return
  const verdicts = native.scopeOverlap([...allow])
  verdicts.forEach((verdict, i) => {
    const rule = JSON.stringify(allow[i])
    if (verdict === 2) log('warn', `tethered: ${label} rule ${rule} has no overlap with global policy — it will never match`)
    else if (verdict === 1) log('warn', `tethered: ${label} rule ${rule} is broader than the global policy — only a subset will be reachable`)
  })
}

function isGeneratorFunction(fn: unknown): boolean {
  const name = (fn as { constructor?: { name?: string } }).constructor?.name
  return name === 'GeneratorFunction' || name === 'AsyncGeneratorFunction'
}

function createScope(options: ScopeOptions): Scope {
  const { opts, allow, allowLocalhost, logOnly, failClosed, onBlocked } = policyOptions(options, 'scope', SCOPE_KEYS)
  // null means "the default", as None does upstream (BEHAVIOUR.md §7.3).
  if (opts.label !== undefined && opts.label !== null && typeof opts.label !== 'string') {
    throw invalidArgType(`label must be a string or null, got ${describe(opts.label)}`)
  }
  const label = (opts.label as string | null | undefined) ?? defaultLabel(allow)
  // Compiled once: a reusable scope or a decorator never recompiles per call.
  const compiled = compileRules(allow, allowLocalhost)
  const entry: ScopeEntry = Object.freeze({ allow: Object.freeze(allow), allowLocalhost, label, logOnly, failClosed, onBlocked })
  const rootChain = native.scopeChain(compiled)
  const rootFrame: ScopeFrame = Object.freeze({ chain: rootChain, check: native.chainChecker(rootChain), entries: Object.freeze([entry]) })
  // Nested frames are cached per parent frame, so entering costs a lookup, not a native call.
  const nested = new WeakMap<ScopeFrame, ScopeFrame>()
  installShims()
  warnOverlap(label, allow)

  function frameFor(parent: ScopeFrame | undefined): ScopeFrame {
    if (parent === undefined) return rootFrame
    let frame = nested.get(parent)
    if (frame === undefined) {
      const chain = parent.chain.push(compiled)
      frame = Object.freeze({ chain, check: native.chainChecker(chain), entries: Object.freeze([...parent.entries, entry]) })
      nested.set(parent, frame)
    }
    return frame
  }

  function run<R>(fn: () => R): R {
    if (typeof fn !== 'function') throw invalidArgType(`scope run() needs a function, got ${describe(fn)}`)
    return runInFrame(frameFor(currentFrame()), fn)
  }

  function wrap<F extends AnyFn>(fn: F): F {
    if (typeof fn !== 'function') throw invalidArgType(`scope wrap() needs a function, got ${describe(fn)}`)
    if (isGeneratorFunction(fn)) {
      throw invalidArgType(
        'tethered scope cannot wrap generator or async generator functions: the scope would end at the first yield. Use scope(options, fn) inside the function body instead.',
      )
    }
    const wrapped = function (this: unknown, ...args: unknown[]) {
      return runInFrame(frameFor(currentFrame()), ReflectApply as (...a: never[]) => unknown, fn, this, args)
    }
    Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true })
    Object.defineProperty(wrapped, 'length', { value: fn.length, configurable: true })
    return wrapped as unknown as F
  }

  const decorator = function <F extends AnyFn>(method: F, context?: unknown, descriptor?: PropertyDescriptor): F {
    if (descriptor !== undefined && typeof descriptor === 'object' && typeof descriptor.value === 'function') {
      // Legacy (experimentalDecorators) method decorator: (target, key, descriptor).
      descriptor.value = wrap(descriptor.value as AnyFn)
      return descriptor as unknown as F
    }
    const kind = (context as { kind?: unknown } | undefined)?.kind
    if (kind !== undefined && kind !== 'method') {
      throw invalidArgType(`tethered scope can decorate methods only, not a ${String(kind)}`)
    }
    return wrap(method)
  }
  return Object.freeze(Object.assign(decorator, { label, run, wrap })) as unknown as Scope
}

/** `scope(options)`: a reusable scope. `scope(options, fn)`: runs `fn` in a new scope. */
export function scope(options: ScopeOptions): Scope
export function scope<R>(options: ScopeOptions, fn: () => R): R
export function scope<R>(options: ScopeOptions, fn?: () => R): Scope | R {
  const s = createScope(options)
  if (fn === undefined) return s
  return s.run(fn)
}
