// dns.promises loaded BEFORE tethered: `internal/dns/promises` then holds the original
// getaddrinfo/getnameinfo bindings, so only tethered's JS-level wrappers stand between it and
// the resolver. This file touches dns.promises and node:dns/promises at top level (destructuring
// nothing) and only then imports tethered.
import type { ExecutionContext } from 'ava'
import test from 'ava'
import dns from 'node:dns'
import { BLOCKED_V4, DNS_ONLY_V4, dnsCount, netTest, uniqueName, ALLOWED_V4 } from './harness/index.js'
import { reverseName } from './support-dns/index.js'

const earlyPromises = dns.promises // touched, not destructured
const dnsPromises = await import('node:dns/promises')
const loadedBeforeTethered = (process as unknown as { moduleLoadList: string[] }).moduleLoadList.includes('NativeModule internal/dns/promises')

const { activate, deactivate, EgressBlocked } = await import('../dist/index.mjs')

function activateFor(t: ExecutionContext, options: Parameters<typeof activate>[0]): void {
  activate(options)
  t.teardown(() => deactivate())
}

async function blockedBy(t: ExecutionContext, p: Promise<unknown>, host: string, what: string): Promise<void> {
  const err = await p.then(
    (value) => new Error(`resolved with ${JSON.stringify(value)}`),
    (e: unknown) => e,
  )
  t.true(err instanceof EgressBlocked, `${what}: ${String(err)}`)
  t.like(err as object, { host, port: null, kind: 'dns', code: 'ERR_TETHERED_EGRESS_BLOCKED' }, what)
}

test('precondition: internal/dns/promises was loaded before tethered was imported', (t) => {
  t.true(loadedBeforeTethered)
  t.is(earlyPromises, dns.promises)
})

netTest.serial('early dns.promises.lookup / node:dns/promises lookup: blocked names are refused and never queried', async (t) => {
  activateFor(t, { allow: ['*.allowed.test'] })
  for (const [label, api] of [
    ['dns.promises', earlyPromises],
    ['node:dns/promises', dnsPromises],
  ] as const) {
    const good = uniqueName('allowed.test')
    t.is((await api.lookup(good, { family: 4 })).address, ALLOWED_V4, label)
    t.true((await dnsCount(good)) > 0, label)
    const bad = uniqueName('blocked.test')
    await blockedBy(t, api.lookup(bad), bad, `${label}.lookup`)
    await blockedBy(t, api.lookup(bad, { all: true }), bad, `${label}.lookup all`)
    t.is(await dnsCount(bad), 0, label)
  }
})

netTest.serial('early dns.promises: c-ares queries, reverse and lookupService are refused', async (t) => {
  activateFor(t, { allow: ['*.allowed.test', 'dns-only.test'] })
  const bad = uniqueName('blocked.test')
  await blockedBy(t, earlyPromises.resolve4(bad), bad, 'resolve4')
  await blockedBy(t, new earlyPromises.Resolver().resolve6(bad), bad, 'Resolver#resolve6')
  await blockedBy(t, dnsPromises.resolveAny(bad), bad, 'node:dns/promises resolveAny')
  t.is(await dnsCount(bad), 0)

  const ptrBefore = await dnsCount(reverseName(DNS_ONLY_V4), 'PTR')
  await blockedBy(t, earlyPromises.reverse(DNS_ONLY_V4), DNS_ONLY_V4, 'reverse')
  await blockedBy(t, earlyPromises.lookupService(DNS_ONLY_V4, 80), DNS_ONLY_V4, 'lookupService')
  await blockedBy(t, dnsPromises.lookupService(BLOCKED_V4, 80), BLOCKED_V4, 'lookupService, /etc/hosts address')
  t.is(await dnsCount(reverseName(DNS_ONLY_V4), 'PTR'), ptrBefore)
})

netTest.serial('early dns.promises: the answer of an allowed lookup fills the IP cache', async (t) => {
  activateFor(t, { allow: ['api.stripe.test'] })
  const { native } = await import('../dist/native.js')
  t.is(native.resolvedFrom(ALLOWED_V4), null)
  await earlyPromises.lookup('api.stripe.test')
  t.is(native.resolvedFrom(ALLOWED_V4), 'api.stripe.test')
})

netTest.serial('early dns.promises in log-only mode: each lookup goes through and is reported once', async (t) => {
  const seen: unknown[] = []
  activateFor(t, { allow: [], logOnly: true, logger: null, onBlocked: (host, port, info) => seen.push([host, port, info.logOnly]) })
  t.is((await earlyPromises.lookup('evil.test')).address, BLOCKED_V4)
  t.deepEqual(seen.splice(0), [['evil.test', null, true]])
  t.is((await dnsPromises.lookupService(BLOCKED_V4, 80)).hostname, 'evil.test')
  t.deepEqual(seen.splice(0), [[BLOCKED_V4, null, true]])
  t.true(Array.isArray(await earlyPromises.reverse(BLOCKED_V4)))
  t.deepEqual(seen.splice(0), [[BLOCKED_V4, null, true]])
})
