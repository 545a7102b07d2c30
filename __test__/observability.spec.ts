// Observability: the diagnostics_channel events (`tethered:blocked` for every block, log-only ones
// included; `tethered:allowed` only while something subscribes) and the initiator, the npm
// package that started a blocked connection, named on EgressBlocked, in the log line and in the
// event. The "package" is fake-sdk under __test__/fixtures-cli/node_modules. Every test
// activates the process-wide policy, so all are serial. Loopback targets with allowLocalhost
// false make blocks without the test namespace; names need it (netTest).
import { fileURLToPath } from 'node:url'
import test, { type ExecutionContext } from 'ava'
import diagnosticsChannel from 'node:diagnostics_channel'
import dgram from 'node:dgram'
import dns from 'node:dns'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { EgressBlocked, scope } from '../dist/index.mjs'
import { ALLOWED_V4, countingHttpServer, countingTcpServer, countingUdpServer, netTest, type CountingServer } from './harness/index.js'
import { activateFor, findBlocked } from './support/blocked.js'
import { settle, withTimeout } from './support/timeout.js'
import { capturingLogger } from './support-dns/index.js'

// This spec lives inside the tethered package: connects it makes itself name tethered.
const SELF = { name: 'tethered', version: JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version as string, file: fileURLToPath(import.meta.url) }

const require = createRequire(import.meta.url)
const LOOPBACK = '127.0.0.1'

interface Initiator {
  name: string
  version: string | null
  file: string
}
interface EgressEvent {
  host: string
  port: number | null
  resolvedFrom: string | null
  scopeLabel: string | null
  kind: 'dns' | 'tcp' | 'udp' | 'request'
  logOnly: boolean
  initiator: Initiator | null
}
type Outcome = 'ok' | Error
interface FakeSdk {
  connect(host: string, port: number): Promise<Outcome>
  lookup(host: string): Promise<Outcome>
  send(host: string, port: number): Promise<Outcome>
  get(url: string): Promise<Outcome>
}

const sdk = require('./fixtures-cli/node_modules/fake-sdk') as FakeSdk
const SDK_FILE = require.resolve('./fixtures-cli/node_modules/fake-sdk/lib/transport.js')
const FAKE_SDK = { name: 'fake-sdk', version: '1.2.3', file: SDK_FILE }

/** Every event published on `name` until the test ends. */
function listen(t: ExecutionContext, name: 'tethered:blocked' | 'tethered:allowed'): EgressEvent[] {
  const events: EgressEvent[] = []
  const onMessage = (message: unknown) => void events.push(message as EgressEvent)
  diagnosticsChannel.subscribe(name, onMessage)
  t.teardown(() => void diagnosticsChannel.unsubscribe(name, onMessage))
  return events
}

async function serve<T extends CountingServer>(t: ExecutionContext, server: Promise<T>): Promise<T> {
  const s = await server
  t.teardown(() => s.close())
  return s
}

function connect(host: string, port: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    socket.once('connect', () => {
      socket.destroy()
      resolve('ok')
    })
    socket.once('error', resolve)
  })
}

/** The EgressBlocked the attempt failed with; a test failure (and undefined) otherwise. */
async function blockedOf(t: ExecutionContext, attempt: Promise<Outcome>): Promise<EgressBlocked | undefined> {
  const outcome = await withTimeout(attempt, 'attempt')
  await settle()
  const blocked = outcome === 'ok' ? undefined : findBlocked(outcome)
  if (!blocked) t.fail(`expected EgressBlocked, got ${outcome === 'ok' ? 'a success' : `${outcome.name}: ${outcome.message}`}`)
  return blocked
}

const only = (events: EgressEvent[], kind: EgressEvent['kind']) => events.filter((e) => e.kind === kind)

// ------------------------------------------------------------------ tethered:blocked

