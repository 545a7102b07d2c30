// scope(): the public API with real lookups and connections in the test namespace. Nesting,
// intersection with activate() (the original's examples 04 and 05), scope-only use, run / wrap /
// the TC39 decorator, compile-once reuse, labels, overlap warnings, per-scope logOnly /
// onBlocked / failClosed, and option validation.
import test, { type ExecutionContext } from 'ava'
import { type BlockInfo, EgressBlocked, InvalidRuleError, scope } from '../dist/index.mjs'
import { native } from '../dist/native.js'
import { ALLOWED_V4, BLOCKED_V4, BLOCKED_V4_B, OTHER_V4, dnsCount, netTest } from './harness/index.js'
import { allowed, blockedBy, isBlockedBy } from './support-scope/assert.js'
import { activateFor } from './support-scope/global.js'
import { connect, lookup, lookupPromise, settle } from './support-scope/io.js'
import { freshName, serve } from './support-scope/zone.js'

type Call = [host: string, port: number | null, info: BlockInfo]

/** A permissive global policy with a capturing logger: keeps scope block reports off stderr. */
function quietGlobal(t: ExecutionContext): void {
  activateFor(t, { allow: ['*.test'] })
}

/** An onBlocked that records its calls. */
function recorder(): { calls: Call[]; onBlocked: (host: string, port: number | null, info: BlockInfo) => void } {
  const calls: Call[] = []
  return { calls, onBlocked: (host, port, info) => void calls.push([host, port, info]) }
}

// ------------------------------------------------------------------ nesting and intersection

netTest.serial('three nested scopes: each level narrows, and the error names the scope that refused', async (t) => {
  const [a, other, b, evil] = await serve(t, ALLOWED_V4, OTHER_V4, BLOCKED_V4_B, BLOCKED_V4)
  const neverQueried = freshName('nested', 'blocked.test')
  await scope({ allow: ['a.test', 'other.test', 'b.test'], label: 'outer' }, async () => {
    await allowed(t, connect('b.test', b.port), 'outer: b.test')
    await blockedBy(t, connect('evil.test', evil.port), 'outer', { host: 'evil.test', port: evil.port })
    await scope({ allow: ['a.test', 'other.test'], label: 'middle' }, async () => {
      await allowed(t, connect('other.test', other.port), 'middle: other.test')
      await blockedBy(t, connect('b.test', b.port), 'middle', { host: 'b.test', port: b.port })
      await scope({ allow: ['a.test'], label: 'inner' }, async () => {
        await allowed(t, connect('a.test', a.port), 'inner: a.test')
        // Outer to inner, the first scope that refuses is the one reported.
        await blockedBy(t, connect('other.test', other.port), 'inner', { host: 'other.test', port: other.port })
        await blockedBy(t, connect('b.test', b.port), 'middle', { host: 'b.test', port: b.port })
        await blockedBy(t, connect('evil.test', evil.port), 'outer', { host: 'evil.test', port: evil.port })
        await blockedBy(t, lookup(neverQueried), 'outer', { host: neverQueried, port: null })
      })
      // Leaving the inner scope restores the middle one.
      await allowed(t, connect('other.test', other.port), 'middle again: other.test')
    })
  })
  t.is(a.connections, 1)
  t.is(other.connections, 2)
  t.is(b.connections, 1)
  t.is(evil.connections, 0, 'no blocked connection reached its server')
  t.is(await dnsCount(neverQueried), 0, 'a blocked name is never resolved')
})

