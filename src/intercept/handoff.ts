// Hand-offs between shims nested on one synchronous path. An HTTP request by name passes four
// shims: the agent's addRequest (the request's target), Socket#connect (the same host and port),
// the lookup binding (the same host) and the TCP binding (the address dialled). Node makes the
// middle calls synchronously inside the outer ones, so an outer shim that has just allowed a
// target outright lets the next shim skip the identical decision. The TCP binding is never
// skipped: the address it dials comes back later from a resolver, and is judged on its own.
//
// Each hand-off is one use, only for the very same target, in the same scope frame, under the
// same global policy, and only while the outer shim's call to Node is on the stack.
import { ReflectApply } from '../primordials'
import { currentFrame, type ScopeFrame } from '../scope-context'
import { type GlobalOptions, state } from '../state'

type Fn = (...args: unknown[]) => unknown

interface Decided {
  host: string
  /** -1 for a lookup (any port). */
  port: number
  frame: ScopeFrame | undefined
  policy: GlobalOptions | null
}

let connect: Decided | null = null
let lookup: Decided | null = null

function take(slot: Decided | null, host: string, port: number): boolean {
  return slot !== null && slot.host === host && slot.port === port && slot.policy === state.global && slot.frame === currentFrame()
}

function call(original: Fn, self: unknown, args: ArrayLike<unknown>): unknown {
  return ReflectApply(original, self, args)
}

/** Calls Node's addRequest after `host:port` was allowed outright for the request in `frame`. */
export function callWithDecidedConnect(original: Fn, self: unknown, args: ArrayLike<unknown>, host: string, port: number, frame: ScopeFrame | undefined): unknown {
  const previous = connect
  connect = { host, port, frame, policy: state.global }
  try {
    return call(original, self, args)
  } finally {
    connect = previous
  }
}

/** True (once) when Socket#connect to `host:port` was just decided by the request that makes it. */
export function takeDecidedConnect(host: string, port: number): boolean {
  if (!take(connect, host, port)) return false
  connect = null
  return true
}

/** Calls Node with a lookup of `host` already decided (allowed, or reported in log-only mode). */
export function callWithDecidedLookup(original: Fn, self: unknown, args: ArrayLike<unknown>, host: string): unknown {
  const previous = lookup
  lookup = { host, port: -1, frame: currentFrame(), policy: state.global }
  try {
    return call(original, self, args)
  } finally {
    lookup = previous
  }
}

/** True (once) when the binding-level lookup of `host` was just decided by a shim above it. */
export function takeDecidedLookup(host: string): boolean {
  if (!take(lookup, host, -1)) return false
  lookup = null
  return true
}
