// Child processes of an activated process: every way of starting a Node child starts it under
// the parent's effective policy (global ∩ scopes at the launch site), also when the caller
// passes its own env; a locked parent gives locked children; anything else is external and
// follows externalSubprocessPolicy ('warn' | 'allow' | 'block').
//
// Each scenario is its own process tree (fixtures-proc/child-parent.cjs activates and launches
// probe.cjs; external.cjs makes external launches), so tests run concurrently and this process
// never activates anything; the counting servers and the DNS responder live here.
import fs from 'node:fs'
import path from 'node:path'
import type { ExecutionContext } from 'ava'
import { netTest } from './harness/index.js'
import {
  HAS_EXECVE,
  type ProbeReport,
  type ReportedError,
  STANDARD_ALLOW,
  assertAllowed,
  assertNarrowedByScope,
  assertReachesBoth,
  assertLocked,
  runFixture,
  scopeServers,
  standardAttempts,
  tempDir,
} from './fixtures-proc/run.js'

const KINDS = {
  fork: 'child_process.fork',
  'spawn-execPath': 'spawn(process.execPath)',
  'spawn-node': "spawn('node')",
  'spawn-shell': "spawn('node …', { shell: true })",
  'exec-node-e': "exec('node -e …')",
  execFile: 'execFile(process.execPath)',
  spawnSync: 'spawnSync(process.execPath)',
  execSync: "execSync('node …')",
  execFileSync: 'execFileSync(process.execPath)',
  'env-empty': 'spawn with env: {}',
  'env-path-only': "spawn('node') with env: { PATH }",
  'env-forged': 'spawn with its own NODE_OPTIONS="" and a forged empty payload',
  'npm-run': '`npm run` of a package script that runs node',
  grandchild: 'a grandchild (child of an unmodified Node child)',
  execve: 'process.execve of node with an env lacking the payload',
} as const
type Kind = keyof typeof KINDS

interface ChildTask {
  activate?: Record<string, unknown>
  kind: Kind
  probeTask: unknown
  scope?: { allow: string[]; label: string }
}

interface ChildResult {
  report: ProbeReport | null
  code: number | null
  stderr: string
}

async function runChild(t: ExecutionContext, task: ChildTask): Promise<ProbeReport> {
  const result = await runFixture<ChildResult>(t, 'child-parent.cjs', task)
  if (!result.report) {
    t.log(`child exit ${result.code}\n${result.stderr}`)
    throw new Error('the child printed no report')
  }
  t.is(result.code, 0, 'the child exited normally')
  t.true(result.report.isMainThread, 'the probe ran in a process of its own')
  return result.report
}

const execveTest = (title: string, impl: (t: ExecutionContext) => Promise<void>): void =>
  HAS_EXECVE ? netTest(title, impl) : netTest.skip(`${title} [needs Node 22.15+: process.execve]`, impl)

for (const [kind, description] of Object.entries(KINDS) as [Kind, string][]) {
  const declare: typeof execveTest = kind === 'execve' ? execveTest : netTest
  declare(`${description} is enforced by the parent's policy (TCP by name and address, getaddrinfo, c-ares)`, async (t) => {
    const standard = await standardAttempts(t)
    const report = await runChild(t, { activate: { allow: STANDARD_ALLOW }, kind, probeTask: standard.task })
    await standard.check(t, report)
  })
}

// ---------------------------------------------------------------- scopes at the launch site

const LABEL = 'child-scope'

for (const kind of ['fork', 'spawn-execPath', 'spawnSync', 'exec-node-e', 'env-empty', 'grandchild'] as const) {
  netTest(`${KINDS[kind]} launched inside scope() is narrowed by it (blocked with the scope's label)`, async (t) => {
    const { x, y, task } = await scopeServers(t)
    const report = await runChild(t, { activate: { allow: ['a.test', 'other.test'] }, scope: { allow: ['a.test'], label: LABEL }, kind, probeTask: task() })
    assertNarrowedByScope(t, report.results, { x, y }, LABEL)
    t.is(x.connections, 1)
  })
}

