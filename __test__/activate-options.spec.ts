// The options of activate()/deactivate(): logOnly, failClosed, onBlocked (its info, and a
// callback that throws), logger (fakes, console-like objects, null, the default stderr logger),
// validation that names the offending option, locked mode's token checks, and the EgressBlocked
// error itself. Most tests block loopback traffic with allowLocalhost: false, so they need no
// network namespace; the ones that send to zone addresses use netTest.
//
// Order matters in this file: locking a policy hardens the whole process for good (frozen
// internals), so the locked-mode tests come last and the failClosed simulation before them.
import type { ExecutionContext } from 'ava'
import test from 'ava'
import { Console } from 'node:console'
import dgram from 'node:dgram'
import dns from 'node:dns'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { type ActivateOptions, EgressBlocked, TetheredLocked, activate, deactivate } from '../dist/index.mjs'
import { native } from '../dist/native.js'
import { ALLOWED_V4, BLOCKED_V4, BLOCKED_V6, closeAfter, countingTcpServer, countingUdpServer, netTest, type CountingServer } from './harness/index.js'
import { activateFor } from './support/blocked.js'
import { capturingLogger, lastJson, runNode, settle, tcpConnect, tetheredLines } from './support-dns/index.js'

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url))
const NETWORK_ERRNOS = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EACCES', 'EPERM', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']



/** A loopback server and a policy that blocks it (loopback is not exempt with allowLocalhost false). */
async function blockedLoopback(t: ExecutionContext, options: Partial<ActivateOptions> = {}): Promise<CountingServer> {
  const s = await closeAfter(t, countingTcpServer('127.0.0.1'))
  activateFor(t, { allow: [], allowLocalhost: false, ...options })
  return s
}

function blockedError(t: ExecutionContext, outcome: Awaited<ReturnType<typeof tcpConnect>>): EgressBlocked {
  if (outcome.connected) {
    t.fail('connected, expected EgressBlocked')
    throw new Error('connected')
  }
  t.true(outcome.err instanceof EgressBlocked, String(outcome.err))
  return outcome.err as EgressBlocked
}

// ------------------------------------------------------------ validation

const typeError = (pattern: RegExp) => ({ instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message: pattern })
const valueError = (pattern: RegExp) => ({ instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: pattern })
const bad = (options: unknown) => () => activate(options as ActivateOptions)

test.serial('activate(): the options object itself and allow are validated', (t) => {
  for (const options of [undefined, null, 'api.test', 42]) {
    t.throws(bad(options), typeError(/activate\(\) takes an options object/), String(options))
  }
  t.throws(bad({}), typeError(/^allow must be an array of strings, got undefined/))
  t.throws(bad({ allow: 'api.stripe.test' }), typeError(/^allow must be an array of strings, got string/))
  t.throws(bad({ allow: ['ok.test', 42] }), typeError(/^allow\[1\] must be a string, got number/))
  t.throws(bad({ allow: [null] }), typeError(/^allow\[0\] must be a string, got null/))
  t.false(native.globalFlags().active, 'nothing was activated')
})

test.serial('activate(): each boolean option must be a boolean, and the error names it', (t) => {
  for (const name of ['logOnly', 'failClosed', 'allowLocalhost', 'locked', 'denyNativeAddons']) {
    for (const value of ['true', 1, null, {}]) {
      t.throws(bad({ allow: [], [name]: value }), typeError(new RegExp(`^${name} must be a boolean`)), `${name}: ${String(value)}`)
    }
  }
  t.false(native.globalFlags().active)
})

