// scope() follows its code path through every way Node continues work (await, Promise.all,
// timers, nextTick, emitter listeners, dns and net callbacks), and never into work that was
// started outside it, even when that work runs while the scope is active; nor does a pooled
// keep-alive connection opened outside carry a scoped request past the scope.
//
// Each test runs under a permissive global policy (`*.test`) with a capturing logger, so every
// block seen here is the scope's (the label proves it) and nothing is printed.
import { EventEmitter } from 'node:events'
import dns from 'node:dns'
import http from 'node:http'
import net from 'node:net'
import { type ExecutionContext } from 'ava'
import { scope } from '../dist/index.mjs'
import { ALLOWED_V4, BLOCKED_V4, countingHttpServer, dnsCount, netTest } from './harness/index.js'
import { allowed, blockedBy, isBlockedBy } from './support-scope/assert.js'
import { activateFor } from './support-scope/global.js'
import { type Outcome, connect, deferred, fetchStatus, httpGet, lookup, lookupPromise, resolve4, settle, withTimeout } from './support-scope/io.js'
import { freshName, serve } from './support-scope/zone.js'

const LABEL = 'prop'
const only = (...allow: string[]) => scope({ allow, label: LABEL })

function quietGlobal(t: ExecutionContext): void {
  activateFor(t, { allow: ['*.test'] })
}

/** The outcome of a lookup of evil.test started inside the callback that `schedule` runs. */
function lookupFrom(schedule: (callback: () => void) => void): Promise<Outcome<string>> {
  return new Promise((resolve) => schedule(() => resolve(settle(lookup('evil.test')))))
}

const SCHEDULERS: Record<string, (callback: () => void) => void> = {
  setTimeout: (cb) => setTimeout(cb, 5),
  setImmediate: (cb) => setImmediate(cb),
  'process.nextTick': (cb) => process.nextTick(cb),
  queueMicrotask: (cb) => queueMicrotask(cb),
  'setInterval (first tick)': (cb) => {
    const timer = setInterval(() => {
      clearInterval(timer)
      cb()
    }, 5)
  },
  'promise.then': (cb) => void Promise.resolve().then(cb),
}

netTest.serial('the scope follows await chains across real I/O', async (t) => {
  quietGlobal(t)
  const [evil] = await serve(t, BLOCKED_V4)
  await only('a.test').run(async () => {
    t.is(await lookup('a.test'), ALLOWED_V4)
    await new Promise((resolve) => setTimeout(resolve, 5))
    await null
    const nested = async () => {
      await lookupPromise('a.test')
      return lookup('evil.test')
    }
    await blockedBy(t, nested(), LABEL, { host: 'evil.test', port: null }, 'after three kinds of await')
    await blockedBy(t, connect('evil.test', evil.port), LABEL, { host: 'evil.test', port: evil.port })
  })
  t.is(evil.connections, 0)
})

netTest.serial('the scope follows Promise.all / allSettled / race branches', async (t) => {
  quietGlobal(t)
  const [a, evil] = await serve(t, ALLOWED_V4, BLOCKED_V4)
  const name = freshName('all', 'blocked.test')
  await only('a.test').run(async () => {
    const branches = await Promise.all([
      settle(lookup('a.test')),
      settle(lookupPromise('evil.test')),
      settle(connect('a.test', a.port)),
      settle(connect('evil.test', evil.port)),
      settle(resolve4(name)),
    ])
    t.true(branches[0]!.ok)
    isBlockedBy(t, branches[1]!, LABEL, { host: 'evil.test' }, 'dns.promises branch')
    t.true(branches[2]!.ok)
    isBlockedBy(t, branches[3]!, LABEL, { port: evil.port }, 'connect branch')
    isBlockedBy(t, branches[4]!, LABEL, { host: name }, 'c-ares branch')
    const settled = await Promise.allSettled([lookup('evil.test'), lookup('a.test')])
    t.deepEqual(settled.map((s) => s.status), ['rejected', 'fulfilled'])
    await blockedBy(t, Promise.race([lookup('evil.test'), new Promise(() => {})]), LABEL, {}, 'race')
  })
  t.is(a.connections, 1)
  t.is(evil.connections, 0)
  t.is(await dnsCount(name), 0)
})

