// The ESM application for `node --import tethered/register`: it uses ESM named imports of the
// builtins (bindings taken when the module links, after the preload ran) and reports like
// probe.cjs. Task: argv entry `esm-task:<base64url JSON>` with steps
//   { id, op: 'connect' | 'lookup' | 'settings' | 'evalWorker' | 'fileWorker' | 'touch', host?, port?, probeTask?, path? }
// ('evalWorker' runs probe.cjs with probeTask in an `eval: true` worker, where --import
// preloads do not run; 'fileWorker' in a file worker, where they do).
import { lookup } from 'node:dns/promises'
import { writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { connect } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'

const HERE = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const PREFIX = 'esm-task:'
// Only a hang guard: a loaded CI machine can take seconds to start a worker.
const TIMEOUT_MS = 20000

function withTimeout(promise, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${TIMEOUT_MS} ms (hang)`)), TIMEOUT_MS)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function roundTrip(host, port) {
  let socket
  const result = new Promise((resolve, reject) => {
    socket = connect({ host, port })
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

function runWorker(probeTask, evaluated) {
  const probe = join(HERE, 'probe.cjs')
  const worker = evaluated ? new Worker(`require(${JSON.stringify(probe)})`, { eval: true, workerData: { probeTask } }) : new Worker(probe, { workerData: { probeTask } })
  return withTimeout(
    new Promise((resolve, reject) => {
      worker.once('message', (report) => {
        resolve(report)
        void worker.terminate()
      })
      worker.once('error', reject)
    }),
    'worker',
  )
}

const OPS = {
  connect: (s) => roundTrip(s.host, s.port),
  lookup: (s) => withTimeout(lookup(s.host, { family: 4 }).then((r) => r.address), `lookup ${s.host}`),
  settings: () => require(join(HERE, '../../dist/native.js')).native.globalSettings(),
  evalWorker: (s) => runWorker(s.probeTask, true),
  // a file worker inherits --import as well as tethered's --require: both run in it
  fileWorker: (s) => runWorker(s.probeTask, false),
  touch: (s) => writeFileSync(s.path, 'ran'),
}

function describe(err) {
  return { name: err?.name, code: err?.code, message: String(err?.message), host: err?.host, port: err?.port, scopeLabel: err?.scopeLabel, stack: String(err?.stack) }
}

const arg = process.argv.find((a) => a.startsWith(PREFIX))
const task = JSON.parse(Buffer.from(arg.slice(PREFIX.length), 'base64url').toString('utf8'))
const results = {}
for (const s of task.steps) {
  try {
    const value = await OPS[s.op](s)
    results[s.id] = { ok: true, value: value ?? null }
  } catch (err) {
    results[s.id] = { ok: false, error: describe(err) }
  }
}
process.stdout.write(`TETHERED-PROBE ${JSON.stringify({ esm: true, results })}\n`)
