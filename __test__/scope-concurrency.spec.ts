// Scopes are per async context: many concurrent tasks, each in its own scope, never see each
// other's policy, through the real shims (getaddrinfo callback and promise APIs, c-ares, TCP).
//
// A permissive global policy with a capturing logger keeps a thousand block reports off
// stderr; every block below carries its task's own label, so it is the scope's decision.
import dns from 'node:dns'
import { type ExecutionContext } from 'ava'
import { EgressBlocked, scope } from '../dist/index.mjs'
import { ALLOWED_V4, BLOCKED_V4_B, OTHER_V4, dnsCounts, netTest } from './harness/index.js'
import { activateFor } from './support-scope/global.js'
import { type Outcome, connect, lookup, lookupPromise, resolve4, settle } from './support-scope/io.js'
import { freshName, serve } from './support-scope/zone.js'

type Resolve = (name: string) => Promise<string>
const METHODS: [string, Resolve][] = [
  ['dns.promises.lookup', lookupPromise],
  ['dns.lookup', lookup],
  ['Resolver.resolve4', resolve4],
]

/** '' when `outcome` is the expected decision, else what went wrong (collected, then asserted empty). */
function verdict(outcome: Outcome<unknown>, expected: { value: unknown } | { label: string; host: string }): string {
  if ('value' in expected) {
    if (!outcome.ok) return `expected ${String(expected.value)}, got ${String(outcome.error)}`
    return outcome.value === expected.value ? '' : `expected ${String(expected.value)}, got ${String(outcome.value)}`
  }
  if (outcome.ok) return `expected a block by ${expected.label}, but it succeeded`
  const e = outcome.error
  if (!(e instanceof EgressBlocked)) return `expected EgressBlocked, got ${String(e)}`
  if (e.scopeLabel !== expected.label) return `blocked by ${String(e.scopeLabel)} instead of ${expected.label}`
  if (e.host !== expected.host) return `blocked host ${e.host} instead of ${expected.host}`
  return ''
}

function quietGlobal(t: ExecutionContext, allow: string[]): void {
  activateFor(t, { allow })
}

netTest.serial('1,000 concurrent tasks, each in its own scope: every lookup decided by its own scope', async (t) => {
  quietGlobal(t, ['*.allowed.test'])
  const N = 1000
  // Task i may reach its own names; it looks up its own `looked` name, then a neighbour's
  // `looked` name (which the neighbour resolves itself) and a neighbour's `idle` name (which
  // nobody may resolve, so any query for it would be a leak).
  const looked = Array.from({ length: N }, (_, i) => freshName(`l${i}`, 'allowed.test'))
  const idle = Array.from({ length: N }, (_, i) => freshName(`i${i}`, 'allowed.test'))
  const problems: string[] = []
  const task = async (i: number) => {
    const [method, resolve] = METHODS[i % METHODS.length]!
    const j = (i + 1) % N
    const label = `task-${i}`
    await scope({ allow: [looked[i]!, idle[i]!], label }, async () => {
      // Yield first so that all tasks are in flight at once, interleaving their decisions.
      await new Promise((r) => setImmediate(r))
      const own = await settle(resolve(looked[i]!))
      const neighbour = await settle(resolve(looked[j]!))
      const neighbourIdle = await settle(resolve(idle[j]!))
      for (const [what, problem] of [
        ['own', verdict(own, { value: ALLOWED_V4 })],
        ['neighbour', verdict(neighbour, { label, host: looked[j]! })],
        ['neighbour idle', verdict(neighbourIdle, { label, host: idle[j]! })],
      ]) {
        if (problem) problems.push(`task ${i} (${method}) ${what}: ${problem}`)
      }
    })
  }
  await Promise.all(Array.from({ length: N }, (_, i) => task(i)))
  t.deepEqual(problems.slice(0, 20), [], `${problems.length} wrong decisions`)
  const counts = await dnsCounts()
  const leaked = idle.filter((name) => (counts[name]?.total ?? 0) > 0)
  t.deepEqual(leaked, [], 'no blocked name was ever queried')
  const unresolved = looked.filter((name) => (counts[name]?.total ?? 0) === 0)
  t.deepEqual(unresolved, [], 'every allowed name was really resolved')
})

