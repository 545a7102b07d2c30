// 09 — Scopes and async code: a scope follows its code through every await, timer and
// callback, and never leaks into work running concurrently outside it.
//
// Run: node examples/09-async-scope.mjs
//
// No activate() here; add one as a process-wide ceiling and the scopes narrow it further.
import { setTimeout as sleep } from 'node:timers/promises'
import { scope } from 'tethered'
import { fetchOutcome } from './_support/try-fetch.mjs'
import { startServer } from './_support/local-server.mjs'

const api = await startServer('api')
const tracker = await startServer('tracker')

// Loopback is allowed by default; allowLocalhost: false makes the ports matter.
const apiOnly = scope({ allow: [`localhost:${api.port}`], allowLocalhost: false, label: 'api-only' })

// 1. An async function wrapped once, restricted on every call (like Python's async decorator).
//    The fetch runs after an await and inside a timer: still in the scope.
const syncAccount = apiOnly.wrap(async (name, url) => {
  await sleep(10)
  return new Promise((resolve) => {
    setTimeout(() => resolve(fetchOutcome(`wrapped async fn, ${name}`, url)), 10)
  })
})
console.log(await syncAccount('api', api.url))
console.log(await syncAccount('tracker', tracker.url))

// 2. Concurrency: a scoped task and an unscoped one run at the same time, interleaving
//    their awaits. Each keeps its own policy.
const [scopedLine, unscopedLine] = await Promise.all([
  apiOnly.run(async () => {
    await sleep(20)
    return fetchOutcome('concurrent, in scope, tracker', tracker.url)
  }),
  (async () => {
    await sleep(20)
    return fetchOutcome('concurrent, no scope, tracker', tracker.url)
  })(),
])
console.log(scopedLine)
console.log(unscopedLine)

// 3. Everything started in the scope is covered, Promise.all fan-out included.
const lines = await scope({ allow: [`localhost:${api.port}`], allowLocalhost: false, label: 'fan-out' }, () =>
  Promise.all([fetchOutcome('fan-out, api', api.url), fetchOutcome('fan-out, tracker', tracker.url)]),
)
lines.forEach((line) => console.log(line))

await api.close()
await tracker.close()