test.serial('activate(): onBlocked, logger and externalSubprocessPolicy are validated by name', (t) => {
  for (const value of ['log', 42, {}]) {
    t.throws(bad({ allow: [], onBlocked: value }), typeError(/^onBlocked must be a function or null/))
  }
  for (const value of [{}, { warn() {} }, { error() {} }, 'stderr', () => {}, 42]) {
    t.throws(bad({ allow: [], logger: value }), typeError(/^logger must be an object with warn\(\) and error\(\)/))
  }
  for (const value of ['deny', 'WARN', 1, {}]) {
    t.throws(bad({ allow: [], externalSubprocessPolicy: value }), valueError(/^externalSubprocessPolicy must be 'warn', 'allow' or 'block'/))
  }
  t.false(native.globalFlags().active)
})

test.serial('activate(): an unknown option key is refused, naming it', (t) => {
  t.throws(bad({ allow: [], logonly: true }), valueError(/unknown option 'logonly'/))
  t.throws(bad({ allow: [], allowList: ['x.test'] }), valueError(/unknown option 'allowList'/))
  t.false(native.globalFlags().active)
})

test.serial('activate(): lockToken must be an object or function; primitives (Symbol.for too) are refused', (t) => {
  for (const token of ['secret', 42, 42n, true, Symbol.for('x'), Symbol('x')]) {
    t.throws(bad({ allow: [], locked: true, lockToken: token }), typeError(/^lockToken must be an object or a function/), String(token))
    t.throws(bad({ allow: [], lockToken: token }), typeError(/^lockToken must be an object or a function/), `unlocked, ${String(token)}`)
  }
  t.throws(bad({ allow: [], locked: true }), valueError(/lockToken is required when locked is true/))
  t.throws(bad({ allow: [], locked: true, lockToken: null }), valueError(/lockToken is required/))
  t.false(native.globalFlags().active)
})

test.serial('a refused activate() leaves the policy in force unchanged', async (t) => {
  const s = await blockedLoopback(t)
  t.throws(bad({ allow: 'nope' }))
  t.throws(bad({ allow: ['127.0.0.1'], logOnly: 'yes' }))
  t.throws(bad({ allow: ['127.0.0.1'], surprise: true }))
  t.true(native.globalFlags().active)
  blockedError(t, await tcpConnect(s.port, '127.0.0.1'))
  t.is(s.connections, 0)
})

test.serial('deactivate(): options are validated like activate()', (t) => {
  t.throws(() => deactivate('token' as never), typeError(/^options must be an object/))
  t.throws(() => deactivate({ token: {} } as never), valueError(/unknown option 'token'/))
  t.notThrows(() => deactivate())
  t.notThrows(() => deactivate({}), 'deactivating with nothing active is a no-op')
})

// ------------------------------------------------------------ EgressBlocked

test.serial('EgressBlocked: fields, message and a code that is not a network errno', (t) => {
  const err = new EgressBlocked('evil.test', 443)
  t.true(err instanceof Error)
  t.is(err.name, 'EgressBlocked')
  t.is(err.message, 'Blocked by tethered: evil.test:443 is not in the allow list')
  t.like(err, { host: 'evil.test', port: 443, resolvedFrom: null, scopeLabel: null, code: 'ERR_TETHERED_EGRESS_BLOCKED' })
  t.false(NETWORK_ERRNOS.includes(err.code))
  t.is((err as unknown as { errno?: unknown }).errno, undefined)
  t.is(new EgressBlocked('evil.test', null).message, 'Blocked by tethered: evil.test is not in the allow list')
  t.is(new EgressBlocked(BLOCKED_V6, 443).message, `Blocked by tethered: [${BLOCKED_V6}]:443 is not in the allow list`)
  t.is(new EgressBlocked(ALLOWED_V4, 0, { resolvedFrom: 'api.stripe.test' }).message, `Blocked by tethered: ${ALLOWED_V4}:0 (resolved from api.stripe.test) is not in the allow list`)
  t.is(new EgressBlocked('evil.test', 443, { scopeLabel: 'charge' }).message, 'Blocked by tethered: evil.test:443 is not in the allow list (blocked by charge)')
})

