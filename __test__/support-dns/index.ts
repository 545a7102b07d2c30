// Helpers for the DNS, UDP, options and permission-mode tests: promise wrappers for
// callback APIs, DNS reverse names, a capturing logger, and a child-process runner.
import { spawn } from 'node:child_process'
import dgram from 'node:dgram'
import net from 'node:net'
import type { CountingServer } from '../harness/index.js'

/** Settles with the callback's error or value, so a test can assert either. */
export function settle<T>(start: (cb: (err: Error | null, value?: T) => void) => void): Promise<{ err: Error | null; value?: T }> {
  return new Promise((resolve) => start((err, value) => resolve({ err, value })))
}

/** The rejection reason of `p`, or a failure if it resolves. */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    const value = await p
    throw new Error(`expected a rejection, got ${JSON.stringify(value)}`)
  } catch (err) {
    return err as Error
  }
}

function ipv6Nibbles(ip: string): string {
  const [head = '', tail] = ip.split('::') as [string, string | undefined]
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  return groups.map((g) => g.padStart(4, '0')).join('')
}

/** The PTR query name of an address, as the DNS responder counts it. */
export function reverseName(ip: string): string {
  if (net.isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`
  return `${[...ipv6Nibbles(ip)].reverse().join('.')}.ip6.arpa`
}

export interface Captured {
  warn: string[]
  error: string[]
  debug: string[]
  readonly all: string[]
}

/** A logger that keeps every line, per level. */
export function capturingLogger(): Captured & { logger: { warn(m: string): void; error(m: string): void; debug(m: string): void } } {
  const lines: Captured = {
    warn: [],
    error: [],
    debug: [],
    get all() {
      return [...this.warn, ...this.error, ...this.debug]
    },
  }
  return Object.assign(lines, {
    logger: {
      warn: (m: string) => void lines.warn.push(m),
      error: (m: string) => void lines.error.push(m),
      debug: (m: string) => void lines.debug.push(m),
    },
  })
}

// ---------------------------------------------------------------- TCP

export type ConnectOutcome = { connected: true } | { connected: false; err: Error }

/** Connects and closes at once: whether the connection was made, or the error it failed with. */
export function tcpConnect(port: number, host: string): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host })
    socket.once('connect', () => {
      socket.destroy()
      resolve({ connected: true })
    })
    socket.once('error', (err) => resolve({ connected: false, err }))
  })
}

// ---------------------------------------------------------------- UDP

export function bindUdp(socket: dgram.Socket, address?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(0, address, () => {
      socket.off('error', reject)
      resolve()
    })
  })
}

/** Waits for the next datagram on `socket` (an echo from a counting server). */
export function nextMessage(socket: dgram.Socket): Promise<Buffer> {
  return new Promise((resolve) => socket.once('message', (msg) => resolve(msg)))
}

/**
 * Proves that no earlier datagram from this process reached `server`: call it with no policy
 * active. It sends one sentinel and waits for its echo; on loopback a datagram is queued at the
 * receiver during the send call, so any datagram sent before would have been counted first.
 */
export async function udpSentinel(type: 'udp4' | 'udp6', server: CountingServer): Promise<number> {
  const socket = dgram.createSocket(type)
  try {
    const echo = nextMessage(socket)
    await new Promise<void>((resolve, reject) => socket.send('sentinel', server.port, server.host, (err) => (err ? reject(err) : resolve())))
    await echo
    return server.messages - 1
  } finally {
    socket.close()
  }
}

// ---------------------------------------------------------------- child processes

export interface ChildResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `node <args>` (this Node binary) to completion, with no NODE_OPTIONS inherited. */
export function runNode(args: string[], env: Record<string, string> = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, NODE_OPTIONS: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** The `tethered:` lines of a child's stderr. */
export function tetheredLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('tethered:'))
}

/** The last stdout line parsed as JSON (the child's report). */
export function lastJson<T>(stdout: string): T {
  const lines = stdout.trim().split('\n')
  return JSON.parse(lines[lines.length - 1] ?? 'null') as T
}

export const NODE_MAJOR = Number(process.versions.node.split('.')[0])

let addressCounter = 0
/**
 * An address in 198.18.0.0/15 (RFC 2544, never on lo) that no other test uses: its PTR query,
 * if one were sent, would be counted by the responder (as NXDOMAIN), so a count of 0 is exact.
 */
export function uniqueAddress(): string {
  const n = (process.pid * 7919 + ++addressCounter * 104729 + Math.floor(Math.random() * 65536)) % 131072
  return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${(n & 255) || 1}`
}
