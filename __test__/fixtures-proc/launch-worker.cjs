'use strict'
// Starts the probe in a worker_threads.Worker of a given kind and resolves with its report.
// Worker is read from the module at call time: whatever tethered put there is what runs.
// Loaded as a worker itself (workerData.relay) it is the middle of a worker-of-a-worker.
const workerThreads = require('node:worker_threads')
const { PROBE } = require('./probe.cjs')

/** The constructor arguments for each kind of worker the tests cover. */
function workerArgs(kind, probeTask) {
  const workerData = { probeTask }
  switch (kind) {
    case 'file':
      return [PROBE, { workerData }]
    case 'eval':
      return [`require(${JSON.stringify(PROBE)})`, { eval: true, workerData }]
    case 'execArgv-empty':
      return [PROBE, { workerData, execArgv: [] }]
    case 'env-empty':
      return [PROBE, { workerData, env: {} }]
    case 'share-env':
      return [PROBE, { workerData, env: workerThreads.SHARE_ENV }]
    case 'nested':
      // a worker (this file) that starts a file worker running the probe
      return [__filename, { workerData: { relay: { kind: 'file', probeTask } } }]
    case 'nested-eval':
      return [__filename, { workerData: { relay: { kind: 'eval', probeTask } }, execArgv: [] }]
    default:
      throw new Error(`unknown worker kind ${kind}`)
  }
}

/** Starts the worker now; `result` settles with its report (or its error / early exit). */
function startWorker(kind, probeTask) {
  const worker = new workerThreads.Worker(...workerArgs(kind, probeTask))
  const result = new Promise((resolve, reject) => {
    worker.on('message', (report) => {
      if (report === 'ready') return // see probe.cjs: waitForGo
      resolve(report)
      void worker.terminate()
    })
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)))
  })
  return { worker, result }
}

if (!workerThreads.isMainThread && workerThreads.workerData && workerThreads.workerData.relay) {
  const { kind, probeTask } = workerThreads.workerData.relay
  const inner = startWorker(kind, probeTask)
  // pass 'ready' out and 'go' in
  inner.worker.on('message', (m) => m === 'ready' && workerThreads.parentPort.postMessage(m))
  workerThreads.parentPort.on('message', (m) => inner.worker.postMessage(m))
  inner.result.then(
    (report) => workerThreads.parentPort.postMessage({ ...report, via: { isMainThread: false, threadId: workerThreads.threadId } }),
    (err) => workerThreads.parentPort.postMessage({ relayError: String(err && err.stack) }),
  )
}

module.exports = { startWorker }
