// DNS interception: getaddrinfo (dns.lookup, dns.promises.lookup, node:dns/promises), c-ares
// (dns.resolve*, dns.Resolver, dns.promises.Resolver), reverse lookups (dns.reverse,
// lookupService). A blocked name or address fails with EgressBlocked (port null) and the
// counting DNS responder never sees a query for it; allowed ones resolve and fill the
// IP -> hostname cache. Also: a resolver on loopback with allowLocalhost false, the self-hostname
// exemption, and log-only reporting once per lookup.
import type { ExecutionContext } from 'ava'
import test from 'ava'
import type * as DnsModule from 'node:dns'
import { createRequire } from 'node:module'
import os from 'node:os'
import { EgressBlocked, activate, deactivate } from '../dist/index.mjs'
import {
  ALLOWED_V4,
  BLOCKED_V4,
  DNS_ONLY_V4,
  DNS_ONLY_V6,
  DNS_SERVER,
  closeAfter,
  countingTcpServer,
  dnsCount,
  netTest,
  uniqueName,
} from './harness/index.js'
import { activateFor } from './support/blocked.js'
import { reverseName, settle, tcpConnect, uniqueAddress } from './support-dns/index.js'

// Loaded with require: `import dns from 'node:dns'` builds the ESM facade, which reads
// `dns.promises` and so loads it before tethered patches the bindings. This file covers the
// usual order (dns.promises first used after activate()); intercept-dns-early.spec.ts the other.
const require = createRequire(import.meta.url)
const dns = require('node:dns') as typeof DnsModule
const promisesLoadedAtStart = (process as unknown as { moduleLoadList: string[] }).moduleLoadList.includes('NativeModule internal/dns/promises')



/** `err` is the EgressBlocked of a lookup of `host`. */
function isDnsBlock(t: ExecutionContext, err: unknown, host: string, what = ''): void {
  t.true(err instanceof EgressBlocked, `${what}: expected EgressBlocked, got ${String(err)}`)
  const e = err as EgressBlocked
  t.is(e.host, host, what)
  t.is(e.port, null, what)
  t.is(e.kind, 'dns', what)
  t.is(e.code, 'ERR_TETHERED_EGRESS_BLOCKED', what)
  t.is(e.message, `Blocked by tethered: ${host} is not in the allow list`, what)
}

async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (value) => new Error(`resolved with ${JSON.stringify(value)}`),
    (err: unknown) => err,
  )
}

// Every query method of a Resolver: resolve4, resolve6, resolveAny, resolveMx, ..., reverse.
const RESOLVE_METHODS = Object.getOwnPropertyNames(dns.Resolver.prototype).filter((m) => m.startsWith('resolve'))

test('this file exercises the usual load order: dns.promises was not loaded before tethered', (t) => {
  t.false(promisesLoadedAtStart)
})

// ------------------------------------------------------------ getaddrinfo

netTest.serial('dns.lookup: an allowed name resolves; a blocked one fails and is never queried', async (t) => {
  activateFor(t, { allow: ['api.stripe.test', '*.allowed.test'] })
  t.deepEqual(await settle((cb) => dns.lookup('api.stripe.test', { family: 4 }, cb)), { err: null, value: ALLOWED_V4 })
  const good = uniqueName('allowed.test')
  t.is((await settle((cb) => dns.lookup(good, cb))).value, ALLOWED_V4)
  t.true((await dnsCount(good)) > 0, 'DNS-only names reach the responder through getaddrinfo, so 0 below means "never asked"')

  const bad = uniqueName('blocked.test')
  isDnsBlock(t, (await settle((cb) => dns.lookup(bad, cb))).err, bad, 'dns.lookup')
  isDnsBlock(t, (await settle((cb) => dns.lookup(bad, { all: true }, cb))).err, bad, 'dns.lookup all')
  isDnsBlock(t, (await settle((cb) => dns.lookup('evil.test', { family: 4 }, cb))).err, 'evil.test', 'hosts-file name')
  t.is(await dnsCount(bad), 0)
})

