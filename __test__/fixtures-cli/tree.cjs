'use strict'
// The command the CLI tests run under `tethered run`: a plain Node script (no tethered import
// unless a step needs the API) that does one thing per invocation, chosen by argv:
//   connect HOST PORT     TCP connect; prints `RESULT {...}`; exit 0 connected, 3 EgressBlocked, 4 other
//   lookup HOST           dns.lookup; prints RESULT; exit 0 (whatever the answer), 3 EgressBlocked
//   node STEP...          runs STEP... in a child Node process (a grandchild of the CLI), exits with its status
//   exit N                exits with N
//   kill SIGNAL           kills itself with SIGNAL
//   wait-signal           prints READY, then on SIGTERM/SIGINT prints `got SIG...` and exits 42
//   deactivate            calls tethered's deactivate(); prints RESULT; exit 0 done, 5 refused
//   external CMD...       execFileSync(CMD...); prints RESULT; exit 0 ran, 6 refused
const { execFileSync, spawnSync } = require('node:child_process')
const dns = require('node:dns')
const net = require('node:net')
const path = require('node:path')

const DIST = path.resolve(__dirname, '../../dist/index.js')

function result(value, code) {
  process.stdout.write(`RESULT ${JSON.stringify(value)}\n`)
  process.exitCode = code
}

function errorInfo(err) {
  return { name: err.name, code: err.code, message: err.message }
}

const [step, ...args] = process.argv.slice(2)
switch (step) {
  case 'connect': {
    const [host, port] = args
    const socket = net.connect({ host, port: Number(port) })
    socket.once('connect', () => {
      socket.destroy()
      result({ connected: true }, 0)
    })
    socket.once('error', (err) => result(errorInfo(err), err.code === 'ERR_TETHERED_EGRESS_BLOCKED' ? 3 : 4))
    break
  }
  case 'lookup':
    dns.lookup(args[0], (err) => {
      const blocked = err?.code === 'ERR_TETHERED_EGRESS_BLOCKED'
      result(blocked ? errorInfo(err) : { looked: true }, blocked ? 3 : 0)
    })
    break
  case 'node': {
    const child = spawnSync(process.execPath, [__filename, ...args], { stdio: 'inherit' })
    process.exitCode = child.status ?? 1
    break
  }
  case 'exit':
    process.exitCode = Number(args[0])
    break
  case 'kill':
    process.kill(process.pid, args[0])
    break
  case 'wait-signal': {
    for (const signal of ['SIGTERM', 'SIGINT']) {
      process.once(signal, () => {
        process.stdout.write(`got ${signal}\n`)
        process.exit(42)
      })
    }
    setTimeout(() => process.exit(9), 30_000) // never hang a test run
    process.stdout.write('READY\n')
    break
  }
  case 'deactivate':
    try {
      require(DIST).deactivate()
      result({ deactivated: true }, 0)
    } catch (err) {
      result(errorInfo(err), 5)
    }
    break
  case 'external':
    try {
      execFileSync(args[0], args.slice(1), { stdio: 'ignore' })
      result({ ran: true }, 0)
    } catch (err) {
      result(errorInfo(err), 6)
    }
    break
  default:
    process.stderr.write(`tree.cjs: unknown step ${JSON.stringify(step)}\n`)
    process.exitCode = 2
}