netTest.serial("global + scope (the original's example 04): the effective policy is the intersection", async (t) => {
  const [stripe, twilio, sendgrid] = await serve(t, ALLOWED_V4, ALLOWED_V4, BLOCKED_V4)
  const twilioHost = freshName('twilio', 'allowed.test')
  const sendgridHost = freshName('sendgrid', 'blocked.test')
  // Process ceiling: Stripe and Twilio.
  const log = activateFor(t, { allow: [`*.stripe.test:${stripe.port}`, `*.twilio.allowed.test:${twilio.port}`] })
  // Payment code path: Stripe only (SendGrid is not in the global policy: it cannot be widened).
  const rules = [`*.stripe.test:${stripe.port}`, `*.sendgrid.blocked.test:${sendgrid.port}`]
  const label = `scope(${rules.join(', ')})`
  await scope({ allow: rules }, async () => {
    await allowed(t, connect('api.stripe.test', stripe.port), 'stripe: in both')
    await blockedBy(t, connect(sendgridHost, sendgrid.port), null, { host: sendgridHost, port: sendgrid.port }, 'sendgrid: not in the global policy')
    await blockedBy(t, connect(twilioHost, twilio.port), label, { host: twilioHost, port: twilio.port }, 'twilio: not in the scope')
  })
  // Outside the scope the global policy alone applies: Twilio is reachable there.
  await allowed(t, connect(twilioHost, twilio.port), 'twilio outside the scope')
  t.is(stripe.connections, 1)
  t.is(twilio.connections, 1, 'only the unscoped attempt reached Twilio')
  t.is(sendgrid.connections, 0)
  t.is(await dnsCount(sendgridHost), 0)
  t.deepEqual(log.warnings().filter((w) => w.includes(' rule ')), [
    `tethered: ${label} rule "${rules[1]}" has no overlap with global policy — it will never match`,
  ])
})

netTest.serial("global + nested scopes (the original's example 05): progressive restriction", async (t) => {
  const [stripe, twilio, db] = await serve(t, ALLOWED_V4, ALLOWED_V4, OTHER_V4)
  const twilioHost = freshName('twilio', 'allowed.test')
  const stripeRule = `*.stripe.test:${stripe.port}`
  const twilioRule = `*.twilio.allowed.test:${twilio.port}`
  // other.test plays db.internal: a distinct address, so its connect is judged on its own name.
  const log = activateFor(t, { allow: [stripeRule, twilioRule, `other.test:${db.port}`] })
  await scope({ allow: [stripeRule, twilioRule], label: 'payments+sms' }, async () => {
    await blockedBy(t, connect('other.test', db.port), 'payments+sms', { host: 'other.test', port: db.port }, 'db excluded by the outer scope')
    await allowed(t, connect(twilioHost, twilio.port), 'twilio in the outer scope')
    await scope({ allow: [stripeRule], label: 'payments' }, async () => {
      await allowed(t, connect('api.stripe.test', stripe.port), 'stripe in the inner scope')
      await blockedBy(t, connect(twilioHost, twilio.port), 'payments', { host: twilioHost, port: twilio.port }, 'twilio in the inner scope')
      await blockedBy(t, connect('other.test', db.port), 'payments+sms', { host: 'other.test', port: db.port }, 'db in the inner scope')
    })
  })
  await allowed(t, connect('other.test', db.port), 'db outside every scope')
  t.is(stripe.connections, 1)
  t.is(twilio.connections, 1)
  t.is(db.connections, 1, 'only the unscoped attempt reached the db')
  t.deepEqual(log.warnings().filter((w) => w.includes(' rule ')), [], 'scope rules inside the global policy do not warn')
})

netTest.serial('scope without activate(): the policy of that code path only; code outside is untouched', async (t) => {
  t.false(native.globalFlags().active, 'no global policy in this test')
  const [a, evil] = await serve(t, ALLOWED_V4, BLOCKED_V4)
  const name = freshName('scope-only', 'blocked.test')
  await allowed(t, connect('evil.test', evil.port), 'before the scope')
  const result = await scope({ allow: ['a.test'], label: 'job' }, async () => {
    await allowed(t, connect('a.test', a.port), 'allowed by the scope')
    await blockedBy(t, connect('evil.test', evil.port), 'job', { host: 'evil.test', port: evil.port })
    await blockedBy(t, lookup(name), 'job', { host: name, port: null })
    return 'done'
  })
  t.is(result, 'done')
  t.is(evil.connections, 1, 'the scoped attempt never reached evil.test')
  t.is(await dnsCount(name), 0)
  // After the scope: unrestricted again.
  await allowed(t, connect('evil.test', evil.port), 'after the scope')
  t.is(await allowed(t, lookup(name), 'lookup after the scope'), BLOCKED_V4)
  t.is(evil.connections, 2)
  t.true((await dnsCount(name)) > 0)
})