netTest.serial('dns.promises.lookup and node:dns/promises lookup: allowed resolves, blocked rejects unqueried', async (t) => {
  activateFor(t, { allow: ['api.stripe.test', 'dual.test', '*.allowed.test'] })
  const dnsPromises = await import('node:dns/promises')
  for (const [label, lookup] of [
    ['dns.promises', dns.promises.lookup],
    ['node:dns/promises', dnsPromises.lookup],
  ] as const) {
    t.deepEqual(await lookup('api.stripe.test'), { address: ALLOWED_V4, family: 4 }, label)
    const all = await lookup('dual.test', { all: true })
    t.deepEqual(all.map((a) => a.address).sort(), ['198.51.100.7', '2001:db8::7'], label)
    const good = uniqueName('allowed.test')
    t.is((await lookup(good, { family: 4 })).address, ALLOWED_V4, label)
    t.true((await dnsCount(good)) > 0, label)

    const bad = uniqueName('blocked.test')
    isDnsBlock(t, await rejectionOf(lookup(bad)), bad, label)
    isDnsBlock(t, await rejectionOf(lookup(bad, { all: true })), bad, `${label} all`)
    t.is(await dnsCount(bad), 0, label)
  }
})

// ------------------------------------------------------------ c-ares

netTest.serial('dns.resolve4/resolve6 (callback): allowed answers, blocked names fail unqueried', async (t) => {
  activateFor(t, { allow: ['*.allowed.test', 'dns-only.test'] })
  const good = uniqueName('allowed.test')
  t.deepEqual(await settle((cb) => dns.resolve4(good, cb)), { err: null, value: [ALLOWED_V4] })
  t.is(await dnsCount(good, 'A'), 1)
  t.deepEqual(await settle((cb) => dns.resolve6('dns-only.test', cb)), { err: null, value: [DNS_ONLY_V6] })

  const bad = uniqueName('blocked.test')
  isDnsBlock(t, (await settle((cb) => dns.resolve4(bad, cb))).err, bad, 'resolve4')
  isDnsBlock(t, (await settle((cb) => dns.resolve6(bad, cb))).err, bad, 'resolve6')
  isDnsBlock(t, (await settle((cb) => dns.resolve(bad, 'MX', cb))).err, bad, "resolve 'MX'")
  isDnsBlock(t, (await settle((cb) => dns.resolveAny(bad, cb))).err, bad, 'resolveAny')
  isDnsBlock(t, (await settle((cb) => dns.resolveTxt(bad, cb))).err, bad, 'resolveTxt')
  t.is(await dnsCount(bad), 0)
})

netTest.serial('dns.promises.resolve4/resolve6: allowed answers, blocked names reject unqueried', async (t) => {
  activateFor(t, { allow: ['*.allowed.test', 'dns-only.test'] })
  const good = uniqueName('allowed.test')
  t.deepEqual(await dns.promises.resolve4(good), [ALLOWED_V4])
  t.deepEqual(await dns.promises.resolve6('dns-only.test'), [DNS_ONLY_V6])
  t.is(await dnsCount(good, 'A'), 1)

  const bad = uniqueName('blocked.test')
  isDnsBlock(t, await rejectionOf(dns.promises.resolve4(bad)), bad, 'resolve4')
  isDnsBlock(t, await rejectionOf(dns.promises.resolve6(bad)), bad, 'resolve6')
  isDnsBlock(t, await rejectionOf(dns.promises.resolve(bad, 'ANY')), bad, "resolve 'ANY'")
  t.is(await dnsCount(bad), 0)
})

netTest.serial('dns.Resolver: every query method refuses a blocked name; allowed names resolve', async (t) => {
  activateFor(t, { allow: ['*.allowed.test'] })
  const resolver = new dns.Resolver()
  const good = uniqueName('allowed.test')
  t.deepEqual(await settle((cb) => resolver.resolve4(good, cb)), { err: null, value: [ALLOWED_V4] })

  const bad = uniqueName('blocked.test')
  t.true(RESOLVE_METHODS.length >= 12, RESOLVE_METHODS.join())
  for (const method of RESOLVE_METHODS) {
    const fn = (resolver as unknown as Record<string, (name: string, cb: (err: Error | null) => void) => void>)[method]!
    isDnsBlock(t, (await settle((cb) => fn.call(resolver, bad, cb))).err, bad, `Resolver#${method}`)
  }
  t.is(await dnsCount(bad), 0)
})

netTest.serial('dns.promises.Resolver: every query method refuses a blocked name; allowed names resolve', async (t) => {
  activateFor(t, { allow: ['*.allowed.test'] })
  const resolver = new dns.promises.Resolver()
  const good = uniqueName('allowed.test')
  t.deepEqual(await resolver.resolve4(good), [ALLOWED_V4])

  const bad = uniqueName('blocked.test')
  for (const method of RESOLVE_METHODS) {
    const fn = (resolver as unknown as Record<string, (name: string) => Promise<unknown>>)[method]!
    isDnsBlock(t, await rejectionOf(fn.call(resolver, bad)), bad, `promises.Resolver#${method}`)
  }
  t.is(await dnsCount(bad), 0)
})

