// What the `tethered:allowed` diagnostics_channel costs an allowed decision: the decision entry
// every shim calls (check() in dist/decide.js, no socket, no lookup), with and without a
// subscriber. Without one, the only extra work is one `hasSubscribers` read, so "no subscriber"
// must sit on the floor set by the same decision minus the channel. See benches/README.md.
//
//   node --import tsx benches/observe.bench.ts
import { cpus, loadavg } from 'node:os'
import diagnosticsChannel from 'node:diagnostics_channel'
import { Bench, type Task } from 'tinybench'
import { activate, deactivate } from '../dist/index.js'
import { check } from '../dist/decide.js'
import { native } from '../dist/native.js'

const BATCH = 1_000
const ROUNDS = 5
// Names and addresses, TCP (port) and lookups (-1): all allowed, as on a busy allowed path.
const QUERIES: ReadonlyArray<readonly ['tcp' | 'dns', string, number]> = [
  ['tcp', 'api.example.com', 443],
  ['dns', 'api.example.com', -1],
  ['tcp', 'db.internal.example', 5432],
  ['tcp', '198.51.100.7', 443],
  ['tcp', 'cdn7.assets.example.net', 443],
]

function fail(message: string): never {
  console.error(`\nBENCHMARK INVALID: ${message}`)
  process.exit(1)
}

let events = 0
const subscriber = (): void => void events++

/** One batch of BATCH allowed decisions; any block invalidates the run. */
function decisions(): void {
  for (let i = 0; i < BATCH; i++) {
    const [kind, host, port] = QUERIES[i % QUERIES.length]!
    if (check(kind, host, port) !== null) throw new Error(`${host}:${port} was blocked; every query must be allowed`)
  }
}

/** The floor: the native verdict alone, without check()'s JS around it (frame, channel, reporting). */
const unscopedCheck = native.chainChecker(null)
function nativeOnly(): void {
  for (let i = 0; i < BATCH; i++) {
    const [, host, port] = QUERIES[i % QUERIES.length]!
    if (unscopedCheck(host, port, -1) !== 0) throw new Error(`${host}:${port}: native verdict is not "allowed"`)
  }
}

function nsPerDecision(task: Task | undefined): number {
  const r = task?.result
  if (!r || r.state !== 'completed') fail(`task ${task?.name ?? '?'} did not complete: ${r && 'error' in r ? String(r.error) : r?.state}`)
  return (r.latency.p50 * 1e6) / BATCH
}

async function main(): Promise<void> {
  console.log(`tethered:allowed subscriber cost: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}`)
  console.log(`${BATCH} allowed decisions per batch; ns/decision = median batch / ${BATCH}, best of ${ROUNDS} rounds\n`)
  activate({ allow: ['api.example.com:443', '*.internal.example:5432', '198.51.100.0/24:443', 'cdn?.assets.example.net:443'], logger: null })
  const channel = diagnosticsChannel.channel('tethered:allowed')

  // The subscriber must see every decision while subscribed, and nothing is published otherwise.
  diagnosticsChannel.subscribe('tethered:allowed', subscriber)
  decisions()
  diagnosticsChannel.unsubscribe('tethered:allowed', subscriber)
  if (events !== BATCH) fail(`the subscriber saw ${events} events for ${BATCH} decisions`)
  decisions()
  if (events !== BATCH || channel.hasSubscribers) fail('events were published with no subscriber')

  const best = new Map<string, number>()
  for (let round = 0; round < ROUNDS; round++) {
    const bench = new Bench({ time: 400, warmupTime: 100, iterations: 10, warmupIterations: 3 })
    bench.add('native verdict only (floor)', nativeOnly)
    bench.add('check(), no subscriber', decisions)
    bench.add('check(), 1 subscriber', decisions, {
      beforeAll: () => void diagnosticsChannel.subscribe('tethered:allowed', subscriber),
      afterAll: () => void diagnosticsChannel.unsubscribe('tethered:allowed', subscriber),
    })
    await bench.run()
    for (const task of bench.tasks) best.set(task.name, Math.min(best.get(task.name) ?? Infinity, nsPerDecision(task)))
    process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`)
  }
  deactivate()

  const floor = best.get('native verdict only (floor)')!
  const without = best.get('check(), no subscriber')!
  const withSub = best.get('check(), 1 subscriber')!
  const width = Math.max(...[...best.keys()].map((k) => k.length))
  for (const [name, ns] of best) console.log(`${name.padEnd(width)}  ${ns.toFixed(1).padStart(7)} ns/decision`)
  console.log()
  const signed = (ns: number): string => `${ns >= 0 ? '+' : ''}${ns.toFixed(1)} ns`
  console.log(`with a subscriber / without:        ${(withSub / without).toFixed(2)}x (${signed(withSub - without)}: event object + publish)`)
  console.log(`without a subscriber / native floor: ${(without / floor).toFixed(2)}x (${signed(without - floor)}: all of check()'s JS, the hasSubscribers read included)`)
  const load = loadavg()[0]!
  if (load > cpus().length / 4) console.log(`note: 1-minute load average ${load.toFixed(2)}: other processes compete for the CPUs, figures may be inflated`)
}

await main()
