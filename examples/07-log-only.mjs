// 07 — Log-only mode: report what would be blocked, block nothing. For a gradual rollout:
// run in production with logOnly, collect the reports, then enforce.
//
// Run: node examples/07-log-only.mjs
//
// Each would-be block is also logged as one `tethered: ...` line on stderr (pass
// `logger: console`, a pino or winston logger, or `null` to route or silence it).
import { activate, deactivate } from 'tethered'
import { startServer } from './_support/local-server.mjs'

const api = await startServer('api')
const tracker = await startServer('tracker')

// Would-be blocks by destination, with the layers that reported them.
const wouldBlock = new Map()

activate({
  allow: [`localhost:${api.port}`],
  allowLocalhost: false, // loopback is allowed by default; this makes the ports matter
  logOnly: true,
  // Called for every block, log-only ones too: feed your metrics or audit log from here.
  onBlocked: (host, port, info) => {
    const where = `${host}:${port}`
    wouldBlock.set(where, (wouldBlock.get(where) ?? new Set()).add(info.kind))
  },
})

// The tracker is not in the allow list. Enforcing, this would fail with EgressBlocked;
// in log-only mode the request goes through and the callback records it.
const res = await fetch(tracker.url)
console.log(`tracker: allowed in log-only mode (HTTP ${res.status}, "${await res.text()}")`)
console.log(`tracker server saw ${tracker.requests} request(s)`)

// Allowed destinations are not reported.
const apiRes = await fetch(api.url)
console.log(`api: allowed (HTTP ${apiRes.status}, "${await apiRes.text()}")`)

// Nothing was stopped, so the request was reported by each layer it passed through: the
// HTTP request, then each TCP connection attempt (localhost may be tried as ::1 first).
for (const [where, kinds] of wouldBlock) {
  console.log(`onBlocked: would block ${where} (reported as: ${[...kinds].join(', ')})`)
}

deactivate()
await api.close()
await tracker.close()