netTest.serial('a resolver on loopback keeps working with allowLocalhost: false (judged by the name, not the server)', async (t) => {
  activateFor(t, { allow: ['*.allowed.test'], allowLocalhost: false })
  // The loopback exemption really is off: the name localhost itself is refused.
  isDnsBlock(t, (await settle((cb) => dns.lookup('localhost', cb))).err, 'localhost', 'localhost')

  const viaGetaddrinfo = uniqueName('allowed.test')
  t.is((await settle((cb) => dns.lookup(viaGetaddrinfo, { family: 4 }, cb))).value, ALLOWED_V4)
  t.true((await dnsCount(viaGetaddrinfo)) > 0)

  const resolver = new dns.promises.Resolver()
  resolver.setServers([DNS_SERVER])
  t.deepEqual(resolver.getServers(), [DNS_SERVER])
  const viaCares = uniqueName('allowed.test')
  t.deepEqual(await resolver.resolve4(viaCares), [ALLOWED_V4])
  t.is(await dnsCount(viaCares, 'A'), 1)
  const viaDefault = uniqueName('allowed.test')
  t.deepEqual(await dns.promises.resolve4(viaDefault), [ALLOWED_V4])
  t.is(await dnsCount(viaDefault, 'A'), 1)
})

// ------------------------------------------------------------ reverse lookups

netTest.serial('dns.reverse: an allowed address is looked up; a blocked one fails with no PTR query', async (t) => {
  const ptr = reverseName(DNS_ONLY_V4)
  const resolver = new dns.Resolver()
  {
    activate({ allow: [DNS_ONLY_V4] })
    t.teardown(() => deactivate())
    const before = await dnsCount(ptr, 'PTR')
    t.deepEqual(await settle((cb) => dns.reverse(DNS_ONLY_V4, cb)), { err: null, value: ['dns-only.test'] })
    t.deepEqual(await dns.promises.reverse(DNS_ONLY_V4), ['dns-only.test'])
    t.true((await dnsCount(ptr, 'PTR')) >= before + 2, 'this PTR is answered by the responder only')
  }
  activate({ allow: ['dns-only.test', ALLOWED_V4] }) // the name is allowed, its address is not
  // Before/after, not absolute: other test files may look these addresses up meanwhile.
  const before = await dnsCount(ptr, 'PTR')
  const before6 = await dnsCount(reverseName(DNS_ONLY_V6))
  isDnsBlock(t, (await settle((cb) => dns.reverse(DNS_ONLY_V4, cb))).err, DNS_ONLY_V4, 'dns.reverse')
  isDnsBlock(t, await rejectionOf(dns.promises.reverse(DNS_ONLY_V4)), DNS_ONLY_V4, 'dns.promises.reverse')
  isDnsBlock(t, (await settle((cb) => resolver.reverse(DNS_ONLY_V4, cb))).err, DNS_ONLY_V4, 'Resolver#reverse')
  isDnsBlock(t, (await settle((cb) => dns.reverse(DNS_ONLY_V6, cb))).err, DNS_ONLY_V6, 'dns.reverse v6')
  t.is(await dnsCount(ptr, 'PTR'), before)
  t.is(await dnsCount(reverseName(DNS_ONLY_V6)), before6)
})

netTest.serial('dns.reverse / lookupService of an address no rule allows: no PTR query at all (exact count)', async (t) => {
  const control = uniqueAddress()
  activateFor(t, { allow: ['198.18.0.0/15'] })
  await settle((cb) => dns.reverse(control, cb)) // NXDOMAIN, but asked
  t.true((await dnsCount(reverseName(control), 'PTR')) > 0, 'the responder counts queries for such addresses')

  activate({ allow: ['198.51.100.0/24'] })
  const address = uniqueAddress()
  isDnsBlock(t, (await settle((cb) => dns.reverse(address, cb))).err, address, 'dns.reverse')
  isDnsBlock(t, await rejectionOf(new dns.promises.Resolver().reverse(address)), address, 'promises.Resolver#reverse')
  isDnsBlock(t, (await settle((cb) => dns.lookupService(address, 22, (err) => cb(err)))).err, address, 'dns.lookupService')
  isDnsBlock(t, await rejectionOf(dns.promises.lookupService(address, 22)), address, 'dns.promises.lookupService')
  t.is(await dnsCount(reverseName(address)), 0)
})