netTest.serial('EgressBlocked from real blocks: evil.test:443 (TCP) and evil.test (DNS, port null)', async (t) => {
  activateFor(t, { allow: ['api.stripe.test'], logger: null })
  const tcp = blockedError(t, await tcpConnect(443, 'evil.test'))
  t.is(tcp.message, 'Blocked by tethered: evil.test:443 is not in the allow list')
  t.like(tcp, { host: 'evil.test', port: 443, kind: 'tcp', resolvedFrom: null, scopeLabel: null, code: 'ERR_TETHERED_EGRESS_BLOCKED' })
  const { err } = await settle((cb) => dns.lookup('evil.test', cb))
  t.true(err instanceof EgressBlocked)
  t.like(err as EgressBlocked, { host: 'evil.test', port: null, kind: 'dns', message: 'Blocked by tethered: evil.test is not in the allow list' })
  for (const e of [tcp, err as EgressBlocked]) {
    t.false(NETWORK_ERRNOS.includes(e.code))
    t.is((e as unknown as { syscall?: unknown }).syscall, undefined)
  }
})

// ------------------------------------------------------------ onBlocked

test.serial('onBlocked is called once per block with (host, port, info)', async (t) => {
  const calls: Array<{ host: string; port: number | null; info: Record<string, unknown> }> = []
  const s = await blockedLoopback(t, { logger: null, onBlocked: (host, port, info) => calls.push({ host, port, info: { ...info } }) })
  const tcp = blockedError(t, await tcpConnect(s.port, '127.0.0.1'))
  const lookup = (await settle((cb) => dns.lookup('localhost', cb))).err
  t.is(calls.length, 2)
  t.deepEqual(calls[0], { host: '127.0.0.1', port: s.port, info: { ...calls[0]!.info, kind: 'tcp', resolvedFrom: null, scopeLabel: null, logOnly: false } })
  t.is(calls[0]!.info.error, tcp, 'info.error is the very error the connection failed with')
  t.deepEqual(calls[1], { host: 'localhost', port: null, info: { ...calls[1]!.info, kind: 'dns', resolvedFrom: null, scopeLabel: null, logOnly: false } })
  t.is(calls[1]!.info.error, lookup)
  t.is(s.connections, 0)
})

netTest.serial('onBlocked info: kind dns/tcp/udp, resolvedFrom for an IP resolved from an allowed name', async (t) => {
  const echo = await closeAfter(t, countingTcpServer(ALLOWED_V4))
  const sink = await closeAfter(t, countingUdpServer('udp4', BLOCKED_V4))
  const calls: Array<[string, number | null, string, string | null, EgressBlocked]> = []
  activateFor(t, { allow: ['api.stripe.test:1'], logger: null, onBlocked: (host, port, info) => calls.push([host, port, info.kind, info.resolvedFrom, info.error]) })

  t.is((await settle((cb) => dns.lookup('api.stripe.test', cb))).err, null, 'a port rule allows the lookup')
  t.is(calls.length, 0)
  const viaIp = blockedError(t, await tcpConnect(echo.port, ALLOWED_V4))
  t.deepEqual(calls.pop(), ['api.stripe.test', echo.port, 'tcp', 'api.stripe.test', viaIp])
  t.is(viaIp.host, ALLOWED_V4)

  const socket = dgram.createSocket('udp4')
  t.teardown(() => socket.close())
  const udp = await new Promise<Error | null>((resolve) => socket.send('x', sink.port, BLOCKED_V4, resolve))
  t.deepEqual(calls.pop(), [BLOCKED_V4, sink.port, 'udp', null, udp as EgressBlocked])
  const lookup = (await settle((cb) => dns.lookup('evil.test', cb))).err
  t.deepEqual(calls.pop(), ['evil.test', null, 'dns', null, lookup as EgressBlocked])
  t.is(calls.length, 0)
  t.is(echo.connections, 0)
})

