'use strict'
// A process that activates tethered (absolute path to dist/, as an application would after
// `npm i tethered`), starts one worker of a given kind (optionally inside a scope) and prints
// the worker's report. The task comes as `parent-task:<base64url JSON>`:
//   { activate: {...activate() options; lockToken is added when locked},
//     scope?: { allow, label }, kind, probeTask, goAfterScope?: boolean,
//     activateAfterStart?: boolean (start the worker, then activate, then tell it to probe) }
const path = require('node:path')
const { DIST, REPORT_PREFIX, describeError } = require('./probe.cjs')

const PREFIX = 'parent-task:'
const arg = process.argv.find((a) => a.startsWith(PREFIX))
const task = JSON.parse(Buffer.from(arg.slice(PREFIX.length), 'base64url').toString('utf8'))

const tethered = require(path.join(DIST, 'index.js'))
const { startWorker } = require('./launch-worker.cjs')

function activate() {
  if (task.activate) tethered.activate({ logger: null, ...task.activate, ...(task.activate.locked ? { lockToken: {} } : {}) })
}

async function main() {
  if (!task.activateAfterStart) activate()
  const launch = () => startWorker(task.kind, task.probeTask)
  // The worker is created inside the scope; with goAfterScope it probes only once told to,
  // which happens after run() returned, i.e. when the launching code has left the scope.
  const { worker, result } = task.scope ? tethered.scope(task.scope).run(launch) : launch()
  if (task.activateAfterStart) {
    // the worker's preload and script have run, and it waits for 'go', before the policy exists
    await new Promise((resolve) => worker.on('message', (m) => m === 'ready' && resolve()))
    activate()
  }
  if (task.goAfterScope || task.activateAfterStart) worker.postMessage('go')
  return result
}

main().then(
  (report) => process.stdout.write(`${REPORT_PREFIX}${JSON.stringify(report)}\n`),
  (err) => process.stdout.write(`${REPORT_PREFIX}${JSON.stringify({ launchError: describeError(err) })}\n`),
)