netTest.serial('allowLocalhost: false in a scope blocks loopback; the default allows it', async (t) => {
  const [lo] = await serve(t, '127.0.0.1')
  await scope({ allow: ['a.test'], label: 'default' }, async () => {
    await allowed(t, connect('127.0.0.1', lo.port), 'loopback with the default')
    await allowed(t, lookup('localhost'), 'localhost lookup with the default')
  })
  await scope({ allow: ['a.test'], allowLocalhost: false, label: 'no-lo' }, async () => {
    // (The error's host may be 'localhost': upstream names an IP by the name it was resolved from.)
    await blockedBy(t, connect('127.0.0.1', lo.port), 'no-lo', { port: lo.port })
    await blockedBy(t, lookup('localhost'), 'no-lo', { host: 'localhost', port: null })
  })
  t.is(lo.connections, 1)
})

// ------------------------------------------------------------------ run: sync and async

netTest.serial('sync functions: the return value and thrown errors pass through unchanged', async (t) => {
  quietGlobal(t)
  const [evil] = await serve(t, BLOCKED_V4)
  const opts = { allow: ['a.test'], label: 'sync' }
  const value = scope(opts, () => 41 + 1)
  t.is(value, 42, 'a sync function returns its value, not a promise')
  const thrown = new Error('from inside')
  t.is(t.throws(() => scope(opts, () => { throw thrown })), thrown)
  // A connect started synchronously inside the scope fails after the scope returned: the
  // decision was made in the scope.
  const attempt = scope(opts, () => connect('evil.test', evil.port))
  t.true(attempt instanceof Promise)
  await blockedBy(t, attempt, 'sync', { host: 'evil.test', port: evil.port })
  await allowed(t, connect('evil.test', evil.port), 'after the sync scope returned')
  t.is(evil.connections, 1)
})

netTest.serial('async functions: the resolved value and rejections pass through unchanged', async (t) => {
  quietGlobal(t)
  const opts = { allow: ['a.test'], label: 'async' }
  t.is(await scope(opts, async () => lookup('a.test')), ALLOWED_V4)
  const thrown = new Error('after an await')
  const rejected = await settle(scope(opts, async () => {
    await lookup('a.test')
    throw thrown
  }))
  t.deepEqual(rejected, { ok: false, error: thrown })
  // The EgressBlocked of a lookup inside reaches the caller as is.
  const blocked = await blockedBy(t, scope(opts, async () => lookupPromise('evil.test')), 'async', { host: 'evil.test', port: null })
  t.is(blocked?.kind, 'dns')
})

// ------------------------------------------------------------------ wrap and the decorator

netTest.serial('wrap keeps this, arguments, sync/async nature, name and length; the scope applies per call', async (t) => {
  quietGlobal(t)
  const [a, evil] = await serve(t, ALLOWED_V4, BLOCKED_V4)
  const s = scope({ allow: ['a.test'], label: 'wrapped' })
  function open(this: unknown, host: string, port: number) {
    return { self: this, argc: arguments.length, attempt: connect(host, port) }
  }
  const w = s.wrap(open)
  t.is(w.name, 'open')
  t.is(w.length, 2)
  const holder = { w }
  const r = (holder.w as (host: string, port: number, extra: string) => ReturnType<typeof open>)('evil.test', evil.port, 'extra')
  t.false(r instanceof Promise, 'a sync function stays sync')
  t.is(r.self, holder, 'this is the receiver')
  t.is(r.argc, 3, 'every argument is passed on')
  await blockedBy(t, r.attempt, 'wrapped', { host: 'evil.test', port: evil.port })
  await allowed(t, w('a.test', a.port).attempt, 'allowed host through the wrapper')

  const wAsync = s.wrap(async function fetchTwice(host: string, port: number) {
    await lookup('a.test')
    return connect(host, port)
  })
  t.is(wAsync.name, 'fetchTwice')
  t.is(wAsync.length, 2)
  const pending = wAsync('evil.test', evil.port)
  t.true(pending instanceof Promise, 'an async function stays async')
  await blockedBy(t, pending, 'wrapped', { host: 'evil.test', port: evil.port })

  // The scope is entered at call time, on top of the caller's scopes.
  await blockedBy(t, scope({ allow: ['other.test'], label: 'caller' }, () => w('a.test', a.port).attempt), 'caller')
  const thrown = new Error('wrapped throw')
  t.is(t.throws(() => s.wrap(() => { throw thrown })()), thrown)
  // Wrapping does not enter the scope for the code around the call.
  await allowed(t, connect('evil.test', evil.port), 'outside any call')
  t.is(evil.connections, 1)
  t.is(a.connections, 1)
})