test.serial('an onBlocked that throws is logged; the block is delivered as usual', async (t) => {
  const log = capturingLogger()
  const s = await blockedLoopback(t, {
    logger: log.logger,
    onBlocked: () => {
      throw new Error('boom from onBlocked')
    },
  })
  blockedError(t, await tcpConnect(s.port, '127.0.0.1'))
  t.true((await settle((cb) => dns.lookup('localhost', cb))).err instanceof EgressBlocked)
  const threw = log.warn.filter((l) => /^tethered: onBlocked callback threw for .*boom from onBlocked/.test(l))
  t.is(threw.length, 2, log.warn.join('\n'))
  t.is(s.connections, 0)
})

// ------------------------------------------------------------ logOnly

test.serial('logOnly: nothing is blocked; onBlocked gets info.logOnly and the logger a tethered: line', async (t) => {
  const log = capturingLogger()
  const calls: Array<[string, number | null, boolean, string]> = []
  const s = await blockedLoopback(t, { logOnly: true, logger: log.logger, onBlocked: (h, p, info) => calls.push([h, p, info.logOnly, info.kind]) })
  t.deepEqual(await tcpConnect(s.port, '127.0.0.1'), { connected: true })
  t.is(s.connections, 1)
  t.true(calls.length >= 1)
  t.deepEqual(calls[0], ['127.0.0.1', s.port, true, 'tcp'])
  t.true(log.warn.some((l) => /^tethered: blocked connection to 127\.0\.0\.1:\d+.* \(log-only: allowed\)$/.test(l)), log.warn.join('\n'))
  t.true(log.all.every((l) => l.startsWith('tethered: ')))
})

netTest.serial('logOnly: TCP, UDP and DNS to blocked zone destinations all go through and are reported', async (t) => {
  const tcp = await closeAfter(t, countingTcpServer(BLOCKED_V4))
  const udp = await closeAfter(t, countingUdpServer('udp4', BLOCKED_V4))
  const log = capturingLogger()
  const kinds = new Set<string>()
  activateFor(t, { allow: [], logOnly: true, logger: log.logger, onBlocked: (_h, _p, info) => info.logOnly && kinds.add(info.kind) })
  t.deepEqual(await tcpConnect(tcp.port, BLOCKED_V4), { connected: true })
  t.deepEqual(await tcpConnect(tcp.port, 'evil.test'), { connected: true })
  t.is(tcp.connections, 2)
  const socket = dgram.createSocket('udp4')
  t.teardown(() => socket.close())
  const echo = new Promise((resolve) => socket.once('message', resolve))
  t.is(await new Promise<Error | null>((resolve) => socket.send('x', udp.port, BLOCKED_V4, resolve)), null)
  await echo
  t.is(udp.messages, 1)
  t.deepEqual([...kinds].sort(), ['dns', 'tcp', 'udp'])
  t.true(log.warn.some((l) => l.startsWith('tethered: blocked datagram to 203.0.113.9:') && l.endsWith('(log-only: allowed)')))
})

// ------------------------------------------------------------ logger

test.serial('logger: any object with warn/error receives the tethered: lines', async (t) => {
  const log = capturingLogger()
  const s = await blockedLoopback(t, { logger: log.logger })
  blockedError(t, await tcpConnect(s.port, '127.0.0.1'))
  const blocks = log.warn.filter((l) => l.startsWith('tethered: blocked '))
  t.is(blocks.length, 1, log.warn.join('\n'))
  t.true(blocks[0]!.startsWith(`tethered: blocked connection to 127.0.0.1:${s.port}`), blocks[0])
  t.true(log.all.every((l) => l.startsWith('tethered: ')))
})

