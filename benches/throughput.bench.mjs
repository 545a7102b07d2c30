// Connection throughput with tethered active vs Node untouched: new loopback TCP connections
// per second and non-keep-alive HTTP requests per second. See benches/README.md.
//
//   node benches/throughput.bench.mjs                 (after `node scripts/build.mjs --if-needed`; ~2 min)
//   node benches/throughput.bench.mjs --sets=12 --rounds=3 --tcp=2000 --http=1000 --concurrency=8 \
//       --warmup-tcp=5000 --warmup-http=5000   (the defaults)
//   node benches/throughput.bench.mjs --check-targets (exit 1 when tethered < 97 % of baseline)
//   node benches/throughput.bench.mjs --cpu-prof      (every client writes a .cpuprofile to
//                                                      target/throughput-prof/)
//   node benches/throughput.bench.mjs --json          (also every round's figures, as JSON)
//
// Processes (all on this machine, all traffic on loopback):
// - server (throughput-server.mjs): TCP echo-and-close and HTTP 'ok' + `Connection: close` on
//   127.0.0.1, in its own process, so the clients pay only the client side of each connection.
// - baseline client: this file with --role=baseline. It never loads tethered, so its Node is
//   untouched (deactivate() would not do: the shims stay installed after the first activate).
// - control client: a second baseline. control/baseline is the noise floor of the comparison.
// - tethered client: this file with --role=tethered. activate() with 1,000 rules plus rules for
//   the destinations, allowLocalhost: false, so every decision goes through the rules rather
//   than the localhost shortcut.
// - this process: orchestrates; idle while a round runs.
// The clients run one round at a time, in rotating order, so drift on a busy host hits all
// alike; a round is a fixed number of operations at a fixed concurrency. Every few rounds the
// three clients are replaced by fresh processes (a "set"): one process's CPU placement and
// memory layout bias its rate by several %, and a new draw each set averages that out. Rates are
// medians over all rounds; the spread is the min/max of the per-round ratios to the baseline
// round run next to it.
import { fork } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { TARGET, connectTo, intOption, expectBlocked, getFrom, httpOnce, median, policyRules, runRound, table, tcpBindingIsNative, tcpOnce } from './throughput-common.mjs'

const argv = process.argv.slice(2)
const opt = (name, fallback) => intOption(argv, name, fallback)
const role = argv.find((x) => x.startsWith('--role='))?.slice(7) ?? 'main'

// ------------------------------------------------------------------------------ client side

async function client() {
  const tcpPort = opt('tcp-port', 0)
  const httpPort = opt('http-port', 0)
  const info = { role, node: process.version }
  const logged = []
  let blocks = 0
  if (role === 'tethered') {
    const { activate } = await import('../dist/index.mjs')
    const rules = policyRules(1000)
    // The destinations, at the end of the list: the TCP echo server by IP and port, the HTTP
    // server by name and port (its connect to 127.0.0.1 is allowed through the IP -> hostname
    // cache filled by the lookup, not by an IP rule).
    rules.push(`127.0.0.1:${tcpPort}`, `localhost:${httpPort}`)
    activate({
      allow: rules,
      allowLocalhost: false,
      onBlocked: () => void blocks++,
      logger: { warn: (m) => logged.push(m), error: (m) => logged.push(m) },
    })
    if (tcpBindingIsNative()) throw new Error('self-check: tethered is active but the TCP binding is not patched')
    // Proof that the policy is enforced, not just loaded: loopback addresses outside the
    // rules are refused (127.0.0.2: nothing listens there, so without tethered it would be
    // ECONNREFUSED, never EgressBlocked).
    await expectBlocked((p, d) => connectTo('127.0.0.2', p, d), tcpPort, 'TCP to 127.0.0.2')
    await expectBlocked((p, d) => getFrom('127.0.0.2', p, d), httpPort, 'HTTP to 127.0.0.2')
    if (blocks !== 2) throw new Error(`self-check: expected 2 reported blocks, got ${blocks}`)
    blocks = 0
    logged.length = 0
    info.rules = rules.length
  } else if (!tcpBindingIsNative()) {
    throw new Error('self-check: the baseline client has a patched TCP binding')
  }
  process.on('message', async (msg) => {
    if (msg?.cmd !== 'round') return
    const once = msg.kind === 'tcp' ? tcpOnce : httpOnce
    const port = msg.kind === 'tcp' ? tcpPort : httpPort
    try {
      const result = await runRound(once, port, msg.total, msg.concurrency)
      if (blocks || logged.length) throw new Error(`tethered blocked or logged during the round: ${blocks} blocks; ${logged.slice(0, 3).join(' | ')}`)
      process.send({ ok: true, ...result })
    } catch (err) {
      process.send({ ok: false, error: String(err?.stack ?? err) })
    }
  })
  process.on('disconnect', () => process.exit(0))
  process.send({ ready: true, info })
}