netTest.serial('TC39 decorator: methods run in the scope, sync and async, instance and static', async (t) => {
  quietGlobal(t)
  const [a, evil] = await serve(t, ALLOWED_V4, BLOCKED_V4)
  const shared = scope({ allow: ['a.test'], label: 'client' })
  class Client {
    constructor(readonly port: number) {}

    @scope({ allow: ['a.test'], label: 'get' })
    async get(host: string) {
      await lookup('a.test')
      return connect(host, this.port)
    }

    @shared
    start(host: string) {
      return { self: this, attempt: connect(host, this.port) }
    }

    @shared
    static ping(host: string, port: number) {
      return connect(host, port)
    }
  }
  t.is(Client.prototype.get.name, 'get')
  t.is(Client.prototype.get.length, 1)
  t.is(Client.prototype.start.name, 'start')
  const c = new Client(evil.port)
  const getting = c.get('evil.test')
  t.true(getting instanceof Promise)
  await blockedBy(t, getting, 'get', { host: 'evil.test', port: evil.port })
  const started = c.start('evil.test')
  t.false(started instanceof Promise, 'a sync method stays sync')
  t.is(started.self, c)
  await blockedBy(t, started.attempt, 'client', { host: 'evil.test', port: evil.port })
  await blockedBy(t, Client.ping('evil.test', evil.port), 'client')
  await allowed(t, new Client(a.port).get('a.test'), 'get a.test')
  await allowed(t, Client.ping('a.test', a.port), 'static ping a.test')
  t.is(evil.connections, 0)
  t.is(a.connections, 2)
})

test('the decorator refuses what is not a method; legacy (target, key, descriptor) form works', (t) => {
  const s = scope({ allow: ['a.test'], label: 'deco' })
  const message = /can decorate methods only, not a getter/
  t.throws(() => {
    class WithGetter {
      @s
      get value() {
        return 1
      }
    }
    return WithGetter
  }, { instanceOf: TypeError, message })
  for (const kind of ['field', 'class', 'accessor', 'setter']) {
    t.throws(() => s((() => undefined) as never, { kind, name: 'x' }), { instanceOf: TypeError, message: new RegExp(`not a ${kind}`) })
  }
  // experimentalDecorators: (prototype, key, descriptor) -> descriptor with a wrapped value.
  const descriptor: PropertyDescriptor = { value: function legacy(x: number) { return x * 2 }, writable: true, configurable: true }
  const out = s({} as never, 'legacy' as never, descriptor) as unknown as PropertyDescriptor
  t.is(out, descriptor)
  t.is((descriptor.value as (x: number) => number)(21), 42)
  t.is((descriptor.value as { name: string }).name, 'legacy')
})

// ------------------------------------------------------------------ reuse, labels

/** Counts the calls of `holder[key]` until the test ends. */
function countCalls(t: ExecutionContext, holder: Record<string, unknown>, key: string): { calls: number } {
  const original = holder[key] as (...args: unknown[]) => unknown
  const counter = { calls: 0 }
  holder[key] = function (this: unknown, ...args: unknown[]) {
    counter.calls++
    return original.apply(this, args)
  }
  t.teardown(() => {
    holder[key] = original
  })
  return counter
}

