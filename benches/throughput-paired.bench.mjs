// Connection throughput with tethered active vs Node's own functions, in ONE client process:
// tethered's shims are switched in and out between rounds, so every pair of rounds compares the
// two on the same process, CPU placement, memory layout and moment. See benches/README.md.
//
//   node benches/throughput-paired.bench.mjs          (after `node scripts/build.mjs --if-needed`; ~2 min)
//   node benches/throughput-paired.bench.mjs --pairs=100 --tcp=2000 --http=1000 --concurrency=8 --warmup=5000 --rules=1000
//   node benches/throughput-paired.bench.mjs --check-targets   (exit 1 when a target is missed)
//   node benches/throughput-paired.bench.mjs --only=addRequest,connect   (diagnosis: switch only the
//       shims of these names, the others stay active in both states; no target is judged;
//       add --http-ip-rule to switch getaddrinfo alone)
//   node benches/throughput-paired.bench.mjs --floor   (diagnosis: pass-through wrappers instead of
//       tethered's shims: the cost of intercepting these paths from JS at all)
//
// How "tethered off" is made: before tethered loads, this file reads Node's own functions on
// every path the benchmark takes (http.Agent, net.Socket, the TCP and DNS bindings, dns,
// dns.promises); after activate() it finds each one tethered replaced and, for the "off"
// rounds, puts Node's back (and unsubscribes tethered's request-level diagnostics channels).
// Each switch is verified: off, the TCP binding is native and a connect to 127.0.0.2 is refused
// by the kernel; on, the binding is tethered's and that connect is refused by tethered.
//
// Complements throughput.bench.mjs (separate processes, tethered never loaded in the baseline):
// there, a process's own placement and layout move its rate by several %, which only many fresh
// processes average out; here they cancel within each pair. What stays shared is the JIT state:
// Node's call sites see both the native functions and tethered's wrappers.
import { fork } from 'node:child_process'
import dc from 'node:diagnostics_channel'
import dns from 'node:dns'
import http from 'node:http'
import net from 'node:net'
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { TARGET, connectTo, expectBlocked, getFrom, httpOnce, intOption, median, policyRules, runRound, table, tcpBindingIsNative, tcpOnce } from './throughput-common.mjs'

const argv = process.argv.slice(2)
const pairs = intOption(argv, 'pairs', 100)
const totals = { tcp: intOption(argv, 'tcp', 2000), http: intOption(argv, 'http', 1000) }
const concurrency = intOption(argv, 'concurrency', 8)
const warmup = intOption(argv, 'warmup', 5000)
const ruleCount = intOption(argv, 'rules', 1000)
const KINDS = ['tcp', 'http']
const CHANNELS = ['http.client.request.created', 'undici:request:create']

// ------------------------------------------------------------------------------ switching

/** The objects whose functions the measured paths call, as tethered patches them. */
function holders() {
  const tcp = process.binding('tcp_wrap').TCP.prototype
  const cares = process.binding('cares_wrap')
  return [http.Agent.prototype, net.Socket.prototype, tcp, cares, cares.ChannelWrap.prototype, dns, dns.promises]
}

const subscribers = (name) => [...(dc.channel(name)._subscribers ?? [])]

function snapshot() {
  return {
    props: holders().map((holder) => [holder, new Map(Object.getOwnPropertyNames(holder).map((key) => [key, Object.getOwnPropertyDescriptor(holder, key)?.value]))]),
    channels: new Map(CHANNELS.map((name) => [name, subscribers(name)])),
  }
}

/** What tethered changed since `before`: replaced functions and new channel subscribers. */
function changesSince(before) {
  const functions = []
  for (const [holder, originals] of before.props) {
    for (const [key, original] of originals) {
      const now = Object.getOwnPropertyDescriptor(holder, key)?.value
      if (typeof original === 'function' && now !== original) functions.push({ holder, key, original, shim: now })
    }
  }
  const channels = []
  for (const [name, earlier] of before.channels) {
    for (const fn of subscribers(name)) if (!earlier.includes(fn)) channels.push({ name, fn })
  }
  return { functions, channels }
}

function switchTethered(changes, on) {
  for (const f of changes.functions) f.holder[f.key] = on ? f.shim : f.original
  for (const c of changes.channels) {
    if (on) dc.subscribe(c.name, c.fn)
    else dc.unsubscribe(c.name, c.fn)
  }
}

