// The loopback servers of benches/throughput.bench.mjs, in their own process (forked by it),
// so the clients being compared pay only their own side of each connection.
//
// - TCP on 127.0.0.1: echoes the first chunk it receives, then closes (FIN from the server:
//   its side, not the client's, holds the TIME_WAIT, so the client never runs out of ports).
// - HTTP on 127.0.0.1: answers every request with 200 'ok' and `Connection: close`.
//
// Sends { tcpPort, httpPort } to the parent when both listen; exits when the parent goes away.
import http from 'node:http'
import net from 'node:net'

if (typeof process.send !== 'function') {
  console.error('throughput-server.mjs is started by benches/throughput.bench.mjs (needs an IPC channel)')
  process.exit(2)
}

const tcp = net.createServer((socket) => {
  socket.once('data', (chunk) => socket.end(chunk))
  socket.on('error', () => {}) // a client reset must not kill the server
})
tcp.maxConnections = Infinity

const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2', connection: 'close' })
  res.end('ok')
})
server.keepAliveTimeout = 0
server.on('clientError', (_err, socket) => socket.destroy())

const listen = (s) => new Promise((resolve, reject) => s.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve).once('error', reject))
await Promise.all([listen(tcp), listen(server)])
process.send({ tcpPort: tcp.address().port, httpPort: server.address().port })
process.on('disconnect', () => process.exit(0))
