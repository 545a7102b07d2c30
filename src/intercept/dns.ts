// DNS: the getaddrinfo and getnameinfo bindings (dns.lookup, dns.lookupService, and net/dgram
// through them), every c-ares query of dns.Resolver / dns.resolve* / dns.reverse, and the JS
// functions of dns.promises, whose module captures the bindings when it first loads.
//
// A blocked name is never handed to a resolver. Allowed answers are recorded in the native
// IP -> hostname cache before Node sees them, so the connect that follows is judged by the name.
//
// Without the bindings (`node --permission`), the c-ares queries are still reached through the
// prototype of a Resolver's handle, and dns.lookup / dns.lookupService are wrapped at the JS level.
import { executionAsyncId } from 'node:async_hooks'
import dns from 'node:dns'
import { check } from '../decide'
import type { EgressBlocked } from '../egress-blocked'
import { native } from '../native'
import { ArrayIsArray, ArrayPush, ObjectFreeze, PromiseCtor, PromiseReject, PromiseThen, ReflectApply, nextTick } from '../primordials'
import { binding, patchMethod } from './bindings'
import { type Decided, callWithDecidedDial, callWithDecidedLookup, takeDecidedLookup } from './handoff'

interface ReqWrap {
  oncomplete?: (...args: unknown[]) => unknown
  callback?: (err: Error) => unknown
  reject?: (err: Error) => unknown
}

/** Fails a request the way Node reports an asynchronous lookup error, with our error. */
function failRequest(req: ReqWrap, err: Error): number {
  nextTick(() => {
    if (typeof req.callback === 'function') req.callback(err)
    else if (typeof req.reject === 'function') req.reject(err)
  })
  return 0
}

/** Copies the address strings out of a lookup/query answer (Node mutates some in place). */
function addressesOf(answer: unknown): string[] {
  const out: string[] = []
  if (!ArrayIsArray(answer)) return out
  for (let i = 0; i < answer.length; i++) {
    const entry: unknown = answer[i]
    if (typeof entry === 'string') out[out.length] = entry
    else if (entry !== null && typeof entry === 'object') {
      const { address, type } = entry as { address?: unknown; type?: unknown }
      if (typeof address === 'string' && (type === undefined || type === 'A' || type === 'AAAA')) out[out.length] = address
    }
  }
  return out
}

/** Records the addresses of an answer for `hostname`; returns them. */
function recordAnswer(hostname: string, answer: unknown): readonly string[] {
  const addresses = addressesOf(answer)
  if (addresses.length > 0) {
    try {
      native.recordResolution(hostname, addresses)
    } catch {
      // The cache is an optimisation of accuracy, never a reason to fail a lookup.
    }
  }
  return addresses
}

type ReqClass = new () => object
type Forward = (...answer: unknown[]) => unknown
type RecordingReqClass = new (req: ReqWrap, forward: Forward, hostname: string, connect: Decided | null) => object

// Captured at load: code loaded later must not be able to fake the context check below.
const currentAsyncId = executionAsyncId

/** Maps each of our private requests to the caller's request it stands for (see standInFor). */
const standIns: Array<(resource: object) => object | null> = []

/**
 * A private subclass of Node's request class `Req`: the binding completes it, it records the
 * answer under the hostname asked for, then completes the caller's request. The caller's request
 * never carries a recording function: otherwise code could call it with a forged answer and
 * poison the IP -> hostname cache.
 *
 * The request object itself can still be seen by JS: async_hooks hands every resource to `init`
 * hooks, and `executionAsyncResource()` returns it while its completion runs. So its completion
 * records only once, and only when Node runs it: Node completes a request in the request's own
 * async context, which JS cannot enter (locked mode also hides these objects from hooks and
 * refuses `process.binding('async_wrap')`, see hardening.ts).
 */
