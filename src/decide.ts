// The decision every shim asks for: one native call per check, then reporting. Returns the
// error to deliver, or null when the egress may proceed (allowed, or only reported).
import { EgressBlocked, type EgressKind } from './egress-blocked'
import { verifyIntegrity } from './integrity'
import { findInitiator } from './initiator'
import { log } from './logger'
import { allowedChannel, publishAllowed } from './observe'
import { type ChainCheck, native } from './native'
import { ArrayPush } from './primordials'
import type { OnBlocked } from './activate'
import { reportBlock } from './report'
import { currentFrame, type ScopeFrame } from './scope-context'
import { state } from './state'

let recording = false

/** tethered record needs every event, including the ones normally reported only once. */
export function reportEverything(): void {
  recording = true
}


const REPORTED_BY_GLOBAL = -2

let unscopedCheck: ChainCheck | null = null
/** The fast check without scopes, made on first use. */
function unscoped(): ChainCheck {
  return (unscopedCheck ??= native.chainChecker(null))
}

function resolvedFromCache(host: string, port: number): string | null {
  if (port < 0 || !native.isIp(host)) return null
  return native.resolvedFrom(host)
}

// A request refused (or reported) at request level is often followed, in the same turn of the
// event loop, by the client opening a connection for it anyway (undici 6/7 connect before they
// look at the abort; log-only requests proceed): that echo is decided again but not reported
// again. The memo lives until the next setImmediate.
interface RequestMemo {
  readonly host: string
  readonly port: number
  readonly frame: ScopeFrame | undefined
  /** Only reported (log-only): the request goes on, lookups for it follow. */
  readonly proceeds: boolean
}
let memo: RequestMemo | null = null
let memoClearing = false
const setImmediateCaptured = setImmediate
function clearMemo(): void {
  memo = null
  memoClearing = false
}
function rememberRequest(host: string, port: number, frame: ScopeFrame | undefined, proceeds: boolean): void {
  memo = { host, port, frame, proceeds }
  if (!memoClearing) {
    memoClearing = true
    setImmediateCaptured(clearMemo)
  }
}
function isEcho(kind: EgressKind, host: string, resolvedFrom: string | null, port: number, frame: ScopeFrame | undefined): boolean {
  const m = memo
  if (m === null || kind === 'request' || m.frame !== frame) return false
  // A refused request makes no lookup: a lookup of the same name is a different event.
  if (port < 0) return m.proceeds && m.host === host
  return (m.host === host || m.host === resolvedFrom) && m.port === port
}

let outright = false

/**
 * Whether the last check() allowed outright — nothing blocked, nothing reported — while nothing
 * subscribes to `tethered:allowed`. Only then may a shim skip the identical check that Node is
 * about to trigger below it (see intercept/handoff.ts): a subscriber sees every decision.
 */
export function allowedUnobserved(): boolean {
  return outright
}

/**
 * Checks `host` (a name or an IP) and `port` (-1 for a lookup) against the global policy and
 * the scopes of the current async context.
 *
 * `reportLogOnly` false: a would-be block in log-only mode is not reported here, because a
 * later check on the same path (the socket's connect) reports it; real blocks always are.
 * `frame`: the caller's scope frame, when it has just read it.
 */
export function check(kind: EgressKind, host: string, port: number, reportLogOnly = true, frame: ScopeFrame | undefined = currentFrame()): EgressBlocked | null {
  outright = false
  reportLogOnly ||= recording
  if (!verifyIntegrity()) {
    return new EgressBlocked(host, port < 0 ? null : port, { kind })
  }
  let first = -1
  // Log-only reports held back for a later check on the same path; reported after all if this
  // check ends in a real block (then there is no later check).
  let deferred: Array<() => void> | null = null
  for (;;) {
    let verdict: number
    try {
      verdict = native.checkEgress(host, port, frame ? frame.check : unscoped(), first)
      if (typeof verdict !== 'number') throw verdict
    } catch (err) {
      return internalError(kind, host, port, err, frame)
    }
    if (verdict === 0) {
      if (first >= 0 && kind === 'request') rememberRequest(host, port, frame, true)
      if (allowedChannel.hasSubscribers) publishAllowed(kind, host, port, resolvedFromCache(host, port))
      else outright = first < 0
      return null
    }
    const portOrNull = port < 0 ? null : port
    const resolvedFrom = resolvedFromCache(host, port)
    const silent = isEcho(kind, host, resolvedFrom, port, frame)
    const initiator = silent ? null : findInitiator()
    let error: EgressBlocked
    let logOnly: boolean
    let onBlocked: OnBlocked | null
    if (verdict < 0) {
      error = new EgressBlocked(host, portOrNull, { resolvedFrom, kind, initiator })
      logOnly = verdict === REPORTED_BY_GLOBAL
      onBlocked = state.global?.onBlocked ?? null
    } else {
      const entry = frame?.entries[verdict - 1]
      const scopeLabel = entry?.label ?? 'scope'
      // Upstream reports a scope block on the hostname when the IP was resolved from one.
      error = resolvedFrom
        ? new EgressBlocked(resolvedFrom, portOrNull, { resolvedFrom, scopeLabel, kind, initiator })
        : new EgressBlocked(host, portOrNull, { scopeLabel, kind, initiator })
      logOnly = entry?.logOnly ?? false
      onBlocked = entry?.onBlocked ?? null
    }
    if (!logOnly) {
      if (kind === 'request') rememberRequest(host, port, frame, false)
      if (!silent) {
        if (deferred) for (let i = 0; i < deferred.length; i++) deferred[i]!()
        reportBlock(error, false, onBlocked)
      }
      return error
    }
    if (!silent) {
      if (reportLogOnly) reportBlock(error, true, onBlocked)
      else ArrayPush((deferred ??= []), () => reportBlock(error, true, onBlocked))
    }
    first = verdict < 0 ? 0 : verdict
    if (!frame || first >= frame.entries.length) {
      if (kind === 'request') rememberRequest(host, port, frame, true)
      return null
    }
  }
}

/**
 * A check that failed inside tethered: block if the global policy fails closed, or count as a
 * block by the outermost fail-closed scope (its label, its callback, its log-only mode);
 * otherwise allow and log (BEHAVIOUR.md §7.5-§7.6).
 */
function internalError(kind: EgressKind, host: string, port: number, err: unknown, frame: ScopeFrame | undefined): EgressBlocked | null {
  let globalClosed = state.global?.failClosed ?? false
  try {
    globalClosed ||= native.globalFlags().failClosed
  } catch {
    globalClosed = true // the native state itself is broken: never guess "open"
  }
  const where = port < 0 ? host : `${host}:${port}`
  const portOrNull = port < 0 ? null : port
  if (globalClosed) {
    log('error', `tethered: error checking ${where}, failing closed: ${String(err)}`)
    return new EgressBlocked(host, portOrNull, { kind })
  }
  const entries = frame?.entries ?? []
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!
    if (!entry.failClosed) continue
    log('error', `tethered: error checking ${where} for ${entry.label}, failing closed: ${String(err)}`)
    const error = new EgressBlocked(host, portOrNull, { kind, scopeLabel: entry.label, initiator: findInitiator() })
    reportBlock(error, entry.logOnly, entry.onBlocked)
    if (!entry.logOnly) return error
  }
  log('warn', `tethered: error checking ${where}, failing open: ${String(err)}`)
  return null
}
