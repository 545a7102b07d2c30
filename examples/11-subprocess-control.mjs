// 11 — Child processes: Node children inherit the policy; other programs are "external" and
// can be warned about (default), allowed, or refused.
//
// Run: node examples/11-subprocess-control.mjs
//
// A Node child (fork, spawn/exec of process.execPath or `node`, npm/npx, shell commands
// that start node) starts with the parent's policy: tethered passes it through NODE_OPTIONS
// and an environment payload, even when the caller sets its own `env`. The child does not
// import tethered itself.
import { execFile, execFileSync, execSync } from 'node:child_process'
import { promisify } from 'node:util'
import { activate, deactivate, SubprocessBlocked } from 'tethered'
import { startServer } from './_support/local-server.mjs'

const api = await startServer('api')
const tracker = await startServer('tracker')

// The child's script: fetch each URL given as `name=url` and report. It recognizes a block
// by the error code, since it does not import tethered.
const CHILD = `
for (const arg of process.argv.slice(1)) {
  const [name, url] = arg.split('=')
  try {
    const res = await fetch(url)
    console.log('  child: ' + name + ' allowed (HTTP ' + res.status + ')')
  } catch (err) {
    if (err.cause?.code !== 'ERR_TETHERED_EGRESS_BLOCKED') throw err
    console.log('  child: ' + name + ' blocked — ' + err.cause.message)
  }
}`

/** Runs the child script with node (asynchronously) and prints its output. */
async function runNodeChild() {
  const args = ['--input-type=module', '-e', CHILD, `api=${api.url}`, `tracker=${tracker.url}`]
  const { stdout } = await promisify(execFile)(process.execPath, args)
  process.stdout.write(stdout)
}

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
