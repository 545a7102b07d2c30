'use strict'
// The runtime of one tamper attempt, in a fresh child process (see run.cjs). It loads the built
// package, locks a policy that allows api.stripe.test only, and after the attack probes the
// blocked destinations the parent is counting. Everything the report and the probes need is
// captured here, before any attack can replace a built-in.
const path = require('node:path')
const fs = require('node:fs')
const net = require('node:net')
const tls = require('node:tls')
const dgram = require('node:dgram')
const dns = require('node:dns')

const ReflectApply = Reflect.apply
const stringify = JSON.stringify
const writeSync = fs.writeSync
const exit = process.reallyExit ? process.reallyExit.bind(process) : process.exit.bind(process)
const timeout = setTimeout
const clear = clearTimeout
const PromiseCtor = Promise

const REPO = path.join(__dirname, '..', '..')
const DIST = path.join(REPO, 'dist')
const NATIVE = path.join(REPO, 'tethered.linux-x64-gnu.node')
const BLOCKED_CODE = 'ERR_TETHERED_EGRESS_BLOCKED'
/** From src/integrity.ts: the one line a detected tamper writes to fd 2. */
const ALERT = 'tethered: TAMPER DETECTED'

/** Ports and names the parent counts: { blockedTcp, blockedUdp, allowedTcp, gaiName, caresName }. */
const targets = JSON.parse(process.env.TAMPER_TARGETS || '{}')
const BLOCKED_V4 = '203.0.113.9'
/** Starting a worker (with its preload) can take a while on a loaded machine. */
const WORKER_MS = 30000
const ALLOW = ['api.stripe.test']

/** The lock token: only this object unlocks. */
const token = {}

function load() {
  return require(path.join(DIST, 'index.js'))
}

function lock(t, extra) {
  t.activate(Object.assign({ allow: ALLOW.slice(), locked: true, lockToken: token }, extra || {}))
}

/** A compact, JSON-safe description of what `fn` did: { ok, value } or { threw, code, name }. */
function attempt(fn) {
  try {
    return returned(fn())
  } catch (err) {
    return { threw: true, code: err && err.code, name: err && err.name, message: err && String(err.message).slice(0, 160) }
  }
}

async function attemptAsync(fn) {
  try {
    return returned(await fn())
  } catch (err) {
    return { threw: true, code: err && err.code, name: err && err.name, message: err && String(err.message).slice(0, 160) }
  }
}

// The napi functions declared `catch_unwind` RETURN their Error instead of throwing it (seen with
// setGlobalPolicy): recorded as such, so a refusal is told apart from a success.
function returned(value) {
  if (value instanceof Error) {
    return { ok: true, returnedError: true, code: value.code, message: String(value.message).slice(0, 160) }
  }
  return { ok: true, value: describe(value) }
}

function describe(value) {
  if (value === null || value === undefined) return value === null ? null : 'undefined'
  if (typeof value === 'function') return `function ${value.name}`
  if (typeof value === 'object') return 'object'
  return value
}

/** 'blocked' for an EgressBlocked (also inside an AggregateError), else 'error:<code>'. */
function classify(err) {
  if (!err) return 'ok'
  if (err.code === BLOCKED_CODE) return 'blocked'
  const inner = err.errors
  if (inner && typeof inner.length === 'number') {
    for (let i = 0; i < inner.length; i++) if (inner[i] && inner[i].code === BLOCKED_CODE) return 'blocked'
  }
  if (err.cause && err.cause.code === BLOCKED_CODE) return 'blocked'
  return `error:${err.code || err.name || err.message}`
}

/** Settles once with the first result; 'timeout' after `ms` (a probe must never hang the run). */
function settleOnce(executor, ms = 5000) {
  return new PromiseCtor((resolve) => {
    let done = false
    const finish = (result) => {
      if (done) return
      done = true
      clear(timer)
      resolve(result)
    }
    const timer = timeout(() => finish('timeout'), ms)
    try {
      executor(finish)
    } catch (err) {
      finish(`throw:${classify(err)}`)
    }
  })
}

function tcp(host, port, module) {
  return settleOnce((finish) => {
    const socket = (module || net).connect({ host, port, rejectUnauthorized: false })
    socket.on(module === tls ? 'secureConnect' : 'connect', () => {
      socket.destroy()
      finish('ok')
    })
    socket.on('error', (err) => {
      socket.destroy()
      // A TLS handshake with the (plain TCP) counting server fails after the connection.
      finish(module === tls && err.code !== BLOCKED_CODE && err.code !== 'ECONNREFUSED' ? 'ok' : classify(err))
    })
  })
}

function udp(host, port) {
  return settleOnce((finish) => {
    const socket = dgram.createSocket('udp4')
    const done = (result) => {
      try {
        socket.close()
      } catch {}
      finish(result)
    }
    socket.on('error', (err) => done(classify(err)))
    socket.send(Buffer.from('tamper'), port, host, (err) => done(classify(err)))
  })
}

function lookup(name) {
  return settleOnce((finish) => dns.lookup(name, (err) => finish(classify(err))))
}

function resolve(name) {
  return settleOnce((finish) => dns.resolve4(name, (err) => finish(classify(err))))
}

/** Every blocked destination the parent counts, one way each. */
async function probeBlocked() {
  return {
    tcpIp: await tcp(BLOCKED_V4, targets.blockedTcp),
    tcpName: await tcp('evil.test', targets.blockedTcp),
    udp: await udp(BLOCKED_V4, targets.blockedUdp),
    lookup: await lookup(targets.gaiName),
    resolve: await resolve(targets.caresName),
  }
}

function probeAllowed() {
  return tcp('api.stripe.test', targets.allowedTcp)
}

function report(result) {
  writeSync(1, `${stringify(result)}\n`)
}

module.exports = {
  REPO,
  DIST,
  NATIVE,
  ALERT,
  BLOCKED_V4,
  BLOCKED_CODE,
  WORKER_MS,
  targets,
  token,
  load,
  lock,
  attempt,
  attemptAsync,
  classify,
  settleOnce,
  tcp,
  udp,
  lookup,
  resolve,
  probeBlocked,
  probeAllowed,
  report,
  exit,
  ReflectApply,
  net,
  tls,
  dgram,
  dns,
}