// ------------------------------------------------------------------------------ orchestrator

function start(file, args, execArgv) {
  const child = fork(file, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const first = new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', (code) => reject(new Error(`${file} ${args.join(' ')} exited with ${code} before it was ready`)))
  })
  return { child, first }
}

function ask(child, msg) {
  return new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`client exited with ${code} during a round`))
    child.once('exit', onExit)
    child.once('message', (reply) => {
      child.off('exit', onExit)
      if (reply.ok) resolve(reply)
      else reject(new Error(reply.error))
    })
    child.send(msg)
  })
}

const MODES = ['baseline', 'control', 'tethered']
const KINDS = ['tcp', 'http']

async function main() {
  const sets = opt('sets', 12)
  const rounds = opt('rounds', 3)
  const totals = { tcp: opt('tcp', 2000), http: opt('http', 1000) }
  // A fresh process needs ~5,000 connections before its connection path is fully optimized
  // (until then a round costs up to 3x the CPU, tethered's wrappers included).
  const warmup = { tcp: opt('warmup-tcp', 5000), http: opt('warmup-http', 5000) }
  const concurrency = opt('concurrency', 8)
  const self = fileURLToPath(import.meta.url)
  const root = fileURLToPath(new URL('..', import.meta.url))
  let execArgv = []
  if (argv.includes('--cpu-prof')) {
    const dir = `${root}target/throughput-prof`
    mkdirSync(dir, { recursive: true })
    execArgv = ['--cpu-prof', '--cpu-prof-interval=250', `--cpu-prof-dir=${dir}`]
  }

  console.log(`tethered throughput benchmark: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}`)
  console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
  const server = start(fileURLToPath(new URL('./throughput-server.mjs', import.meta.url)), [], [])
  const ports = await server.first
  const portArgs = [`--tcp-port=${ports.tcpPort}`, `--http-port=${ports.httpPort}`]
  console.log(
    'tethered: activate() with 1,000 rules + 2 for the destinations (last), allowLocalhost: false, self-checked (127.0.0.2 refused); ' +
      'baseline and control: plain Node, tethered never loaded (control is a second baseline: its ratio is the noise floor)',
  )
  console.log(
    "TCP: new connection to 127.0.0.1 (IP literal), 4-byte echo, server closes. HTTP: GET http://localhost/ by name " +
      "(getaddrinfo, family 4), non-keep-alive agent, 'Connection: close'.",
  )
  console.log(
    `${sets} sets of fresh client processes (each warmed up with ${warmup.tcp} TCP connections and ${warmup.http} HTTP requests) ` +
      `x ${rounds} rounds per mode and kind, in rotating order; a round is ${totals.tcp} TCP connections or ` +
      `${totals.http} HTTP requests at concurrency ${concurrency}\n`,
  )

  // A set is one fresh process per mode: a process keeps its CPU placement and memory layout,
  // which alone moves its rate by several % (two identical baselines differ that much), so each
  // comparison is repeated across new processes rather than measured on one long-lived pair.
  const results = { tcp: [], http: [] } // per kind: [{ baseline, control, tethered }], one per round
  const live = new Set()
  try {
    for (let set = 0; set < sets; set++) {
      const started = MODES.map((mode) => start(self, [`--role=${mode === 'tethered' ? 'tethered' : 'baseline'}`, ...portArgs], execArgv))
      for (const s of started) live.add(s.child)
      await Promise.all(started.map((s) => s.first))
      const clients = Object.fromEntries(MODES.map((mode, i) => [mode, started[i].child]))
      const run = async (mode, kind, total) => {
        const r = await ask(clients[mode], { cmd: 'round', kind, total, concurrency })
        return { rate: (total * 1000) / r.ms, cpuPerOp: r.cpuUs / total }
      }
      // Warm-up (JIT, the lookup thread pool): not counted.
      for (const kind of KINDS) for (const mode of MODES) await run(mode, kind, warmup[kind])
      for (let r = 0; r < rounds; r++) {
        const turn = set * rounds + r
        const rotated = MODES.map((_, i) => MODES[(i + turn) % MODES.length])
        const order = Math.floor(turn / MODES.length) % 2 ? rotated.reverse() : rotated
        for (const kind of KINDS) {
          const row = {}
          for (const mode of order) row[mode] = await run(mode, kind, totals[kind])
          results[kind].push(row)
        }
      }
      for (const s of started) {
        s.child.disconnect()
        live.delete(s.child)
      }
      process.stderr.write(`set ${set + 1}/${sets} done\n`)
    }
  } finally {
    for (const c of live) c.disconnect()
    server.child.disconnect()
  }

  const fmtRate = (x) => Math.round(x).toLocaleString('en-US')
  const pct = (x) => `${(x * 100).toFixed(1)} %`
  const stat = {}
  for (const kind of KINDS) {
    const rows = results[kind]
    const of = (mode, field) => rows.map((row) => row[mode][field])
    const ratios = (mode) => rows.map((row) => row[mode].rate / row.baseline.rate)
    stat[kind] = {}
    for (const mode of MODES) {
      const rs = ratios(mode)
      stat[kind][mode] = {
        rate: median(of(mode, 'rate')),
        cpu: median(of(mode, 'cpuPerOp')),
        pairMedian: median(rs),
        pairMin: Math.min(...rs),
        pairMax: Math.max(...rs),
      }
    }
    for (const mode of MODES) stat[kind][mode].ratio = stat[kind][mode].rate / stat[kind].baseline.rate
  }
  const row = (label, mode) => {
    const [t, h] = [stat.tcp[mode], stat.http[mode]]
    return [label, fmtRate(t.rate), fmtRate(h.rate), t.cpu.toFixed(1), h.cpu.toFixed(1)]
  }
  const ratioRow = (label, mode) => {
    const [t, h] = [stat.tcp[mode], stat.http[mode]]
    const span = (s) => `${pct(s.ratio)} (${pct(s.pairMin)}-${pct(s.pairMax)})`
    const cpu = (k) => pct(stat[k][mode].cpu / stat[k].baseline.cpu)
    return [label, span(t), span(h), cpu('tcp'), cpu('http')]
  }
  table(
    ['mode', 'TCP conn/s (median)', 'HTTP req/s (median)', 'TCP client CPU µs/conn', 'HTTP client CPU µs/req'],
    [
      row('baseline (no tethered)', 'baseline'),
      row('control (no tethered)', 'control'),
      row('tethered (1,002 rules)', 'tethered'),
      ratioRow('tethered / baseline', 'tethered'),
      ratioRow('control / baseline', 'control'),
    ],
  )
  console.log(
    'ratio rows: ratio of the medians (min-max of the per-round ratios). Client CPU: the client process\'s CPU time (all threads) ' +
      'per operation; its ratio row compares the medians.',
  )
  console.log(`\nload average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (this benchmark keeps about 2 CPUs busy)`)
  let missed = false
  for (const kind of KINDS) {
    const s = stat[kind]
    const ok = s.tethered.ratio >= TARGET
    missed ||= !ok
    console.log(
      `target ${ok ? 'MET   ' : 'MISSED'} ${kind.toUpperCase()} rate with tethered >= ${TARGET * 100} % of baseline: ${pct(s.tethered.ratio)} ` +
        `(median per-round ratio ${pct(s.tethered.pairMedian)}; noise floor: control/baseline ${pct(s.control.ratio)})`,
    )
  }
  if (argv.includes('--json')) console.log(JSON.stringify({ totals, concurrency, sets, rounds, stat, results }))
  if (missed && argv.includes('--check-targets')) process.exitCode = 1
}

if (role === 'main') await main()
else await client()
