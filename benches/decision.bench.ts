// Decision cost of Policy.allows() through the full JS -> Rust path, against a pure-JS
// reference matcher, for allow lists of 10 to 10,000 rules. See benches/README.md.
//
//   npm run bench                                     (builds first; runs the other benches too)
//   node --import tsx benches/decision.bench.ts [options]
//     --engine          also: the Rust engine alone, no Node-API (needs cargo)
//     --breakdown       also: where the time of one call goes (napi calls, strings)
//     --rounds=N        repeat the measurement (default 3); each task keeps its best round
//     --check-targets   exit 1 when a target is missed (for CI on quiet hosts)
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Bench, type Task } from 'tinybench'
import { Policy } from '../dist/index.mjs'
import { native } from '../dist/native.js'
import { JsMatcher } from './js-matcher.js'
import { makeWorkload, type Query } from './workload.js'

const SIZES = [10, 100, 1_000, 10_000] as const
const QUERIES = 1_000
const TARGET_SMALL_NS = 300 // at 10 rules
const TARGET_LARGE_NS = 1_000 // at 10,000 rules
const TARGET_GROWTH = 3 // 10,000-rule cost / 10-rule cost

const args = new Set(process.argv.slice(2))
const breakdown = args.has('--breakdown')
const engine = args.has('--engine')
const roundsArg = process.argv.find((a) => a.startsWith('--rounds='))
const rounds = roundsArg ? Math.max(1, Number(roundsArg.slice('--rounds='.length)) || 1) : 3
const checkTargets = args.has('--check-targets')

interface Case {
  size: number
  rules: string[]
  queries: Query[]
  hosts: string[]
  ports: (number | null)[]
  policy: Policy
  js: JsMatcher
  /** How many of the queries are allowed: every timed batch must reproduce it. */
  allowed: number
}

function fail(message: string): never {
  console.error(`\nBENCHMARK INVALID: ${message}`)
  process.exit(1)
}

function prepare(size: number): Case {
  const { rules, queries } = makeWorkload(size, QUERIES)
  const policy = new Policy(rules)
  const js = new JsMatcher(rules)
  if (policy.ruleCount !== size) fail(`Policy has ${policy.ruleCount} rules, expected ${size}`)
  // Apples to apples: both matchers must give the same answer to every query.
  const disagree: string[] = []
  let allowed = 0
  for (const q of queries) {
    const t = policy.allows(q.host, q.port)
    if (t !== js.allows(q.host, q.port)) disagree.push(`${JSON.stringify(q.host)} port ${q.port}: tethered ${t}, pure-JS ${!t}`)
    if (t) allowed++
  }
  if (disagree.length) {
    fail(
      `with ${size} rules the pure-JS matcher and Policy disagree on ${disagree.length} of ${queries.length} queries:\n  ` +
        disagree.slice(0, 20).join('\n  '),
    )
  }
  const hosts = queries.map((q: Query) => q.host)
  const ports = queries.map((q: Query) => q.port)
  return { size, rules, queries, hosts, ports, policy, js, allowed }
}

/** A task body: one batch of every query; checks the verdict count so nothing is optimized out. */
function batch(c: Case, name: string, decide: (host: string, port: number | null) => boolean): () => void {
  const { hosts, ports, allowed } = c
  return () => {
    let n = 0
    for (let i = 0; i < hosts.length; i++) if (decide(hosts[i]!, ports[i]!)) n++
    if (n !== allowed) throw new Error(`${name}: ${n} allowed in a batch, expected ${allowed}`)
  }
}

/**
 * Nanoseconds per query of a task. Each iteration is one batch of QUERIES queries; the figure is
 * the median batch time / QUERIES (robust to another process stealing a core for a moment).
 */
function nsPerOp(task: Task | undefined): { ns: number; mean: number } {
  const r = task?.result
  if (!r || r.state !== 'completed') {
    fail(`task ${task?.name ?? '?'} did not complete: ${r && 'error' in r ? String(r.error) : r?.state}`)
  }
  return { ns: (r.latency.p50 * 1e6) / QUERIES, mean: (r.latency.mean * 1e6) / QUERIES }
}

/** CPU time of the whole machine and of this process, to tell how much others took meanwhile. */
interface CpuMark {
  busy: number // ms, all CPUs
  total: number // ms, all CPUs, idle included
  ours: number // ms, this process
}

function cpuMark(): CpuMark {
  let busy = 0
  let total = 0
  for (const { times: t } of cpus()) {
    busy += t.user + t.nice + t.sys + t.irq
    total += t.user + t.nice + t.sys + t.irq + t.idle
  }
  const u = process.cpuUsage()
  return { busy, total, ours: (u.user + u.system) / 1000 }
}

/** Share of the machine's CPU time that other processes used since `from` (0..1). */
function othersShare(from: CpuMark): number {
  const to = cpuMark()
  const total = to.total - from.total
  return total > 0 ? Math.max(0, to.busy - from.busy - (to.ours - from.ours)) / total : 0
}

