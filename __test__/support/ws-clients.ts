// One-shot WebSocket clients: connect, send "ping", resolve with the echo. The `ws` package
// reports the real error on 'error'; the global (undici) WebSocket only fires a generic error
// event, so its rejection is a WebSocketFailure carrying that event.
import WebSocket from 'ws'
import { attempt } from './timeout.js'

/** `ws` package client. Rejects with the error its 'error' event carried. */
export function wsPackageEcho(url: string): Promise<string> {
  return attempt<string>(`ws ${url}`, (resolve, reject) => {
    const ws = new WebSocket(url)
    ws.on('error', reject)
    ws.on('open', () => ws.send('ping'))
    ws.on('message', (data) => resolve(String(data)))
    return () => ws.terminate()
  })
}

/** What a global WebSocket reported instead of opening. */
export class WebSocketFailure extends Error {
  constructor(readonly event: Event) {
    super(`WebSocket fired '${event.type}' before opening`, { cause: (event as { error?: unknown }).error })
    this.name = 'WebSocketFailure'
  }
}

type GlobalWebSocket = {
  new (url: string): {
    addEventListener(type: string, listener: (ev: Event & { data?: unknown }) => void): void
    send(data: string): void
    close(): void
  }
}

/** The global WebSocket (Node 22+), or undefined on Node 20. */
export const GlobalWebSocket = (globalThis as { WebSocket?: GlobalWebSocket }).WebSocket

/** Global WebSocket client. Rejects with a WebSocketFailure on 'error' (or 'close' before 'open'). */
export function globalWsEcho(url: string): Promise<string> {
  const Ctor = GlobalWebSocket
  if (!Ctor) return Promise.reject(new Error('no global WebSocket on this Node version'))
  return attempt<string>(`WebSocket ${url}`, (resolve, reject) => {
    const ws = new Ctor(url)
    let opened = false
    ws.addEventListener('error', (ev) => reject(new WebSocketFailure(ev)))
    ws.addEventListener('close', (ev) => opened || reject(new WebSocketFailure(ev)))
    ws.addEventListener('open', () => {
      opened = true
      ws.send('ping')
    })
    ws.addEventListener('message', (ev) => resolve(String(ev.data)))
    return () => ws.close()
  })
}
