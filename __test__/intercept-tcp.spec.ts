// TCP interception through net and tls: hostnames (judged before any DNS query), raw IPv4/IPv6
// literals and IPv4-mapped IPv6 (judged at the binding), custom `lookup` functions (not a
// resolver: their answers are judged by IP rules) and happy eyeballs (blocked addresses are
// skipped, an all-blocked list fails with EgressBlocked).
import type { LookupAddress } from 'node:dns'
import net from 'node:net'
import {
  ALLOWED_V4,
  ALLOWED_V6,
  BLOCKED_V4,
  BLOCKED_V6,
  OTHER_V4,
  countingHttpsServer,
  closeAfter,
  countingTcpServer,
  dnsCount,
  netTest,
  testCert,
  uniqueName,
} from './harness/index.js'
import { activateFor, expectBlocked } from './support/blocked.js'
import { connectOnce, tlsRequest } from './support/clients.js'

type Lookup = NonNullable<net.TcpNetConnectOpts['lookup']>

/** A custom `lookup` answering `answers` (honouring `all`, as net requires), counting its calls. */
function fixedLookup(answers: LookupAddress[]): Lookup & { calls: number } {
  const lookup = ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    lookup.calls++
    const first = answers[0]!
    if (options.all) process.nextTick(callback, null, answers)
    else process.nextTick(callback, null, first.address, first.family)
  }) as unknown as Lookup & { calls: number }
  lookup.calls = 0
  return lookup
}


// ------------------------------------------------------------ net: names and raw IPs

netTest.serial('net: an allowed hostname is resolved and connects', async (t) => {
  const echo = await closeAfter(t, countingTcpServer(ALLOWED_V4))
  activateFor(t, { allow: ['*.allowed.test'] }) // no IP rule: only the name->IP mapping allows the dial
  const name = uniqueName('allowed.test')
  t.is(await connectOnce(name, echo.port), 'ping')
  t.is(echo.connections, 1)
  t.true((await dnsCount(name)) > 0, 'the responder counts this name, so a 0 elsewhere means "never asked"')
})

netTest.serial('net: a blocked hostname fails with EgressBlocked, unresolved and unconnected', async (t) => {
  const sink = await closeAfter(t, countingTcpServer(BLOCKED_V4))
  activateFor(t, { allow: ['api.stripe.test', '198.51.100.0/24'] })
  const name = uniqueName('blocked.test') // resolves to BLOCKED_V4 if anyone asked
  await expectBlocked(t, connectOnce(name, sink.port), { host: name, port: sink.port })
  t.is(sink.connections, 0)
  t.is(await dnsCount(name), 0)
})

netTest.serial('net: a blocked hosts-file name fails with EgressBlocked', async (t) => {
  const sink = await closeAfter(t, countingTcpServer(BLOCKED_V4))
  activateFor(t, { allow: ['api.stripe.test', '198.51.100.0/24'] })
  await expectBlocked(t, connectOnce('evil.test', sink.port), { host: 'evil.test', port: sink.port })
  t.is(sink.connections, 0)
})

netTest.serial('net: a raw IPv4 allowed by a CIDR rule connects', async (t) => {
  const echo = await closeAfter(t, countingTcpServer(OTHER_V4))
  activateFor(t, { allow: ['api.stripe.test', '198.51.100.0/24'] })
  t.is(await connectOnce(OTHER_V4, echo.port), 'ping')
  t.is(echo.connections, 1)
})

netTest.serial('net: a raw IPv4 outside the rules fails with EgressBlocked', async (t) => {
  const sink = await closeAfter(t, countingTcpServer(BLOCKED_V4))
  activateFor(t, { allow: ['api.stripe.test', '198.51.100.0/24'] })
  await expectBlocked(t, connectOnce(BLOCKED_V4, sink.port), { host: BLOCKED_V4, port: sink.port })
  t.is(sink.connections, 0)
})

