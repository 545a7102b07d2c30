// 08 — Worker threads: the global policy covers every worker; a worker started inside a
// scope() is narrowed by that scope for its whole life; a worker can scope its own jobs.
//
// Run: node examples/08-scope-in-workers.mjs
//
// (The Python original scopes thread-pool functions; Node's threads are worker_threads.)
// This file is both the main script and the worker script (see isMainThread).
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { activate, deactivate, scope } from 'tethered'
import { fetchOutcome } from './_support/try-fetch.mjs'
import { startServer } from './_support/local-server.mjs'

if (isMainThread) {
  const api = await startServer('api')
  const partner = await startServer('partner')
  const tracker = await startServer('tracker')
  const urls = { api: api.url, partner: partner.url, tracker: tracker.url }

  /** Starts a worker (this file), waits for its report lines and prints them. */
  function runWorker(name, options = {}) {
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL(import.meta.url), { workerData: { name, urls, ...options } })
      worker.on('message', (lines) => lines.forEach((line) => console.log(line)))
      worker.on('error', reject)
      worker.on('exit', resolve)
    })
  }

  // Global policy: shared by every thread, including workers started later. (Loopback is
  // allowed by default; allowLocalhost: false makes the ports matter.)
  activate({ allow: [`localhost:${api.port}`, `localhost:${partner.port}`], allowLocalhost: false })

  // 1. A plain worker gets the global policy.
  await runWorker('plain worker')

  // 2. A worker started inside a scope is narrowed by that scope for its whole life.
  const apiOnly = scope({ allow: [`localhost:${api.port}`], allowLocalhost: false, label: 'api-only' })
  await apiOnly.run(() => runWorker('worker started in scope'))

  // 3. A worker can also scope individual jobs itself (apply the scope where the I/O is).
  await runWorker('worker scoping its own job', { scopeInside: true })

  deactivate()
  await Promise.all([api.close(), partner.close(), tracker.close()])
} else {
  const { name, urls, scopeInside } = workerData
  const job = async () => [
    await fetchOutcome(`${name}, api`, urls.api),
    await fetchOutcome(`${name}, partner`, urls.partner),
    await fetchOutcome(`${name}, tracker`, urls.tracker),
  ]
  const lines = scopeInside
    ? await scope({ allow: [new URL(urls.partner).host], allowLocalhost: false, label: 'partner-job' }, job)
    : await job()
  parentPort.postMessage(lines)
}