netTest.serial('a reusable Scope compiles once: mutating the rules or options afterwards changes nothing', async (t) => {
  quietGlobal(t)
  const [evil] = await serve(t, BLOCKED_V4)
  // The scope chain's prototype (napi class) holds push(): nested entering calls it.
  const chainProto = Object.getPrototypeOf(native.scopeChain(native.compilePolicy([], true) as never)) as Record<string, unknown>
  const compiled = countCalls(t, native as unknown as Record<string, unknown>, 'compilePolicy')
  const chained = countCalls(t, native as unknown as Record<string, unknown>, 'scopeChain')
  const pushed = countCalls(t, chainProto, 'push')
  const rules = ['a.test']
  const options = { allow: rules, label: 'reused', logOnly: false }
  const s = scope(options)
  const outer = scope({ allow: ['a.test', 'evil.test'], label: 'outer' })
  t.deepEqual([compiled.calls, chained.calls, pushed.calls], [2, 2, 0])
  rules[0] = 'evil.test'
  rules.push('other.test')
  options.label = 'changed'
  options.logOnly = true
  for (let i = 0; i < 20; i++) {
    await s.run(async () => {
      await allowed(t, lookup('a.test'), `run ${i}: a.test`)
      await blockedBy(t, lookup('evil.test'), 'reused', { host: 'evil.test', port: null }, `run ${i}: evil.test`)
      await blockedBy(t, lookup('other.test'), 'reused', { host: 'other.test', port: null }, `run ${i}: other.test`)
    })
    await outer.run(() => s.run(() => blockedBy(t, lookup('evil.test'), 'reused', {}, `nested run ${i}`)))
  }
  await blockedBy(t, s.run(() => connect('evil.test', evil.port)), 'reused')
  t.is(evil.connections, 0, 'logOnly set on the options object afterwards had no effect')
  t.is(s.label, 'reused')
  t.is(compiled.calls, 2, 'run() never recompiles')
  t.is(chained.calls, 2, 'entering never rebuilds the chain')
  t.is(pushed.calls, 1, 'the nested frame under the same parent is built once')
})

netTest.serial('labels: scopeLabel and the message suffix; the default label; an empty label', async (t) => {
  quietGlobal(t)
  const [evil] = await serve(t, BLOCKED_V4)
  t.is(scope({ allow: ['a.test'] }).label, 'scope(a.test)')
  t.is(scope({ allow: ['a.test', 'B.Test.', 'other.test'] }).label, 'scope(a.test, B.Test., other.test)', 'raw rule strings')
  t.is(scope({ allow: ['a.test', 'b.test', 'other.test', 'v6.test'] }).label, 'scope(a.test, b.test, other.test...)')
  t.is(scope({ allow: [] }).label, 'scope()')
  t.is(scope({ allow: ['a.test'], label: 'named' }).label, 'named')
  t.is(scope({ allow: ['a.test'], label: null }).label, 'scope(a.test)', 'null means the default, as None upstream')

  const byDefault = await blockedBy(t, scope({ allow: ['a.test', `other.test:${evil.port}`] }, () => connect('evil.test', evil.port)), `scope(a.test, other.test:${evil.port})`)
  t.is(byDefault?.message, `Blocked by tethered: evil.test:${evil.port} is not in the allow list (blocked by scope(a.test, other.test:${evil.port}))`)
  const named = await blockedBy(t, scope({ allow: ['a.test'], label: 'billing' }, () => lookup('evil.test')), 'billing')
  t.is(named?.message, 'Blocked by tethered: evil.test is not in the allow list (blocked by billing)')
  // An empty label is kept as is, and the message then names no scope.
  t.is(scope({ allow: ['a.test'], label: '' }).label, '')
  const empty = await blockedBy(t, scope({ allow: ['a.test'], label: '' }, () => lookup('evil.test')), '')
  t.is(empty?.message, 'Blocked by tethered: evil.test is not in the allow list')
  t.is(evil.connections, 0)
})

// ------------------------------------------------------------------ overlap warnings

