// UDP: dgram.Socket send/connect at the JS level (so sockets created before activate(), whose
// udp6 handles carry their own copies of the binding methods, are covered and the error is
// ours), and the UDP binding's send/send6/connect/connect6 as the ground truth.
import dgram from 'node:dgram'
import { check } from '../decide'
import { ReflectApply, findSymbol, nextTick } from '../primordials'
import { binding, patchMethod, uvEacces } from './bindings'

type Cb = ((err: Error | null, bytes?: number) => void) | undefined
interface UdpSocket {
  type?: string
  emit(event: string, ...args: unknown[]): boolean
}

function defaultAddress(socket: UdpSocket): string {
  return socket.type === 'udp6' ? '::1' : '127.0.0.1'
}

/** A port Node will send to, or -1 (Node itself rejects the rest, port 0 included). */
function portOf(port: unknown): number {
  const n = typeof port === 'string' ? Number(port) : port
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 65535 ? n : -1
}

const CONNECT_STATE_CONNECTED = 2
let stateSymbol: symbol | null | undefined

/**
 * True when the socket is connected: then send() takes no destination (Node sends to the peer
 * checked at connect() and throws if one is given), and its arguments mean something else.
 */
function isConnected(socket: UdpSocket): boolean {
  if (stateSymbol === undefined) {
    stateSymbol = findSymbol(socket, 'state symbol')
  }
  if (stateSymbol === null) return false
  const state = (socket as unknown as Record<symbol, { connectState?: unknown } | undefined>)[stateSymbol]
  return state?.connectState === CONNECT_STATE_CONNECTED
}

/** Delivers a blocked send like a failed one: to the callback, else as the socket's 'error'. */
function deliver(socket: UdpSocket, err: Error, callback: Cb): void {
  if (typeof callback === 'function') nextTick(callback, err)
  else nextTick(() => socket.emit('error', err))
}

function patchSocket(): void {
  const proto = dgram.Socket.prototype as unknown as Record<string, unknown>
  patchMethod(proto, 'send', (original) =>
    function send(this: UdpSocket, ...args: unknown[]) {
      if (isConnected(this)) return ReflectApply(original, this, args)
      // Mirror dgram's own argument shuffle: (msg, [offset, length,] port, [address,] [cb]).
      let offset = args[1]
      let length = args[2]
      let port = args[3]
      let address = args[4]
      let callback = args[5]
      if (!(address || (port && typeof port !== 'function'))) {
        callback = port
        port = offset
        address = length
      }
      if (typeof address === 'function') {
        callback = address
        address = undefined
      }
      const p = portOf(port)
      // Anything else Node rejects with its own error (bad port, non-string address).
      if (p > 0 && (address === undefined || address === null || typeof address === 'string')) {
        const host = typeof address === 'string' && address !== '' ? address : defaultAddress(this)
        const blocked = check('udp', host, p, !udpBindingPatched)
        if (blocked) return deliver(this, blocked, callback as Cb)
      }
      return ReflectApply(original, this, args)
    },
  )
  patchMethod(proto, 'connect', (original) =>
    function connect(this: UdpSocket, ...args: unknown[]) {
      const port = args[0]
      const address = args[1]
      const callback = args[2]
      const p = portOf(port)
      if (p > 0 && (address === undefined || typeof address === 'function' || typeof address === 'string')) {
        const host = typeof address === 'string' && address !== '' ? address : defaultAddress(this)
        const blocked = check('udp', host, p, !udpBindingPatched)
        // Like a failed connect in Node: to the callback if there is one, else as 'error'.
        if (blocked) return deliver(this, blocked, (typeof address === 'function' ? address : callback) as Cb)
      }
      return ReflectApply(original, this, args)
    },
  )
}

function patchUdpBinding(): boolean {
  const udp = binding('udp_wrap')
  const proto = (udp?.UDP as { prototype?: object } | undefined)?.prototype
  if (!proto) return false
  const eacces = uvEacces()
  for (const name of ['send', 'send6']) {
    patchMethod(proto, name, (original) =>
      function send(this: object, ...args: unknown[]) {
        // (req, list, count, port, address, hasCallback); the connected form has no address.
        const port = args[3]
        const address = args[4]
        if (typeof port === 'number' && typeof address === 'string' && check('udp', address, port)) return eacces
        return ReflectApply(original, this, args)
      },
    )
  }
  for (const name of ['connect', 'connect6']) {
    patchMethod(proto, name, (original) =>
      function connect(this: object, ...args: unknown[]) {
        const address = args[0]
        const port = args[1]
        if (typeof address === 'string' && typeof port === 'number' && check('udp', address, port)) return eacces
        return ReflectApply(original, this, args)
      },
    )
  }
  return true
}

// With the binding layer installed, it reports what would be blocked in log-only mode (once,
// for the address actually used); the JS layer then reports only real blocks.
let udpBindingPatched = false

export function installDgram(): boolean {
  udpBindingPatched = patchUdpBinding()
  patchSocket()
  return udpBindingPatched
}
