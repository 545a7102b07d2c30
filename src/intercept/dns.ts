// DNS: the getaddrinfo and getnameinfo bindings (dns.lookup, dns.lookupService, and net/dgram
// through them), every c-ares query of dns.Resolver / dns.resolve* / dns.reverse, and the JS
// functions of dns.promises, whose module captures the bindings when it first loads.
//
// A blocked name is never handed to a resolver. Allowed answers are recorded in the native
// IP -> hostname cache before Node sees them, so the connect that follows is judged by the name.
//
// Without the bindings (`node --permission`), the c-ares queries are still reached through the
// prototype of a Resolver's handle, and dns.lookup / dns.lookupService are wrapped at the JS level.
import dns from 'node:dns'
import { check } from '../decide'
import type { EgressBlocked } from '../egress-blocked'
import { native } from '../native'
import { ArrayIsArray, ArrayPush, ObjectDefineProperty, PromiseCtor, PromiseReject, PromiseThen, ReflectApply, nextTick } from '../primordials'
import { binding, patchMethod } from './bindings'

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
    if (typeof entry === 'string') ArrayPush(out, entry)
    else if (entry !== null && typeof entry === 'object') {
      const { address, type } = entry as { address?: unknown; type?: unknown }
      if (typeof address === 'string' && (type === undefined || type === 'A' || type === 'AAAA')) ArrayPush(out, address)
    }
  }
  return out
}

function recordAnswer(hostname: string, answer: unknown): void {
  const addresses = addressesOf(answer)
  if (addresses.length > 0) {
    try {
      native.recordResolution(hostname, addresses)
    } catch {
      // The cache is an optimisation of accuracy, never a reason to fail a lookup.
    }
  }
}

type ReqClass = new () => object

/**
 * Calls the binding with a private request object whose completion records the answer, then
 * hands it to the caller's request. The caller's request never carries a recording function:
 * otherwise code could call it with a forged answer and poison the IP -> hostname cache.
 */
function callRecording(
  original: (...args: unknown[]) => unknown,
  self: unknown,
  args: unknown[],
  Req: ReqClass | undefined,
  hostname: string,
): unknown {
  const req = args[0] as ReqWrap
  const forward = req.oncomplete
  if (typeof forward !== 'function' || typeof Req !== 'function') return ReflectApply(original, self, args)
  const inner = new Req()
  ObjectDefineProperty(inner, 'oncomplete', {
    value: function oncomplete(...answer: unknown[]) {
      if (!answer[0]) recordAnswer(hostname, answer[1])
      return ReflectApply(forward, req, answer)
    },
  })
  const copy: unknown[] = []
  for (let i = 0; i < args.length; i++) copy[i] = args[i]
  copy[0] = inner
  return ReflectApply(original, self, copy)
}

const RECORDED_QUERIES = new Set(['queryA', 'queryAaaa', 'queryAny'])

// A JS-level wrapper that has just decided `host` calls through to Node with it set; the
// binding call Node makes for it synchronously is the same lookup, so it is not checked (and,
// in log-only mode, not reported) a second time. One use, and only for the very same string.
let decidedHost: string | null = null

function callDecided(original: (...args: unknown[]) => unknown, self: unknown, args: unknown[], host: string): unknown {
  const previous = decidedHost
  decidedHost = host
  try {
    return ReflectApply(original, self, args)
  } finally {
    decidedHost = previous
  }
}

/** The check of a binding-level lookup of `host`, unless a JS-level wrapper just made it. */
function checkLookup(host: string): EgressBlocked | null {
  if (host === decidedHost) {
    decidedHost = null
    return null
  }
  return check('dns', host, -1)
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

function patchQueries(proto: object, QueryReq: ReqClass | undefined): void {
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
  if (proto) patchQueries(proto, cares?.QueryReqWrap as ReqClass | undefined)
  if (!cares) {
    patchCallbackApi()
    return false
  }
  patchMethod(cares, 'getaddrinfo', (original) =>
    function getaddrinfo(this: unknown, ...args: unknown[]) {
      const req = args[0] as ReqWrap
      const hostname = args[1]
      if (typeof hostname === 'string') {
        const err = checkLookup(hostname)
        if (err) return failRequest(req, err)
        return callRecording(original, this, args, cares.GetAddrInfoReqWrap as ReqClass | undefined, hostname)
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
      const copy: unknown[] = []
      for (let i = 0; i < args.length; i++) copy[i] = args[i]
      copy[at] = function (this: unknown, ...answer: unknown[]) {
        if (!answer[0]) recordAnswer(hostname, ArrayIsArray(answer[1]) ? answer[1] : [answer[1]])
        return ReflectApply(callback as Callback, this, answer)
      }
      return callDecided(original, this, copy, hostname)
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
        return callDecided(original, this, args, address)
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
        const pending = callDecided(original, this, args, hostname) as Promise<unknown>
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
          return callDecided(original, this, args, address)
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
