// TCP: net.Socket.prototype.connect (the hostname, before any DNS query) and the TCP binding's
// connect/connect6 (the address actually dialled: ground truth, also for handles made without
// net). tls, http, https, http2, fetch/undici and client libraries all land here.
import net from 'node:net'
import { allowedUnobserved, check } from '../decide'
import type { EgressBlocked } from '../egress-blocked'
import { ArrayIsArray, ArrayPush, ReflectApply, findSymbol, nextTick } from '../primordials'
import { createStamp } from '../stamp'
import { binding, patchMethod, uvEacces } from './bindings'
import { callWithDecidedLookup, takeDecidedConnect, takeDecidedDial } from './handoff'

type Callback = (err: Error | null, address?: unknown, family?: number) => void
type LookupFn = (hostname: string, options: unknown, callback: Callback) => void
interface ConnectOptions {
  host?: unknown
  port?: unknown
  path?: unknown
  lookup?: LookupFn
}
interface Destroyable {
  destroy(err?: Error): unknown
}

const normalizeArgs = (net as unknown as { _normalizeArgs(args: unknown[]): unknown[] })._normalizeArgs

/** A lookup that fails with `err` without asking any resolver. */
function failingLookup(err: EgressBlocked): LookupFn {
  return (_hostname, _options, callback) => nextTick(callback, err)
}

/**
 * Wraps the lookup a socket will use so that every address it returns is checked for `port`
 * before net dials it: blocked ones are dropped (happy eyeballs goes on with the rest), and if
 * none is left the connection fails with the EgressBlocked error.
 */
function filteringLookup(base: LookupFn, port: number): LookupFn {
  return function lookup(this: unknown, hostname, options, callback) {
    ReflectApply(base, this, [
      hostname,
      options,
      (err: Error | null, address?: unknown, family?: number) => {
        if (err) return callback(err, address, family)
        if (ArrayIsArray(address)) {
          const kept: unknown[] = []
          let firstError: EgressBlocked | null = null
          for (let i = 0; i < address.length; i++) {
            const entry = address[i] as { address?: unknown }
            const blocked = typeof entry?.address === 'string' ? check('tcp', entry.address, port, false) : null
            if (blocked) firstError ??= blocked
            else ArrayPush(kept, entry)
          }
          if (kept.length === 0 && firstError) return callback(firstError)
          return callback(null, kept)
        }
        if (typeof address === 'string') {
          const blocked = check('tcp', address, port, false)
          if (blocked) return callback(blocked)
        }
        return callback(null, address, family)
      },
    ])
  }
}

function portNumber(port: unknown): number {
  const n = typeof port === 'string' ? Number(port) : port
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535 ? n : 0
}

