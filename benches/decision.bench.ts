// Decision cost of Policy.allows() through the full JS -> Rust path, against a pure-JS
// reference matcher, for allow lists of 10 to 10,000 rules. See benches/README.md.
//
//   npm run bench                      the table and the targets
//   npm run bench -- --breakdown       also: where the time of one call goes (napi, strings)
//   npm run bench -- --check-targets   exit 1 when a target is missed (for CI on quiet hosts)
import { cpus } from 'node:os'
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
const checkTargets = args.has('--check-targets')

interface Case {
  size: number
  rules: string[]
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
  return { size, rules, hosts, ports, policy, js, allowed }
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

/** Mean nanoseconds per query of a task (each iteration is one batch of QUERIES queries). */
function nsPerOp(task: Task | undefined): { ns: number; rme: number; samples: number } {
  const r = task?.result
  if (!r || r.state !== 'completed') {
    fail(`task ${task?.name ?? '?'} did not complete: ${r && 'error' in r ? String(r.error) : r?.state}`)
  }
  return { ns: (r.latency.mean * 1e6) / QUERIES, rme: r.latency.rme, samples: r.latency.samplesCount }
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
  console.log(`${QUERIES} queries per batch; ns/op = mean batch time / ${QUERIES}\n`)

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

  const bench = new Bench({ time: 1_000, warmupTime: 250, iterations: 20, warmupIterations: 5 })
  for (const c of cases) {
    const { policy, js } = c
    bench.add(`tethered ${c.size}`, batch(c, `tethered ${c.size}`, (h, p) => policy.allows(h, p)))
    bench.add(`pure-JS ${c.size}`, batch(c, `pure-JS ${c.size}`, (h, p) => js.allows(h, p)))
  }
  await bench.run()

  const base = nsPerOp(bench.getTask(`tethered ${SIZES[0]}`)).ns
  const rows: string[][] = []
  const tethered = new Map<number, number>()
  for (const c of cases) {
    const t = nsPerOp(bench.getTask(`tethered ${c.size}`))
    const j = nsPerOp(bench.getTask(`pure-JS ${c.size}`))
    tethered.set(c.size, t.ns)
    rows.push([
      c.size.toLocaleString('en-US'),
      `${fmt(t.ns)} ±${t.rme.toFixed(1)}%`,
      `${fmt(j.ns)} ±${j.rme.toFixed(1)}%`,
      `${(j.ns / t.ns).toFixed(2)}x`,
      `${(t.ns / base).toFixed(2)}x`,
    ])
  }
  printTable(['rules', 'tethered ns/op', 'pure-JS ns/op', 'JS/tethered', 'tethered growth vs 10'], rows)

  const small = tethered.get(10)!
  const large = tethered.get(10_000)!
  const targets = [
    { ok: small <= TARGET_SMALL_NS, text: `<= ${TARGET_SMALL_NS} ns at 10 rules: ${fmt(small)} ns` },
    { ok: large <= TARGET_LARGE_NS, text: `<= ${TARGET_LARGE_NS} ns at 10,000 rules: ${fmt(large)} ns` },
    { ok: large / small <= TARGET_GROWTH, text: `10,000-rule cost <= ${TARGET_GROWTH}x the 10-rule cost: ${(large / small).toFixed(2)}x` },
  ]
  console.log()
  for (const t of targets) console.log(`target ${t.ok ? 'MET   ' : 'MISSED'} ${t.text}`)

  if (breakdown) await runBreakdown(cases)
  if (checkTargets && targets.some((t) => !t.ok)) process.exitCode = 1
}

/** Where one call's time goes: harness loop, bare napi calls, string conversion, validation. */
async function runBreakdown(cases: Case[]): Promise<void> {
  // Baselines call whichever of these native functions the binding has (its API evolves).
  const fn = (name: string): ((...a: unknown[]) => unknown) | undefined => {
    const f = (native as unknown as Record<string, unknown>)[name]
    return typeof f === 'function' ? (f as (...a: unknown[]) => unknown).bind(native) : undefined
  }
  const clearResolutions = fn('clearResolutions')
  const isIp = fn('isIp')
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
      label: 'napi free function, no arguments (clearResolutions)',
      make:
        clearResolutions &&
        ((c) => () => {
          for (let i = 0; i < c.hosts.length; i++) clearResolutions()
        }),
    },
    {
      label: 'napi getter on the policy handle (ruleCount)',
      make: (c) => {
        const compiled = Policy.compiled(c.policy)
        return () => {
          let n = 0
          for (let i = 0; i < c.hosts.length; i++) n += compiled.ruleCount
          if (n !== c.size * c.hosts.length) throw new Error('ruleCount')
        }
      },
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
      label: 'native handle allows(host, port), no JS validation',
      make: (c) => {
        const compiled = Policy.compiled(c.policy)
        return batch(c, 'native', (h, p) => compiled.allows(h, p ?? -1) === 1)
      },
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
