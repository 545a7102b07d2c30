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
import http from 'node:http'
import net from 'node:net'
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'

const TARGET = 0.97
const PAYLOAD = Buffer.from('ping')

const argv = process.argv.slice(2)
const opt = (name, fallback) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`))
  const n = a ? Number(a.slice(name.length + 3)) : fallback
  return Number.isInteger(n) && n > 0 ? n : fallback
}
const role = argv.find((x) => x.startsWith('--role='))?.slice(7) ?? 'main'

// ------------------------------------------------------------------------------ the rules

/**
 * 1,000 deterministic rules in the mix of a real allow list (as in benches/workload.ts):
 * 50 % exact hosts (half with :443), 30 % wildcards (mostly `*.domain:443`), 20 % networks
 * (IPv4 CIDRs /16-/32, some with a port, every tenth an IPv6 one). None covers loopback.
 */
function policyRules(count) {
  const names = ['stripe', 'github', 'acme', 'globex', 'initech', 'sentry', 'datadog', 'vercel', 'twilio', 'segment', 'okta', 'npmjs']
  const subs = ['api', 'www', 'auth', 'cdn', 'hooks', 'uploads', 'login', 'static']
  const tlds = ['com', 'io', 'net', 'dev', 'app', 'cloud']
  const rules = []
  for (let i = 0; i < count; i++) {
    const domain = `${names[i % names.length]}${i}.${tlds[i % tlds.length]}`
    const slot = i % 10
    if (slot < 5) rules.push(`${subs[i % subs.length]}.${domain}${i % 2 ? ':443' : ''}`)
    else if (slot < 8) rules.push(i % 7 === 0 ? `*.${domain}` : `*.${domain}:443`)
    else if (i % 100 === 9) rules.push(`[2001:db8:${(0x100 + i).toString(16)}::]/48`)
    else {
      const len = [16, 20, 24, 24, 28, 32][i % 6]
      const base = ((10 << 24) | ((i * 7919) & 0xffffff)) >>> 0
      const net4 = (base & (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0)) >>> 0
      const text = `${net4 >>> 24}.${(net4 >>> 16) & 255}.${(net4 >>> 8) & 255}.${net4 & 255}${len === 32 ? '' : `/${len}`}`
      rules.push(i % 3 === 0 ? `${text}:5432` : text)
    }
  }
  return rules
}

// ------------------------------------------------------------------------------ client side

/** One TCP connection to 127.0.0.1: connect, send 4 bytes, get them back, see the close. */
function tcpOnce(port, done) {
  let echoed = false
  let finished = false
  const finish = (err) => {
    if (finished) return
    finished = true
    done(err)
  }
  const socket = net.connect({ host: '127.0.0.1', port })
  socket.on('error', finish)
  socket.once('data', (chunk) => {
    echoed = chunk.length === PAYLOAD.length
  })
  socket.on('close', () => finish(echoed ? null : new Error('TCP: closed without the echo')))
  socket.write(PAYLOAD)
}

/** A non-keep-alive agent: every request is a new connection, as with `Connection: close`. */
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity })

/**
 * One HTTP request to `localhost` by name: a getaddrinfo lookup, a new connection, 200 'ok'.
 * family 4: the server listens on 127.0.0.1 only, and a host whose `localhost` also maps to ::1
 * would otherwise add a refused IPv6 attempt to every request.
 */
function httpOnce(port, done) {
  let finished = false
  const finish = (err) => {
    if (finished) return
    finished = true
    done(err)
  }
  const req = http.get({ host: 'localhost', port, path: '/', agent, family: 4, headers: { connection: 'close' } }, (res) => {
    let body = ''
    res.setEncoding('utf8')
    res.on('data', (chunk) => (body += chunk))
    res.on('end', () => finish(res.statusCode === 200 && body === 'ok' ? null : new Error(`HTTP: ${res.statusCode} ${JSON.stringify(body)}`)))
    res.on('error', finish)
  })
  req.on('error', finish)
}

/** `total` operations, `concurrency` in flight; resolves with wall time and this process's CPU. */
function runRound(once, port, total, concurrency) {
  return new Promise((resolve, reject) => {
    let started = 0
    let completed = 0
    let failed = null
    const cpu0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    const next = () => {
      if (failed) return
      if (started === total) {
        if (completed === total) {
          const ns = Number(process.hrtime.bigint() - t0)
          const cpu = process.cpuUsage(cpu0)
          resolve({ ms: ns / 1e6, cpuUs: cpu.user + cpu.system })
        }
        return
      }
      started++
      once(port, (err) => {
        if (err) {
          failed = err
          reject(err)
          return
        }
        completed++
        next()
      })
    }
    for (let i = 0; i < concurrency && i < total; i++) next()
  })
}

/** Is the TCP binding's connect still Node's own? tethered's shims replace it. */
function tcpBindingIsNative() {
  // process.binding is what tethered patches; reading it here changes nothing.
  const TCP = process.binding('tcp_wrap').TCP
  return Function.prototype.toString.call(TCP.prototype.connect).includes('[native code]')
}

/** Expects `once` against a destination outside the allow list to fail with EgressBlocked. */
function expectBlocked(once, port, what) {
  return new Promise((resolve, reject) => {
    once(port, (err) => {
      if (err?.code === 'ERR_TETHERED_EGRESS_BLOCKED') resolve()
      else reject(new Error(`self-check: ${what} was not blocked by tethered (${err ? err.code ?? err.message : 'it succeeded'})`))
    })
  })
}

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

// Connections to an explicit host, for the self-check only.
function connectTo(host, port, done) {
  const socket = net.connect({ host, port })
  socket.on('error', done)
  socket.on('connect', () => {
    socket.destroy()
    done(null)
  })
}
function getFrom(host, port, done) {
  http.get({ host, port, agent }, (res) => {
    res.resume()
    done(null)
  }).on('error', done)
}

// ------------------------------------------------------------------------------ orchestrator

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

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

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')
  console.log(line(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'))
  for (const r of rows) console.log(line(r))
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