function patchSocketConnect(): void {
  const proto = net.Socket.prototype as unknown as Record<string, unknown>
  patchMethod(proto, 'connect', (original) =>
    function connect(this: unknown, ...args: unknown[]) {
      // net.connect() passes one already-normalized [options, callback] array.
      const normalized = args.length === 1 && ArrayIsArray(args[0]) ? (args[0] as unknown[]) : normalizeArgs(args)
      const options = normalized[0] as ConnectOptions | undefined
      // Node dials a pipe only for a truthy `path`: http's Agent passes `path: null` for TCP.
      if (!options || typeof options !== 'object' || options.path) {
        return ReflectApply(original, this, args)
      }
      const host = options.host === undefined || options.host === null || options.host === '' ? 'localhost' : options.host
      if (typeof host !== 'string') return ReflectApply(original, this, args)
      if (net.isIP(host) !== 0) {
        // An IP literal makes no lookup. Decided here, on the caller's stack (so the block names
        // the package that made it); the binding layer delivers the error through the socket,
        // where http2 and friends expect it. Without that layer (node --permission) fail the
        // socket here before it dials.
        const port = portNumber(options.port)
        const blocked = takeDecidedConnect(host, port) ? null : check('tcp', host, port)
        if (blocked && !tcpBindingPatched) {
          nextTick(destroyWith, this as Destroyable, blocked)
          return this
        }
        decided.set(this as object, { host, port, verdict: blocked ?? ALLOWED })
        return ReflectApply(original, this, args)
      }
      const custom = options.lookup
      if (custom !== undefined && custom !== null && typeof custom !== 'function') {
        // Node rejects it with its own ERR_INVALID_ARG_TYPE before any lookup or dial.
        return ReflectApply(original, this, args)
      }
      const port = portNumber(options.port)
      if (typeof custom === 'function') {
        // A caller's own lookup decides where the socket really goes (Node 26's undici dials an
        // env proxy with the target's name and a lookup returning the proxy's address), and it
        // is not a resolver: only the addresses it returns are judged, before net dials them.
        const rewritten = normalizeArgs([{ ...options, lookup: filteringLookup(custom, port) }, normalized[1]])
        return ReflectApply(original, this, [rewritten])
      }
      // The request that makes this connection may have just allowed this very host and port.
      const handedOff = takeDecidedConnect(host, port)
      if (handedOff) return callWithDecidedLookup(original, this, args, host, port, handedOff)
      const blocked = check('tcp', host, port, false)
      if (blocked) {
        const rewritten = normalizeArgs([{ ...options, lookup: failingLookup(blocked) }, normalized[1]])
        return ReflectApply(original, this, [rewritten])
      }
      // Allowed by name: Node's own lookup goes through the DNS shim, which records its answers
      // under this name, and the TCP binding judges the address it dials by that record. No
      // wrapper and no copy of the options here: this is the path of every allowed connect.
      // Node looks the name up synchronously, inside this call: that lookup is decided already.
      if (allowedUnobserved()) return callWithDecidedLookup(original, this, args, host, port)
      return ReflectApply(original, this, args)
    },
  )
}

// IP-literal connects decided at Socket#connect (allowed, or the error to deliver), so the
// binding layer neither decides nor reports them a second time. The verdict holds only for
// the very address and port decided: code holding the socket's handle could otherwise dial
// somewhere else with it before Node does.
const ALLOWED = Symbol('allowed')
interface EarlyVerdict {
  readonly host: string
  readonly port: number
  readonly verdict: EgressBlocked | typeof ALLOWED
}
const decided = createStamp<EarlyVerdict>()

let ownerSymbol: symbol | undefined

/** The net.Socket that owns a TCP handle (Node keeps it under a private symbol). */
function ownerOf(handle: object): Destroyable | null {
  if (ownerSymbol === undefined) {
    const found = findSymbol(handle, 'owner_symbol')
    if (found === null) return null
    ownerSymbol = found
  }
  const owner = (handle as Record<symbol, unknown>)[ownerSymbol] as Destroyable | undefined
  return owner && typeof owner.destroy === 'function' ? owner : null
}

function destroyWith(owner: Destroyable, err: Error): void {
  owner.destroy(err)
}

function patchTcpBinding(): boolean {
  const tcp = binding('tcp_wrap')
  const proto = (tcp?.TCP as { prototype?: object } | undefined)?.prototype
  if (!proto) return false
  const eacces = uvEacces()
  for (const name of ['connect', 'connect6']) {
    patchMethod(proto, name, (original) =>
      function connect(this: object, ...args: unknown[]) {
        const address = args[1]
        const port = args[2]
        if (typeof address === 'string' && typeof port === 'number') {
          const owner = ownerOf(this)
          const early = owner ? decided.take(owner) : undefined
          const earlier = early !== undefined && early.host === address && early.port === port ? early.verdict : undefined
          const blocked = earlier === ALLOWED ? null : (earlier ?? (takeDecidedDial(address, port) ? null : check('tcp', address, port)))
          if (blocked) {
            // Failing through the owning socket delivers our error to net, tls, http, http2 and
            // fetch alike; a bare handle gets Node's EACCES. Never throw here: the caller is a
            // nextTick or DNS callback, so a throw would be an uncaught exception.
            if (!owner) return eacces
            nextTick(destroyWith, owner, blocked)
            return 0
          }
        }
        return ReflectApply(original, this, args)
      },
    )
  }
  return true
}

let tcpBindingPatched = false

export function installNet(): boolean {
  tcpBindingPatched = patchTcpBinding()
  patchSocketConnect()
  return tcpBindingPatched
}
