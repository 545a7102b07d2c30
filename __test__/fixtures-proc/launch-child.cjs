'use strict'
// Starts the probe as a child process of a given kind and resolves with its report (the
// `TETHERED-PROBE` line of its stdout) plus exit status and stderr. Every kind that goes
// through a shell only passes shell-safe words: absolute paths without quotes and the
// base64url task argument.
const cp = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { PROBE, REPORT_PREFIX, encodeTask } = require('./probe.cjs')

const RELAY = path.join(__dirname, 'relay.cjs')
const EXECVE_RELAY = path.join(__dirname, 'execve-relay.cjs')

function parseReport(stdout) {
  const line = String(stdout)
    .split('\n')
    .find((l) => l.startsWith(REPORT_PREFIX))
  return line ? JSON.parse(line.slice(REPORT_PREFIX.length)) : null
}

/** Resolves when an async child has exited, with everything it printed. */
function collect(child) {
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c) => (stdout += c))
  child.stderr.on('data', (c) => (stderr += c))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => resolve({ stdout, stderr, code, signal }))
  })
}

/** The callback-style launchers (exec, execFile) as { stdout, stderr, code }. */
function callbackResult(launch) {
  return new Promise((resolve) => {
    launch((err, stdout, stderr) => resolve({ stdout, stderr, code: err ? (err.code ?? 1) : 0 }))
  })
}

function syncResult(run) {
  try {
    return { stdout: run(), stderr: '', code: 0 }
  } catch (err) {
    return { stdout: String(err.stdout ?? ''), stderr: String(err.stderr ?? err.message), code: err.status ?? 1 }
  }
}

function npmRun(arg) {
  // A throwaway package whose script runs the probe: npm itself, its `sh -c`, then node.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tethered-npm-'))
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'tethered-npm-probe', version: '1.0.0', private: true, scripts: { probe: `node ${PROBE} ${arg}` } }),
  )
  const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }
  const child = cp.spawn('npm', ['run', '--silent', 'probe'], { cwd: dir, env })
  return collect(child).finally(() => fs.rmSync(dir, { recursive: true, force: true }))
}

/** Launches `kind`; resolves with { stdout, stderr, code }. Throws what the launch call threw. */
function launch(kind, arg) {
  const node = process.execPath
  switch (kind) {
    case 'fork':
      return collect(cp.fork(PROBE, [arg], { silent: true }))
    case 'spawn-execPath':
      return collect(cp.spawn(node, [PROBE, arg]))
    case 'spawn-node':
      // `node` from PATH (the test puts this Node version's directory first)
      return collect(cp.spawn('node', [PROBE, arg]))
    case 'spawn-shell':
      return collect(cp.spawn(`node ${PROBE} ${arg}`, { shell: true }))
    case 'exec-node-e':
      return callbackResult((cb) => cp.exec(`node -e 'require(${JSON.stringify(PROBE)})' ${arg}`, cb))
    case 'execFile':
      return callbackResult((cb) => cp.execFile(node, [PROBE, arg], cb))
    case 'spawnSync': {
      const r = cp.spawnSync(node, [PROBE, arg], { encoding: 'utf8' })
      return Promise.resolve({ stdout: r.stdout, stderr: r.stderr, code: r.status })
    }
    case 'execSync':
      return Promise.resolve(syncResult(() => cp.execSync(`node ${PROBE} ${arg}`, { encoding: 'utf8', stdio: 'pipe' })))
    case 'execFileSync':
      return Promise.resolve(syncResult(() => cp.execFileSync(node, [PROBE, arg], { encoding: 'utf8', stdio: 'pipe' })))
    case 'env-empty':
      return collect(cp.spawn(node, [PROBE, arg], { env: {} }))
    case 'env-path-only':
      return collect(cp.spawn('node', [PROBE, arg], { env: { PATH: process.env.PATH } }))
    case 'env-forged':
      // the caller's own NODE_OPTIONS and payload must not win over the real ones
      return collect(
        cp.spawn(node, [PROBE, arg], {
          env: { ...process.env, NODE_OPTIONS: '', TETHERED_CHILD_POLICY: JSON.stringify({ v: 1, global: null, scopes: [] }) },
        }),
      )
    case 'npm-run':
      return npmRun(arg)
    case 'grandchild':
      // a child that itself spawns the probe (the relay loads nothing: only its preload)
      return collect(cp.spawn(node, [RELAY, arg]))
    case 'execve':
      // a child that replaces itself with the probe, passing an env without the payload
      return collect(cp.spawn(node, [EXECVE_RELAY, arg]))
    default:
      throw new Error(`unknown child kind ${kind}`)
  }
}

/** { report, code, stderr } for the probe run as a `kind` child with `probeTask`. */
async function launchChild(kind, probeTask) {
  const r = await launch(kind, encodeTask(probeTask))
  return { report: parseReport(r.stdout), code: r.code, stderr: String(r.stderr ?? '') }
}

module.exports = { launchChild, parseReport, collect }
