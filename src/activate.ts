// activate() and deactivate(): the process-wide policy (BEHAVIOUR.md §7.1, §7.2).
import { hostname } from 'node:os'
import { TetheredLocked } from './egress-blocked'
import { invalidArgType, invalidArgValue } from './errors'
import { describe } from './describe'
import { syncBuiltinESMExports } from 'node:module'
import { harden } from './hardening'
import { startVerifying } from './integrity'
import { installShims } from './intercept/index'
import { type Logger, log, setLogger, stderrLogger } from './logger'
import { native } from './native'
import { compileRules } from './policy'
import { lockPatches } from './protect'
import type { BlockInfo } from './report'
import { type GlobalOptions, state } from './state'
import { policyOptions, rejectUnknownKeys } from './options'
import { validateBool, validateOptions } from './validate'

export type OnBlocked = (host: string, port: number | null, info: BlockInfo) => void
export type SubprocessPolicy = 'warn' | 'allow' | 'block'

export interface ActivateOptions {
  /** The allow list (required). `[]` blocks everything but localhost. */
  allow: readonly string[]
  /** Report instead of blocking (default false). */
  logOnly?: boolean
  /** Block when the check itself fails (default false: allow and log). */
  failClosed?: boolean
  /** Allow loopback, unspecified addresses and `localhost` without rules (default true). */
  allowLocalhost?: boolean
  /** Called on every block, in log-only mode too. */
  onBlocked?: OnBlocked | null
  /** console-compatible logger (console, pino, winston); null silences; default: stderr. */
  logger?: Logger | null
  /** Make the policy impossible to replace or remove without `lockToken`. */
  locked?: boolean
  /** An object or function compared by identity. */
  lockToken?: object | null
  /** What to do when a non-Node executable is launched (default 'warn'). */
  externalSubprocessPolicy?: SubprocessPolicy
  /** Locked mode only: refuse to load native addons from now on (default false). */
  denyNativeAddons?: boolean
}

export interface DeactivateOptions {
  lockToken?: object | null
}

const ACTIVATE_KEYS = new Set(['allow', 'logOnly', 'failClosed', 'allowLocalhost', 'onBlocked', 'logger', 'locked', 'lockToken', 'externalSubprocessPolicy', 'denyNativeAddons'])
const SUBPROCESS_POLICIES = new Set(['warn', 'allow', 'block'])

function validateLogger(value: unknown): Logger | null {
  if (value === undefined) return stderrLogger
  if (value === null) return null
  if (typeof value !== 'object' || typeof (value as Logger).warn !== 'function' || typeof (value as Logger).error !== 'function') {
    throw invalidArgType(`logger must be an object with warn() and error() methods (console, pino, winston, …) or null, got ${describe(value)}`)
  }
  return value as Logger
}

function validateToken(value: unknown, locked: boolean): object | null {
  if (value === undefined || value === null) {
    if (locked) throw invalidArgValue('tethered: lockToken is required when locked is true (use an object, e.g. `const token = {}`)')
    return null
  }
  if (typeof value !== 'object' && typeof value !== 'function') {
    throw invalidArgType(
      `lockToken must be an object or a function, compared by identity, got ${describe(value)}: primitives (strings, numbers, symbols, …) can be re-created by any code and would not protect the lock`,
    )
  }
  return value
}

/** Runs a native policy change, turning the native lock refusal into TetheredLocked. */
function lockedCall(action: 'activate' | 'deactivate', fn: () => void): void {
  try {
    fn()
  } catch (err) {
    if (String((err as Error)?.message).startsWith('ERR_TETHERED_LOCKED')) throw new TetheredLocked(action)
    throw err
  }
}

/** Locked mode for this thread's JS: protected shims, closed debugger doors, verification. */
export function lockThisThread(options: { denyNativeAddons: boolean }): void {
  lockPatches()
  harden(options)
  syncBuiltinESMExports()
  Object.freeze(native)
  startVerifying()
}

/** Enforces `options.allow` on every connection, send and lookup of this process. */
export function activate(options: ActivateOptions): void {
  const { opts, allow, logOnly, failClosed, allowLocalhost, onBlocked } = policyOptions(options, 'activate', ACTIVATE_KEYS)
  const logger = validateLogger(opts.logger)
  const locked = validateBool(opts.locked, 'locked', false)
  const lockToken = validateToken(opts.lockToken, locked)
  const externalSubprocessPolicy = opts.externalSubprocessPolicy === undefined ? 'warn' : opts.externalSubprocessPolicy
  if (typeof externalSubprocessPolicy !== 'string' || !SUBPROCESS_POLICIES.has(externalSubprocessPolicy)) {
    throw invalidArgValue(`externalSubprocessPolicy must be 'warn', 'allow' or 'block', got ${describe(externalSubprocessPolicy)}`)
  }
  const denyNativeAddons = validateBool(opts.denyNativeAddons, 'denyNativeAddons', false)
  if (denyNativeAddons && !locked) throw invalidArgValue('denyNativeAddons needs locked: true')
  const compiled = compileRules(allow, allowLocalhost)
  if (!native.unlocks(lockToken)) throw new TetheredLocked('activate')
  setLogger(logger) // before installing, so installation warnings use the caller's logger
  installShims()
  const next: GlobalOptions = Object.freeze({
    logOnly,
    failClosed,
    allowLocalhost,
    onBlocked,
    locked,
    externalSubprocessPolicy: externalSubprocessPolicy as SubprocessPolicy,
    allow: Object.freeze(allow),
  })
  let localHostname = ''
  try {
    localHostname = hostname()
  } catch {
    // No hostname: no self-lookup exemption.
  }
  // Protect first, then lock: a failure here leaves the previous policy in place.
  if (locked) lockThisThread({ denyNativeAddons })
  lockedCall('activate', () =>
    native.setGlobalPolicy(
      lockToken,
      compiled,
      { allow, allowLocalhost, externalSubprocessPolicy, localHostname, logOnly, failClosed, locked },
      locked ? lockToken : null,
    ),
  )
  state.global = next
  setLogger(logger)
  log('debug', `tethered: activated with ${allow.length} rules (logOnly=${logOnly})`)
}

/** Removes the global policy, the IP -> hostname cache and the callbacks. */
export function deactivate(options?: DeactivateOptions): void {
  const opts = validateOptions(options, 'options')
  rejectUnknownKeys(opts, new Set(['lockToken']), 'deactivate')
  const token = opts.lockToken === undefined ? null : (opts.lockToken as object | null)
  if (!native.unlocks(token)) throw new TetheredLocked('deactivate')
  if (state.global === null && !native.globalFlags().active) return
  lockedCall('deactivate', () =>
    native.setGlobalPolicy(
      token,
      null,
      { allow: [], allowLocalhost: true, externalSubprocessPolicy: 'warn', localHostname: '', logOnly: false, failClosed: false, locked: false },
      null,
    ),
  )
  state.global = null
  log('debug', 'tethered: deactivated')
  setLogger(stderrLogger)
}