const fmt = (ns: number): string => (ns >= 10_000 ? Math.round(ns).toLocaleString('en-US') : ns.toFixed(ns < 100 ? 1 : 0))

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')
  console.log(line(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'))
  for (const r of rows) console.log(line(r))
}

async function main(): Promise<void> {
  console.log(`tethered decision benchmark: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}`)
  console.log(
    `${QUERIES} queries per batch; ns/op = median batch time / ${QUERIES}` +
      (rounds > 1 ? `, shown as best / worst of ${rounds} rounds (ratios use the best)\n` : '\n'),
  )

  const cases = SIZES.map(prepare)
  for (const c of cases) {
    const kinds = { exact: 0, wildcard: 0, network: 0 }
    for (const rule of c.rules) {
      if (/[*?[]/.test(rule.replace(/^\[[^\]]*\]/, ''))) kinds.wildcard++
      else if (/^[\d.]+(\/\d+)?(:\d+)?$|^\[/.test(rule)) kinds.network++
      else kinds.exact++
    }
    console.log(
      `${String(c.size).padStart(6)} rules (${kinds.exact} exact, ${kinds.wildcard} wildcard, ${kinds.network} network): ` +
        `${c.allowed}/${QUERIES} queries allowed; pure-JS and tethered agree on all ${QUERIES}`,
    )
  }
  console.log()

  // Several rounds, each a full tinybench run of every task; a task's figure is its best round
  // (the round least disturbed by other processes), and the range shows the spread.
  const perTask = new Map<string, number[]>()
  const start = cpuMark()
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time: 500, warmupTime: 100, iterations: 10, warmupIterations: 3 })
    for (const c of cases) {
      const { policy, js } = c
      bench.add(`tethered ${c.size}`, batch(c, `tethered ${c.size}`, (h, p) => policy.allows(h, p)))
      bench.add(`pure-JS ${c.size}`, batch(c, `pure-JS ${c.size}`, (h, p) => js.allows(h, p)))
    }
    await bench.run()
    for (const task of bench.tasks) perTask.set(task.name, [...(perTask.get(task.name) ?? []), nsPerOp(task).ns])
    process.stderr.write(`round ${round + 1}/${rounds} done\n`)
  }
  const others = othersShare(start)
  const best = (name: string): number => Math.min(...perTask.get(name)!)
  const cell = (name: string): string => {
    const xs = perTask.get(name)!
    return xs.length > 1 ? `${fmt(Math.min(...xs))} / ${fmt(Math.max(...xs))}` : fmt(xs[0]!)
  }

  const base = best(`tethered ${SIZES[0]}`)
  const rows: string[][] = []
  const tethered = new Map<number, number>()
  for (const c of cases) {
    const t = best(`tethered ${c.size}`)
    const j = best(`pure-JS ${c.size}`)
    tethered.set(c.size, t)
    rows.push([
      c.size.toLocaleString('en-US'),
      cell(`tethered ${c.size}`),
      cell(`pure-JS ${c.size}`),
      `${(j / t).toFixed(2)}x`,
      `${(t / base).toFixed(2)}x`,
    ])
  }
  printTable(['rules', 'tethered ns/op', 'pure-JS ns/op', 'JS/tethered', 'tethered growth vs 10'], rows)
  console.log(
    `\nother processes used ${Math.round(100 * others)}% of the machine's CPU time during the measurement` +
      (others > 0.1 ? ': the figures are probably inflated, rerun on a quieter machine' : ''),
  )
  const small = tethered.get(10)!
  const large = tethered.get(10_000)!
  const targets = [
    { ok: small <= TARGET_SMALL_NS, text: `<= ${TARGET_SMALL_NS} ns at 10 rules: ${fmt(small)} ns` },
    { ok: large <= TARGET_LARGE_NS, text: `<= ${TARGET_LARGE_NS} ns at 10,000 rules: ${fmt(large)} ns` },
    { ok: large / small <= TARGET_GROWTH, text: `10,000-rule cost <= ${TARGET_GROWTH}x the 10-rule cost: ${(large / small).toFixed(2)}x` },
  ]
  console.log()
  for (const t of targets) console.log(`target ${t.ok ? 'MET   ' : 'MISSED'} ${t.text}`)

  if (engine) runEngine(cases, tethered)
  if (breakdown) await runBreakdown(cases)
  if (checkTargets && targets.some((t) => !t.ok)) process.exitCode = 1
}

/**
 * The Rust engine alone on the same workload (benches/engine, built with cargo): what a decision
 * costs without Node-API, so the rest of the tethered figure is the JS -> Rust call.
 */
