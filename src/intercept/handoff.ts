// Hand-offs between shims nested on one synchronous path. An HTTP request by name passes four
// shims: the agent's addRequest (the request's target), Socket#connect (the same host and port),
// the lookup binding (the same host) and, once the resolver answers, the TCP binding (one of the
// answered addresses, the same port). Node makes each inner call synchronously inside the outer
// one, so a shim that has just allowed a target outright lets the next shim skip the identical
// decision:
// - addRequest -> Socket#connect: the same host and port;
// - Socket#connect -> the lookup binding: the same host (a lookup is allowed wherever a connect
//   to the host is);
// - the lookup's completion -> the TCP binding: an address the resolver has just answered for
//   that host (Node dials it inside the completion), on the port the connect was allowed for.
//   The TCP binding would have judged that address by the very host just recorded for it.
//
// Each hand-off is one use, only for the very same target, in the same scope frame, under the
// same global policy, and only while the outer shim's call into Node is on the stack (the dial
// hand-off only under an unlocked policy: see takeDecidedDial). Anything
// else — another host, port or address, code that runs in between and dials elsewhere — is
// decided in full.
import { ReflectApply } from '../primordials'
import { currentFrame, type ScopeFrame } from '../scope-context'
import { type GlobalOptions, state } from '../state'

type Fn = (...args: unknown[]) => unknown

export interface Decided {
  readonly host: string
  /** -1 when any port will do (a lookup made for no connect). */
  readonly port: number
  readonly frame: ScopeFrame | undefined
  readonly policy: GlobalOptions | null
}

let connect: Decided | null = null
let lookup: Decided | null = null
let dial: Decided | null = null
let dialAddresses: readonly string[] = []

function current(slot: Decided | null, port: number): boolean {
  return slot !== null && slot.port === port && slot.policy === state.global && slot.frame === currentFrame()
}

/** Calls Node's addRequest after `host:port` was allowed outright for the request in `frame`. */
export function callWithDecidedConnect(original: Fn, self: unknown, args: ArrayLike<unknown>, host: string, port: number, frame: ScopeFrame | undefined): unknown {
  const previous = connect
  connect = { host, port, frame, policy: state.global }
  try {
    return ReflectApply(original, self, args)
  } finally {
    connect = previous
  }
}

/**
 * When Socket#connect to `host:port` was just decided by the request that makes it: that
 * decision (once), else null.
 */
export function takeDecidedConnect(host: string, port: number): Decided | null {
  const slot = connect
  if (!current(slot, port) || slot!.host !== host) return null
  connect = null
  return slot
}

/**
 * Calls Node with a lookup of `host` already decided (allowed, or reported in log-only mode);
 * `port` >= 0 when it was allowed outright for a connect to that port.
 */
export function callWithDecidedLookup(original: Fn, self: unknown, args: ArrayLike<unknown>, host: string, port = -1, decided: Decided | null = null): unknown {
  const previous = lookup
  // A connect handed off by its request passes that decision on (same host, port, frame, policy).
  lookup = decided ?? { host, port, frame: currentFrame(), policy: state.global }
  try {
    return ReflectApply(original, self, args)
  } finally {
    lookup = previous
  }
}

/**
 * When the binding-level lookup of `host` was just decided by a shim above it: that decision
 * (once), else null.
 */
export function takeDecidedLookup(host: string): Decided | null {
  const slot = lookup
  if (slot === null || slot.host !== host || slot.policy !== state.global || slot.frame !== currentFrame()) return null
  lookup = null
  return slot
}

/**
 * Completes a lookup made for a connect allowed outright (`decided`): while Node handles the
 * answer, a dial to one of `addresses` on the connect's port is decided already.
 */
export function callWithDecidedDial(forward: Fn, self: unknown, args: ArrayLike<unknown>, decided: Decided, addresses: readonly string[]): unknown {
  const previous = dial
  const previousAddresses = dialAddresses
  dial = decided
  dialAddresses = addresses
  try {
    return ReflectApply(forward, self, args)
  } finally {
    dial = previous
    dialAddresses = previousAddresses
  }
}

/** True (once) when a dial of `address:port` was just handed off by its lookup's completion. */
export function takeDecidedDial(address: string, port: number): boolean {
  const slot = dial
  // Not under a locked policy: time passed while the resolver ran, and the full check also
  // looks at the process-wide tamper flag another thread may have raised meanwhile.
  if (!current(slot, port) || slot!.policy?.locked !== false) return false
  const addresses = dialAddresses
  let found = false
  for (let i = 0; i < addresses.length && !found; i++) found = addresses[i] === address
  if (!found) return false
  dial = null
  return true
}
