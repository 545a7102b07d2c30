'use strict'
// The middle of a grandchild launch: a plain Node script (no tethered import; whatever
// enforces the policy here came from its preload) that runs the probe as its own child with
// its task argument and passes the report through.
const cp = require('node:child_process')
const path = require('node:path')

const child = cp.spawn(process.execPath, [path.join(__dirname, 'probe.cjs'), process.argv[2]], { stdio: 'inherit' })
child.on('exit', (code) => (process.exitCode = code ?? 1))
