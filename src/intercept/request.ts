// Request-level checks: every http/https request and every undici request (fetch, WebSocket,
// the undici npm package) is checked against its REAL target, in the async context of the
// code that made it, before a socket is assigned or a byte is written.
//
// The socket level cannot do this alone (NODE-INTERNALS.md §7, §10): through a proxy it only
// sees the proxy's address; a keep-alive socket opened in one context carries requests from
// another without any connect; a queued request's connection is opened in the previous
// request's context. Socket-level checks stay in place (they are the ground truth for what is
// dialled); this layer adds the target of each request.
//
// Hooks, chosen for running synchronously in the requester's context before anything is sent:
// - http/https: `http.Agent.prototype.addRequest` (https.Agent inherits it). ClientRequest
//   calls it at the end of its constructor, before the agent picks a pooled socket, queues
//   the request or dials; every Node agent goes through it: the global agents, custom and
//   keep-alive agents, `agent: false` (a fresh Agent) and the env-proxy agents of Node 22+,
//   whose options still name the target (the agent swaps in the proxy only when it dials).
//   The `http.client.request.created` channel is no substitute: it fires after addRequest
//   returned, i.e. after a connection was started; `http.client.request.start` fires after
//   the request was written to a reused socket.
//   Backstop on Node 22+: that `created` channel, for requests that skipped the wrapper (an
//   agent whose own addRequest does not call Node's, or no agent with a `createConnection`
//   option). It still runs before any byte of the request is written (ClientRequest writes
//   only once its socket is attached, on a later tick) but after the custom code started.
// - undici: the `undici:request:create` diagnostics channel. Channels are process-wide by
//   name, so it covers Node's bundled undici (fetch, WebSocket, EventSource) and every copy
//   of the undici package alike, whatever the dispatcher (Agent, Pool, Client, ProxyAgent,
//   EnvHttpProxyAgent, interceptors). It fires in the Request constructor, inside the
//   dispatch call made in the requester's context, before the request is queued.
//
// Known limits:
// - Node 20 publishes no `created` channel: requests that skip Node's addRequest are checked
//   at the socket level only (by the address their custom code dials).
// - undici 6/7 (Node 20-24's fetch, the undici 7 package) still dial for a request refused
//   here: their Client connects for a queued request before it looks at `aborted`. No byte of
//   the request is written; a dial to the blocked target is refused (and reported again) by
//   the socket level, a dial to a proxy stays idle. undici 8 (Node 26) does not dial.
// - An undici client over a unix socket (`socketPath`) is checked as a request to its URL's
//   host: a Request does not know how its client connects.
//
// Never throw from a channel subscriber: Node turns that into an uncaught exception.
import { AsyncResource } from 'node:async_hooks'
import dc from 'node:diagnostics_channel'
import http from 'node:http'
import { allowedUnobserved, check } from '../decide'
import type { EgressBlocked } from '../egress-blocked'
import { log } from '../logger'
import { ArrayIsArray, ObjectGetOwnPropertyDescriptor, ReflectApply, StringIndexOf, findSymbol, nextTick } from '../primordials'
import { currentFrame, type ScopeFrame } from '../scope-context'
import { type GlobalOptions, state } from '../state'
import { registerIntegrityCheck, registerPatch } from '../protect'
import { createStamp } from '../stamp'
import { patchMethod } from './bindings'
import { callWithDecidedConnect } from './handoff'

// Captured when tethered loads, like the shared primordials: a built-in replaced later must
// not change a decision.
const NumberCtor = Number
const NumberIsInteger = Number.isInteger
const stringSlice = String.prototype.slice
const stringLastIndexOf = String.prototype.lastIndexOf
const stringToLowerCase = String.prototype.toLowerCase
const stringCharCodeAt = String.prototype.charCodeAt
const objectIsPrototypeOf = Object.prototype.isPrototypeOf
const StringSlice = (s: string, start: number, end?: number): string =>
  ReflectApply(stringSlice, s, end === undefined ? [start] : [start, end]) as string
const StringLastIndexOf = (s: string, search: string): number => ReflectApply(stringLastIndexOf, s, [search]) as number
const StringToLowerCase = (s: string): string => ReflectApply(stringToLowerCase, s, []) as string
const StringCharCodeAt = (s: string, i: number): number => ReflectApply(stringCharCodeAt, s, [i]) as number
const ObjectIsPrototypeOf = (proto: object, value: unknown): boolean => ReflectApply(objectIsPrototypeOf, proto, [value]) as boolean
const ObjectGetPrototypeOf = Object.getPrototypeOf
const weakMapGet = WeakMap.prototype.get
const weakMapSet = WeakMap.prototype.set
const AsyncResourceProto = AsyncResource.prototype as object
const runInAsyncScope = AsyncResource.prototype.runInAsyncScope
const queueMicrotaskCaptured = queueMicrotask