netTest('control: the same child launched outside any scope reaches both hosts', async (t) => {
  const { x, y, task } = await scopeServers(t)
  const report = await runChild(t, { activate: { allow: ['a.test', 'other.test'] }, kind: 'spawn-execPath', probeTask: task() })
  assertReachesBoth(t, report.results, { x, y })
})

netTest('a child launched inside a scope, with no global policy, is narrowed by the scope', async (t) => {
  const { x, y, task } = await scopeServers(t)
  const report = await runChild(t, { scope: { allow: ['a.test'], label: LABEL }, kind: 'spawn-execPath', probeTask: task() })
  assertNarrowedByScope(t, report.results, { x, y }, LABEL, 'other.test')
})

// ---------------------------------------------------------------- locked parents

for (const kind of ['fork', 'spawn-execPath', 'env-empty', 'grandchild'] as const) {
  netTest(`${KINDS[kind]} of a locked parent is locked: deactivate() and activate() throw TetheredLocked, the policy still blocks`, async (t) => {
    const standard = await standardAttempts(t)
    const report = await runChild(t, {
      activate: { allow: STANDARD_ALLOW, locked: true },
      kind,
      probeTask: {
        steps: [{ id: 'settings', op: 'settings' }, { id: 'deactivate', op: 'deactivate' }, { id: 'activate', op: 'activate' }, ...standard.task.steps],
      },
    })
    const settings = report.results.settings
    t.true(settings?.ok && (settings.value as { locked: boolean }).locked, "the child's native policy is locked")
    assertLocked(t, report.results.deactivate, 'deactivate() in the child')
    assertLocked(t, report.results.activate, 'activate() with a wider allow list in the child')
    await standard.check(t, report)
  })
}

netTest('a child of an unlocked parent can deactivate() (control for the locked case)', async (t) => {
  const report = await runChild(t, { activate: { allow: STANDARD_ALLOW }, kind: 'spawn-execPath', probeTask: { steps: [{ id: 'deactivate', op: 'deactivate' }] } })
  assertAllowed(t, report.results.deactivate, null, 'deactivate() in the child')
})

// ---------------------------------------------------------------- external executables

type Method = 'spawn' | 'spawnSync' | 'exec' | 'execSync' | 'execFile' | 'execFileSync'

interface Launch {
  id: string
  method: Method
  file?: string
  args?: string[]
  command?: string
  marker: string
}

interface LaunchResult {
  threwSync: ReportedError | null
  command?: string
  instanceOfExported?: boolean | null
  exit?: number | string
  lines: { level: string; message: string }[]
  markerExists: boolean
}

/** One launch per method, each of a command that creates its own marker file. */
function touchLaunches(dir: string): Launch[] {
  const m = (id: string) => path.join(dir, `${id}.marker`)
  return [
    { id: 'spawn sh -c', method: 'spawn', file: 'sh', args: ['-c', `touch ${m('spawn-sh')}`], marker: m('spawn-sh') },
    { id: 'spawn', method: 'spawn', file: 'touch', args: [m('spawn')], marker: m('spawn') },
    { id: 'spawnSync', method: 'spawnSync', file: 'touch', args: [m('spawnSync')], marker: m('spawnSync') },
    { id: 'exec', method: 'exec', command: `touch ${m('exec')}`, marker: m('exec') },
    { id: 'execSync', method: 'execSync', command: `touch ${m('execSync')}`, marker: m('execSync') },
    { id: 'execFile', method: 'execFile', file: 'touch', args: [m('execFile')], marker: m('execFile') },
    { id: 'execFileSync', method: 'execFileSync', file: 'touch', args: [m('execFileSync')], marker: m('execFileSync') },
  ]
}