netTest.serial('overlap warnings: exact text, once per scope creation, never per run', async (t) => {
  const early = scope({ allow: ['evil.test'], label: 'early' })
  const log = activateFor(t, { allow: ['*.stripe.test:8443', 'db.allowed.test:5432', 'a.test'] })
  const overlap = () => log.warnings().filter((w) => w.includes(' rule '))
  const none = (label: string, rule: string) => `tethered: ${label} rule "${rule}" has no overlap with global policy — it will never match`
  const partial = (label: string, rule: string) => `tethered: ${label} rule "${rule}" is broader than the global policy — only a subset will be reachable`

  const options = { allow: ['*.stripe.test:8443', '*.stripe.test', 'evil.test', 'db.allowed.test:5432', 'db.allowed.test', 'a.test:443'], label: 'pay' }
  const s = scope(options)
  const once = [partial('pay', '*.stripe.test'), none('pay', 'evil.test'), partial('pay', 'db.allowed.test')]
  t.deepEqual(overlap(), once)
  t.true(log.lines.filter((l) => l.includes(' rule ')).every((l) => l.startsWith('warn ')), 'logged at warn level')
  for (let i = 0; i < 3; i++) await s.run(() => lookup('a.test'))
  s.wrap(() => undefined)()
  t.deepEqual(overlap(), once, 'running, wrapping and calling log nothing more')

  // Every creation is a new scope, so scope(options, fn) warns per call.
  scope(options, () => undefined)
  scope(options, () => undefined)
  t.deepEqual(overlap(), [...once, ...once, ...once])
  scope({ allow: ['evil.test'] })
  t.is(overlap().at(-1), none('scope(evil.test)', 'evil.test'), 'the default label names the scope')

  // A scope created before activate() was never checked: running it now warns nothing.
  const before = overlap().length
  await blockedBy(t, early.run(() => lookup('a.test')), 'early')
  t.is(overlap().length, before)
})

// ------------------------------------------------------------------ logOnly, onBlocked, failClosed

netTest.serial('per-scope logOnly: blocked egress is reported with logOnly and the label, and allowed', async (t) => {
  const [evil] = await serve(t, BLOCKED_V4)
  const global = recorder()
  const log = activateFor(t, { allow: ['*.test'], onBlocked: global.onBlocked })
  const audit = recorder()
  await scope({ allow: ['a.test'], logOnly: true, label: 'audit', onBlocked: audit.onBlocked }, async () => {
    await allowed(t, connect('evil.test', evil.port), 'reported, not blocked')
  })
  t.is(evil.connections, 1)
  t.true(audit.calls.length >= 2)
  for (const [host, , info] of audit.calls) {
    t.is(host, 'evil.test')
    t.is(info.scopeLabel, 'audit')
    t.true(info.logOnly)
    t.true(info.error instanceof EgressBlocked)
  }
  t.true(audit.calls.some(([, port, info]) => port === evil.port && info.kind === 'tcp'), 'the connect is reported')
  t.true(audit.calls.some(([, port, info]) => port === null && info.kind === 'dns'), 'the lookup is reported')
  // The line may name the initiating package before the mode.
  const line = new RegExp(`^tethered: blocked connection to evil\\.test:${evil.port} by audit( \\(initiated by [^)]+\\))? \\(log-only: allowed\\)$`)
  t.true(log.warnings().some((w) => line.test(w)), 'the log line names the scope and the mode')
  t.is(global.calls.length, 0, 'the global callback is not told about scope blocks')
})

netTest.serial('a log-only scope outside an enforcing one: both report, the enforcing one blocks', async (t) => {
  const [evil] = await serve(t, BLOCKED_V4)
  activateFor(t, { allow: ['*.test'] })
  const audit = recorder()
  const strict = recorder()
  await scope({ allow: ['a.test'], logOnly: true, label: 'audit', onBlocked: audit.onBlocked }, async () => {
    // The inner scope allows evil.test: the outer one only reports, so it goes through.
    await scope({ allow: ['a.test', 'evil.test'], label: 'lenient' }, () => allowed(t, connect('evil.test', evil.port)))
    t.is(evil.connections, 1)
    audit.calls.length = 0
    await scope({ allow: ['a.test'], label: 'strict', onBlocked: strict.onBlocked }, () =>
      blockedBy(t, connect('evil.test', evil.port), 'strict', { host: 'evil.test', port: evil.port }))
  })
  t.is(evil.connections, 1)
  t.deepEqual(audit.calls.map(([h, p, i]) => [h, p, i.scopeLabel, i.logOnly]), [['evil.test', evil.port, 'audit', true]])
  t.deepEqual(strict.calls.map(([h, p, i]) => [h, p, i.scopeLabel, i.logOnly]), [['evil.test', evil.port, 'strict', false]])
})

