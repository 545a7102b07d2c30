// Run inside a fresh project that installed tethered from the registry: loads the ESM and the
// CJS entry, activates through one and deactivates through the other, and reports what each
// connection did and which native library the process mapped. Prints one JSON object.
// argv: <allowed port> <blocked port> (servers on 127.0.0.1 run by the test).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import net from 'node:net'
import * as esm from 'tethered'

const require = createRequire(import.meta.url)
const cjs = require('tethered')
const [allowedPort, blockedPort] = process.argv.slice(2).map(Number)

const describe = (err) => ({
  connected: false,
  name: err?.name,
  code: err?.code,
  egressBlocked: err instanceof cjs.EgressBlocked,
  host: err?.host,
  port: err?.port,
  message: String(err?.message),
})

function connect(port) {
  return new Promise((resolve) => {
    let socket
    try {
      socket = net.connect(port, '127.0.0.1')
    } catch (err) {
      resolve(describe(err))
      return
    }
    socket.once('connect', () => {
      socket.end()
      resolve({ connected: true })
    })
    socket.once('error', (err) => resolve(describe(err)))
  })
}

const out = {
  sameExports: esm.activate === cjs.activate && esm.deactivate === cjs.deactivate && esm.EgressBlocked === cjs.EgressBlocked,
  version: require('tethered/package.json').version,
  resolved: require.resolve('tethered'),
}
esm.activate({ allow: [`127.0.0.1:${allowedPort}`], allowLocalhost: false, logger: null })
out.allowed = await connect(allowedPort)
out.blocked = await connect(blockedPort)
cjs.deactivate() // one state: the CJS entry ends what the ESM entry started
out.afterDeactivate = await connect(blockedPort)
out.nativeLibraries = [
  ...new Set(
    readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .map((line) => line.slice(line.indexOf('/')))
      .filter((path) => path.includes('.node')),
  ),
]
process.stdout.write(JSON.stringify(out))
