// A counting WebSocket echo server (the `ws` package on a plain http server), shaped like the
// harness's counting servers: TCP connections, upgrade (or plain HTTP) requests, messages.
import http from 'node:http'
import type net from 'node:net'
import { WebSocketServer } from 'ws'
import { ALLOWED_V4, type CountingServer } from '../harness/index.js'

export async function countingWsServer(host: string = ALLOWED_V4, port = 0): Promise<CountingServer> {
  const counters = { connections: 0, requests: 0, messages: 0 }
  const server = http.createServer((_req, res) => {
    counters.requests++
    res.writeHead(426).end()
  })
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => {
    counters.requests++
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, isBinary) => {
        counters.messages++
        ws.send(data, { binary: isBinary })
      })
    })
  })
  const sockets = new Set<net.Socket>()
  server.on('connection', (s: net.Socket) => {
    counters.connections++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  return Object.assign(counters, {
    host,
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate()
        wss.close()
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
      }),
  })
}