function refusedByKernel(port) {
  return new Promise((resolve, reject) => {
    connectTo('127.0.0.2', port, (err) => {
      if (err?.code === 'ECONNREFUSED') resolve()
      else reject(new Error(`self-check: with tethered switched off, 127.0.0.2 gave ${err ? err.code ?? err.message : 'a connection'}`))
    })
  })
}

// ------------------------------------------------------------------------------ run

function startServer() {
  const server = fork(fileURLToPath(new URL('./throughput-server.mjs', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    server.once('message', (ports) => resolve({ server, ...ports }))
    server.once('exit', (code) => reject(new Error(`throughput-server.mjs exited with ${code}`)))
  })
}

/** The order statistics around the median that bound it with ~95 % confidence. */
function medianInterval(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const half = Math.ceil(0.98 * Math.sqrt(s.length))
  const mid = (s.length - 1) / 2
  return [s[Math.max(0, Math.floor(mid - half))], s[Math.min(s.length - 1, Math.ceil(mid + half))]]
}

async function main() {
  console.log(`tethered paired throughput benchmark: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}`)
  console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
  const { server, tcpPort, httpPort } = await startServer()
  const before = snapshot()
  const { activate } = await import('../dist/index.mjs')
  let blocks = 0
  const logged = []
  const rules = policyRules(ruleCount)
  rules.push(`127.0.0.1:${tcpPort}`, `localhost:${httpPort}`)
  // Diagnosis: with an IP rule for the HTTP server, its connects pass without the lookup's record,
  // so the lookup shim can be switched alone.
  if (argv.includes('--http-ip-rule')) rules.push(`127.0.0.1:${httpPort}`)
  activate({ allow: rules, allowLocalhost: false, onBlocked: () => void blocks++, logger: { warn: (m) => logged.push(m), error: (m) => logged.push(m) } })
  const changes = changesSince(before)
  const only = argv.find((x) => x.startsWith('--only='))?.slice(7).split(',')
  if (only) {
    changes.functions = changes.functions.filter((f) => only.includes(f.key))
    changes.channels = []
  }
  // Diagnosis: the same functions wrapped by wrappers that only call Node's (no policy at all):
  // what intercepting these paths from JS costs by itself.
  const floor = argv.includes('--floor')
  if (floor) {
    for (const f of changes.functions) {
      const original = f.original
      f.shim = function passThrough(...args) {
        return Reflect.apply(original, this, args)
      }
    }
    for (const c of changes.channels) dc.unsubscribe(c.name, c.fn)
    changes.channels = []
    switchTethered(changes, true)
  }
  const diagnosis = only || floor
  console.log(
    `tethered: activate() with ${rules.length.toLocaleString('en-US')} rules (the destinations last), allowLocalhost: false; ` +
      `switched per round: ${changes.functions.map((f) => f.key).join(', ')}; ${changes.channels.length} diagnostics channel subscriber(s)`,
  )

  // Both states proven before anything is timed.
  if (tcpBindingIsNative()) throw new Error('self-check: tethered is active but the TCP binding is not patched')
  if (!floor) {
    await expectBlocked((p, d) => connectTo('127.0.0.2', p, d), tcpPort, 'TCP to 127.0.0.2')
    await expectBlocked((p, d) => getFrom('127.0.0.2', p, d), httpPort, 'HTTP to 127.0.0.2')
    if (blocks !== 2) throw new Error(`self-check: expected 2 reported blocks, got ${blocks}`)
  }
  if (!diagnosis) {
    switchTethered(changes, false)
    if (!tcpBindingIsNative()) throw new Error('self-check: tethered switched off but the TCP binding is still patched')
    await refusedByKernel(tcpPort)
    switchTethered(changes, true)
    if (tcpBindingIsNative()) throw new Error('self-check: tethered switched back on but the TCP binding is native')
  }
  blocks = 0
  logged.length = 0

  console.log(
    `TCP: new connection to 127.0.0.1, 4-byte echo, server closes (${totals.tcp} per round). HTTP: GET http://localhost/ by name, ` +
      `non-keep-alive agent, 'Connection: close' (${totals.http} per round). Concurrency ${concurrency}; ${pairs} pairs of rounds per kind, ` +
      `order alternating (node, tethered / tethered, node); warm-up ${warmup} of each kind in each state.\n`,
  )
  const ports = { tcp: tcpPort, http: httpPort }
  const once = { tcp: tcpOnce, http: httpOnce }
  const run = async (kind, on, total) => {
    switchTethered(changes, on)
    const r = await runRound(once[kind], ports[kind], total, concurrency)
    if (blocks || logged.length) throw new Error(`tethered blocked or logged during a round: ${blocks} blocks; ${logged.slice(0, 3).join(' | ')}`)
    return { rate: (total * 1000) / r.ms, cpuPerOp: r.cpuUs / total }
  }
  const results = { tcp: [], http: [] }
  try {
    for (const kind of KINDS) for (const on of [false, true, false, true]) await run(kind, on, warmup / 2)
    for (let i = 0; i < pairs; i++) {
      for (const kind of KINDS) {
        const first = i % 2 === 0 ? false : true
        const a = await run(kind, first, totals[kind])
        const b = await run(kind, !first, totals[kind])
        results[kind].push(first ? { tethered: a, node: b } : { node: a, tethered: b })
      }
      if ((i + 1) % 50 === 0) process.stderr.write(`${i + 1}/${pairs} pairs done\n`)
    }
  } finally {
    switchTethered(changes, true)
    server.disconnect()
  }

  const pct = (x) => `${(x * 100).toFixed(1)} %`
  const fmtRate = (x) => Math.round(x).toLocaleString('en-US')
  const stat = {}
  for (const kind of KINDS) {
    const rows = results[kind]
    const ratios = rows.map((r) => r.tethered.rate / r.node.rate)
    const cpuRatios = rows.map((r) => r.tethered.cpuPerOp / r.node.cpuPerOp)
    stat[kind] = {
      nodeRate: median(rows.map((r) => r.node.rate)),
      tetheredRate: median(rows.map((r) => r.tethered.rate)),
      nodeCpu: median(rows.map((r) => r.node.cpuPerOp)),
      tetheredCpu: median(rows.map((r) => r.tethered.cpuPerOp)),
      ratio: median(ratios),
      interval: medianInterval(ratios),
      cpuRatio: median(cpuRatios),
      cpuInterval: medianInterval(cpuRatios),
    }
  }
  const span = (m, [lo, hi]) => `${pct(m)} (${pct(lo)}-${pct(hi)})`
  table(
    ['', 'TCP', 'HTTP'],
    [
      ['rate, Node own functions (median, per s)', fmtRate(stat.tcp.nodeRate), fmtRate(stat.http.nodeRate)],
      ['rate, tethered active (median, per s)', fmtRate(stat.tcp.tetheredRate), fmtRate(stat.http.tetheredRate)],
      ['tethered / Node, rate (median of pairs, 95 % CI)', span(stat.tcp.ratio, stat.tcp.interval), span(stat.http.ratio, stat.http.interval)],
      ['client CPU µs per op, Node / tethered (medians)', `${stat.tcp.nodeCpu.toFixed(1)} / ${stat.tcp.tetheredCpu.toFixed(1)}`, `${stat.http.nodeCpu.toFixed(1)} / ${stat.http.tetheredCpu.toFixed(1)}`],
      ['tethered / Node, client CPU (median of pairs, 95 % CI)', span(stat.tcp.cpuRatio, stat.tcp.cpuInterval), span(stat.http.cpuRatio, stat.http.cpuInterval)],
    ],
  )
  console.log(`\nload average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
  let missed = false
  if (only) {
    console.log(`diagnosis run (--only=${only.join(',')}): the other shims were active in both states; no target judged`)
    return
  }
  if (floor) {
    console.log('diagnosis run (--floor): "tethered" was pass-through wrappers around the same functions, no policy; no target judged')
    return
  }
  for (const kind of KINDS) {
    const s = stat[kind]
    const ok = s.ratio >= TARGET
    missed ||= !ok
    console.log(`target ${ok ? 'MET   ' : 'MISSED'} ${kind.toUpperCase()} rate with tethered >= ${TARGET * 100} % of Node's own: ${pct(s.ratio)} (95 % CI ${pct(s.interval[0])}-${pct(s.interval[1])})`)
  }
  if (argv.includes('--json')) console.log(JSON.stringify({ totals, concurrency, pairs, stat, results }))
  if (missed && argv.includes('--check-targets')) process.exitCode = 1
}

await main()
