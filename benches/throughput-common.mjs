// What both throughput benchmarks share: the allow list, one TCP connection and one HTTP
// request against benches/throughput-server.mjs, a round of them, and the self-check helpers.
import http from 'node:http'
import net from 'node:net'

/** The goal of the issue: tethered's rates at least 97 % of Node's own. */
export const TARGET = 0.97
const PAYLOAD = Buffer.from('ping')

/** `--name=N` from `argv`: a positive integer, else `fallback`. */
export function intOption(argv, name, fallback) {
  const a = argv.find((x) => x.startsWith(`--${name}=`))
  const n = a ? Number(a.slice(name.length + 3)) : fallback
  return Number.isInteger(n) && n > 0 ? n : fallback
}

/**
 * 1,000 deterministic rules in the mix of a real allow list (as in benches/workload.ts):
 * 50 % exact hosts (half with :443), 30 % wildcards (mostly `*.domain:443`), 20 % networks
 * (IPv4 CIDRs /16-/32, some with a port, every tenth an IPv6 one). None covers loopback.
 */
export function policyRules(count) {
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

/** One TCP connection to 127.0.0.1: connect, send 4 bytes, get them back, see the close. */
export function tcpOnce(port, done) {
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
export function httpOnce(port, done) {
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
export function runRound(once, port, total, concurrency) {
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
export function tcpBindingIsNative() {
  // process.binding is what tethered patches; reading it here changes nothing.
  const TCP = process.binding('tcp_wrap').TCP
  return Function.prototype.toString.call(TCP.prototype.connect).includes('[native code]')
}

/** Expects `once` against a destination outside the allow list to fail with EgressBlocked. */
export function expectBlocked(once, port, what) {
  return new Promise((resolve, reject) => {
    once(port, (err) => {
      if (err?.code === 'ERR_TETHERED_EGRESS_BLOCKED') resolve()
      else reject(new Error(`self-check: ${what} was not blocked by tethered (${err ? err.code ?? err.message : 'it succeeded'})`))
    })
  })
}

// Connections to an explicit host, for the self-check only.
export function connectTo(host, port, done) {
  const socket = net.connect({ host, port })
  socket.on('error', done)
  socket.on('connect', () => {
    socket.destroy()
    done(null)
  })
}
export function getFrom(host, port, done) {
  http.get({ host, port, agent }, (res) => {
    res.resume()
    done(null)
  }).on('error', done)
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

export function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')
  console.log(line(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'))
  for (const r of rows) console.log(line(r))
}

