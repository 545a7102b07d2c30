// EgressBlocked: what a blocked connection, send or lookup fails with.
import type { Initiator } from './initiator'

/** Where a block happened. */
export type EgressKind = 'dns' | 'tcp' | 'udp' | 'request'

export interface EgressBlockedDetails {
  resolvedFrom?: string | null
  scopeLabel?: string | null
  kind?: EgressKind
  initiator?: Initiator | null
}

export function displayTarget(host: string, port: number | null): string {
  if (port === null) return host
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * A destination outside the allow list. `code` is `ERR_TETHERED_EGRESS_BLOCKED`, deliberately
 * not a network error code: HTTP clients that retry ECONNRESET/ETIMEDOUT do not retry this.
 */
export class EgressBlocked extends Error {
  readonly code = 'ERR_TETHERED_EGRESS_BLOCKED'
  /** The destination host or IP as the application gave it. */
  readonly host: string
  /** The destination port, or null for a DNS lookup. */
  readonly port: number | null
  /** The hostname a blocked IP was resolved from, if tethered saw the lookup. */
  readonly resolvedFrom: string | null
  /** The label of the scope that blocked, or null when the global policy blocked. */
  readonly scopeLabel: string | null
  /** Which kind of egress was blocked. */
  readonly kind: EgressKind
  /** The npm package (nearest package.json of the first stack frame outside tethered). */
  readonly initiator: Initiator | null

  constructor(host: string, port: number | null, details: EgressBlockedDetails = {}) {
    const resolvedFrom = details.resolvedFrom ?? null
    const scopeLabel = details.scopeLabel ?? null
    let message = `Blocked by tethered: ${displayTarget(host, port)}`
    if (resolvedFrom !== null && resolvedFrom !== host) message += ` (resolved from ${resolvedFrom})`
    message += ' is not in the allow list'
    if (scopeLabel) message += ` (blocked by ${scopeLabel})`
    super(message)
    this.name = 'EgressBlocked'
    this.host = host
    this.port = port
    this.resolvedFrom = resolvedFrom
    this.scopeLabel = scopeLabel
    this.kind = details.kind ?? 'tcp'
    this.initiator = details.initiator ?? null
  }
}

/** `activate()`/`deactivate()` on a locked policy without its token. */
export class TetheredLocked extends Error {
  readonly code = 'ERR_TETHERED_LOCKED'
  constructor(action: 'activate' | 'deactivate' = 'deactivate') {
    super(`tethered: ${action}() blocked — policy is locked. Pass the same lockToken to ${action}() to unlock.`)
    this.name = 'TetheredLocked'
  }
}

/** A process launch refused by `externalSubprocessPolicy: 'block'` or by locked mode. */
export class SubprocessBlocked extends Error {
  readonly code = 'ERR_TETHERED_SUBPROCESS_BLOCKED'
  /** The command that was refused. */
  readonly command: string

  constructor(command: string, reason: string) {
    super(`Blocked by tethered: ${command} — ${reason}`)
    this.name = 'SubprocessBlocked'
    this.command = command
  }
}
