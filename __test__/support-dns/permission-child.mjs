// Run by permission.spec.ts under `node --permission` (20: --experimental-permission). Imports
// tethered, activates the policy given in PERMISSION_CHILD (JSON; with `captureLogger`, through a
// logger whose lines are reported), tries each egress listed there, and prints one JSON line:
// what process.binding did, and each outcome as { ok: true } or { name, code, kind }.
import dgram from 'node:dgram'
import dns from 'node:dns'
import net from 'node:net'

const cfg = JSON.parse(process.env.PERMISSION_CHILD ?? '{}')
const out = {}

try {
  process.binding('tcp_wrap')
  out.bindingAvailable = true
} catch (err) {
  out.bindingAvailable = false
  out.bindingError = err.code
}

const failure = (err) => ({ name: err.name, code: err.code, kind: err.kind })

let tethered
try {
  tethered = await import(cfg.dist)
} catch (err) {
  out.importError = { code: err.code, message: err.message }
  console.log(JSON.stringify(out))
  process.exit(0)
}

if (cfg.captureLogger) {
  out.loggerLines = []
  const keep = (line) => out.loggerLines.push(line)
  tethered.activate({ allow: cfg.allow, logger: { warn: keep, error: keep } })
} else {
  tethered.activate({ allow: cfg.allow })
}

const tcp = (port, host) =>
  new Promise((resolve) => {
    const socket = net.connect({ port, host })
    socket.once('connect', () => {
      socket.destroy()
      resolve({ ok: true })
    })
    socket.once('error', (err) => resolve(failure(err)))
  })

const udp = (port, host) =>
  new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
    const done = (result) => {
      socket.close()
      resolve(result)
    }
    socket.once('error', (err) => done(failure(err)))
    socket.once('message', () => done({ ok: true }))
    socket.send('ping', port, host, (err) => err && done(failure(err)))
  })

const settle = (start) =>
  new Promise((resolve) => {
    try {
      start((err) => resolve(err ? failure(err) : { ok: true }))
    } catch (err) {
      resolve({ thrown: failure(err) })
    }
  })

for (const [label, step] of cfg.steps) {
  const [what, ...args] = step
  if (what === 'tcp') out[label] = await tcp(...args)
  else if (what === 'udp') out[label] = await udp(...args)
  else if (what === 'lookup') out[label] = await settle((cb) => dns.lookup(args[0], cb))
  else if (what === 'resolve4') out[label] = await settle((cb) => dns.resolve4(args[0], cb))
  else if (what === 'reverse') out[label] = await settle((cb) => dns.reverse(args[0], cb))
  else if (what === 'promises.lookup') out[label] = await dns.promises.lookup(args[0]).then(() => ({ ok: true }), failure)
}
console.log(JSON.stringify(out))