async function runExternal(t: ExecutionContext, activate: Record<string, unknown>, launches: Launch[]): Promise<Record<string, LaunchResult>> {
  return runFixture<Record<string, LaunchResult>>(t, 'external.cjs', { activate: { allow: [], ...activate }, launches })
}

netTest("externalSubprocessPolicy 'warn' (the default): each launch runs and writes exactly one log line naming the command", async (t) => {
  const launches = touchLaunches(tempDir(t))
  const results = await runExternal(t, {}, launches)
  for (const l of launches) {
    const r = results[l.id]!
    t.is(r.threwSync, null, l.id)
    t.true(r.markerExists, `${l.id}: the command ran`)
    t.is(r.lines.length, 1, `${l.id}: one log line: ${JSON.stringify(r.lines)}`)
    t.is(r.lines[0]?.level, 'warn', l.id)
    t.true(r.lines[0]?.message.includes(`touch ${l.marker}`), `${l.id}: the line names the command: ${r.lines[0]?.message}`)
  }
})

netTest("externalSubprocessPolicy 'warn' with `sh -c true` and `true`: one line each, naming the command", async (t) => {
  const dir = tempDir(t)
  const launches: Launch[] = [
    { id: 'sh -c true', method: 'spawnSync', file: 'sh', args: ['-c', 'true'], marker: path.join(dir, 'none') },
    { id: 'true', method: 'spawnSync', file: 'true', args: [], marker: path.join(dir, 'none') },
  ]
  const results = await runExternal(t, { externalSubprocessPolicy: 'warn' }, launches)
  t.is(results['sh -c true']!.lines.length, 1)
  t.regex(results['sh -c true']!.lines[0]!.message, /\bsh -c true\b/)
  t.is(results.true!.lines.length, 1)
  t.regex(results.true!.lines[0]!.message, /\btrue$/)
})

netTest("externalSubprocessPolicy 'warn' says nothing about Node children", async (t) => {
  const dir = tempDir(t)
  const marker = path.join(dir, 'node.marker')
  const script = `require("fs").writeFileSync(${JSON.stringify(marker)}, "")`
  const launches: Launch[] = [
    { id: 'node', method: 'spawnSync', file: process.execPath, args: ['-e', script], marker },
    { id: 'sh -c node', method: 'spawnSync', file: 'sh', args: ['-c', `node -e '${script}'`], marker },
  ]
  const results = await runExternal(t, {}, launches)
  for (const l of launches) {
    t.true(results[l.id]!.markerExists, `${l.id} ran`)
    t.deepEqual(results[l.id]!.lines, [], `${l.id}: no log line`)
  }
})

netTest("externalSubprocessPolicy 'allow': each launch runs, nothing is logged", async (t) => {
  const launches = touchLaunches(tempDir(t))
  const results = await runExternal(t, { externalSubprocessPolicy: 'allow' }, launches)
  for (const l of launches) {
    const r = results[l.id]!
    t.is(r.threwSync, null, l.id)
    t.true(r.markerExists, `${l.id}: the command ran`)
    t.deepEqual(r.lines, [], `${l.id}: silent`)
  }
})

function assertSubprocessBlocked(t: ExecutionContext, r: LaunchResult | undefined, commandPart: string, what: string): void {
  if (!r) return void t.fail(`${what}: no result`)
  if (!r.threwSync) return void t.fail(`${what}: the launch call returned (exit ${String(r.exit)}); expected it to throw SubprocessBlocked`)
  t.is(r.threwSync.name, 'SubprocessBlocked', `${what}: ${r.threwSync.message}`)
  t.is(r.threwSync.code, 'ERR_TETHERED_SUBPROCESS_BLOCKED', what)
  t.true(r.command?.includes(commandPart), `${what}: err.command names the command: ${r.command}`)
  t.false(r.markerExists, `${what}: no process was started`)
}