netTest.serial('dns.reverse of an address in /etc/hosts is blocked unless the policy allows the address', async (t) => {
  activateFor(t, { allow: [BLOCKED_V4] })
  // Control: allowed, the lookup succeeds from /etc/hosts without any DNS query. (c-ares lists
  // only a hosts entry's aliases, so the answer for this single-name entry is empty.)
  const ptr = reverseName(BLOCKED_V4)
  const before = await dnsCount(ptr)
  t.true(Array.isArray(await dns.promises.reverse(BLOCKED_V4)))
  t.true(Array.isArray((await settle((cb) => dns.reverse(BLOCKED_V4, cb))).value))
  t.is(await dnsCount(ptr), before, 'answered from /etc/hosts')
  activate({ allow: ['evil.test', ALLOWED_V4] })
  isDnsBlock(t, (await settle((cb) => dns.reverse(BLOCKED_V4, cb))).err, BLOCKED_V4, 'dns.reverse')
  isDnsBlock(t, await rejectionOf(dns.promises.reverse(BLOCKED_V4)), BLOCKED_V4, 'dns.promises.reverse')
  isDnsBlock(t, await rejectionOf(new dns.promises.Resolver().reverse(BLOCKED_V4)), BLOCKED_V4, 'promises.Resolver#reverse')
})

netTest.serial('dns.lookupService: allowed addresses are looked up; blocked ones fail with no PTR query (hosts file too)', async (t) => {
  const ptr = reverseName(DNS_ONLY_V4)
  activateFor(t, { allow: [DNS_ONLY_V4, BLOCKED_V4] })
  const before = await dnsCount(ptr, 'PTR')
  t.deepEqual(await settle((cb) => dns.lookupService(DNS_ONLY_V4, 80, (err, hostname) => cb(err, hostname))), { err: null, value: 'dns-only.test' })
  t.true((await dnsCount(ptr, 'PTR')) > before)
  t.is((await dns.promises.lookupService(BLOCKED_V4, 443)).hostname, 'evil.test', 'control: answered from /etc/hosts')

  activate({ allow: ['dns-only.test', 'evil.test'] })
  const blockedBefore = await dnsCount(ptr, 'PTR')
  for (const address of [DNS_ONLY_V4, BLOCKED_V4]) {
    isDnsBlock(t, (await settle((cb) => dns.lookupService(address, 80, (err) => cb(err)))).err, address, `lookupService ${address}`)
    isDnsBlock(t, await rejectionOf(dns.promises.lookupService(address, 80)), address, `promises.lookupService ${address}`)
  }
  t.is(await dnsCount(ptr, 'PTR'), blockedBefore)
})

// ------------------------------------------------------------ self-hostname exemption

netTest.serial('dns.lookup(os.hostname()) is allowed with allow: [] (self-introspection), even without localhost', async (t) => {
  const self = os.hostname()
  for (const allowLocalhost of [true, false]) {
    activate({ allow: [], allowLocalhost })
    t.teardown(() => deactivate())
    t.is((await settle((cb) => dns.lookup(self, { family: 4 }, cb))).value, '127.0.0.1', `allowLocalhost ${allowLocalhost}`)
    t.is((await dns.promises.lookup(self, { family: 4 })).address, '127.0.0.1')
    // Control: any other name is refused by this policy.
    const other = uniqueName('allowed.test')
    isDnsBlock(t, (await settle((cb) => dns.lookup(other, cb))).err, other)
  }
})

netTest.serial('the self-hostname exemption is for lookups only: connects still need a rule', async (t) => {
  const self = os.hostname()
  const loopback = await closeAfter(t, countingTcpServer('127.0.0.1'))
  const machine = await closeAfter(t, countingTcpServer(ALLOWED_V4)) // an address of this machine, not loopback
  activateFor(t, { allow: [] })
  t.is((await settle((cb) => dns.lookup(self, cb))).err, null)
  const viaAddress = await tcpConnect(machine.port, ALLOWED_V4)
  t.false(viaAddress.connected)
  t.true(!viaAddress.connected && viaAddress.err instanceof EgressBlocked)

  activate({ allow: [], allowLocalhost: false })
  const viaName = await tcpConnect(loopback.port, self)
  t.true(!viaName.connected && viaName.err instanceof EgressBlocked && viaName.err.host === self)
  t.is(machine.connections, 0)
  t.is(loopback.connections, 0)
})

// ------------------------------------------------------------ IP -> hostname cache