const CHAR_SLASH = 47
const CHAR_QUESTION = 63
const CHAR_HASH = 35
const CHAR_STAR = 42
const CHAR_OPEN_BRACKET = 91
const CHAR_CLOSE_BRACKET = 93

interface Target {
  host: string
  port: number
}

// ---------------------------------------------------------------- parsing targets

function portNumber(port: unknown): number {
  const n = typeof port === 'string' && port !== '' ? NumberCtor(port) : port
  return typeof n === 'number' && NumberIsInteger(n) && n >= 0 && n <= 65535 ? n : -1
}

function defaultPort(scheme: string): number {
  switch (StringToLowerCase(scheme)) {
    case 'http':
    case 'http:':
    case 'ws':
    case 'ws:':
      return 80
    case 'https':
    case 'https:':
    case 'wss':
    case 'wss:':
      return 443
    default:
      return -1
  }
}

/** `[::1]` -> `::1`: the engine takes bare IPv6 literals. */
function unbracket(host: string): string {
  const last = host.length - 1
  return last > 0 && StringCharCodeAt(host, 0) === CHAR_OPEN_BRACKET && StringCharCodeAt(host, last) === CHAR_CLOSE_BRACKET
    ? StringSlice(host, 1, last)
    : host
}

/** `host:port`, `[v6]:port`, `host` (-> `fallbackPort`). A bare IPv6 has no port. */
function parseAuthority(authority: string, fallbackPort: number): Target | null {
  const at = StringLastIndexOf(authority, '@')
  if (at !== -1) authority = StringSlice(authority, at + 1)
  if (authority === '') return null
  if (StringCharCodeAt(authority, 0) === CHAR_OPEN_BRACKET) {
    const close = StringIndexOf(authority, ']')
    if (close === -1) return null
    const host = StringSlice(authority, 1, close)
    const rest = StringSlice(authority, close + 1)
    if (rest === '') return { host, port: fallbackPort }
    if (StringCharCodeAt(rest, 0) !== 58 /* ':' */) return null
    const port = portNumber(StringSlice(rest, 1))
    return port < 0 ? null : { host, port }
  }
  const colon = StringLastIndexOf(authority, ':')
  if (colon === -1) return { host: authority, port: fallbackPort }
  if (StringIndexOf(authority, ':') !== colon) return { host: authority, port: fallbackPort } // bare IPv6
  const port = portNumber(StringSlice(authority, colon + 1))
  return port < 0 ? null : { host: StringSlice(authority, 0, colon), port }
}

/**
 * `scheme://[userinfo@]host[:port][/path...]`: an undici origin (already normalized by URL)
 * or an absolute-form request target. A scheme without a known default port and no port
 * gives port -1: the host is then checked as for a lookup (any port).
 */
function parseAbsolute(url: string): Target | null {
  const sep = StringIndexOf(url, '://')
  if (sep <= 0) return null
  let end = url.length
  for (let i = sep + 3; i < url.length; i++) {
    const c = StringCharCodeAt(url, i)
    if (c === CHAR_SLASH || c === CHAR_QUESTION || c === CHAR_HASH) {
      end = i
      break
    }
  }
  return parseAuthority(StringSlice(url, sep + 3, end), defaultPort(StringSlice(url, 0, sep)))
}

const isConnect = (method: unknown): boolean =>
  method === 'CONNECT' || (typeof method === 'string' && method.length === 7 && StringToLowerCase(method) === 'connect')

/**
 * The target a request line names besides its connection: the authority of a CONNECT, or
 * the URL of an absolute-form request (how a request goes through an HTTP proxy: the env
 * proxy of Node's http, undici's non-tunnelling proxy, or a hand-made proxied request).
 * `undefined` when the path is origin-form (the connection's target is the target), null
 * when it names nothing a proxy could route.
 */
function pathTarget(method: unknown, path: unknown): Target | null | undefined {
  if (typeof path !== 'string' || path === '') return undefined
  if (isConnect(method)) return parseAuthority(path, 443)
  const first = StringCharCodeAt(path, 0)
  if (first === CHAR_SLASH || first === CHAR_STAR) return undefined
  return StringIndexOf(path, '://') === -1 ? undefined : parseAbsolute(path)
}

