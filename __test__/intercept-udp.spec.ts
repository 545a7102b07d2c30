// UDP interception: dgram send and connect, udp4 and udp6, by address and by hostname. A blocked
// datagram fails with EgressBlocked (to the callback, else as the socket's 'error') and never
// reaches the server; a udp6 socket made before activate() (whose handle carries its own copies
// of the binding methods) is enforced as well.
import type { ExecutionContext } from 'ava'
import test from 'ava'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { EgressBlocked, deactivate } from '../dist/index.mjs'
import {
  ALLOWED_V4,
  ALLOWED_V6,
  BLOCKED_V4,
  BLOCKED_V6,
  closeAfter,
  countingUdpServer,
  dnsCount,
  netTest,
  uniqueName,
  type CountingServer,
} from './harness/index.js'
import { activateFor } from './support/blocked.js'
import { bindUdp, nextMessage, udpSentinel } from './support-dns/index.js'

type Family = 'udp4' | 'udp6'
const ADDRESSES: Record<Family, { allowed: string; blocked: string; allowedName: string; blockedName: string }> = {
  udp4: { allowed: ALLOWED_V4, blocked: BLOCKED_V4, allowedName: 'api.stripe.test', blockedName: 'evil.test' },
  udp6: { allowed: ALLOWED_V6, blocked: BLOCKED_V6, allowedName: 'v6.test', blockedName: 'evil6.test' },
}

// Made and bound before any activate() in this process, i.e. before tethered patched the UDP
// binding: Node gives every udp6 handle its own `send`/`connect` properties (= send6/connect6),
// so this one keeps the unpatched binding methods and only the JS layer can stop it.
const early6 = dgram.createSocket('udp6')
const early6Ready = bindUdp(early6, '::').then(() => true, () => false)
early6.unref() // the file may have nothing to run (outside the namespace): never hold the process open
test.after.always(() => early6.close())



function socket(t: ExecutionContext, type: Family): dgram.Socket {
  const s = dgram.createSocket(type)
  t.teardown(() => {
    try {
      s.close()
    } catch {
      // already closed
    }
  })
  return s
}

function sendWithCallback(s: dgram.Socket, port: number, host: string): Promise<Error | null> {
  return new Promise((resolve) => s.send('ping', port, host, (err) => resolve(err)))
}

function isUdpBlock(t: ExecutionContext, err: unknown, host: string, port: number, what = ''): void {
  t.true(err instanceof EgressBlocked, `${what}: expected EgressBlocked, got ${String(err)}`)
  t.like(err as object, { host, port, kind: 'udp', code: 'ERR_TETHERED_EGRESS_BLOCKED' }, what)
}

/** After the policy is gone: how many earlier datagrams reached `sink` (must be 0). */
async function leaked(type: Family, sink: CountingServer): Promise<number> {
  deactivate()
  return udpSentinel(type, sink)
}

