// A tiny HTTP server on 127.0.0.1 (random port) that stands in for a real service in the
// examples, so they never send a packet off the machine. It counts the TCP connections and
// requests it receives: a blocked destination's server must report 0 of both.
import http from 'node:http'

/**
 * Starts a named server. Resolves with { name, port, url, connections, requests, close() };
 * `url` uses the hostname `localhost`, which is what the examples' allow lists name.
 */
export async function startServer(name) {
  const stats = { connections: 0, requests: 0 }
  const server = http.createServer((req, res) => {
    stats.requests++
    res.end(`hello from ${name}`)
  })
  server.on('connection', () => stats.connections++)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  return {
    name,
    port,
    url: `http://localhost:${port}/`,
    get connections() { return stats.connections },
    get requests() { return stats.requests },
    close() {
      server.closeAllConnections() // keep-alive sockets would otherwise hold the process open
      return new Promise((resolve) => server.close(resolve))
    },
  }
}