netTest.serial('IP cache: after an allowed lookup, a raw connect to its address is judged by the name', async (t) => {
  const echo = await closeAfter(t, countingTcpServer(ALLOWED_V4))
  activateFor(t, { allow: ['api.stripe.test'] })
  const fresh = await tcpConnect(echo.port, ALLOWED_V4)
  t.true(!fresh.connected && fresh.err instanceof EgressBlocked && fresh.err.resolvedFrom === null, 'no lookup yet: a bare IP')
  t.is(echo.connections, 0)

  t.is((await settle((cb) => dns.lookup('api.stripe.test', cb))).value, ALLOWED_V4)
  t.deepEqual(await tcpConnect(echo.port, ALLOWED_V4), { connected: true })
  t.is(echo.connections, 1)

  activate({ allow: ['api.stripe.test'] }) // activate() clears the cache
  t.false((await tcpConnect(echo.port, ALLOWED_V4)).connected)
  deactivate() // and so does deactivate()
  activate({ allow: ['api.stripe.test'] })
  t.is((await settle((cb) => dns.lookup('api.stripe.test', cb))).err, null)
  deactivate()
  activate({ allow: ['api.stripe.test'] })
  t.false((await tcpConnect(echo.port, ALLOWED_V4)).connected)
  t.is(echo.connections, 1)
})

netTest.serial('IP cache: c-ares answers (resolve4, Resolver) are recorded as well', async (t) => {
  const echo = await closeAfter(t, countingTcpServer(ALLOWED_V4))
  activateFor(t, { allow: ['*.allowed.test'] })
  t.false((await tcpConnect(echo.port, ALLOWED_V4)).connected)
  await dns.promises.resolve4(uniqueName('allowed.test'))
  t.deepEqual(await tcpConnect(echo.port, ALLOWED_V4), { connected: true })

  activate({ allow: ['*.allowed.test'] })
  await new dns.promises.Resolver().resolve4(uniqueName('allowed.test'))
  t.deepEqual(await tcpConnect(echo.port, ALLOWED_V4), { connected: true })
  t.is(echo.connections, 2)
})

netTest.serial('a blocked port-restricted name is still resolvable (DNS matches rules of any port)', async (t) => {
  const echo = await closeAfter(t, countingTcpServer(ALLOWED_V4))
  activateFor(t, { allow: ['api.stripe.test:1'] })
  t.is((await settle((cb) => dns.lookup('api.stripe.test', cb))).value, ALLOWED_V4)
  const outcome = await tcpConnect(echo.port, ALLOWED_V4)
  t.true(!outcome.connected && outcome.err instanceof EgressBlocked)
  const err = (outcome as { err?: EgressBlocked }).err!
  t.is(err.resolvedFrom, 'api.stripe.test')
  t.is(err.message, `Blocked by tethered: ${ALLOWED_V4}:${echo.port} (resolved from api.stripe.test) is not in the allow list`)
  t.is(echo.connections, 0)
})

// ------------------------------------------------------------ log-only

netTest.serial('log-only: every DNS API lets the lookup through and reports it exactly once', async (t) => {
  const seen: Array<[string, number | null, boolean, string]> = []
  activateFor(t, { allow: [], logOnly: true, logger: null, onBlocked: (host, port, info) => seen.push([host, port, info.logOnly, info.kind]) })
  const dnsPromises = await import('node:dns/promises')
  const name = uniqueName('blocked.test')
  const cases: Array<[string, string, () => Promise<unknown>]> = [
    ['dns.lookup', 'evil.test', () => settle((cb) => dns.lookup('evil.test', cb)).then((r) => r.value)],
    ['dns.promises.lookup', 'evil.test', () => dns.promises.lookup('evil.test')],
    ['node:dns/promises lookup', 'evil.test', () => dnsPromises.lookup('evil.test')],
    ['dns.resolve4', name, () => settle((cb) => dns.resolve4(name, cb)).then((r) => r.value)],
    ['dns.promises.resolve4', name, () => dns.promises.resolve4(name)],
    ['Resolver#resolve4', name, () => settle((cb) => new dns.Resolver().resolve4(name, cb)).then((r) => r.value)],
    ['dns.reverse', BLOCKED_V4, () => settle((cb) => dns.reverse(BLOCKED_V4, cb)).then((r) => r.value)],
    ['dns.promises.reverse', BLOCKED_V4, () => dns.promises.reverse(BLOCKED_V4)],
    ['dns.lookupService', BLOCKED_V4, () => settle((cb) => dns.lookupService(BLOCKED_V4, 80, (e, h) => cb(e, h))).then((r) => r.value)],
    ['dns.promises.lookupService', BLOCKED_V4, () => dns.promises.lookupService(BLOCKED_V4, 80)],
  ]
  for (const [label, host, run] of cases) {
    seen.length = 0
    t.truthy(await run(), `${label} answers in log-only mode`)
    t.deepEqual(seen, [[host, null, true, 'dns']], label)
  }
  t.true((await dnsCount(name, 'A')) >= 3, 'log-only lets the query out')
})
