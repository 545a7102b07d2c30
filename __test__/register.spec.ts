// Zero-code activation: `node --require tethered/register` (also through NODE_OPTIONS) and
// `node --import tethered/register` configured by TETHERED_* variables. The policy is in force
// before the first line of the application; a bad value stops the process, naming the
// variable, before any application code ran.
//
// `tethered/register` is resolved by package self-reference (cwd = the repository root, whose
// package.json has the "./register" export), the way an installed package resolves from an
// app's node_modules; other tests use the absolute path of dist/register.js.
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import test, { type ExecutionContext } from 'ava'
import { ALLOWED_V4, BLOCKED_V4, countingTcpServer, dnsCount, netTest, uniqueName } from './harness/index.js'
import {
  PROBE,
  PROBE_ESM,
  type ProbeReport,
  type ProcResult,
  REGISTER,
  REPO,
  STANDARD_ALLOW,
  type Step,
  assertAllowed,
  assertBlocked,
  assertLocked,
  cleanEnv,
  encode,
  reportOf,
  runNode,
  standardAttempts,
  tempDir,
} from './fixtures-proc/run.js'

const SELF_REFERENCE = 'tethered/register'

interface Settings {
  allow: string[]
  allowLocalhost: boolean
  logOnly: boolean
  failClosed: boolean
  locked: boolean
  externalSubprocessPolicy: string
}

