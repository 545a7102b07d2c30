'use strict'
// externalSubprocessPolicy from the launching side: activates tethered with a capturing
// logger, makes each launch of its task one after the other and reports, per launch, what
// the call threw (and whether synchronously), the log lines written during it, and whether
// the marker file the command would create exists afterwards (i.e. whether a process ran).
// Task (`parent-task:<base64url JSON>`):
//   { activate: {...}, launches: [{ id, method, file?, args?, command?, marker }] }
const cp = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { DIST, REPORT_PREFIX, describeError } = require('./probe.cjs')

const PREFIX = 'parent-task:'
const arg = process.argv.find((a) => a.startsWith(PREFIX))
const task = JSON.parse(Buffer.from(arg.slice(PREFIX.length), 'base64url').toString('utf8'))

const tethered = require(path.join(DIST, 'index.js'))

let lines = []
const capture = (level) => (message) => lines.push({ level, message: String(message) })
const logger = { warn: capture('warn'), error: capture('error'), info: capture('info'), debug: capture('debug') }

function exited(child) {
  return new Promise((resolve) => {
    child.once('error', (err) => resolve(`error: ${err.message}`))
    child.once('close', (code) => resolve(code))
  })
}

/** Starts the launch; returns a promise for its exit (async forms) or its exit code. */
function start(l) {
  switch (l.method) {
    case 'spawn':
      return exited(cp.spawn(l.file, l.args, { stdio: 'ignore' }))
    case 'spawnSync':
      return cp.spawnSync(l.file, l.args, { stdio: 'ignore' }).status
    case 'exec':
      return exited(cp.exec(l.command))
    case 'execSync':
      cp.execSync(l.command, { stdio: 'ignore' })
      return 0
    case 'execFile':
      return exited(cp.execFile(l.file, l.args))
    case 'execFileSync':
      cp.execFileSync(l.file, l.args, { stdio: 'ignore' })
      return 0
    default:
      throw new Error(`unknown method ${l.method}`)
  }
}

async function launch(l) {
  lines = []
  let started
  try {
    started = start(l)
  } catch (err) {
    const exported = typeof tethered.SubprocessBlocked === 'function'
    return {
      threwSync: describeError(err),
      command: err.command,
      instanceOfExported: exported ? err instanceof tethered.SubprocessBlocked : null,
      lines,
      markerExists: fs.existsSync(l.marker),
    }
  }
  const during = lines // the launch's own lines, written synchronously by the call
  const exit = await started
  return { threwSync: null, exit, lines: during, markerExists: fs.existsSync(l.marker) }
}

async function main() {
  tethered.activate({ ...task.activate, logger, ...(task.activate.locked ? { lockToken: {} } : {}) })
  const results = {}
  for (const l of task.launches) results[l.id] = await launch(l)
  return results
}

main().then(
  (results) => process.stdout.write(`${REPORT_PREFIX}${JSON.stringify(results)}\n`),
  (err) => process.stdout.write(`${REPORT_PREFIX}${JSON.stringify({ launchError: describeError(err) })}\n`),
)