function recordingClass(Req: ReqClass | undefined): RecordingReqClass | null {
  if (typeof Req !== 'function') return null
  const getAsyncId = (Req.prototype as { getAsyncId?: unknown }).getAsyncId
  if (typeof getAsyncId !== 'function') return null
  class RecordingReq extends Req {
    readonly #req: ReqWrap
    readonly #forward: Forward
    readonly #hostname: string
    /** The connect this lookup was made for, when that was allowed outright. */
    readonly #connect: Decided | null
    #completed = false
    constructor(req: ReqWrap, forward: Forward, hostname: string, connect: Decided | null) {
      super()
      this.#req = req
      this.#forward = forward
      this.#hostname = hostname
      this.#connect = connect
    }
    oncomplete(err: unknown, answer: unknown): unknown {
      // Node assigns the request its async id when the binding dispatches it.
      if (this.#completed || currentAsyncId() !== ReflectApply(getAsyncId as () => number, this, [])) return undefined // not Node completing it
      this.#completed = true
      if (err) return ReflectApply(this.#forward, this.#req, arguments)
      const addresses = recordAnswer(this.#hostname, answer)
      // Everything Node passed (queries add the TTLs) goes on to the caller's request. Node dials
      // an answered address inside this call when the lookup was made for a connect.
      const connect = this.#connect
      if (connect !== null && addresses.length > 0) return callWithDecidedDial(this.#forward, this.#req, arguments, connect, addresses)
      return ReflectApply(this.#forward, this.#req, arguments)
    }
    static standIn(resource: object): object | null {
      return #req in resource ? (resource as RecordingReq).#req : null
    }
  }
  ObjectFreeze(RecordingReq.prototype)
  ArrayPush(standIns, RecordingReq.standIn)
  return RecordingReq
}

/**
 * For an async_hooks resource that is one of our private requests, the caller's request it
 * stands for (what the hook would see without tethered); null for any other resource.
 */
export function standInFor(resource: unknown): object | null {
  if (resource === null || typeof resource !== 'object') return null
  for (let i = 0; i < standIns.length; i++) {
    const found = standIns[i]!(resource)
    if (found !== null) return found
  }
  return null
}

/** Calls the binding with a recording request in place of the caller's (see recordingClass). */
function callRecording(
  original: (...args: unknown[]) => unknown,
  self: unknown,
  args: unknown[],
  Recording: RecordingReqClass | null,
  hostname: string,
  connect: Decided | null = null,
): unknown {
  const req = args[0] as ReqWrap
  const forward = req.oncomplete
  if (typeof forward !== 'function' || Recording === null) return ReflectApply(original, self, args)
  // `args` is the wrapper's own rest array: the request can be swapped in place.
  args[0] = new Recording(req, forward, hostname, connect)
  return ReflectApply(original, self, args)
}

const RECORDED_QUERIES = new Set(['queryA', 'queryAaaa', 'queryAny'])

/** The check of a binding-level lookup of `host`, unless a shim above it just made it. */
function checkLookup(host: string): EgressBlocked | null {
  return takeDecidedLookup(host) ? null : check('dns', host, -1)
}

/**
 * ChannelWrap.prototype, the c-ares queries of every dns.Resolver, dns.resolve* and dns.reverse.
 * Without the binding, a Resolver's handle leads to the same prototype.
 */
function channelPrototype(cares: Record<string, unknown> | null): object | null {
  const proto = (cares?.ChannelWrap as { prototype?: object } | undefined)?.prototype
  if (proto) return proto
  try {
    const handle = (new dns.Resolver() as unknown as { _handle?: object })._handle
    const fromHandle = handle ? (Object.getPrototypeOf(handle) as Record<string, unknown> | null) : null
    return fromHandle && typeof fromHandle.queryA === 'function' ? fromHandle : null
  } catch {
    return null
  }
}

function patchQueries(proto: object, QueryReq: RecordingReqClass | null): void {
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (!name.startsWith('query') && name !== 'getHostByAddr') continue
    const record = RECORDED_QUERIES.has(name)
    patchMethod(proto, name, (original) =>
      function query(this: unknown, ...args: unknown[]) {
        const req = args[0] as ReqWrap
        const name = args[1]
        if (typeof name === 'string') {
          const err = checkLookup(name)
          // Never return an errno from a query binding: Node would throw it synchronously.
          if (err) return failRequest(req, err)
          if (record) return callRecording(original, this, args, QueryReq, name)
        }
        return ReflectApply(original, this, args)
      },
    )
  }
}

function patchCares(): boolean {
  const cares = binding('cares_wrap')
  const proto = channelPrototype(cares)
  if (proto) patchQueries(proto, recordingClass(cares?.QueryReqWrap as ReqClass | undefined))
  if (!cares) {
    patchCallbackApi()
    return false
  }
  const LookupReq = recordingClass(cares.GetAddrInfoReqWrap as ReqClass | undefined)
  patchMethod(cares, 'getaddrinfo', (original) =>
    function getaddrinfo(this: unknown, ...args: unknown[]) {
      const req = args[0] as ReqWrap
      const hostname = args[1]
      if (typeof hostname === 'string') {
        const decided = takeDecidedLookup(hostname)
        const err = decided ? null : check('dns', hostname, -1)
        if (err) return failRequest(req, err)
        // A lookup made for a connect allowed outright hands the dial off in its completion.
        return callRecording(original, this, args, LookupReq, hostname, decided !== null && decided.port >= 0 ? decided : null)
      }
      return ReflectApply(original, this, args)
    },
  )
  patchMethod(cares, 'getnameinfo', (original) =>
    function getnameinfo(this: unknown, ...args: unknown[]) {
      const req = args[0] as ReqWrap
      const address = args[1]
      if (typeof address === 'string') {
        const err = checkLookup(address)
        if (err) return failRequest(req, err)
      }
      return ReflectApply(original, this, args)
    },
  )
  return proto !== null
}

type Callback = (...args: unknown[]) => unknown

/**
 * dns.lookup and dns.lookupService at the JS level, for when getaddrinfo/getnameinfo cannot be
 * patched: net (and dgram on Node 20) read `dns.lookup` when they connect, so they come here too.
 */
function patchCallbackApi(): void {
  const api = dns as unknown as Record<string, unknown>
  patchMethod(api, 'lookup', (original) =>
    function lookup(this: unknown, ...args: unknown[]) {
      const hostname = args[0]
      const at = typeof args[1] === 'function' ? 1 : 2
      const callback = args[at]
      // Anything Node would reject, or answer without a query (an IP), goes to Node as is.
      if (typeof hostname !== 'string' || hostname === '' || native.isIp(hostname) || typeof callback !== 'function') {
        return ReflectApply(original, this, args)
      }
      const err = check('dns', hostname, -1)
      if (err) {
        nextTick(callback as Callback, err)
        return {}
      }
      args[at] = function (this: unknown, ...answer: unknown[]) {
        if (!answer[0]) recordAnswer(hostname, ArrayIsArray(answer[1]) ? answer[1] : [answer[1]])
        return ReflectApply(callback as Callback, this, answer)
      }
      return callWithDecidedLookup(original, this, args, hostname)
    },
  )
  patchMethod(api, 'lookupService', (original) =>
    function lookupService(this: unknown, ...args: unknown[]) {
      const address = args[0]
      const callback = args[2]
      if (typeof address === 'string' && typeof callback === 'function') {
        const err = check('dns', address, -1)
        if (err) {
          nextTick(callback as Callback, err)
          return {}
        }
        return callWithDecidedLookup(original, this, args, address)
      }
      return ReflectApply(original, this, args)
    },
  )
}

type AsyncFn = (...args: unknown[]) => Promise<unknown>

/**
 * dns.promises.lookup / lookupService / reverse at the JS level: if `dns/promises` was loaded
 * before tethered, it holds the original bindings, so check (and record) here as well.
 */
function patchPromises(): void {
  const promises = dns.promises as unknown as Record<string, unknown>
  patchMethod(promises, 'lookup', (original) =>
    function lookup(this: unknown, ...args: unknown[]) {
      const hostname = args[0]
      if (typeof hostname === 'string' && hostname !== '' && !native.isIp(hostname)) {
        const err = check('dns', hostname, -1)
        if (err) return PromiseReject(err)
        const pending = callWithDecidedLookup(original, this, args, hostname) as Promise<unknown>
        // Captured Promise machinery: a replaced `then` or `constructor` cannot swap the answer
        // between Node's resolver and the cache.
        return new PromiseCtor((resolve, reject) => {
          ReflectApply(PromiseThen, pending, [
            (result: unknown) => {
              recordAnswer(hostname, ArrayIsArray(result) ? result : [result])
              resolve(result)
            },
            reject,
          ])
        })
      }
      return ReflectApply(original as AsyncFn, this, args)
    },
  )
  for (const name of ['lookupService', 'reverse']) {
    patchMethod(promises, name, (original) =>
      async function reverse(this: unknown, ...args: unknown[]) {
        const address = args[0]
        if (typeof address === 'string') {
          const err = check('dns', address, -1)
          if (err) throw err
          return callWithDecidedLookup(original, this, args, address)
        }
        return ReflectApply(original as AsyncFn, this, args)
      },
    )
  }
}

export function installDns(): boolean {
  const bindingsPatched = patchCares()
  patchPromises()
  return bindingsPatched
}