netTest.serial("net: a socket's handle cannot dial elsewhere on the verdict of the socket's allowed IP-literal connect", async (t) => {
  // socket.connect() makes the handle at once and dials it on the next tick; code holding the
  // socket can call the handle's connect first, with another address.
  const echo = await closeAfter(t, countingTcpServer(OTHER_V4))
  const sink = await closeAfter(t, countingTcpServer(BLOCKED_V4))
  activateFor(t, { allow: [`${OTHER_V4}:${echo.port}`] })
  const socket = net.connect({ host: OTHER_V4, port: echo.port })
  const failed = new Promise<Error>((resolve) => socket.once('error', resolve))
  const handle = (socket as unknown as { _handle: { connect(req: object, address: string, port: number): number } })._handle
  const { TCPConnectWrap } = (process as unknown as { binding(name: string): { TCPConnectWrap: new () => { oncomplete?: (status: number) => void } } }).binding('tcp_wrap')
  const req = new TCPConnectWrap()
  const completions: number[] = []
  req.oncomplete = (status: number) => completions.push(status)
  handle.connect(req, BLOCKED_V4, sink.port)
  const err = await failed
  t.is((err as { code?: string }).code, 'ERR_TETHERED_EGRESS_BLOCKED')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.false(completions.includes(0), `the handle's own dial must not succeed: ${JSON.stringify(completions)}`)
  t.is(sink.connections, 0)
})

netTest.serial('net: raw IPv6, allowed by rule connects, outside the rules fails with EgressBlocked', async (t) => {
  const echo = await closeAfter(t, countingTcpServer(ALLOWED_V6))
  const sink = await closeAfter(t, countingTcpServer(BLOCKED_V6))
  activateFor(t, { allow: ['[2001:db8::7]'] })
  t.is(await connectOnce(ALLOWED_V6, echo.port), 'ping')
  await expectBlocked(t, connectOnce(BLOCKED_V6, sink.port), { host: BLOCKED_V6, port: sink.port })
  t.is(echo.connections, 1)
  t.is(sink.connections, 0)
})

netTest.serial('net: an IPv4-mapped IPv6 address is judged as the IPv4 address', async (t) => {
  // A v6 socket dialling ::ffff:a.b.c.d makes a plain IPv4 connection, which the v4 servers
  // accept: the allowed dial proves the path works, so the sink's 0 means "blocked".
  const echo = await closeAfter(t, countingTcpServer(ALLOWED_V4))
  const sink = await closeAfter(t, countingTcpServer(BLOCKED_V4))
  activateFor(t, { allow: ['198.51.100.0/24'] })
  t.is(await connectOnce(`::ffff:${ALLOWED_V4}`, echo.port), 'ping')
  await expectBlocked(t, connectOnce(`::ffff:${BLOCKED_V4}`, sink.port), { port: sink.port })
  t.is(echo.connections, 1)
  t.is(sink.connections, 0)
})

// ------------------------------------------------------------ custom lookup

netTest.serial('net: a custom lookup mapping an allowed name to a blocked IP is blocked', async (t) => {
  const sink = await closeAfter(t, countingTcpServer(BLOCKED_V4))
  activateFor(t, { allow: ['api.stripe.test'] })
  for (const autoSelectFamily of [true, false]) {
    // true: lookup answers a list (happy eyeballs); false: a single address.
    const lookup = fixedLookup([{ address: BLOCKED_V4, family: 4 }])
    await expectBlocked(t, connectOnce('api.stripe.test', sink.port, { lookup, autoSelectFamily }), { host: BLOCKED_V4, port: sink.port })
    t.is(lookup.calls, 1, `autoSelectFamily=${autoSelectFamily}: the custom lookup ran`)
  }
  t.is(sink.connections, 0)
})

netTest.serial('net: a custom lookup returning an IP allowed by a CIDR rule connects', async (t) => {
  const echo = await closeAfter(t, countingTcpServer(OTHER_V4))
  activateFor(t, { allow: ['api.stripe.test', '198.51.100.0/24'] })
  for (const autoSelectFamily of [true, false]) {
    const lookup = fixedLookup([{ address: OTHER_V4, family: 4 }])
    t.is(await connectOnce('api.stripe.test', echo.port, { lookup, autoSelectFamily }), 'ping')
    t.is(lookup.calls, 1)
  }
  t.is(echo.connections, 2)
})