netTest.serial('the scope follows timers, immediates, nextTick and microtasks scheduled inside it', async (t) => {
  quietGlobal(t)
  for (const [what, schedule] of Object.entries(SCHEDULERS)) {
    const inside = await only('a.test').run(() => lookupFrom(schedule))
    isBlockedBy(t, inside, LABEL, { host: 'evil.test', port: null }, `${what} scheduled in the scope`)
    // The same scheduling outside is not scoped (the control: the callback itself is fine).
    t.true((await lookupFrom(schedule)).ok, `${what} scheduled outside`)
  }
})

netTest.serial('emitter listeners run in the scope of whoever emits', async (t) => {
  quietGlobal(t)
  const [evil] = await serve(t, BLOCKED_V4)
  const emitter = new EventEmitter()
  const attempts: Promise<Outcome<string>>[] = []
  // Registered outside any scope.
  emitter.on('go', () => attempts.push(settle(connect('evil.test', evil.port))))
  only('a.test').run(() => emitter.emit('go'))
  emitter.emit('go')
  // Registered inside the scope, emitted outside: listeners carry no context of their own.
  only('a.test').run(() => emitter.on('late', () => attempts.push(settle(connect('evil.test', evil.port)))))
  emitter.emit('late')
  const [inScope, outside, registeredInside] = await Promise.all(attempts)
  isBlockedBy(t, inScope!, LABEL, { host: 'evil.test', port: evil.port }, 'emitted inside the scope')
  t.true(outside!.ok, 'emitted outside')
  t.true(registeredInside!.ok, 'registered inside, emitted outside')
  t.is(evil.connections, 2)
})

netTest.serial('dns callbacks stay in the scope: a lookup made from a lookup callback is still scoped', async (t) => {
  quietGlobal(t)
  const name = freshName('cb', 'blocked.test')
  const caresName = freshName('cares-cb', 'blocked.test')
  const second = await only('a.test', 'cares-only.test').run(
    () =>
      new Promise<Outcome<string>[]>((resolve) => {
        dns.lookup('a.test', (err) => {
          if (err) return resolve([{ ok: false, error: err }])
          // Inside the getaddrinfo callback: a second lookup, a promise lookup and a c-ares query.
          dns.resolve4('cares-only.test', (err2) => {
            const inner = Promise.all([settle(lookup(name)), settle(lookupPromise('evil.test')), settle(lookup('a.test'))])
            const again = err2 ? Promise.resolve({ ok: false as const, error: err2 }) : settle(resolve4(caresName))
            void Promise.all([inner, again]).then(([i, c]) => resolve([...i, c]))
          })
        })
      }),
  )
  t.is(second.length, 4, 'the first lookups succeeded')
  isBlockedBy(t, second[0]!, LABEL, { host: name, port: null }, 'dns.lookup from a callback')
  isBlockedBy(t, second[1]!, LABEL, { host: 'evil.test', port: null }, 'dns.promises.lookup from a callback')
  t.true(second[2]!.ok, 'an allowed lookup from a callback')
  isBlockedBy(t, second[3]!, LABEL, { host: caresName, port: null }, 'c-ares query from a c-ares callback')
  t.is(await dnsCount(name), 0)
  t.is(await dnsCount(caresName), 0)
})

netTest.serial('net callbacks stay in the scope, also for events delivered after the scope returned', async (t) => {
  quietGlobal(t)
  const [a, evil] = await serve(t, ALLOWED_V4, BLOCKED_V4)
  const attempts: Record<string, Promise<Outcome<string>>> = {}
  const closed = deferred()
  // The socket is created in the scope; the listeners are added after run() returned.
  const socket = only('a.test').run(() => net.connect({ host: 'a.test', port: a.port }))
  socket.setEncoding('utf8')
  socket.on('connect', () => {
    attempts.connect = settle(connect('evil.test', evil.port))
    socket.write('ping')
  })
  socket.on('data', () => {
    attempts.data = settle(lookup('evil.test'))
    socket.end()
  })
  socket.on('close', () => {
    attempts.close = settle(connect('evil.test', evil.port))
    closed.resolve()
  })
  socket.on('error', (err) => t.fail(`allowed socket failed: ${err.message}`))
  await withTimeout(closed.promise, 'scoped socket round trip')
  isBlockedBy(t, await attempts.connect!, LABEL, { port: evil.port }, "from 'connect'")
  isBlockedBy(t, await attempts.data!, LABEL, { host: 'evil.test' }, "from 'data'")
  isBlockedBy(t, await attempts.close!, LABEL, { port: evil.port }, "from 'close'")
  t.is(a.connections, 1)
  t.is(evil.connections, 0)
})

