// 01 — activate(): one process-wide allow list for every connection and DNS lookup.
//
// Run: node examples/01-basic-activate.mjs
//
// Two local servers stand in for real services: "api" (a service the app needs) and
// "tracker" (somewhere a compromised dependency would like to send data). Loopback is
// allowed by default, so the examples pass `allowLocalhost: false` and allow the api's
// port explicitly: that makes localhost behave like any other host.
import { activate, deactivate } from 'tethered'
import { tryFetch } from './_support/try-fetch.mjs'
import { startServer } from './_support/local-server.mjs'

const api = await startServer('api')
const tracker = await startServer('tracker')

// Call this as early as possible, before the app and its dependencies start connecting.
activate({ allow: [`localhost:${api.port}`], allowLocalhost: false })

await tryFetch('api', api.url) // matches localhost:<api port>

// Same host, another port: not in the allow list. No TCP connection is made.
await tryFetch('tracker', tracker.url)
console.log(`tracker server saw ${tracker.connections} connections`)

// A hostname that is not allowed is refused before any DNS query is sent.
await tryFetch('telemetry', 'https://telemetry.example.invalid/collect')

// The error carries the details, for logs and metrics.
try {
  await fetch('https://telemetry.example.invalid/collect')
} catch (err) {
  const { host, port, kind, code } = err.cause
  console.log(`details: host=${host} port=${port} kind=${kind} code=${code}`)
}

// deactivate() removes the policy: everything is reachable again.
deactivate()
await tryFetch('tracker after deactivate()', tracker.url)

await api.close()
await tracker.close()