test.serial('tethered:blocked: a TCP block publishes host, port, kind and the rest of the event', async (t) => {
  const server = await serve(t, countingTcpServer(LOOPBACK))
  const events = listen(t, 'tethered:blocked')
  activateFor(t, { allow: ['api.stripe.test:443'], allowLocalhost: false })
  const error = await blockedOf(t, connect(LOOPBACK, server.port))
  t.deepEqual(events, [{ host: LOOPBACK, port: server.port, resolvedFrom: null, scopeLabel: null, kind: 'tcp', logOnly: false, initiator: SELF }])
  t.is(error?.kind, 'tcp')
  t.is(server.connections, 0)
})

test.serial('tethered:blocked: dns, udp and request blocks carry their kind (a lookup has port null)', async (t) => {
  const udp = await serve(t, countingUdpServer('udp4', LOOPBACK))
  const web = await serve(t, countingHttpServer(LOOPBACK))
  const events = listen(t, 'tethered:blocked')
  activateFor(t, { allow: ['api.stripe.test:443'], allowLocalhost: false })
  await blockedOf(t, new Promise((resolve) => dns.lookup('localhost', (err) => resolve(err ?? 'ok'))))
  const socket = dgram.createSocket('udp4')
  t.teardown(() => socket.close())
  await blockedOf(t, new Promise((resolve) => socket.send('x', udp.port, LOOPBACK, (err) => resolve(err ?? 'ok'))))
  await blockedOf(t, new Promise((resolve) => http.get(`http://${LOOPBACK}:${web.port}/`, { agent: false }, () => resolve('ok')).once('error', resolve)))
  t.like(only(events, 'dns'), [{ host: 'localhost', port: null, logOnly: false }])
  t.like(only(events, 'udp'), [{ host: LOOPBACK, port: udp.port, logOnly: false }])
  t.like(only(events, 'request'), [{ host: LOOPBACK, port: web.port, logOnly: false }])
  t.is(events.length, 3, JSON.stringify(events))
  t.is(udp.messages, 0)
  t.is(web.requests, 0)
})

test.serial('tethered:blocked: a scope block names the scope in scopeLabel', async (t) => {
  const server = await serve(t, countingTcpServer(LOOPBACK))
  const events = listen(t, 'tethered:blocked')
  activateFor(t, { allow: [`${LOOPBACK}:${server.port}`], allowLocalhost: false })
  t.is(await connect(LOOPBACK, server.port), 'ok', 'the global policy allows it')
  const error = await blockedOf(t, scope({ allow: ['api.stripe.test:443'], allowLocalhost: false, label: 'payments' }).run(() => connect(LOOPBACK, server.port)))
  t.is(error?.scopeLabel, 'payments')
  t.like(events, [{ host: LOOPBACK, port: server.port, kind: 'tcp', scopeLabel: 'payments', logOnly: false }])
  t.is(events.length, 1)
  t.is(server.connections, 1)
})

test.serial('tethered:blocked: log-only publishes logOnly true, once per connection, and lets it through', async (t) => {
  const server = await serve(t, countingTcpServer(LOOPBACK))
  const events = listen(t, 'tethered:blocked')
  activateFor(t, { allow: ['api.stripe.test:443'], allowLocalhost: false, logOnly: true })
  t.is(await connect(LOOPBACK, server.port), 'ok')
  await settle()
  t.deepEqual(events, [{ host: LOOPBACK, port: server.port, resolvedFrom: null, scopeLabel: null, kind: 'tcp', logOnly: true, initiator: SELF }])
  t.is(server.connections, 1)
})

netTest.serial('tethered:blocked: an address the application got from a lookup carries resolvedFrom', async (t) => {
  const server = await serve(t, countingTcpServer(ALLOWED_V4))
  const events = listen(t, 'tethered:blocked')
  // a.test itself may be looked up (and connected to on port 1 only).
  activateFor(t, { allow: ['a.test:1'], allowLocalhost: false })
  t.is(await new Promise<Outcome>((resolve) => dns.lookup('a.test', { family: 4 }, (err) => resolve(err ?? 'ok'))), 'ok')
  const error = await blockedOf(t, connect(ALLOWED_V4, server.port))
  t.is(error?.resolvedFrom, 'a.test')
  t.like(events, [{ host: ALLOWED_V4, port: server.port, resolvedFrom: 'a.test', kind: 'tcp' }])
  t.is(server.connections, 0)
})

