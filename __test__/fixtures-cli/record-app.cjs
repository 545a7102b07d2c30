'use strict'
// The application `tethered record` watches: it reaches the targets of RECORD_APP_TARGETS (JSON
// [{ host, port, via }]) one after another, each from a different place in its process tree:
//   via 'sdk-tcp'     TCP connect from the main thread, through the fake-sdk dependency
//   via 'child-http'  an HTTP GET from a child Node process
//   via 'worker-tcp'  a TCP connect from a worker thread
// Exit 0 when every target was reached, 1 otherwise (with the failures on stderr). Sequential on
// purpose: concurrent lookups of two names with the same address would make the recording
// depend on which answer came last.
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads')
const sdk = require('fake-sdk')

const targets = JSON.parse(process.env.RECORD_APP_TARGETS ?? '[]')

function describe(outcome) {
  return outcome === 'ok' ? 'ok' : `${outcome.name} [${outcome.code}]: ${outcome.message}`
}

async function viaChildHttp(url) {
  const child = spawnSync(process.execPath, [__filename], { env: { ...process.env, RECORD_APP_GET: url }, encoding: 'utf8' })
  return child.status === 0 ? 'ok' : { name: 'ChildFailed', code: child.status, message: child.stderr.trim() }
}

function viaWorker(host, port) {
  return new Promise((resolve) => {
    const worker = new Worker(__filename, { workerData: { host, port } })
    worker.once('message', resolve)
    worker.once('error', (err) => resolve({ name: err.name, code: err.code, message: err.message }))
  })
}

async function main() {
  if (!isMainThread) {
    const outcome = await sdk.connect(workerData.host, workerData.port)
    parentPort.postMessage(outcome === 'ok' ? 'ok' : { name: outcome.name, code: outcome.code, message: outcome.message })
    return
  }
  if (process.env.RECORD_APP_GET) {
    const outcome = await sdk.get(process.env.RECORD_APP_GET)
    if (outcome !== 'ok') process.stderr.write(describe(outcome))
    process.exitCode = outcome === 'ok' ? 0 : 1
    return
  }
  let failed = 0
  for (const { host, port, via } of targets) {
    const hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`
    let outcome
    if (via === 'sdk-tcp') outcome = await sdk.connect(host, port)
    else if (via === 'child-http') outcome = await viaChildHttp(`http://${hostPort}/`)
    else if (via === 'worker-tcp') outcome = await viaWorker(host, port)
    else outcome = { name: 'Error', code: 'BAD_VIA', message: String(via) }
    if (outcome !== 'ok') {
      failed++
      process.stderr.write(`record-app: ${via} ${hostPort}: ${describe(outcome)}\n`)
    }
  }
  process.stdout.write(`record-app: ${targets.length - failed} of ${targets.length} reached\n`)
  process.exitCode = failed === 0 ? 0 : 1
}

main()
