'use strict'
// A process that activates tethered (absolute path to dist/), launches the probe as one
// child process of a given kind (optionally inside a scope) and prints what came back. The
// task comes as `parent-task:<base64url JSON>`:
//   { activate: {...activate() options; lockToken is added when locked},
//     scope?: { allow, label }, kind, probeTask }
const path = require('node:path')
const { DIST, REPORT_PREFIX, describeError } = require('./probe.cjs')

const PREFIX = 'parent-task:'
const arg = process.argv.find((a) => a.startsWith(PREFIX))
const task = JSON.parse(Buffer.from(arg.slice(PREFIX.length), 'base64url').toString('utf8'))

const tethered = require(path.join(DIST, 'index.js'))
const { launchChild } = require('./launch-child.cjs')

async function main() {
  if (task.activate) {
    tethered.activate({ logger: null, ...task.activate, ...(task.activate.locked ? { lockToken: {} } : {}) })
  }
  const launch = () => launchChild(task.kind, task.probeTask)
  return task.scope ? tethered.scope(task.scope).run(launch) : launch()
}

main().then(
  (result) => process.stdout.write(`${REPORT_PREFIX}${JSON.stringify(result)}\n`),
  (err) => process.stdout.write(`${REPORT_PREFIX}${JSON.stringify({ launchError: describeError(err) })}\n`),
)