const sameTarget = (a: Target, b: Target): boolean => a.port === b.port && a.host === b.host

// ---------------------------------------------------------------- checking

/**
 * The last refusal, until the current job ends. One refused request can make its client ask
 * again for the same target at once: undici's tunnelling ProxyAgent answers a refused request
 * by opening its connection, which creates a CONNECT request for the same target. That is the
 * same event: it fails with the same error and is not reported twice.
 */
interface Refusal {
  readonly host: string
  readonly port: number
  readonly frame: ScopeFrame | undefined
  readonly policy: GlobalOptions | null
  readonly error: EgressBlocked
}
let lastRefusal: Refusal | null = null

function forgetRefusal(): void {
  lastRefusal = null
}

function checkTarget(target: Target, frame: ScopeFrame | undefined = currentFrame()): EgressBlocked | null {
  const last = lastRefusal
  if (last !== null && last.port === target.port && last.host === target.host && last.frame === frame && last.policy === state.global) {
    return last.error
  }
  const blocked = check('request', target.host, target.port, true, frame)
  if (blocked) {
    if (last === null) queueMicrotaskCaptured(forgetRefusal)
    lastRefusal = { host: target.host, port: target.port, frame, policy: state.global, error: blocked }
  }
  return blocked
}

/**
 * Checks the connection target and, when the request line names another one, that too.
 * An unparsable request-line target is judged by the connection target alone.
 */
function checkTargets(connection: Target, method: unknown, path: unknown): EgressBlocked | null {
  return checkTarget(connection) ?? checkNamedTarget(connection, method, path)
}

/** The target the request line names, when it names one other than the connection's. */
function checkNamedTarget(connection: Target, method: unknown, path: unknown): EgressBlocked | null {
  const named = pathTarget(method, path)
  if (!named || sameTarget(named, connection)) return null
  return checkTarget(named)
}

// ---------------------------------------------------------------- http / https

interface AgentLike {
  options?: { host?: unknown; port?: unknown; socketPath?: unknown } | null
  defaultPort?: unknown
}
interface RequestOptions {
  host?: unknown
  port?: unknown
  socketPath?: unknown
}
interface ClientRequestLike {
  method?: unknown
  path?: unknown
  host?: unknown
  protocol?: unknown
  socketPath?: unknown
  agent?: AgentLike | null | false
  destroy(err?: Error): unknown
}

/** Requests the addRequest wrapper has seen (the `created` backstop skips them). */
const checkedRequests = createStamp<true>()

// ClientRequest's own methods, so that a request's (or a replaced prototype's) methods cannot
// change how a refusal is delivered.
const ClientRequestProto = http.ClientRequest.prototype as unknown as object
const clientRequestMethods = http.ClientRequest.prototype as unknown as {
  onSocket(socket: unknown, err?: Error): void
  destroy(err?: Error): unknown
  getHeader(name: string): unknown
}
const onSocket = clientRequestMethods.onSocket
const destroyRequest = clientRequestMethods.destroy
const getHeader = clientRequestMethods.getHeader

/**
 * The address addRequest will connect to: the request's options overridden by the agent's own
 * (`{ ...options, ...this.options }` in Node's Agent), or null for a unix socket.
 */
function agentTarget(agent: AgentLike, options: unknown, legacyPort: unknown): Target | null {
  let host: unknown
  let port: unknown
  if (typeof options === 'string') {
    host = options // legacy addRequest(req, host, port, localAddress)
    port = legacyPort
  } else if (options && typeof options === 'object') {
    const o = options as RequestOptions
    if (o.socketPath) return null
    host = o.host
    port = o.port
  }
  const own = agent && typeof agent === 'object' ? agent.options : null
  if (own && typeof own === 'object') {
    if (own.socketPath) return null
    if (own.host !== undefined) host = own.host
    if (own.port !== undefined) port = own.port
  }
  let p = portNumber(port)
  if (p <= 0) p = portNumber(agent?.defaultPort)
  if (p <= 0) p = 80
  return { host: typeof host === 'string' && host !== '' ? unbracket(host) : 'localhost', port: p }
}

/**
 * Fails a request that never reached its agent the way Node fails one whose connection could
 * not be created: 'error' (our EgressBlocked) then 'close', on the next tick.
 */