function runEngine(cases: Case[], tethered: Map<number, number>): void {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const dir = `${root}target/bench-workload`
  mkdirSync(dir, { recursive: true })
  for (const c of cases) {
    writeFileSync(`${dir}/rules-${c.size}.txt`, c.rules.join('\n') + '\n')
    writeFileSync(`${dir}/queries-${c.size}.txt`, c.queries.map((q) => `${q.host} ${q.port ?? '-'}`).join('\n') + '\n')
  }
  writeFileSync(`${dir}/sizes.txt`, cases.map((c) => c.size).join(' ') + '\n')
  console.error('\n> cargo run --release (benches/engine)')
  const out = execFileSync(
    'cargo',
    ['run', '--release', '--quiet', '--manifest-path', `${root}benches/engine/Cargo.toml`, '--', dir],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CARGO_TARGET_DIR: `${root}target/bench-engine` } },
  )
  const rows: string[][] = []
  for (const line of out.trim().split('\n')) {
    const [size, ns, allowed] = line.split(' ').map(Number) as [number, number, number]
    const c = cases.find((x) => x.size === size)
    if (!c || allowed !== c.allowed) fail(`engine bench allowed ${allowed} of the ${size}-rule queries, Policy.allows ${c?.allowed}`)
    const total = tethered.get(size)!
    rows.push([size.toLocaleString('en-US'), fmt(ns), fmt(total), fmt(Math.max(0, total - ns)), `${Math.round((100 * ns) / total)}%`])
  }
  console.log('\nRust engine alone (Policy::allows in a Rust loop, same queries and verdicts):')
  printTable(['rules', 'engine ns/op', 'tethered ns/op', 'JS -> Rust call ns/op', 'engine share'], rows)
}

/** Where one call's time goes: harness loop, bare napi calls, string conversion, validation. */
async function runBreakdown(cases: Case[]): Promise<void> {
  // Baselines call native functions that take no state and have no side effects; one that is
  // missing or refuses the call (the binding's surface evolves) just drops its row.
  const fn = (name: string, ...probe: unknown[]): ((...a: unknown[]) => unknown) | undefined => {
    const f = (native as unknown as Record<string, unknown>)[name]
    if (typeof f !== 'function') return undefined
    const bound = (f as (...a: unknown[]) => unknown).bind(native)
    try {
      bound(...probe)
    } catch {
      return undefined
    }
    return bound
  }
  // Policy.compiled() is an internal accessor of the native handle; without it, skip those rows.
  type Handle = { readonly ruleCount: number }
  const compiledOf = (Policy as unknown as { compiled?: (p: Policy) => Handle }).compiled
  const policyChecker = (native as unknown as { policyChecker?: (h: Handle) => (host: string, port: number) => number }).policyChecker
  const nativeVersion = fn('nativeVersion')
  const isIp = fn('isIp', 'example.com')
  const layers: { label: string; make: ((c: Case) => () => void) | undefined }[] = [
    {
      label: 'JS loop only (harness overhead)',
      make: (c) => () => {
        let n = 0
        for (let i = 0; i < c.hosts.length; i++) n += (c.hosts[i]!.length + (c.ports[i] ?? 0)) & 1
        if (n < 0) throw new Error('unreachable')
      },
    },
    {
      label: 'napi free function, no arguments (nativeVersion)',
      make:
        nativeVersion &&
        ((c) => () => {
          let n = 0
          for (let i = 0; i < c.hosts.length; i++) n += (nativeVersion() as string).length
          if (n <= 0) throw new Error('unreachable')
        }),
    },
    {
      label: 'napi getter on the policy handle (ruleCount)',
      make:
        compiledOf &&
        ((c) => {
          const compiled = compiledOf(c.policy)
          return () => {
            let n = 0
            for (let i = 0; i < c.hosts.length; i++) n += compiled.ruleCount
            if (n !== c.size * c.hosts.length) throw new Error('ruleCount')
          }
        }),
    },
    {
      label: 'napi free function taking the host string (isIp)',
      make:
        isIp &&
        ((c) => () => {
          let n = 0
          for (let i = 0; i < c.hosts.length; i++) if (isIp(c.hosts[i]!)) n++
          if (n < 0) throw new Error('unreachable')
        }),
    },
    {
      label: 'the native allows(host, port) callback, no JS validation',
      make:
        compiledOf &&
        policyChecker &&
        ((c) => {
          const allows = policyChecker(compiledOf(c.policy))
          return batch(c, 'native', (h, p) => allows(h, p ?? -1) === 1)
        }),
    },
    { label: 'Policy.allows(host, port) (the public API)', make: (c) => batch(c, 'Policy', (h, p) => c.policy.allows(h, p)) },
  ]
  const sized = cases.filter((c) => c.size === 10 || c.size === 10_000)
  const present = layers.filter((l) => l.make !== undefined)
  const bench = new Bench({ time: 500, warmupTime: 200, iterations: 20, warmupIterations: 5 })
  for (const layer of present) for (const c of sized) bench.add(`${layer.label} @${c.size}`, layer.make!(c))
  await bench.run()
  console.log('\nbreakdown (ns per query):')
  printTable(
    ['layer', ...sized.map((c) => `${c.size.toLocaleString('en-US')} rules`)],
    present.map((layer) => [layer.label, ...sized.map((c) => fmt(nsPerOp(bench.getTask(`${layer.label} @${c.size}`)).ns))]),
  )
}

await main()
