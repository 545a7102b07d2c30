'use strict'
// The subject of the worker / child-process / register tests: a plain Node script (no tsx, no
// tethered import unless a step asks for it) that tries the egress its task lists and reports
// each outcome. Whatever enforces the policy here came from the preload or the Worker wrapper.
//
// It runs itself when loaded with its task:
// - in a process: an argv entry `probe-task:<base64url JSON>` (works for `node probe.cjs ...`,
//   fork, `node -e "require(probe)" ...`, npm scripts), report printed as one stdout line;
// - in a worker: workerData.probeTask, report posted to the parent.
const dns = require('node:dns')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { isMainThread, parentPort, threadId, workerData } = require('node:worker_threads')

const DIST = path.resolve(__dirname, '../../dist')
const TASK_PREFIX = 'probe-task:'
const REPORT_PREFIX = 'TETHERED-PROBE '
// Only a hang guard: a loaded CI machine can take seconds to start a worker.
const TIMEOUT_MS = 20000

function encodeTask(task) {
  return TASK_PREFIX + Buffer.from(JSON.stringify(task)).toString('base64url')
}

function decodeTask(arg) {
  return JSON.parse(Buffer.from(arg.slice(TASK_PREFIX.length), 'base64url').toString('utf8'))
}

function withTimeout(promise, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${TIMEOUT_MS} ms (hang)`)), TIMEOUT_MS)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** The EgressBlocked in err (itself, its cause chain, an AggregateError's errors), if any. */
function findBlocked(err, depth = 0) {
  if (depth > 8 || err === null || typeof err !== 'object') return undefined
  if (err.code === 'ERR_TETHERED_EGRESS_BLOCKED') return err
  if (Array.isArray(err.errors)) {
    for (const inner of err.errors) {
      const found = findBlocked(inner, depth + 1)
      if (found) return found
    }
  }
  return findBlocked(err.cause, depth + 1)
}

function describeError(err) {
  if (err === null || typeof err !== 'object') return { name: typeof err, message: String(err) }
  return {
    name: err.name,
    code: err.code,
    message: String(err.message),
    host: err.host,
    port: err.port,
    scopeLabel: err.scopeLabel,
    kind: err.kind,
  }
}

/** TCP round trip: connect, write "ping", wait for the echo (so the server surely counted it). */
function connect(host, port) {
  let socket
  const result = new Promise((resolve, reject) => {
    socket = net.connect({ host, port })
    let echoed = ''
    socket.setEncoding('utf8')
    socket.on('error', reject)
    socket.on('connect', () => socket.write('ping'))
    socket.on('data', (chunk) => {
      echoed += chunk
      if (echoed.length >= 4) resolve(echoed)
    })
  })
  return withTimeout(result, `connect ${host}:${port}`).finally(() => socket.destroy())
}

const OPS = {
  connect: (s) => connect(s.host, s.port),
  // getaddrinfo path
  lookup: (s) =>
    withTimeout(
      new Promise((resolve, reject) => dns.lookup(s.host, { family: 4 }, (err, address) => (err ? reject(err) : resolve(address)))),
      `lookup ${s.host}`,
    ),
  // c-ares path (a query to the DNS responder)
  resolve4: (s) => withTimeout(new dns.promises.Resolver().resolve4(s.host).then((a) => a[0]), `resolve4 ${s.host}`),
  // locked mode: neither may succeed without the token
  deactivate: () => require(path.join(DIST, 'index.js')).deactivate(),
  activate: () => require(path.join(DIST, 'index.js')).activate({ allow: ['*.test', '203.0.113.0/24'], logger: null }),
  // the activated policy as native memory has it (what a child would inherit)
  settings: () => require(path.join(DIST, 'native.js')).native.globalSettings(),
  // a marker the test can check: this code ran
  touch: (s) => fs.writeFileSync(s.path, 'ran'),
  // an external launch (externalSubprocessPolicy): its exit status, or what the call threw
  spawn: (s) => require('node:child_process').spawnSync(s.file, s.args, { stdio: 'ignore' }).status,
  // the probe again, one level further: a child process or a worker of this thread
  child: (s) => require('./launch-child.cjs').launchChild(s.kind, s.probeTask),
  worker: (s) => require('./launch-worker.cjs').startWorker(s.kind, s.probeTask).result,
}

async function step(s) {
  try {
    const value = await OPS[s.op](s)
    return { ok: true, value: value === undefined ? null : value }
  } catch (err) {
    return { ok: false, error: describeError(findBlocked(err) ?? err) }
  }
}

/**
 * Runs the steps in order. `task.waitForGo` (workers only): first say 'ready' (this thread's
 * preload and this script have run) and wait for a 'go' message.
 */
async function probe(task) {
  if (task.waitForGo) {
    const go = new Promise((resolve) => parentPort.once('message', resolve))
    parentPort.postMessage('ready')
    await go
  }
  const results = {}
  for (const s of task.steps) results[s.id] = await step(s)
  return { isMainThread, threadId, pid: process.pid, results }
}

function findTaskArg() {
  return process.argv.find((a) => typeof a === 'string' && a.startsWith(TASK_PREFIX))
}

// Exported before the self-run below: its steps may load launch-*.cjs, which require this file.
module.exports = { PROBE: __filename, DIST, REPORT_PREFIX, TASK_PREFIX, encodeTask, decodeTask, describeError }

if (!isMainThread && workerData && workerData.probeTask) {
  probe(workerData.probeTask).then((report) => parentPort.postMessage(report))
} else if (isMainThread && findTaskArg()) {
  probe(decodeTask(findTaskArg())).then(
    (report) => process.stdout.write(`${REPORT_PREFIX}${JSON.stringify(report)}\n`),
    (err) => {
      process.stderr.write(`probe failed: ${err && err.stack}\n`)
      process.exitCode = 1
    },
  )
}