function failUnsent(req: ClientRequestLike, err: EgressBlocked): void {
  if (ObjectIsPrototypeOf(ClientRequestProto, req)) {
    ReflectApply(onSocket, req, [null, err])
  } else if (req && typeof req.destroy === 'function') {
    nextTick(() => req.destroy(err))
  }
}

function patchAgent(): void {
  patchMethod(http.Agent.prototype, 'addRequest', (original) =>
    function addRequest(this: AgentLike, ...args: unknown[]) {
      const req = args[0] as ClientRequestLike
      if (req && typeof req === 'object') checkedRequests.set(req, true)
      const target = agentTarget(this, args[1], args[2])
      if (!target) return ReflectApply(original, this, args)
      const frame = currentFrame()
      let blocked = checkTarget(target, frame)
      // Allowed outright: the connection Node's agent opens for it, synchronously inside this
      // call, goes to the very same host and port (see handoff.ts).
      const handOff = blocked === null && allowedUnobserved()
      if (blocked === null) blocked = checkNamedTarget(target, req?.method, req?.path)
      if (blocked) return failUnsent(req, blocked)
      if (handOff) return callWithDecidedConnect(original, this, args, target.host, target.port, frame)
      return ReflectApply(original, this, args)
    },
  )
}

/**
 * The backstop's view of a request it did not see go through Node's addRequest: the host is
 * `req.host`; the port is not kept on the request, so it comes from the Host header Node
 * derived from it (`host:port`, the port left out when it is the default) when that header
 * names the same host, else from the agent's or the protocol's default.
 */
function createdTarget(req: ClientRequestLike): Target {
  const host = typeof req.host === 'string' && req.host !== '' ? unbracket(req.host) : 'localhost'
  const agent = req.agent
  let port = portNumber(agent ? agent.defaultPort : undefined)
  if (port <= 0) port = defaultPort(typeof req.protocol === 'string' ? req.protocol : 'http:')
  if (port <= 0) port = 80
  const header: unknown = ReflectApply(getHeader, req, ['host'])
  if (typeof header === 'string') {
    const named = parseAuthority(header, port)
    if (named && named.host === host) port = named.port
  }
  return { host, port }
}

function onRequestCreated(message: unknown): void {
  try {
    const req = (message as { request?: ClientRequestLike } | null)?.request
    if (!ObjectIsPrototypeOf(ClientRequestProto, req) || checkedRequests.take(req as object)) return
    if ((req as ClientRequestLike).socketPath) return // a unix socket: not network egress
    const r = req as ClientRequestLike
    const blocked = checkTargets(createdTarget(r), r.method, r.path)
    // Synchronously: the socket (if any) is attached on a tick already queued, and the
    // request is flushed there unless it is destroyed by then; then 'error' carries ours.
    if (blocked) ReflectApply(destroyRequest, r, [blocked])
  } catch (err) {
    log('warn', `tethered: error checking an http request: ${String(err)}`)
  }
}

// ---------------------------------------------------------------- undici

interface UndiciRequest {
  origin?: unknown
  method?: unknown
  path?: unknown
  aborted?: unknown
}

/** What tethered needs from one undici copy's Request class, found once per class. */
interface RequestClass {
  /**
   * The Request's own error path, the one undici's dispatch takes for a request it refuses:
   * the handler gets the error (fetch rejects with it as `cause`, undici.request with it) and
   * the request is marked aborted, so the client never writes it to any socket.
   * `onResponseError` in undici 8 (Node 26), `onError` in undici 5-7. Taken from the class
   * itself, never inherited: a method planted on Object.prototype must not stand in for it.
   */
  readonly fail: ((err: Error) => unknown) | null
  /** undici's private `kHandler` symbol (the request's handler), or null. */
  readonly handlerSymbol: symbol | null
}

const requestClasses = new WeakMap<object, RequestClass>()
const MAX_HANDLER_DEPTH = 4
let warnedUnknownApi = false

function ownFunction(target: object, key: string): ((...args: never[]) => unknown) | null {
  const value = ObjectGetOwnPropertyDescriptor(target, key)?.value as unknown
  return typeof value === 'function' ? (value as (...args: never[]) => unknown) : null
}

function requestClass(request: object): RequestClass | null {
  const proto = ObjectGetPrototypeOf(request) as object | null
  if (proto === null) return null
  let found = ReflectApply(weakMapGet, requestClasses, [proto]) as RequestClass | undefined
  if (found === undefined) {
    const handlerSymbol = findSymbol(request, 'handler')
    const fail = (ownFunction(proto, 'onResponseError') ?? ownFunction(proto, 'onError')) as RequestClass['fail']
    found = { fail, handlerSymbol }
    ReflectApply(weakMapSet, requestClasses, [proto, found])
  }
  return found
}

