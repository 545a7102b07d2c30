// 12 — Scopes reach child processes: a Node child launched inside a scope enforces the
// parent's effective policy at the launch site (global ∩ every active scope).
//
// Run: node examples/12-scope-subprocess.mjs
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { activate, deactivate, scope } from 'tethered'
import { startServer } from './_support/local-server.mjs'

const api = await startServer('api')
const partner = await startServer('partner')

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
  const args = ['--input-type=module', '-e', CHILD, `api=${api.url}`, `partner=${partner.url}`]
  const { stdout } = await promisify(execFile)(process.execPath, args)
  process.stdout.write(stdout)
}

// The process may reach the api and the partner. (Loopback is allowed by default;
// allowLocalhost: false makes the ports matter.)
activate({ allow: [`localhost:${api.port}`, `localhost:${partner.port}`], allowLocalhost: false })

const apiOnly = { allow: [`localhost:${api.port}`], allowLocalhost: false, label: 'api-only' }

console.log('child launched inside scope(api only):')
await scope(apiOnly, () => runNodeChild())

console.log('child launched outside the scope (global policy only):')
await runNodeChild()

// The same through a wrapped function, the natural unit for a library.
console.log('child launched from a function wrapped with the scope:')
const runRestricted = scope(apiOnly).wrap(runNodeChild)
await runRestricted()

deactivate()
await api.close()
await partner.close()