for (const type of ['udp4', 'udp6'] as const) {
  const { allowed, blocked, allowedName, blockedName } = ADDRESSES[type]

  netTest.serial(`${type}: a send to an allowed address arrives; to a blocked one the callback gets EgressBlocked`, async (t) => {
    const good = await closeAfter(t, countingUdpServer(type, allowed))
    const sink = await closeAfter(t, countingUdpServer(type, blocked))
    activateFor(t, { allow: [allowed] })
    const s = socket(t, type)
    const echo = nextMessage(s)
    t.is(await sendWithCallback(s, good.port, allowed), null)
    t.is((await echo).toString(), 'ping')
    t.is(good.messages, 1)

    isUdpBlock(t, await sendWithCallback(s, sink.port, blocked), blocked, sink.port)
    t.is(await leaked(type, sink), 0)
  })

  netTest.serial(`${type}: a blocked send without a callback emits 'error' with EgressBlocked`, async (t) => {
    const sink = await closeAfter(t, countingUdpServer(type, blocked))
    activateFor(t, { allow: [allowed] })
    const s = socket(t, type)
    const errored = once(s, 'error')
    t.notThrows(() => s.send('ping', sink.port, blocked))
    const [err] = (await errored) as [Error]
    isUdpBlock(t, err, blocked, sink.port)
    t.is(await leaked(type, sink), 0)
  })

  netTest.serial(`${type}: connect() to a blocked address fails with EgressBlocked ('error', or the callback)`, async (t) => {
    const sink = await closeAfter(t, countingUdpServer(type, blocked))
    const good = await closeAfter(t, countingUdpServer(type, allowed))
    activateFor(t, { allow: [allowed] })
    const s = socket(t, type)
    const errored = once(s, 'error')
    s.connect(sink.port, blocked)
    isUdpBlock(t, ((await errored) as [Error])[0], blocked, sink.port, "'error'")

    // Like any failed dgram connect: a callback receives the error instead of 'error'.
    const withCallback = socket(t, type)
    const [via, err] = await new Promise<[string, unknown]>((resolve) => {
      withCallback.once('error', (e) => resolve(["'error'", e]))
      withCallback.connect(sink.port, blocked, ((e: unknown) => resolve(['callback', e])) as () => void)
    })
    t.is(via, 'callback')
    isUdpBlock(t, err, blocked, sink.port, 'callback')

    // The refused socket is not left half-connected: it can still connect where it may.
    await new Promise<void>((resolve) => withCallback.connect(good.port, allowed, resolve))
    const echo = nextMessage(withCallback)
    withCallback.send('ping')
    await echo
    t.is(good.messages, 1)
    t.is(await leaked(type, sink), 0)
  })

  netTest.serial(`${type}: send by hostname: an allowed name is resolved and delivered, a blocked one is not even resolved`, async (t) => {
    const good = await closeAfter(t, countingUdpServer(type, allowed))
    const sink = await closeAfter(t, countingUdpServer(type, blocked))
    activateFor(t, { allow: [allowedName] }) // no IP rule: the send is allowed through the name
    const s = socket(t, type)
    const echo = nextMessage(s)
    t.is(await sendWithCallback(s, good.port, allowedName), null)
    await echo
    t.is(good.messages, 1)
    isUdpBlock(t, await sendWithCallback(s, sink.port, blockedName), blockedName, sink.port)
    t.is(await leaked(type, sink), 0)
  })
}

netTest.serial('udp4: a DNS-only name is resolved when allowed, never queried when blocked', async (t) => {
  const good = await closeAfter(t, countingUdpServer('udp4', ALLOWED_V4))
  const sink = await closeAfter(t, countingUdpServer('udp4', BLOCKED_V4))
  activateFor(t, { allow: ['*.allowed.test'] })
  const s = socket(t, 'udp4')
  const allowedName = uniqueName('allowed.test')
  const echo = nextMessage(s)
  t.is(await sendWithCallback(s, good.port, allowedName), null)
  await echo
  t.true((await dnsCount(allowedName)) > 0)

  const blockedName = uniqueName('blocked.test')
  isUdpBlock(t, await sendWithCallback(s, sink.port, blockedName), blockedName, sink.port)
  t.is(await dnsCount(blockedName), 0)
  t.is(await leaked('udp4', sink), 0)
})

netTest.serial('udp4: port rules apply to datagrams', async (t) => {
  const good = await closeAfter(t, countingUdpServer('udp4', ALLOWED_V4))
  const other = await closeAfter(t, countingUdpServer('udp4', ALLOWED_V4))
  activateFor(t, { allow: [`${ALLOWED_V4}:${good.port}`] })
  const s = socket(t, 'udp4')
  t.is(await sendWithCallback(s, good.port, ALLOWED_V4), null)
  isUdpBlock(t, await sendWithCallback(s, other.port, ALLOWED_V4), ALLOWED_V4, other.port)
  t.is(await leaked('udp4', other), 0)
})

