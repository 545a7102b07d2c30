// One-shot clients for Node's own TCP-family APIs. Each resolves only when the server's answer
// arrived (so "allowed" means a real round trip) and rejects with exactly the error the API
// delivered through its 'error' event; a synchronous throw is reported as SynchronousThrow.
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import { attempt } from './timeout.js'

export interface Response {
  status: number
  body: string
}

/** net.connect, write "ping", resolve with what the echo server sent back. */
export function connectOnce(host: string, port: number, extra: Partial<net.TcpNetConnectOpts> = {}): Promise<string> {
  return attempt<string>(`net.connect ${host}:${port}`, (resolve, reject) => {
    const socket = net.connect({ ...extra, host, port })
    let echoed = ''
    socket.setEncoding('utf8')
    socket.on('error', reject)
    socket.on('connect', () => socket.write('ping'))
    socket.on('data', (chunk: string) => {
      echoed += chunk
      if (echoed.length >= 4) resolve(echoed)
    })
    return () => socket.destroy()
  })
}

/** tls.connect to an HTTPS server, send one raw HTTP/1.1 request, resolve with the status line. */
export function tlsRequest(host: string, port: number, ca: string): Promise<string> {
  return attempt<string>(`tls.connect ${host}:${port}`, (resolve, reject) => {
    const socket = tls.connect({ host, port, ca, ...(net.isIP(host) ? {} : { servername: host }) })
    let received = ''
    socket.setEncoding('utf8')
    socket.on('error', reject)
    socket.on('secureConnect', () => socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`))
    socket.on('data', (chunk: string) => {
      received += chunk
      const eol = received.indexOf('\r\n')
      if (eol >= 0) resolve(received.slice(0, eol))
    })
    return () => socket.destroy()
  })
}

/** http.get / https.get (chosen by the URL), resolving with status and body. */
export function httpGet(url: string, options: https.RequestOptions = {}): Promise<Response> {
  const mod = url.startsWith('https:') ? https : http
  return attempt<Response>(`${mod === https ? 'https' : 'http'}.get ${url}`, (resolve, reject) => {
    const req = mod.get(url, options, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    return () => req.destroy()
  })
}

/**
 * http2.connect + one GET. Rejects with the session's 'error' (the one that says why the
 * connection failed); a stream error only counts if the session reported none.
 */
export function http2Get(url: string, options: http2.SecureClientSessionOptions = {}): Promise<Response> {
  return attempt<Response>(`http2.connect ${url}`, (resolve, reject) => {
    const session = http2.connect(url, options)
    session.on('error', reject)
    const stream = session.request({ ':path': '/' })
    let status = 0
    let body = ''
    stream.setEncoding('utf8')
    stream.on('response', (headers) => (status = Number(headers[':status'])))
    stream.on('data', (chunk: string) => (body += chunk))
    stream.on('end', () => resolve({ status, body }))
    // The session's error, if any, is emitted around the same time: let it win.
    stream.on('error', (err) => setImmediate(reject, err))
    return () => session.destroy()
  })
}