netTest.serial('a log-only global policy still lets an enforcing scope block', async (t) => {
  const [a, evil] = await serve(t, ALLOWED_V4, BLOCKED_V4)
  const global = recorder()
  activateFor(t, { allow: [], logOnly: true, onBlocked: global.onBlocked })
  await scope({ allow: ['a.test'], label: 'strict' }, async () => {
    await allowed(t, connect('a.test', a.port), 'global reports, the scope allows')
    await blockedBy(t, connect('evil.test', evil.port), 'strict', { host: 'evil.test', port: evil.port })
  })
  t.is(a.connections, 1)
  t.is(evil.connections, 0)
  t.true(global.calls.length > 0)
  t.true(global.calls.every(([, , info]) => info.logOnly && info.scopeLabel === null))
})

netTest.serial('per-scope onBlocked: called with (host, port, info); a throwing callback changes nothing', async (t) => {
  const [evil] = await serve(t, BLOCKED_V4)
  const global = recorder()
  const log = activateFor(t, { allow: ['*.test'], onBlocked: global.onBlocked })
  const job = recorder()
  const tcp = await blockedBy(t, scope({ allow: ['a.test'], label: 'job', onBlocked: job.onBlocked }, () => connect('evil.test', evil.port)), 'job')
  const dns = await blockedBy(t, scope({ allow: ['a.test'], label: 'job', onBlocked: job.onBlocked }, () => lookup('evil.test')), 'job')
  t.is(job.calls.length, 2)
  const [[host, port, info], [dnsHost, dnsPort, dnsInfo]] = job.calls as [Call, Call]
  t.deepEqual([host, port], ['evil.test', evil.port])
  t.like(info, { kind: 'tcp', scopeLabel: 'job', logOnly: false, resolvedFrom: null })
  t.is(info.error as unknown, tcp as unknown, 'info.error is the error the caller got')
  t.deepEqual([dnsHost, dnsPort], ['evil.test', null])
  t.like(dnsInfo, { kind: 'dns', scopeLabel: 'job', logOnly: false })
  t.is(dnsInfo.error as unknown, dns as unknown)

  const throwing = () => {
    throw new Error('callback failure')
  }
  await blockedBy(t, scope({ allow: ['a.test'], label: 'job', onBlocked: throwing }, () => connect('evil.test', evil.port)), 'job')
  t.true(log.warnings().includes(`tethered: onBlocked callback threw for evil.test:${evil.port}: Error: callback failure`))
  t.is(evil.connections, 0)
  t.is(global.calls.length, 0)
})

/** Makes every decision throw inside the engine until the test ends. */
function breakEngine(t: ExecutionContext): void {
  const original = native.checkEgress
  t.teardown(() => {
    native.checkEgress = original
  })
  native.checkEgress = () => {
    throw new Error('simulated engine failure')
  }
}

netTest.serial('per-scope failClosed: an internal error blocks inside a failClosed scope and fails open elsewhere', async (t) => {
  const [a, evil] = await serve(t, ALLOWED_V4, BLOCKED_V4)
  const log = activateFor(t, { allow: ['*.test'] })
  const closed = scope({ allow: ['a.test'], failClosed: true, label: 'closed' })
  const open = scope({ allow: ['a.test'], label: 'open' })
  breakEngine(t)
  const inClosed = await settle(closed.run(() => connect('a.test', a.port)))
  isBlockedBy(t, inClosed, 'closed', { host: 'a.test', port: a.port }, 'failClosed scope, allowed host')
  await blockedBy(t, closed.run(() => lookup('a.test')), 'closed', { host: 'a.test', port: null }, 'failClosed scope, lookup')
  // failClosed anywhere on the stack closes: outer or inner.
  await blockedBy(t, closed.run(() => open.run(() => connect('a.test', a.port))), 'closed', {}, 'failClosed outer')
  await blockedBy(t, open.run(() => closed.run(() => connect('a.test', a.port))), 'closed', {}, 'failClosed inner')
  t.is(a.connections, 0, 'nothing left while failing closed')
  // Without failClosed the error fails open, even for a host the scope would block.
  await allowed(t, open.run(() => connect('evil.test', evil.port)), 'open scope fails open')
  await allowed(t, connect('evil.test', evil.port), 'no scope fails open')
  t.is(evil.connections, 2)
  t.true(log.lines.includes(`error tethered: error checking a.test:${a.port} for closed, failing closed: Error: simulated engine failure`))
  t.true(log.lines.includes(`warn tethered: error checking evil.test:${evil.port}, failing open: Error: simulated engine failure`))
})