netTest("externalSubprocessPolicy 'block': every launch call throws SubprocessBlocked synchronously and starts nothing", async (t) => {
  const launches = touchLaunches(tempDir(t))
  const results = await runExternal(t, { externalSubprocessPolicy: 'block' }, launches)
  for (const l of launches) assertSubprocessBlocked(t, results[l.id], `touch ${l.marker}`, l.id)
})

netTest("externalSubprocessPolicy 'block' still lets Node children start", async (t) => {
  const dir = tempDir(t)
  const marker = path.join(dir, 'node.marker')
  const results = await runExternal(t, { externalSubprocessPolicy: 'block' }, [
    { id: 'node', method: 'execFileSync', file: process.execPath, args: ['-e', `require("fs").writeFileSync(${JSON.stringify(marker)}, "")`], marker },
  ])
  t.is(results.node!.threwSync, null)
  t.true(results.node!.markerExists)
})

// The README documents the class: a blocked launch throws an instance of the exported one.
netTest('the error thrown by a blocked launch is an instance of the exported SubprocessBlocked', async (t) => {
  const dir = tempDir(t)
  const results = await runExternal(t, { externalSubprocessPolicy: 'block' }, [
    { id: 'true', method: 'spawn', file: 'true', args: [], marker: path.join(dir, 'none') },
  ])
  t.is(results.true!.instanceOfExported, true)
})

// ---------------------------------------------------------------- shell commands that strip the payload

/** Shell commands that start node without the inherited NODE_OPTIONS; each would create a marker. */
function strippingLaunches(dir: string): Launch[] {
  const node = (marker: string) => `node -e 'require("fs").writeFileSync(process.argv[1], "")' ${marker}`
  const forms: Record<string, (m: string) => string> = {
    'env -u NODE_OPTIONS': (m) => `env -u NODE_OPTIONS ${node(m)}`,
    'NODE_OPTIONS=': (m) => `NODE_OPTIONS= ${node(m)}`,
    'unset NODE_OPTIONS': (m) => `unset NODE_OPTIONS; ${node(m)}`,
  }
  return Object.entries(forms).map(([id, form], i) => {
    const marker = path.join(dir, `strip-${i}.marker`)
    return { id, method: 'spawn' as const, file: 'sh', args: ['-c', form(marker)], marker }
  })
}

netTest("a shell command that strips NODE_OPTIONS is external: one 'warn' line naming it", async (t) => {
  const launches = strippingLaunches(tempDir(t))
  const results = await runExternal(t, {}, launches)
  for (const l of launches) {
    const r = results[l.id]!
    t.is(r.threwSync, null, l.id)
    t.is(r.lines.length, 1, `${l.id}: ${JSON.stringify(r.lines)}`)
    t.true(r.lines[0]?.message.includes(l.id), `${l.id}: the line names the command: ${r.lines[0]?.message}`)
  }
})

netTest("a shell command that strips NODE_OPTIONS is refused under 'block'", async (t) => {
  const launches = strippingLaunches(tempDir(t))
  const results = await runExternal(t, { externalSubprocessPolicy: 'block' }, launches)
  for (const l of launches) assertSubprocessBlocked(t, results[l.id], l.id, l.id)
})

netTest("in locked mode a shell command that strips NODE_OPTIONS is refused even with externalSubprocessPolicy 'allow'", async (t) => {
  const launches = strippingLaunches(tempDir(t))
  const results = await runExternal(t, { externalSubprocessPolicy: 'allow', locked: true }, launches)
  for (const l of launches) assertSubprocessBlocked(t, results[l.id], l.id, l.id)
})

netTest("control: in locked mode with 'allow', an ordinary external command still runs", async (t) => {
  const dir = tempDir(t)
  const marker = path.join(dir, 'plain.marker')
  const results = await runExternal(t, { externalSubprocessPolicy: 'allow', locked: true }, [
    { id: 'sh -c touch', method: 'spawn', file: 'sh', args: ['-c', `touch ${marker}`], marker },
  ])
  t.is(results['sh -c touch']!.threwSync, null)
  t.true(fs.existsSync(marker))
})