test.serial('logger: a console-like object (node:console Console) and this-bound methods work', async (t) => {
  const stderr = new PassThrough()
  let text = ''
  stderr.on('data', (c: Buffer) => (text += c.toString()))
  const s = await blockedLoopback(t, { logger: new Console({ stdout: new PassThrough(), stderr }) })
  blockedError(t, await tcpConnect(s.port, '127.0.0.1'))
  t.regex(text, new RegExp(`^tethered: blocked connection to 127\\.0\\.0\\.1:${s.port}`, 'm'))

  // pino/winston loggers use `this`: tethered must call the method on the logger.
  class ClassLogger {
    readonly #lines: string[] = []
    warn(message: string): void {
      this.#lines.push(message)
    }
    error(message: string): void {
      this.#lines.push(message)
    }
    get lines(): string[] {
      return this.#lines
    }
  }
  const classLogger = new ClassLogger()
  activate({ allow: [], allowLocalhost: false, logger: classLogger })
  blockedError(t, await tcpConnect(s.port, '127.0.0.1'))
  t.true(classLogger.lines.some((l) => l.startsWith('tethered: blocked connection to 127.0.0.1:')))
})

test.serial('logger: a logger that throws never breaks the connection path', async (t) => {
  const s = await blockedLoopback(t, {
    logger: {
      warn: () => {
        throw new Error('logger down')
      },
      error: () => {
        throw new Error('logger down')
      },
    },
  })
  blockedError(t, await tcpConnect(s.port, '127.0.0.1'))
  t.true((await settle((cb) => dns.lookup('localhost', cb))).err instanceof EgressBlocked)
  t.is(s.connections, 0)
})

/** Runs a child that activates `options` (JSON) and makes one blocked loopback connection. */
function childBlock(optionsJson: string, script = ''): ReturnType<typeof runNode> {
  const code = `
    const { activate } = require(${JSON.stringify(DIST)})
    const net = require('node:net')
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      ${script}
      activate({ allow: [], allowLocalhost: false, ...${optionsJson} })
      const socket = net.connect(server.address().port, '127.0.0.1')
      socket.on('connect', () => { console.log(JSON.stringify({ connected: true })); server.close(); socket.destroy() })
      socket.on('error', (err) => { console.log(JSON.stringify({ name: err.name, port: server.address().port })); server.close() })
    })`
  return runNode(['-e', code])
}

test.serial('logger: the default logger writes tethered: lines to stderr', async (t) => {
  const { code, stdout, stderr } = await childBlock('{}')
  t.is(code, 0, stderr)
  const result = lastJson<{ name: string; port: number }>(stdout)
  t.is(result.name, 'EgressBlocked')
  const lines = tetheredLines(stderr)
  t.true(lines.some((l) => l.startsWith(`tethered: blocked connection to 127.0.0.1:${result.port}`)), stderr)
  t.false(stdout.includes('tethered:'), 'nothing on stdout')
})

test.serial('logger: null silences tethered; a later activate() without logger restores stderr', async (t) => {
  const silent = await childBlock('{ logger: null }')
  t.is(silent.code, 0, silent.stderr)
  t.is(lastJson<{ name: string }>(silent.stdout).name, 'EgressBlocked', 'the block happened')
  t.deepEqual(tetheredLines(silent.stderr), [])
  t.false(silent.stdout.includes('tethered:'))

  const restored = await childBlock('{}', "activate({ allow: [], logger: null })")
  t.is(lastJson<{ name: string }>(restored.stdout).name, 'EgressBlocked')
  t.true(tetheredLines(restored.stderr).some((l) => l.startsWith('tethered: blocked connection to 127.0.0.1:')), restored.stderr)
})

// ------------------------------------------------------------ failClosed

/** Makes the native check throw, as an internal failure would, until the test ends. */
function breakTheEngine(t: ExecutionContext): void {
  const original = native.checkEgress
  native.checkEgress = () => {
    throw new Error('simulated engine failure')
  }
  t.teardown(() => {
    native.checkEgress = original
  })
}

