// `npm run demo`: shows the main job on this machine, with loopback traffic only.
// 1. Dry-run decisions of a Policy (the engine that enforcement uses).
// 2. activate(): a connection to an allowed loopback server works, one to a name outside the
//    allow list fails with EgressBlocked before any DNS query or packet.
import net from 'node:net'
import { Policy, activate, deactivate, scope } from '../dist/index.mjs'

const rules = ['*.stripe.com:443', 'db.internal:5432', '10.0.0.0/8', '[2001:db8::]/32:443']
const policy = new Policy(rules)
console.log(`Policy ${JSON.stringify(rules)}`)
for (const [host, port] of [
  ['api.stripe.com', 443],
  ['api.stripe.com', 80],
  ['stripe.com', 443],
  ['db.internal', 5432],
  ['10.20.30.40', 8080],
  ['2001:db8::1', 443],
  ['evil.example', null],
]) {
  const shown = port === null ? `${host} (DNS lookup)` : host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  console.log(`  ${policy.allows(host, port) ? 'allow' : 'BLOCK'}  ${shown}`)
}

const server = net.createServer((socket) => socket.end('hello from loopback\n'))
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const { port } = server.address()

function connect(host, to = port) {
  return new Promise((resolve) => {
    const socket = net.connect(to, host)
    socket.on('data', (data) => resolve(`connected, got ${JSON.stringify(data.toString().trim())}`))
    socket.on('error', (err) => resolve(`${err.name} (${err.code}): ${err.message}`))
  })
}

activate({ allow: ['api.stripe.com:443'], logger: null })
console.log(`\nactivate({ allow: ['api.stripe.com:443'] })`)
console.log(`  127.0.0.1:${port} (localhost is allowed by default) -> ${await connect('127.0.0.1')}`)
console.log(`  exfil.example:${port} -> ${await connect('exfil.example')}`)
await scope({ allow: ['db.internal:5432'], label: 'billing-job' }, async () => {
  // The global policy allows api.stripe.com:443; the scope narrows this code path to the database.
  console.log(`  inside scope 'billing-job': api.stripe.com:443 -> ${await connect('api.stripe.com', 443)}`)
})
deactivate()
server.close()
