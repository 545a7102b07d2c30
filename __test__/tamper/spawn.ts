// Parent side of the tamper suite: counting servers on the blocked address (and one allowed
// server), one fresh child process per attack, and what the servers and the DNS responder saw.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ALLOWED_V4, BLOCKED_V4, countingTcpServer, countingUdpServer, dnsCount, uniqueName } from '../harness/index.js'

const RUNNER = fileURLToPath(new URL('./run.cjs', import.meta.url))

/** Probe results in the child: 'ok' (reached), 'blocked' (EgressBlocked), 'error:<code>', 'timeout'. */
export interface Probes {
  tcpIp: string
  tcpName: string
  udp: string
  lookup: string
  resolve: string
}

export interface Report {
  details?: any
  probes?: Probes | null
  allowed?: string | null
  aftermath?: any
  crashed?: string
}

export interface AttackRun {
  report: Report | null
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** What reached the blocked destinations: TCP connections, UDP datagrams, DNS queries. */
  leaked: { tcp: number; udp: number; dns: number }
  /** Connections the allowed server accepted. */
  allowedConnections: number
}

// Children run a few at a time: each one is a full Node start plus several probes.
const MAX_CHILDREN = 3
let running = 0
const waiting: Array<() => void> = []

async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_CHILDREN) await new Promise<void>((resolve) => waiting.push(resolve))
  running++
  try {
    return await fn()
  } finally {
    running--
    waiting.shift()?.()
  }
}

function childEnv(targets: object): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TAMPER_TARGETS: JSON.stringify(targets) }
  // Hermetic: no preload or inherited policy from the test process's environment.
  for (const key of Object.keys(env)) if (key === 'NODE_OPTIONS' || key.startsWith('TETHERED_')) delete env[key]
  return env
}

/** Runs `run.cjs <group> <attack> ...args` against fresh counting servers. */
export function runAttack(group: string, attack: string, ...args: string[]): Promise<AttackRun> {
  return slot(async () => {
    const [blockedTcp, blockedUdp, allowedTcp] = await Promise.all([
      countingTcpServer(BLOCKED_V4),
      countingUdpServer('udp4', BLOCKED_V4),
      countingTcpServer(ALLOWED_V4),
    ])
    const gaiName = uniqueName('blocked.test')
    const caresName = uniqueName('blocked.test')
    const targets = { blockedTcp: blockedTcp.port, blockedUdp: blockedUdp.port, allowedTcp: allowedTcp.port, gaiName, caresName }
    try {
      const child = spawn(process.execPath, [RUNNER, group, attack, ...args], { env: childEnv(targets), stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
      const killer = setTimeout(() => child.kill('SIGKILL'), 110_000)
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])))
      clearTimeout(killer)
      // Not a speed assertion: lets a connection or datagram the child made just before it
      // exited reach the counters before they are read.
      await new Promise((resolve) => setTimeout(resolve, 100))
      // The last report wins: a child that may be killed reports its progress first.
      const line = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .pop()
      const report = line ? (JSON.parse(line) as Report) : null
      const dns = (await dnsCount(gaiName)) + (await dnsCount(caresName))
      return {
        report,
        code,
        signal,
        stdout,
        stderr,
        leaked: { tcp: blockedTcp.connections, udp: blockedUdp.messages, dns },
        allowedConnections: allowedTcp.connections,
      }
    } finally {
      await Promise.all([blockedTcp.close(), blockedUdp.close(), allowedTcp.close()])
    }
  })
}