/**
 * The AsyncResource among the request's handlers (undici.request/stream/pipeline/connect/
 * upgrade make one per call, in the caller's context), looking through wrappers that keep
 * the inner handler as their own `.handler` (the redirect and retry handlers), or null.
 *
 * Why: a Pool (also an Agent's per-origin Pool) with a `connections` limit queues a request
 * while all its connections are busy and creates it later, from another request's 'drain',
 * in that request's async context. The handler still carries the caller's context.
 */
function callerResource(request: object, handlerSymbol: symbol | null): object | null {
  if (handlerSymbol === null) return null
  try {
    let handler = (request as Record<symbol, unknown>)[handlerSymbol]
    for (let depth = 0; depth < MAX_HANDLER_DEPTH && handler !== null && typeof handler === 'object'; depth++) {
      if (ObjectIsPrototypeOf(AsyncResourceProto, handler)) return handler
      handler = ObjectGetOwnPropertyDescriptor(handler, 'handler')?.value
    }
  } catch {
    // A handler can be a Proxy whose traps throw: then the current context decides.
  }
  return null
}

function originTarget(origin: unknown): Target | null {
  const text = typeof origin === 'string' ? origin : origin && typeof origin === 'object' ? (origin as { origin?: unknown }).origin : undefined
  return typeof text === 'string' ? parseAbsolute(text) : null
}

function onUndiciRequest(message: unknown): void {
  try {
    const request = (message as { request?: UndiciRequest } | null)?.request
    if (!request || typeof request !== 'object' || request.aborted === true) return
    const cls = requestClass(request)
    if (!cls?.fail) {
      // Never report a block that cannot be enforced; the socket level still checks the dial.
      if (!warnedUnknownApi) {
        warnedUnknownApi = true
        log('warn', 'tethered: this undici version has no known way to fail a request; its requests are checked at the socket level only')
      }
      return
    }
    const connection = originTarget(request.origin)
    if (!connection) return // not an http(s) origin: the socket level still checks the dial
    // In the caller's context when its handler carries it (see callerResource), else in the
    // current one. fetch's handler is a plain object: fetch over a dispatcher with a
    // `connections` limit is the case this cannot cover (the default dispatcher has none).
    const resource = callerResource(request, cls.handlerSymbol)
    const blocked = (
      resource
        ? ReflectApply(runInAsyncScope, resource, [checkTargets, null, connection, request.method, request.path])
        : checkTargets(connection, request.method, request.path)
    ) as EgressBlocked | null
    if (blocked) ReflectApply(cls.fail, request, [blocked])
  } catch (err) {
    log('warn', `tethered: error checking an undici request: ${String(err)}`)
  }
}

// ---------------------------------------------------------------- install

/** Node 22+ publishes it; on Node 20 the channel exists but is never published. */
const HTTP_CREATED = 'http.client.request.created'
const UNDICI_CREATE = 'undici:request:create'

/**
 * Is `fn` still subscribed to `channel`? (Node keeps subscribers in `_subscribers`.) The channel
 * objects are the ones tethered subscribed on, held from then on: a replaced `dc.channel` cannot
 * hand this check another one.
 */
function stillSubscribed(channel: object, fn: unknown): boolean {
  const subscribers = (channel as { _subscribers?: unknown })._subscribers
  if (!ArrayIsArray(subscribers)) return true // layout unknown on this version: nothing to verify
  for (let i = 0; i < subscribers.length; i++) if (subscribers[i] === fn) return true
  return false
}

export function installRequestShims(): void {
  patchAgent()
  dc.subscribe(HTTP_CREATED, onRequestCreated)
  dc.subscribe(UNDICI_CREATE, onUndiciRequest)
  const created = dc.channel(HTTP_CREATED)
  const undiciCreate = dc.channel(UNDICI_CREATE)
  // Locked mode: publishing must stay Node's, and our subscribers must stay subscribed.
  const active = Object.getPrototypeOf(undiciCreate) as Record<string, unknown>
  if (typeof active.publish === 'function') registerPatch(active, 'publish', active.publish)
  registerIntegrityCheck(() => stillSubscribed(created, onRequestCreated) && stillSubscribed(undiciCreate, onUndiciRequest))
}