netTest.serial('work started outside the scope stays unscoped while the scope is active', async (t) => {
  quietGlobal(t)
  const [evil] = await serve(t, BLOCKED_V4)
  // A timer armed before entering fires while the scoped code is waiting for it.
  const early = lookupFrom((cb) => setTimeout(cb, 20))
  // A promise chain built outside and one built inside, both released from inside the scope.
  const gate = deferred()
  const outsideChain = gate.promise.then(() => settle(connect('evil.test', evil.port)))
  const { fromTimer, insideChain } = await only('a.test').run(async () => {
    const insideChain = gate.promise.then(() => settle(connect('evil.test', evil.port)))
    gate.resolve()
    return { fromTimer: await early, insideChain: await insideChain }
  })
  t.true(fromTimer.ok, 'the early timer ran unscoped although awaited inside the scope')
  t.true((await outsideChain).ok, 'the chain built outside ran unscoped')
  isBlockedBy(t, insideChain, LABEL, { port: evil.port }, 'the chain built inside')
  // A promise of the scope, continued outside: the continuation is the outside's.
  const fromScope = only('a.test').run(async () => lookup('a.test'))
  t.true((await settle(fromScope.then(() => connect('evil.test', evil.port)))).ok, 'then() attached outside')
  // And code after run() in the same function is unscoped.
  only('a.test').run(() => undefined)
  await allowed(t, lookup('evil.test'), 'right after run()')
  t.is(evil.connections, 2)
})

netTest.serial('a keep-alive connection opened outside the scope cannot carry a request made inside it', async (t) => {
  quietGlobal(t)
  const server = await countingHttpServer(BLOCKED_V4)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(async () => {
    agent.destroy()
    await server.close()
  })
  const url = `http://evil.test:${server.port}/`
  t.is(await allowed(t, httpGet(url, agent), 'http.get outside, opening the pooled socket'), 200)
  await blockedBy(t, only('a.test').run(() => httpGet(url, agent)), LABEL, { host: 'evil.test', port: server.port }, 'http.get on the pooled socket')
  t.is(await allowed(t, fetchStatus(url), 'fetch outside, opening undici\'s pooled socket'), 200)
  await blockedBy(t, only('a.test').run(() => fetchStatus(url)), LABEL, { host: 'evil.test', port: server.port }, 'fetch on the pooled socket')
  t.is(server.requests, 2, 'no scoped request reached the server')
  t.is(await allowed(t, httpGet(url, agent), 'the pooled socket still works outside'), 200)
  t.is(server.connections, 2, 'one pooled connection per client, no new dial for the blocked ones')
})

netTest.serial('a request the scope allows is not blocked because its pooled connection was opened by unscoped code', async (t) => {
  quietGlobal(t)
  const server = await countingHttpServer(ALLOWED_V4)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(async () => {
    agent.destroy()
    await server.close()
  })
  const url = `http://a.test:${server.port}/`
  t.is(await allowed(t, httpGet(url, agent), 'http.get outside, opening the pooled socket'), 200)
  t.is(await allowed(t, only('a.test').run(() => httpGet(url, agent)), 'http.get in the scope on the pooled socket'), 200)
  t.is(await allowed(t, fetchStatus(url), 'fetch outside, opening undici\'s pooled socket'), 200)
  t.is(await allowed(t, only('a.test').run(() => fetchStatus(url)), 'fetch in the scope on the pooled socket'), 200)
  // Queued behind an unscoped request (maxSockets 1): the new connection Node opens for it may
  // run in the unscoped request's context; the scoped request still goes through.
  const [first, second] = await Promise.all([httpGet(url, agent), only('a.test').run(() => httpGet(url, agent))])
  t.is(first, 200)
  t.is(second, 200)
  t.is(server.requests, 6)
})
