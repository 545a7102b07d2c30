// diagnostics_channel events: `tethered:blocked` for every block (log-only ones included) and
// `tethered:allowed`, published only when something subscribes, so allowed traffic pays one
// property read.
import diagnosticsChannel from 'node:diagnostics_channel'
import type { EgressKind } from './egress-blocked'
import type { Initiator } from './initiator'

export interface EgressEvent {
  readonly host: string
  readonly port: number | null
  readonly resolvedFrom: string | null
  readonly scopeLabel: string | null
  readonly kind: EgressKind
  readonly logOnly: boolean
  readonly initiator: Initiator | null
}

export const blockedChannel = diagnosticsChannel.channel('tethered:blocked')
export const allowedChannel = diagnosticsChannel.channel('tethered:allowed')

export function publishAllowed(kind: EgressKind, host: string, port: number, resolvedFrom: string | null): void {
  const event: EgressEvent = {
    host,
    port: port < 0 ? null : port,
    resolvedFrom,
    scopeLabel: null,
    kind,
    logOnly: false,
    initiator: null,
  }
  allowedChannel.publish(event)
}