netTest.serial("net: with a custom lookup, the addresses it returns are judged, not the name", async (t) => {
  // PRODUCT.md Clarifications: a caller's lookup is not a resolver. Its answer is the real
  // destination (Node 26's undici dials an env proxy this way), judged by IP/CIDR rules.
  const sink = await closeAfter(t, countingTcpServer(BLOCKED_V4))
  activateFor(t, { allow: ['api.stripe.test', '198.51.100.0/24'] })
  const toBlocked = fixedLookup([{ address: BLOCKED_V4, family: 4 }])
  await expectBlocked(t, connectOnce('evil.test', sink.port, { lookup: toBlocked }), { host: BLOCKED_V4 })
  t.is(toBlocked.calls, 1)
  t.is(sink.connections, 0)
  const echo = await closeAfter(t, countingTcpServer(OTHER_V4))
  const toAllowed = fixedLookup([{ address: OTHER_V4, family: 4 }])
  await connectOnce('evil.test', echo.port, { lookup: toAllowed })
  t.is(echo.connections, 1, 'an address allowed by a CIDR rule is reachable whatever name was asked')
})

netTest.serial("net: an invalid lookup option still gets Node's own validation error", async (t) => {
  // Argument validation is Node's, before any lookup or dial; tethered must not change it.
  const echo = await closeAfter(t, countingTcpServer(ALLOWED_V4))
  activateFor(t, { allow: ['api.stripe.test'] })
  t.throws(() => net.connect({ host: 'api.stripe.test', port: echo.port, lookup: 'nope' as never }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.is(echo.connections, 0)
})

// ------------------------------------------------------------ happy eyeballs

netTest.serial('happy eyeballs: a blocked first address is skipped, the allowed one connects', async (t) => {
  const echo = await closeAfter(t, countingTcpServer(ALLOWED_V4))
  const sink = await closeAfter(t, countingTcpServer(BLOCKED_V6, echo.port)) // same port: a leak would land here
  activateFor(t, { allow: ['api.stripe.test', '198.51.100.0/24'] })
  const lookup = fixedLookup([
    { address: BLOCKED_V6, family: 6 },
    { address: ALLOWED_V4, family: 4 },
  ])
  t.is(await connectOnce('api.stripe.test', echo.port, { lookup, autoSelectFamily: true }), 'ping')
  t.is(echo.connections, 1)
  t.is(sink.connections, 0)
})

netTest.serial('happy eyeballs: when every address is blocked the error carries EgressBlocked', async (t) => {
  const sink4 = await closeAfter(t, countingTcpServer(BLOCKED_V4))
  const sink6 = await closeAfter(t, countingTcpServer(BLOCKED_V6, sink4.port))
  activateFor(t, { allow: ['api.stripe.test', '198.51.100.0/24'] })
  const lookup = fixedLookup([
    { address: BLOCKED_V6, family: 6 },
    { address: BLOCKED_V4, family: 4 },
  ])
  // EgressBlocked itself, or an AggregateError whose `errors` contain one (PRODUCT.md).
  await expectBlocked(t, connectOnce('api.stripe.test', sink4.port, { lookup, autoSelectFamily: true }), { via: 'anywhere' })
  t.is(sink4.connections + sink6.connections, 0)
})

// ------------------------------------------------------------ tls

netTest.serial('tls: an allowed hostname completes the handshake and gets an answer', async (t) => {
  const srv = await closeAfter(t, countingHttpsServer(ALLOWED_V4))
  activateFor(t, { allow: ['*.allowed.test'] })
  t.is(await tlsRequest(uniqueName('allowed.test'), srv.port, testCert().ca), 'HTTP/1.1 200 OK')
  t.is(srv.requests, 1)
})

netTest.serial('tls: a blocked hostname and a blocked IP fail with EgressBlocked', async (t) => {
  const sink = await closeAfter(t, countingHttpsServer(BLOCKED_V4))
  activateFor(t, { allow: ['api.stripe.test', '198.51.100.0/24'] })
  const name = uniqueName('blocked.test')
  await expectBlocked(t, tlsRequest(name, sink.port, testCert().ca), { host: name, port: sink.port })
  await expectBlocked(t, tlsRequest(BLOCKED_V4, sink.port, testCert().ca), { host: BLOCKED_V4, port: sink.port })
  t.is(sink.connections, 0)
  t.is(sink.requests, 0)
  t.is(await dnsCount(name), 0)
})
