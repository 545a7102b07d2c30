// Test-side helpers for the worker / child-process / register tests: run a fixture script as
// a fresh Node process (so each scenario has its own process-wide policy and the test process
// never activates anything), read its report, and check the standard egress attempts.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ExecutionContext } from 'ava'
import { ALLOWED_V4, BLOCKED_V4, OTHER_V4, type CountingServer, countingTcpServer, dnsCount, uniqueName } from '../harness/index.js'

export const FIXTURES = path.dirname(fileURLToPath(import.meta.url))
export const REPO = path.resolve(FIXTURES, '..', '..')
export const DIST = path.join(REPO, 'dist')
export const REGISTER = path.join(DIST, 'register.js')
export const PROBE = path.join(FIXTURES, 'probe.cjs')
export const PROBE_ESM = path.join(FIXTURES, 'probe.mjs')
const REPORT_PREFIX = 'TETHERED-PROBE '
/** A whole fixture run (it may start npm, a shell and two Node processes). */
const PROCESS_TIMEOUT_MS = 90_000
/**
 * Fixture runs of this test file at once. Each starts a small tree of Node processes and test
 * files run in parallel: unbounded, a 2-CPU machine spends seconds starting each worker.
 */
const MAX_RUNNING = 2 * Math.max(1, os.availableParallelism?.() ?? os.cpus().length)

export const [NODE_MAJOR, NODE_MINOR] = process.versions.node.split('.').map(Number) as [number, number]
/** process.execve exists from Node 22.15 (and 23.11). */
export const HAS_EXECVE = typeof (process as { execve?: unknown }).execve === 'function'

// ---------------------------------------------------------------- tasks and reports

export type Step =
  | { id: string; op: 'connect'; host: string; port: number }
  | { id: string; op: 'lookup' | 'resolve4'; host: string }
  | { id: string; op: 'deactivate' | 'activate' | 'settings' }
  | { id: string; op: 'touch'; path: string }
  | { id: string; op: 'evalWorker' | 'fileWorker'; probeTask: ProbeTask }
  | { id: string; op: 'spawn'; file: string; args: string[] }
  | { id: string; op: 'child'; kind: string; probeTask: ProbeTask }
  | { id: string; op: 'worker'; kind: string; probeTask: ProbeTask }

export interface ProbeTask {
  steps: Step[]
  /** Workers: wait for a 'go' message before the first step. */
  waitForGo?: boolean
}

export interface ReportedError {
  name?: string
  code?: string
  message: string
  host?: string
  port?: number | null
  scopeLabel?: string | null
}

export type StepResult = { ok: true; value: unknown } | { ok: false; error: ReportedError }

export interface ProbeReport {
  isMainThread?: boolean
  threadId?: number
  results: Record<string, StepResult>
  /** Set by the middle worker of a worker-of-a-worker. */
  via?: { isMainThread: boolean; threadId: number }
}

export function encode(prefix: 'parent-task:' | 'probe-task:' | 'esm-task:', task: unknown): string {
  return prefix + Buffer.from(JSON.stringify(task)).toString('base64url')
}

// ---------------------------------------------------------------- processes

export interface ProcResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * The environment for a fixture process: this one's without anything of tethered's or a
 * NODE_OPTIONS, with this Node's directory first on PATH so that `node` (and the node npm
 * runs on) is the version under test.
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k === 'NODE_OPTIONS' || k.startsWith('TETHERED_')) continue
    env[k] = v
  }
  env.PATH = [path.dirname(process.execPath), process.env.PATH ?? ''].join(path.delimiter)
  return { ...env, ...extra }
}

let running = 0
const waiting: (() => void)[] = []

/** Runs `fn` when fewer than MAX_RUNNING runs are in progress (a finishing run hands its slot on). */
async function inSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (running < MAX_RUNNING) running++
  else await new Promise<void>((resolve) => waiting.push(resolve))
  try {
    return await fn()
  } finally {
    const next = waiting.shift()
    if (next) next()
    else running--
  }
}