test.serial('failClosed: true blocks when the check itself fails (logged as an error, no onBlocked)', async (t) => {
  const log = capturingLogger()
  const s = await closeAfter(t, countingTcpServer('127.0.0.1'))
  let onBlockedCalls = 0
  activateFor(t, { allow: ['127.0.0.1'], failClosed: true, logger: log.logger, onBlocked: () => onBlockedCalls++ })
  breakTheEngine(t)
  const err = blockedError(t, await tcpConnect(s.port, '127.0.0.1'))
  t.like(err, { host: '127.0.0.1', port: s.port, code: 'ERR_TETHERED_EGRESS_BLOCKED' })
  t.true((await settle((cb) => dns.lookup('localhost', cb))).err instanceof EgressBlocked)
  t.is(s.connections, 0)
  t.is(onBlockedCalls, 0)
  t.true(log.error.some((l) => /^tethered: error checking 127\.0\.0\.1:\d+, failing closed: Error: simulated engine failure/.test(l)), log.error.join('\n'))
})

test.serial('failClosed: false (default) allows when the check fails, with a warning', async (t) => {
  const log = capturingLogger()
  const s = await closeAfter(t, countingTcpServer('127.0.0.1'))
  activateFor(t, { allow: [], allowLocalhost: false, logger: log.logger }) // would block, if the check worked
  breakTheEngine(t)
  t.deepEqual(await tcpConnect(s.port, '127.0.0.1'), { connected: true })
  t.is(s.connections, 1)
  t.true(log.warn.some((l) => /^tethered: error checking 127\.0\.0\.1:\d+, failing open: Error: simulated engine failure/.test(l)), log.warn.join('\n'))
})

test.serial('failClosed: the engine is restored after the simulation', async (t) => {
  const s = await blockedLoopback(t, { logger: null })
  blockedError(t, await tcpConnect(s.port, '127.0.0.1'))
  t.is(s.connections, 0)
})

// ------------------------------------------------------------ locked (last: it hardens the process)

test.serial('locked: deactivate()/activate() without the right token throw TetheredLocked', async (t) => {
  const token = {}
  const s = await closeAfter(t, countingTcpServer('127.0.0.1'))
  activate({ allow: [], allowLocalhost: false, locked: true, lockToken: token, logger: null })
  t.teardown(() => deactivate({ lockToken: token }))

  const locked = { instanceOf: TetheredLocked, code: 'ERR_TETHERED_LOCKED' }
  const err = t.throws(() => deactivate(), locked)
  t.is(err?.name, 'TetheredLocked')
  t.regex(err?.message ?? '', /^tethered: deactivate\(\) blocked — policy is locked\. Pass the same lockToken/)
  t.throws(() => deactivate({ lockToken: {} }), locked)
  t.throws(() => deactivate({ lockToken: null }), locked)
  t.throws(() => activate({ allow: ['127.0.0.1'] }), { ...locked, message: /activate\(\) blocked/ })
  t.throws(() => activate({ allow: ['127.0.0.1'], locked: true, lockToken: () => {} }), locked)

  // Still the locked policy: loopback stays blocked.
  blockedError(t, await tcpConnect(s.port, '127.0.0.1'))
  t.is(s.connections, 0)

  // The right token unlocks.
  t.notThrows(() => deactivate({ lockToken: token }))
  t.false(native.globalFlags().active)
  t.deepEqual(await tcpConnect(s.port, '127.0.0.1'), { connected: true })
})

test.serial('locked: the token holder may replace the policy; a function is a valid token', async (t) => {
  const token = function lockToken() {}
  const s = await closeAfter(t, countingTcpServer('127.0.0.1'))
  activate({ allow: [], allowLocalhost: false, locked: true, lockToken: token, logger: null })
  t.teardown(() => deactivate({ lockToken: token }))
  blockedError(t, await tcpConnect(s.port, '127.0.0.1'))
  activate({ allow: [], lockToken: token, logger: null }) // unlocked from now on, loopback allowed
  t.deepEqual(await tcpConnect(s.port, '127.0.0.1'), { connected: true })
  t.notThrows(() => deactivate())
})