// ------------------------------------------------------------------ tethered:allowed

test.serial('tethered:allowed: each allowed decision is published while a subscriber listens', async (t) => {
  const server = await serve(t, countingTcpServer(LOOPBACK))
  const events = listen(t, 'tethered:allowed')
  activateFor(t, { allow: [`${LOOPBACK}:${server.port}`, 'localhost'], allowLocalhost: false })
  t.is(await connect(LOOPBACK, server.port), 'ok')
  await new Promise((resolve) => dns.lookup('localhost', { family: 4 }, resolve))
  t.like(only(events, 'tcp'), [{ host: LOOPBACK, port: server.port, scopeLabel: null, logOnly: false, initiator: null }])
  t.like(only(events, 'dns'), [{ host: 'localhost', port: null, logOnly: false, initiator: null }])
})

test.serial('tethered:allowed / tethered:blocked are not published at all without a subscriber', async (t) => {
  const server = await serve(t, countingTcpServer(LOOPBACK))
  const blockedServer = await serve(t, countingTcpServer(LOOPBACK))
  // A spy in place of publish(): an unconditional publish would be counted even with nobody listening.
  const published = { 'tethered:allowed': 0, 'tethered:blocked': 0 }
  for (const name of ['tethered:allowed', 'tethered:blocked'] as const) {
    const channel = diagnosticsChannel.channel(name)
    const original = Object.getOwnPropertyDescriptor(channel, 'publish')
    Object.defineProperty(channel, 'publish', { configurable: true, writable: true, value: () => void published[name]++ })
    t.teardown(() => (original ? Object.defineProperty(channel, 'publish', original) : delete (channel as unknown as Record<string, unknown>).publish))
  }
  activateFor(t, { allow: [`${LOOPBACK}:${server.port}`], allowLocalhost: false })
  t.is(await connect(LOOPBACK, server.port), 'ok')
  await blockedOf(t, connect(LOOPBACK, blockedServer.port))
  t.deepEqual(published, { 'tethered:allowed': 0, 'tethered:blocked': 0 })
  // The same spy counts once something subscribes: the assertion above could have failed.
  listen(t, 'tethered:allowed')
  t.is(await connect(LOOPBACK, server.port), 'ok')
  t.true(published['tethered:allowed'] >= 1)
})

// ------------------------------------------------------------------ initiator

/** Counts findInitiator's stack captures (its captureStackTrace call names it as the frame to cut). */
function countStackWalks(t: ExecutionContext): { readonly count: number } {
  const original = Error.captureStackTrace
  let count = 0
  Error.captureStackTrace = function captureStackTrace(target: object, constructorOpt?: Function) {
    if (constructorOpt?.name === 'findInitiator') count++
    return original.call(Error, target, constructorOpt)
  }
  t.teardown(() => void (Error.captureStackTrace = original))
  return {
    get count() {
      return count
    },
  }
}

test.serial('initiator: a blocked TCP connect by name names the dependency, on the error, the log line and the event', async (t) => {
  const server = await serve(t, countingTcpServer(LOOPBACK))
  const events = listen(t, 'tethered:blocked')
  const log = capturingLogger()
  activateFor(t, { allow: ['api.stripe.test:443'], allowLocalhost: false, logger: log.logger })
  const error = await blockedOf(t, sdk.connect('localhost', server.port))
  t.deepEqual(error?.initiator, FAKE_SDK)
  t.deepEqual(events.map((e) => e.initiator), [FAKE_SDK])
  t.deepEqual(log.warn, [`tethered: blocked connection to localhost:${server.port} (initiated by fake-sdk@1.2.3)`])
  t.is(server.connections, 0)
})