netTest.serial("udp4: a connected socket's send(msg, offset, length, cb) is a send to its peer, not to 127.0.0.1", async (t) => {
  const good = await closeAfter(t, countingUdpServer('udp4', ALLOWED_V4))
  activateFor(t, { allow: [ALLOWED_V4], allowLocalhost: false })
  const s = socket(t, 'udp4')
  await new Promise<void>((resolve) => s.connect(good.port, ALLOWED_V4, resolve))
  const buf = Buffer.from('ping-pong')
  const echoes: string[] = []
  const threeEchoes = new Promise<void>((resolve) => s.on('message', (m) => echoes.push(m.toString()) === 3 && resolve()))
  t.is(await new Promise<Error | null>((resolve) => s.send(buf, 0, 4, resolve)), null)
  t.is(await new Promise<Error | null>((resolve) => s.send(buf, resolve)), null)
  t.is(await new Promise<Error | null>((resolve) => s.send([buf], resolve)), null)
  await threeEchoes
  t.deepEqual(echoes.sort(), ['ping', 'ping-pong', 'ping-pong'])
})

netTest.serial('udp4: with allowLocalhost false, a send with no address (127.0.0.1) is blocked', async (t) => {
  const local = await closeAfter(t, countingUdpServer('udp4', '127.0.0.1'))
  activateFor(t, { allow: [ALLOWED_V4], allowLocalhost: false })
  const s = socket(t, 'udp4')
  const err = await new Promise<Error | null>((resolve) => s.send('ping', local.port, resolve))
  isUdpBlock(t, err, '127.0.0.1', local.port)
  t.is(await leaked('udp4', local), 0)
})

// ------------------------------------------------------------ a udp6 socket made before activate()

netTest.serial('udp6: a socket created and bound before activate() is still enforced', async (t) => {
  t.true(await early6Ready, 'the early socket bound')
  const good = await closeAfter(t, countingUdpServer('udp6', ALLOWED_V6))
  const sink = await closeAfter(t, countingUdpServer('udp6', BLOCKED_V6))
  activateFor(t, { allow: [ALLOWED_V6] })

  // The precondition that makes this test mean something: the early handle still holds the
  // binding's send6, not tethered's patched one.
  const udp = (process as unknown as { binding(n: string): { UDP: { prototype: Record<string, unknown> } } }).binding('udp_wrap')
  const stateSymbol = Object.getOwnPropertySymbols(early6).find((s) => s.description === 'state symbol')!
  const handle = (early6 as unknown as Record<symbol, { handle: Record<string, unknown> }>)[stateSymbol].handle
  t.true(Object.hasOwn(handle, 'send'))
  t.not(handle.send, udp.UDP.prototype.send6, 'the early handle kept its own (unpatched) send6')

  const echo = nextMessage(early6)
  t.is(await sendWithCallback(early6, good.port, ALLOWED_V6), null)
  await echo
  isUdpBlock(t, await sendWithCallback(early6, sink.port, BLOCKED_V6), BLOCKED_V6, sink.port, 'send')
  isUdpBlock(t, await sendWithCallback(early6, sink.port, 'evil6.test'), 'evil6.test', sink.port, 'send by name')
  const errored = once(early6, 'error')
  early6.send('ping', sink.port, BLOCKED_V6)
  isUdpBlock(t, ((await errored) as [Error])[0], BLOCKED_V6, sink.port, "send, 'error'")
  const connectErr = await new Promise<unknown>((resolve) => early6.connect(sink.port, BLOCKED_V6, resolve as () => void))
  isUdpBlock(t, connectErr, BLOCKED_V6, sink.port, 'connect')
  t.is(await leaked('udp6', sink), 0)
})

// ------------------------------------------------------------ log-only

netTest.serial('log-only: a datagram to a blocked address is delivered and reported', async (t) => {
  const sink = await closeAfter(t, countingUdpServer('udp4', BLOCKED_V4))
  const seen: Array<[string, number | null, boolean, string]> = []
  activateFor(t, { allow: [], logOnly: true, logger: null, onBlocked: (host, port, info) => seen.push([host, port, info.logOnly, info.kind]) })
  const s = socket(t, 'udp4')
  const echo = nextMessage(s)
  t.is(await sendWithCallback(s, sink.port, BLOCKED_V4), null)
  await echo
  t.is(sink.messages, 1)
  t.true(seen.length >= 1)
  t.deepEqual(seen[0], [BLOCKED_V4, sink.port, true, 'udp'])
})