/** `node <preload flags> probe.cjs <task>` with the TETHERED_* variables in `vars`. */
function runProbe(preload: string[], vars: Record<string, string>, steps: Step[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<ProcResult> {
  return runNode([...preload, PROBE, encode('probe-task:', { steps })], { cwd: opts.cwd ?? REPO, env: cleanEnv({ ...opts.env, ...vars }) })
}

function settingsOf(report: ProbeReport): Settings | null {
  const r = report.results.settings
  if (!r?.ok) throw new Error(`settings step failed: ${JSON.stringify(r)}`)
  return r.value as Settings | null
}

// ---------------------------------------------------------------- the three ways in

netTest('node --require tethered/register (self-reference) enforces TETHERED_ALLOW from the first line of the app', async (t) => {
  const standard = await standardAttempts(t)
  const r = await runProbe(['--require', SELF_REFERENCE], { TETHERED_ALLOW: STANDARD_ALLOW.join(',') }, [{ id: 'settings', op: 'settings' }, ...standard.task.steps])
  t.is(r.code, 0)
  const report = reportOf<ProbeReport>(t, r)
  t.deepEqual(settingsOf(report)?.allow, STANDARD_ALLOW, 'active before the first statement of the app')
  await standard.check(t, report)
})

netTest('node --require <absolute path of dist/register.js> works from any directory', async (t) => {
  const standard = await standardAttempts(t)
  const r = await runProbe(['--require', REGISTER], { TETHERED_ALLOW: STANDARD_ALLOW.join(',') }, standard.task.steps, { cwd: tempDir(t) })
  await standard.check(t, reportOf<ProbeReport>(t, r))
})

netTest('NODE_OPTIONS="--require <register>" works like the flag', async (t) => {
  const standard = await standardAttempts(t)
  const r = await runProbe([], { TETHERED_ALLOW: STANDARD_ALLOW.join(',') }, standard.task.steps, {
    cwd: tempDir(t),
    env: { NODE_OPTIONS: `--require ${JSON.stringify(REGISTER)}` },
  })
  await standard.check(t, reportOf<ProbeReport>(t, r))
})

netTest('NODE_OPTIONS="--require tethered/register" (self-reference) works like the flag', async (t) => {
  const standard = await standardAttempts(t)
  const r = await runProbe([], { TETHERED_ALLOW: STANDARD_ALLOW.join(',') }, standard.task.steps, { env: { NODE_OPTIONS: `--require ${SELF_REFERENCE}` } })
  await standard.check(t, reportOf<ProbeReport>(t, r))
})

netTest('node --import tethered/register: an ESM app (named imports of node:net, node:dns/promises) and its workers are enforced', async (t) => {
  const [blocked, allowed] = await Promise.all([countingTcpServer(BLOCKED_V4), countingTcpServer(ALLOWED_V4)])
  t.teardown(() => Promise.all([blocked.close(), allowed.close()]))
  // --import preloads do not run in eval workers; the Worker wrapper's --require covers them.
  // A file worker runs both (--require first, then the inherited --import).
  const [inEvalWorker, inFileWorker] = await Promise.all([standardAttempts(t), standardAttempts(t)])
  const blockedName = uniqueName('blocked.test')
  const steps = [
    { id: 'settings', op: 'settings' },
    { id: 'blocked', op: 'connect', host: 'evil.test', port: blocked.port },
    { id: 'lookupBlocked', op: 'lookup', host: blockedName },
    { id: 'allowed', op: 'connect', host: 'a.test', port: allowed.port },
    { id: 'evalWorker', op: 'evalWorker', probeTask: inEvalWorker.task },
    { id: 'fileWorker', op: 'fileWorker', probeTask: inFileWorker.task },
  ]
  const r = await runNode(['--import', SELF_REFERENCE, PROBE_ESM, encode('esm-task:', { steps })], {
    env: cleanEnv({ TETHERED_ALLOW: STANDARD_ALLOW.join(',') }),
  })
  t.is(r.code, 0)
  const report = reportOf<ProbeReport>(t, r)
  t.deepEqual(settingsOf(report)?.allow, STANDARD_ALLOW)
  assertBlocked(t, report.results.blocked, { host: 'evil.test', port: blocked.port }, 'ESM connect evil.test')
  assertBlocked(t, report.results.lookupBlocked, { host: blockedName, port: null }, 'ESM dns/promises lookup of a blocked name')
  assertAllowed(t, report.results.allowed, 'ping', 'ESM connect a.test')
  t.is(blocked.connections, 0)
  t.is(allowed.connections, 1)
  t.is(await dnsCount(blockedName), 0)
  for (const [id, attempts] of [['evalWorker', inEvalWorker], ['fileWorker', inFileWorker]] as const) {
    const worker = report.results[id]
    if (!worker?.ok) return void t.fail(`${id}: ${JSON.stringify(worker)}`)
    const workerReport = worker.value as ProbeReport
    t.false(workerReport.isMainThread, id)
    await attempts.check(t, workerReport)
  }
})

netTest('node --import <file URL of dist/register.js> works as well', async (t) => {
  const standard = await standardAttempts(t)
  const r = await runProbe(['--import', pathToFileURL(REGISTER).href], { TETHERED_ALLOW: STANDARD_ALLOW.join(',') }, standard.task.steps, { cwd: tempDir(t) })
  await standard.check(t, reportOf<ProbeReport>(t, r))
})

netTest('a process activated by the preload passes the policy on to its children and workers', async (t) => {
  const [inChild, inWorker] = await Promise.all([standardAttempts(t), standardAttempts(t)])
  const r = await runProbe(['--require', SELF_REFERENCE], { TETHERED_ALLOW: STANDARD_ALLOW.join(',') }, [
    { id: 'child', op: 'child', kind: 'env-empty', probeTask: inChild.task },
    { id: 'worker', op: 'worker', kind: 'env-empty', probeTask: inWorker.task },
  ])
  const report = reportOf<ProbeReport>(t, r)
  const child = report.results.child
  const worker = report.results.worker
  if (!child?.ok || !worker?.ok) return void t.fail(JSON.stringify(report.results))
  await inChild.check(t, (child.value as { report: ProbeReport }).report)
  await inWorker.check(t, worker.value as ProbeReport)
})

// ---------------------------------------------------------------- the variables

test('without any TETHERED_* variable the preload does nothing: the app runs unrestricted', async (t) => {
  const r = await runProbe(['--require', REGISTER], {}, [{ id: 'settings', op: 'settings' }])
  t.is(r.code, 0)
  t.is(settingsOf(reportOf<ProbeReport>(t, r)), null)
  t.is(r.stderr, '')
})

test('TETHERED_ALLOW is split on commas, entries trimmed, empty entries dropped', async (t) => {
  const r = await runProbe(['--require', REGISTER], { TETHERED_ALLOW: ' a.test , ,*.allowed.test:443,10.0.0.0/8 ,' }, [{ id: 'settings', op: 'settings' }])
  t.deepEqual(settingsOf(reportOf<ProbeReport>(t, r))?.allow, ['a.test', '*.allowed.test:443', '10.0.0.0/8'])
})

netTest('TETHERED_ALLOW="" allows nothing', async (t) => {
  const allowed = await countingTcpServer(ALLOWED_V4)
  t.teardown(() => allowed.close())
  const r = await runProbe(['--require', REGISTER], { TETHERED_ALLOW: '' }, [
    { id: 'settings', op: 'settings' },
    { id: 'a', op: 'connect', host: 'a.test', port: allowed.port },
  ])
  const report = reportOf<ProbeReport>(t, r)
  t.deepEqual(settingsOf(report)?.allow, [])
  assertBlocked(t, report.results.a, { host: 'a.test', port: allowed.port }, 'a.test')
  t.is(allowed.connections, 0)
})

const BOOLEANS = {
  TETHERED_LOG_ONLY: 'logOnly',
  TETHERED_FAIL_CLOSED: 'failClosed',
  TETHERED_ALLOW_LOCALHOST: 'allowLocalhost',
  TETHERED_LOCKED: 'locked',
} as const
const SPELLINGS: [string, boolean][] = [['1', true], ['TRUE', true], ['Yes', true], ['0', false], ['false', false], ['NO', false]]

for (const [variable, key] of Object.entries(BOOLEANS)) {
  test(`${variable} accepts 1/0, true/false, yes/no in any case`, async (t) => {
    const results = await Promise.all(
      SPELLINGS.map(([value]) => runProbe(['--require', REGISTER], { TETHERED_ALLOW: 'a.test', [variable]: value }, [{ id: 'settings', op: 'settings' }])),
    )
    SPELLINGS.forEach(([value, expected], i) => {
      t.is(settingsOf(reportOf<ProbeReport>(t, results[i]!))?.[key], expected, `${variable}=${value}`)
    })
  })
}

test('TETHERED_EXTERNAL_SUBPROCESS accepts warn, allow, block in any case', async (t) => {
  const values: [string, string][] = [['warn', 'warn'], ['ALLOW', 'allow'], ['Block', 'block']]
  const results = await Promise.all(
    values.map(([value]) => runProbe(['--require', REGISTER], { TETHERED_ALLOW: 'a.test', TETHERED_EXTERNAL_SUBPROCESS: value }, [{ id: 'settings', op: 'settings' }])),
  )
  values.forEach(([value, expected], i) => {
    t.is(settingsOf(reportOf<ProbeReport>(t, results[i]!))?.externalSubprocessPolicy, expected, value)
  })
})

netTest('TETHERED_LOG_ONLY=1: a blocked destination is reported on stderr but let through', async (t) => {
  const blocked = await countingTcpServer(BLOCKED_V4)
  t.teardown(() => blocked.close())
  const r = await runProbe(['--require', REGISTER], { TETHERED_ALLOW: 'a.test', TETHERED_LOG_ONLY: '1' }, [{ id: 'evil', op: 'connect', host: 'evil.test', port: blocked.port }])
  assertAllowed(t, reportOf<ProbeReport>(t, r).results.evil, 'ping', 'evil.test in log-only mode')
  t.is(blocked.connections, 1)
  t.true(r.stderr.includes('evil.test'), `stderr names the destination: ${r.stderr}`)
})

netTest('TETHERED_ALLOW_LOCALHOST=no blocks loopback, which is allowed by default', async (t) => {
  const local = await countingTcpServer('127.0.0.1')
  t.teardown(() => local.close())
  const steps: Step[] = [{ id: 'local', op: 'connect', host: '127.0.0.1', port: local.port }]
  const [denied, byDefault] = await Promise.all([
    runProbe(['--require', REGISTER], { TETHERED_ALLOW: 'a.test', TETHERED_ALLOW_LOCALHOST: 'no' }, steps),
    runProbe(['--require', REGISTER], { TETHERED_ALLOW: 'a.test' }, steps),
  ])
  assertBlocked(t, reportOf<ProbeReport>(t, denied).results.local, { host: '127.0.0.1', port: local.port }, 'loopback with TETHERED_ALLOW_LOCALHOST=no')
  assertAllowed(t, reportOf<ProbeReport>(t, byDefault).results.local, 'ping', 'loopback by default')
  t.is(local.connections, 1, 'only the default run connected')
})

netTest('TETHERED_LOCKED=1: deactivate() throws TetheredLocked, the policy keeps blocking, children are locked too', async (t) => {
  const standard = await standardAttempts(t)
  const r = await runProbe(['--require', REGISTER], { TETHERED_ALLOW: STANDARD_ALLOW.join(','), TETHERED_LOCKED: '1' }, [
    { id: 'deactivate', op: 'deactivate' },
    ...standard.task.steps,
    { id: 'child', op: 'child', kind: 'spawn-execPath', probeTask: { steps: [{ id: 'settings', op: 'settings' }, { id: 'deactivate', op: 'deactivate' }] } },
  ])
  const report = reportOf<ProbeReport>(t, r)
  assertLocked(t, report.results.deactivate, 'deactivate()')
  await standard.check(t, report)
  const child = report.results.child
  if (!child?.ok) return void t.fail(JSON.stringify(child))
  const { report: childReport, code, stderr } = child.value as { report: ProbeReport | null; code: number; stderr: string }
  if (!childReport) return void t.fail(`the child printed no report (exit ${code}): ${stderr}`)
  t.true(settingsOf(childReport)?.locked, 'the child is locked')
  assertLocked(t, childReport.results.deactivate, "the child's deactivate()")
})

test('TETHERED_EXTERNAL_SUBPROCESS=block refuses a non-Node launch with SubprocessBlocked', async (t) => {
  const dir = tempDir(t)
  const marker = path.join(dir, 'ran')
  const r = await runProbe(['--require', REGISTER], { TETHERED_ALLOW: 'a.test', TETHERED_EXTERNAL_SUBPROCESS: 'block' }, [
    { id: 'spawn', op: 'spawn', file: 'touch', args: [marker] },
  ])
  const result = reportOf<ProbeReport>(t, r).results.spawn
  if (!result || result.ok) return void t.fail(`the launch was not refused: ${JSON.stringify(result)}`)
  t.is(result.error.name, 'SubprocessBlocked')
  t.is(result.error.code, 'ERR_TETHERED_SUBPROCESS_BLOCKED')
  t.false(fs.existsSync(marker))
})

// ---------------------------------------------------------------- bad configuration

/** Each: the variables, and the one the error must name. */
const BAD: [string, Record<string, string>, string][] = [
  ['TETHERED_LOG_ONLY=maybe', { TETHERED_ALLOW: 'a.test', TETHERED_LOG_ONLY: 'maybe' }, 'TETHERED_LOG_ONLY'],
  ['TETHERED_ALLOW_LOCALHOST=2', { TETHERED_ALLOW: 'a.test', TETHERED_ALLOW_LOCALHOST: '2' }, 'TETHERED_ALLOW_LOCALHOST'],
  ['TETHERED_FAIL_CLOSED=on', { TETHERED_ALLOW: 'a.test', TETHERED_FAIL_CLOSED: 'on' }, 'TETHERED_FAIL_CLOSED'],
  ['TETHERED_EXTERNAL_SUBPROCESS=sometimes', { TETHERED_ALLOW: 'a.test', TETHERED_EXTERNAL_SUBPROCESS: 'sometimes' }, 'TETHERED_EXTERNAL_SUBPROCESS'],
  ['TETHERED_LOCKED= (empty)', { TETHERED_ALLOW: 'a.test', TETHERED_LOCKED: '' }, 'TETHERED_LOCKED'],
  ['TETHERED_ALLOW with a malformed rule [*]', { TETHERED_ALLOW: 'a.test,[*]' }, 'TETHERED_ALLOW'],
  ['TETHERED_ALLOW with the catch-all *', { TETHERED_ALLOW: '*' }, 'TETHERED_ALLOW'],
  ['TETHERED_ALLOW with a URL', { TETHERED_ALLOW: 'https://a.test/' }, 'TETHERED_ALLOW'],
  ['TETHERED_LOG_ONLY without TETHERED_ALLOW', { TETHERED_LOG_ONLY: '1' }, 'TETHERED_LOG_ONLY'],
  ['TETHERED_EXTERNAL_SUBPROCESS without TETHERED_ALLOW', { TETHERED_EXTERNAL_SUBPROCESS: 'block' }, 'TETHERED_EXTERNAL_SUBPROCESS'],
  ['a malformed TETHERED_CHILD_POLICY', { TETHERED_CHILD_POLICY: '{"v":1,' }, 'TETHERED_CHILD_POLICY'],
]

function assertRefusedToStart(t: ExecutionContext, r: ProcResult, variable: string, marker: string, what: string): void {
  t.not(r.code, 0, `${what}: non-zero exit`)
  t.is(r.signal, null, `${what}: a clean exit, not a crash`)
  t.true(r.stderr.includes(variable), `${what}: stderr names ${variable}: ${r.stderr}`)
  t.false(r.stdout.includes('TETHERED-PROBE'), `${what}: the app printed nothing`)
  t.false(fs.existsSync(marker), `${what}: the app's first statement did not run`)
}

for (const [what, vars, variable] of BAD) {
  test(`${what}: --require stops the process before the app, naming the variable`, async (t) => {
    const marker = path.join(tempDir(t), 'ran')
    const r = await runProbe(['--require', REGISTER], vars, [{ id: 'touch', op: 'touch', path: marker }])
    assertRefusedToStart(t, r, variable, marker, what)
  })
}

for (const [what, vars, variable] of BAD.filter(([w]) => /maybe|\[\*\]|without TETHERED_ALLOW/.test(w))) {
  test(`${what}: --import stops an ESM app before it runs, naming the variable`, async (t) => {
    const marker = path.join(tempDir(t), 'ran')
    const r = await runNode(['--import', SELF_REFERENCE, PROBE_ESM, encode('esm-task:', { steps: [{ id: 'touch', op: 'touch', path: marker }] })], {
      env: cleanEnv(vars),
    })
    assertRefusedToStart(t, r, variable, marker, what)
  })

  test(`${what}: NODE_OPTIONS=--require stops the process before the app, naming the variable`, async (t) => {
    const marker = path.join(tempDir(t), 'ran')
    const r = await runProbe([], vars, [{ id: 'touch', op: 'touch', path: marker }], { cwd: tempDir(t), env: { NODE_OPTIONS: `--require ${JSON.stringify(REGISTER)}` } })
    assertRefusedToStart(t, r, variable, marker, what)
  })
}

// Control for the refusal tests: the same app with a good value runs and creates its marker.
test('control: with valid variables the app runs and creates its marker', async (t) => {
  const marker = path.join(tempDir(t), 'ran')
  const r = await runProbe(['--require', REGISTER], { TETHERED_ALLOW: 'a.test', TETHERED_LOG_ONLY: 'no' }, [{ id: 'touch', op: 'touch', path: marker }])
  t.is(r.code, 0)
  t.true(fs.existsSync(marker))
})