test.serial('initiator: lookups, datagrams and HTTP requests made by the dependency name it too', async (t) => {
  const udp = await serve(t, countingUdpServer('udp4', LOOPBACK))
  const web = await serve(t, countingHttpServer(LOOPBACK))
  const log = capturingLogger()
  activateFor(t, { allow: ['api.stripe.test:443'], allowLocalhost: false, logger: log.logger })
  for (const [what, attempt] of [
    ['dns', sdk.lookup('localhost')],
    ['udp', sdk.send(LOOPBACK, udp.port)],
    ['request', sdk.get(`http://${LOOPBACK}:${web.port}/`)],
  ] as const) {
    const error = await blockedOf(t, attempt)
    t.is(error?.kind, what)
    t.deepEqual(error?.initiator, FAKE_SDK, what)
  }
  t.true(log.warn.every((line) => line.endsWith('(initiated by fake-sdk@1.2.3)')), log.warn.join('\n'))
  t.is(udp.messages, 0)
  t.is(web.requests, 0)
})

test.serial('initiator: a TCP connect to an IP literal names the dependency', async (t) => {
  const server = await serve(t, countingTcpServer(LOOPBACK))
  activateFor(t, { allow: ['api.stripe.test:443'], allowLocalhost: false })
  const error = await blockedOf(t, sdk.connect(LOOPBACK, server.port))
  t.deepEqual(error?.initiator, FAKE_SDK)
})

test.serial('initiator: a package.json without a version gives version null; code under no package.json gives null', async (t) => {
  const server = await serve(t, countingTcpServer(LOOPBACK))
  const dir = mkdtempSync(join(tmpdir(), 'tethered-initiator-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // Outside any package, unless the temp dir itself sits under one (then that one is named).
  const loose = join(dir, 'loose.cjs')
  const versionless = join(dir, 'node_modules', 'no-version', 'index.cjs')
  const connectSource = `module.exports = (host, port) => new Promise((resolve) => require('node:net').connect({ host, port }).once('connect', function () { this.destroy(); resolve('ok') }).once('error', resolve))\n`
  writeFileSync(loose, connectSource)
  mkdirSync(dirname(versionless), { recursive: true })
  writeFileSync(join(dirname(versionless), 'package.json'), JSON.stringify({ name: 'no-version' }))
  writeFileSync(versionless, connectSource)
  activateFor(t, { allow: ['api.stripe.test:443'], allowLocalhost: false })
  const viaVersionless = await blockedOf(t, (require(versionless) as FakeSdk['connect'])('localhost', server.port))
  t.deepEqual(viaVersionless?.initiator, { name: 'no-version', version: null, file: versionless })
  const viaLoose = await blockedOf(t, (require(loose) as FakeSdk['connect'])('localhost', server.port))
  t.deepEqual(viaLoose?.initiator ?? null, enclosingPackage(dir, loose))
})

/** What the initiator of code in `file` under `dir` must be: the first named package.json above it. */
function enclosingPackage(dir: string, file: string): Initiator | null {
  for (let d = dir; ; d = dirname(d)) {
    const path = join(d, 'package.json')
    if (existsSync(path)) {
      const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown; version?: unknown }
      if (typeof pkg.name === 'string') return { name: pkg.name, version: typeof pkg.version === 'string' ? pkg.version : null, file }
    }
    if (dirname(d) === d) return null
  }
}

test.serial('initiator: computed only on the block path (no stack walk for allowed traffic, even with a subscriber)', async (t) => {
  const server = await serve(t, countingTcpServer(LOOPBACK))
  const blockedServer = await serve(t, countingTcpServer(LOOPBACK))
  const allowedEvents = listen(t, 'tethered:allowed')
  activateFor(t, { allow: [`${LOOPBACK}:${server.port}`], allowLocalhost: false })
  const walks = countStackWalks(t)
  t.is(await sdk.connect(LOOPBACK, server.port), 'ok')
  t.is(walks.count, 0)
  t.true(allowedEvents.length >= 1)
  t.true(allowedEvents.every((e) => e.initiator === null))
  // The counter works: a block walks the stack.
  await blockedOf(t, sdk.connect('localhost', blockedServer.port))
  t.true(walks.count >= 1)
})