// BEHAVIOUR.md §7.5/§7.6: upstream treats a failClosed scope's internal error as that scope's
// block (its label on the error, its onBlocked called).
netTest.serial('per-scope failClosed names the failing scope and calls its onBlocked (BEHAVIOUR §7.6)', async (t) => {
  const [a] = await serve(t, ALLOWED_V4)
  activateFor(t, { allow: ['*.test'] })
  const closed = recorder()
  const s = scope({ allow: ['a.test'], failClosed: true, label: 'closed', onBlocked: closed.onBlocked })
  breakEngine(t)
  await blockedBy(t, s.run(() => connect('a.test', a.port)), 'closed', { host: 'a.test', port: a.port })
  t.is(closed.calls.length, 1)
  t.is(a.connections, 0)
})

// ------------------------------------------------------------------ validation

test('option validation: each bad option throws at once, naming it', (t) => {
  const typeError = (fn: () => unknown, message: RegExp) => t.throws(fn, { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE', message } as never)
  typeError(() => scope(undefined as never), /scope\(\) takes an options object/)
  typeError(() => scope('a.test' as never), /scope\(\) takes an options object.*got string/)
  typeError(() => scope({} as never), /allow must be an array of strings, got undefined/)
  typeError(() => scope({ allow: 'a.test' as never }), /allow must be an array of strings, got string/)
  typeError(() => scope({ allow: ['a.test', 42 as never] }), /allow\[1\] must be a string, got number/)
  typeError(() => scope({ allow: [], label: 5 as never }), /label must be a string or null, got number/)
  typeError(() => scope({ allow: [], logOnly: 'yes' as never }), /logOnly must be a boolean/)
  typeError(() => scope({ allow: [], failClosed: 1 as never }), /failClosed must be a boolean/)
  typeError(() => scope({ allow: [], allowLocalhost: null as never }), /allowLocalhost must be a boolean/)
  typeError(() => scope({ allow: [], onBlocked: 'log' as never }), /onBlocked must be a function or null/)
  // Upstream's order: allow first, then the booleans, then onBlocked, then the label.
  typeError(() => scope({ allow: 5 as never, logOnly: 5 as never, label: 5 as never }), /^allow must be/)
  typeError(() => scope({ allow: [], onBlocked: 5 as never, label: 5 as never }), /^onBlocked/)
  t.throws(() => scope({ allow: [], lable: 'x' } as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_VALUE', message: /scope\(\): unknown option 'lable'/ } as never)
  const star = t.throws(() => scope({ allow: ['a.test', '*'] }), { instanceOf: InvalidRuleError })
  t.like(star, { index: 1, rule: '*', kind: 'matches-all' })
  t.like(t.throws(() => scope({ allow: ['https://a.test'] }), { instanceOf: InvalidRuleError }), { kind: 'url' })
})

test('run and wrap refuse non-functions; wrap refuses generator functions', (t) => {
  const s = scope({ allow: ['a.test'], label: 'v' })
  for (const bad of [undefined, null, 5, 'fn', {}]) {
    t.throws(() => s.run(bad as never), { instanceOf: TypeError, message: /scope run\(\) needs a function/ })
    t.throws(() => s.wrap(bad as never), { instanceOf: TypeError, message: /scope wrap\(\) needs a function/ })
  }
  t.throws(() => scope({ allow: [] }, 5 as never), { instanceOf: TypeError, message: /needs a function/ })
  const generators = [function* gen() { yield 1 }, async function* agen() { yield 1 }]
  for (const g of generators) {
    t.throws(() => s.wrap(g as never), { instanceOf: TypeError, message: /cannot wrap generator or async generator functions: the scope would end at the first yield/ })
  }
})