/** Runs `node <args>` to completion (with a generous hang guard). */
export function runNode(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<ProcResult> {
  return inSlot(() => spawnNode(args, opts))
}

function spawnNode(args: string[], opts: { env?: Record<string, string>; cwd?: string }): Promise<ProcResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: opts.env ?? cleanEnv(), cwd: opts.cwd ?? REPO, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    const timer = setTimeout(() => child.kill('SIGKILL'), PROCESS_TIMEOUT_MS)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** The JSON report line a fixture printed; fails the test with its output when missing. */
export function reportOf<T>(t: ExecutionContext, r: ProcResult): T {
  const line = r.stdout.split('\n').find((l) => l.startsWith(REPORT_PREFIX))
  if (!line) {
    t.log(`exit ${r.code} ${r.signal ?? ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`)
    throw new Error('the fixture printed no report')
  }
  return JSON.parse(line.slice(REPORT_PREFIX.length)) as T
}

/** Runs a fixture script with its `parent-task:` and returns its report. */
export async function runFixture<T>(t: ExecutionContext, script: string, task: unknown): Promise<T> {
  const r = await runNode([path.join(FIXTURES, script), encode('parent-task:', task)])
  const report = reportOf<T & { launchError?: ReportedError }>(t, r)
  if (report.launchError) {
    t.log(r.stderr)
    throw new Error(`the fixture could not launch: ${report.launchError.name}: ${report.launchError.message}`)
  }
  return report
}

/** A fresh temp dir, removed after the test. */
export function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tethered-proc-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

// ---------------------------------------------------------------- assertions

/** The step was refused with an EgressBlocked for host/port (and by `scopeLabel`, or by the global policy). */
export function assertBlocked(t: ExecutionContext, r: StepResult | undefined, expected: { host: string; port: number | null; scopeLabel?: string | null }, what: string): void {
  if (!r) return void t.fail(`${what}: no result`)
  if (r.ok) return void t.fail(`${what}: succeeded, expected EgressBlocked`)
  t.is(r.error.name, 'EgressBlocked', `${what}: ${r.error.name}: ${r.error.message}`)
  t.is(r.error.code, 'ERR_TETHERED_EGRESS_BLOCKED', what)
  t.is(r.error.host, expected.host, what)
  if (expected.port !== null) t.is(r.error.port, expected.port, what)
  t.is(r.error.scopeLabel ?? null, expected.scopeLabel ?? null, `${what}: blocked by`)
}

export function assertAllowed(t: ExecutionContext, r: StepResult | undefined, value: unknown, what: string): void {
  if (!r) return void t.fail(`${what}: no result`)
  if (!r.ok) return void t.fail(`${what}: failed with ${r.error.name} [${r.error.code}]: ${r.error.message}`)
  t.is(r.value, value, what)
}

export function assertLocked(t: ExecutionContext, r: StepResult | undefined, what: string): void {
  if (!r) return void t.fail(`${what}: no result`)
  if (r.ok) return void t.fail(`${what}: succeeded, expected TetheredLocked`)
  t.is(r.error.name, 'TetheredLocked', `${what}: ${r.error.name}: ${r.error.message}`)
  t.is(r.error.code, 'ERR_TETHERED_LOCKED', what)
}

// ---------------------------------------------------------------- the standard attempts

/** What every enforced worker / child is checked with: the global allow list and its targets. */
export const STANDARD_ALLOW = ['a.test', '*.allowed.test']

export interface Standard {
  task: ProbeTask
  /** Asserts the report and that nothing reached what was blocked. */
  check(t: ExecutionContext, report: ProbeReport): Promise<void>
}

/**
 * A blocked and an allowed host, over TCP (by name and by address) and DNS (getaddrinfo and
 * c-ares, fresh names so the responder's counts are exact). Servers are closed after the test.
 */
export async function standardAttempts(t: ExecutionContext): Promise<Standard> {
  const [blocked, allowed] = await Promise.all([countingTcpServer(BLOCKED_V4), countingTcpServer(ALLOWED_V4)])
  t.teardown(() => Promise.all([blocked.close(), allowed.close()]))
  const [dnsBlocked, caresBlocked, dnsAllowed] = [uniqueName('blocked.test'), uniqueName('blocked.test'), uniqueName('allowed.test')]
  const task: ProbeTask = {
    steps: [
      { id: 'blockedByName', op: 'connect', host: 'evil.test', port: blocked.port },
      { id: 'blockedByAddress', op: 'connect', host: BLOCKED_V4, port: blocked.port },
      { id: 'lookupBlocked', op: 'lookup', host: dnsBlocked },
      { id: 'resolveBlocked', op: 'resolve4', host: caresBlocked },
      { id: 'allowed', op: 'connect', host: 'a.test', port: allowed.port },
      { id: 'lookupAllowed', op: 'lookup', host: dnsAllowed },
    ],
  }
  return {
    task,
    async check(t, report) {
      const r = report.results
      assertBlocked(t, r.blockedByName, { host: 'evil.test', port: blocked.port }, 'connect evil.test')
      assertBlocked(t, r.blockedByAddress, { host: BLOCKED_V4, port: blocked.port }, `connect ${BLOCKED_V4}`)
      assertBlocked(t, r.lookupBlocked, { host: dnsBlocked, port: null }, 'dns.lookup of a blocked name')
      assertBlocked(t, r.resolveBlocked, { host: caresBlocked, port: null }, 'resolve4 of a blocked name')
      assertAllowed(t, r.allowed, 'ping', 'connect a.test (echo round trip)')
      assertAllowed(t, r.lookupAllowed, ALLOWED_V4, 'dns.lookup of an allowed name')
      t.is(blocked.connections, 0, 'no connection reached the blocked server')
      t.is(allowed.connections, 1, 'the allowed server saw the one connection')
      t.is(await dnsCount(dnsBlocked), 0, 'no DNS query for the blocked name (getaddrinfo)')
      t.is(await dnsCount(caresBlocked), 0, 'no DNS query for the blocked name (c-ares)')
      t.true((await dnsCount(dnsAllowed)) > 0, 'the allowed name was really resolved by the responder')
    },
  }
}

/** Two servers for the scope tests: X (a.test, allowed by the scope) and Y (other.test, global only). */
export async function scopeServers(t: ExecutionContext): Promise<{ x: CountingServer; y: CountingServer; task: (extra?: Partial<ProbeTask>) => ProbeTask }> {
  const [x, y] = await Promise.all([countingTcpServer(ALLOWED_V4), countingTcpServer(OTHER_V4)])
  t.teardown(() => Promise.all([x.close(), y.close()]))
  return {
    x,
    y,
    task: (extra = {}) => ({
      steps: [
        { id: 'x', op: 'connect', host: 'a.test', port: x.port },
        { id: 'y', op: 'connect', host: 'other.test', port: y.port },
      ],
      ...extra,
    }),
  }
}

type Results = Record<string, StepResult | undefined>

/** A launch narrowed by scope(allow: [a.test], label) under a global allowing both hosts. */
export function assertNarrowedByScope(t: ExecutionContext, results: Results, servers: { x: CountingServer; y: CountingServer }, label: string, what = 'other.test (global only)'): void {
  assertAllowed(t, results.x, 'ping', 'a.test (allowed by the scope)')
  assertBlocked(t, results.y, { host: 'other.test', port: servers.y.port, scopeLabel: label }, what)
  t.is(servers.y.connections, 0, 'nothing reached other.test')
}

/** The unscoped control: both hosts reached once. */
export function assertReachesBoth(t: ExecutionContext, results: Results, servers: { x: CountingServer; y: CountingServer }): void {
  assertAllowed(t, results.x, 'ping', 'a.test')
  assertAllowed(t, results.y, 'ping', 'other.test')
  t.is(servers.x.connections, 1)
  t.is(servers.y.connections, 1)
}
