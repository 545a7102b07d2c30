// Reporting a block: the log line and the onBlocked callback. A callback that throws is
// logged and never breaks the connection path.
import type { OnBlocked } from './activate'
import { type EgressBlocked, type EgressKind, displayTarget } from './egress-blocked'
import { log } from './logger'
import { blockedChannel } from './observe'

/** The third argument of `onBlocked`. */
export interface BlockInfo {
  readonly kind: EgressKind
  readonly resolvedFrom: string | null
  readonly scopeLabel: string | null
  /** True when nothing was blocked because the policy is in log-only mode. */
  readonly logOnly: boolean
  readonly error: EgressBlocked
}


const VERB: Record<EgressKind, string> = { dns: 'lookup of', tcp: 'connection to', udp: 'datagram to', request: 'request to' }

export function reportBlock(error: EgressBlocked, logOnly: boolean, onBlocked: OnBlocked | null): void {
  const where = displayTarget(error.host, error.port)
  const from = error.resolvedFrom && error.resolvedFrom !== error.host ? ` (resolved from ${error.resolvedFrom})` : ''
  const by = error.scopeLabel ? ` by ${error.scopeLabel}` : ''
  const mode = logOnly ? ' (log-only: allowed)' : ''
  const who = error.initiator ? ` (initiated by ${error.initiator.name}${error.initiator.version ? `@${error.initiator.version}` : ''})` : ''
  log('warn', `tethered: blocked ${VERB[error.kind]} ${where}${from}${by}${who}${mode}`)
  if (blockedChannel.hasSubscribers) {
    try {
      blockedChannel.publish({
        host: error.host,
        port: error.port,
        resolvedFrom: error.resolvedFrom,
        scopeLabel: error.scopeLabel,
        kind: error.kind,
        logOnly,
        initiator: error.initiator,
      })
    } catch {
      // A subscriber's exception is Node's to report; it must not change the decision.
    }
  }
  if (onBlocked === null) return
  const info: BlockInfo = {
    kind: error.kind,
    resolvedFrom: error.resolvedFrom,
    scopeLabel: error.scopeLabel,
    logOnly,
    error,
  }
  try {
    onBlocked(error.resolvedFrom ?? error.host, error.port, info)
  } catch (err) {
    log('warn', `tethered: onBlocked callback threw for ${where}: ${String(err)}`)
  }
}
