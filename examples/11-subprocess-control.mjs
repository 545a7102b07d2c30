// 11 — Child processes: Node children inherit the policy; other programs are "external" and
// can be warned about (default), allowed, or refused.
//
// Run: node examples/11-subprocess-control.mjs
//
// A Node child (fork, spawn/exec of process.execPath or `node`, npm/npx, shell commands
// that start node) starts with the parent's policy: tethered passes it through NODE_OPTIONS
// and an environment payload, even when the caller sets its own `env`. The child does not
// import tethered itself.
import { execFileSync, execSync } from 'node:child_process'
import { activate, deactivate, SubprocessBlocked } from 'tethered'
import { runFetchingChild } from './_support/fetching-child.mjs'
import { startServer } from './_support/local-server.mjs'

const api = await startServer('api')
const tracker = await startServer('tracker')

/** The child fetches both servers and prints what happened. */
const runNodeChild = () => runFetchingChild({ api: api.url, tracker: tracker.url })

/** Runs a launch and prints whether tethered refused it. */
function tryLaunch(label, launch) {
  try {
    const out = launch()
    console.log(`${label}: launched, printed "${String(out).trim()}"`)
  } catch (err) {
    if (!(err instanceof SubprocessBlocked)) throw err
    console.log(`${label}: refused — ${err.message}`)
  }
}

// Loopback is allowed by default; allowLocalhost: false makes the ports matter.
activate({ allow: [`localhost:${api.port}`], allowLocalhost: false })

console.log('--- a plain node child (no wrapper, no import) ---')
await runNodeChild()
console.log(`tracker server saw ${tracker.connections} connections`)

// Non-Node programs cannot be controlled from inside: by default each launch is allowed
// and logged with one `tethered:` warning line on stderr naming the command.
console.log("--- externalSubprocessPolicy: 'warn' (default) ---")
tryLaunch('echo', () => execFileSync('echo', ['hello from echo'], { encoding: 'utf8' }))

// 'block' refuses them, synchronously, before the process starts. Node children are
// still fine, since they inherit the policy.
activate({ allow: [`localhost:${api.port}`], allowLocalhost: false, externalSubprocessPolicy: 'block' })
console.log("--- externalSubprocessPolicy: 'block' ---")
tryLaunch('node child', () => execFileSync(process.execPath, ['-e', 'console.log("hello from node")'], { encoding: 'utf8' }))
tryLaunch('echo', () => execFileSync('echo', ['hello from echo'], { encoding: 'utf8' }))
tryLaunch('shell command', () => execSync('echo hello from sh', { encoding: 'utf8' }))
// A node child that strips the policy from its environment is external too.
tryLaunch('node without NODE_OPTIONS', () => execSync(`env -u NODE_OPTIONS "${process.execPath}" -e 1`, { encoding: 'utf8' }))

deactivate()
await api.close()
await tracker.close()