netTest.serial('300 concurrent TCP tasks over three addresses: own host connects, the neighbour\'s is blocked', async (t) => {
  quietGlobal(t, ['*.test'])
  // Three names on three distinct addresses, so a connect is judged by its own name.
  const hosts = ['a.test', 'other.test', 'b.test']
  const servers = await serve(t, ALLOWED_V4, OTHER_V4, BLOCKED_V4_B)
  const N = 300
  const problems: string[] = []
  const task = async (i: number) => {
    const own = i % 3
    const next = (i + 1) % 3
    const label = `conn-${i}`
    await scope({ allow: [hosts[own]!], label }, async () => {
      await new Promise((r) => setImmediate(r))
      const [mine, theirs] = await Promise.all([
        settle(connect(hosts[own]!, servers[own]!.port)),
        settle(connect(hosts[next]!, servers[next]!.port)),
      ])
      const p1 = verdict(mine, { value: 'ping' })
      const p2 = verdict(theirs, { label, host: hosts[next]! })
      if (p1) problems.push(`task ${i} own ${hosts[own]}: ${p1}`)
      if (p2) problems.push(`task ${i} neighbour ${hosts[next]}: ${p2}`)
    })
  }
  await Promise.all(Array.from({ length: N }, (_, i) => task(i)))
  t.deepEqual(problems.slice(0, 20), [], `${problems.length} wrong decisions`)
  t.deepEqual(servers.map((s) => s.connections), [N / 3, N / 3, N / 3], 'each server saw exactly its owners')
})

netTest.serial('one reusable scope nested under 200 different outer scopes keeps each outer scope', async (t) => {
  quietGlobal(t, ['*.test'])
  const N = 200
  const names = Array.from({ length: N }, (_, i) => freshName(`s${i}`, 'allowed.test'))
  // Allows every task's name: only the per-task outer scope tells the tasks apart. Its nested
  // frames are cached per parent, so this also checks the cache never mixes parents.
  const shared = scope({ allow: names, label: 'shared' })
  const problems: string[] = []
  await Promise.all(
    names.map((own, i) =>
      scope({ allow: [own], label: `outer-${i}` }, () =>
        shared.run(async () => {
          await new Promise((r) => setImmediate(r))
          const neighbour = names[(i + 1) % N]!
          const p1 = verdict(await settle(lookupPromise(own)), { value: ALLOWED_V4 })
          const p2 = verdict(await settle(lookupPromise(neighbour)), { label: `outer-${i}`, host: neighbour })
          const p3 = verdict(await settle(lookupPromise('a.test')), { label: `outer-${i}`, host: 'a.test' })
          for (const p of [p1, p2, p3]) if (p) problems.push(`task ${i}: ${p}`)
        }),
      ),
    ),
  )
  t.deepEqual(problems.slice(0, 20), [], `${problems.length} wrong decisions`)
})

netTest.serial('scoped and unscoped tasks interleaving: the scope never leaks to a sibling', async (t) => {
  quietGlobal(t, ['*.test'])
  const rounds = 5
  const results = { scoped: [] as boolean[], free: [] as boolean[] }
  const worker = async (kind: 'scoped' | 'free') => {
    for (let r = 0; r < rounds; r++) {
      // Alternate between getaddrinfo and a timer so the two kinds keep interleaving.
      const outcome = await settle(dns.promises.lookup('evil.test'))
      results[kind].push(outcome.ok)
      await new Promise((res) => setTimeout(res, 1))
    }
  }
  const s = scope({ allow: ['a.test'], label: 'sibling' })
  await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? s.run(() => worker('scoped')) : worker('free'))))
  t.is(results.scoped.length, 50 * rounds)
  t.is(results.free.length, 50 * rounds)
  t.true(results.scoped.every((ok) => !ok), 'every scoped lookup was blocked')
  t.true(results.free.every((ok) => ok), 'every unscoped lookup went through')
})
