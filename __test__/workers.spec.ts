// Worker threads after activate(): every kind of worker is enforced by the process-wide policy
// (file and eval workers, `execArgv: []`, `env: {}`, SHARE_ENV, workers of workers), also one
// started after tethered loaded but before activate(); a worker cannot lift a locked policy; a
// worker started inside a scope() stays narrowed by it.
//
// Each scenario is its own Node process (fixtures-proc/worker-parent.cjs: activate, start one
// worker running probe.cjs, print its report), so tests run concurrently and this process
// never activates anything; the counting servers and the DNS responder live here.
import type { ExecutionContext } from 'ava'
import { netTest } from './harness/index.js'
import {
  type ProbeReport,
  type ProbeTask,
  STANDARD_ALLOW,
  assertAllowed,
  assertNarrowedByScope,
  assertReachesBoth,
  assertLocked,
  runFixture,
  scopeServers,
  standardAttempts,
} from './fixtures-proc/run.js'

type Kind = 'file' | 'eval' | 'execArgv-empty' | 'env-empty' | 'share-env' | 'nested' | 'nested-eval'

const KINDS: Record<Kind, string> = {
  file: 'a file worker',
  eval: 'an eval: true worker',
  'execArgv-empty': 'a worker with execArgv: []',
  'env-empty': 'a worker with env: {}',
  'share-env': 'a worker with env: SHARE_ENV',
  nested: 'a worker started by a worker',
  'nested-eval': 'an eval worker started by a worker with execArgv: []',
}

interface WorkerTask {
  activate?: Record<string, unknown>
  kind: Kind
  probeTask: ProbeTask
  scope?: { allow: string[]; label: string }
  goAfterScope?: boolean
  activateAfterStart?: boolean
}

const runWorker = (t: ExecutionContext, task: WorkerTask) => runFixture<ProbeReport>(t, 'worker-parent.cjs', task)

function assertWorkerReport(t: ExecutionContext, report: ProbeReport, kind: Kind): void {
  t.false(report.isMainThread, 'the probe ran in a worker thread')
  if (kind.startsWith('nested')) t.is(report.via?.isMainThread, false, 'started from a worker')
}

for (const [kind, description] of Object.entries(KINDS) as [Kind, string][]) {
  netTest(`${description} is enforced by the global policy (TCP by name and address, getaddrinfo, c-ares)`, async (t) => {
    const standard = await standardAttempts(t)
    const report = await runWorker(t, { activate: { allow: STANDARD_ALLOW }, kind, probeTask: standard.task })
    assertWorkerReport(t, report, kind)
    await standard.check(t, report)
  })
}

// tethered is loaded (so the Worker class is tethered's) but not active when the worker starts;
// the worker has run its preload and its script before the parent calls activate().
for (const kind of ['file', 'eval', 'nested'] as const) {
  netTest(`${KINDS[kind]} started before activate() is enforced once activate() has run`, async (t) => {
    const standard = await standardAttempts(t)
    const report = await runWorker(t, { activate: { allow: STANDARD_ALLOW }, activateAfterStart: true, kind, probeTask: { ...standard.task, waitForGo: true } })
    assertWorkerReport(t, report, kind)
    await standard.check(t, report)
  })
}

for (const kind of ['file', 'eval', 'share-env', 'nested'] as const) {
  netTest(`${KINDS[kind]} of a locked process cannot deactivate() or re-activate(), and stays enforced`, async (t) => {
    const standard = await standardAttempts(t)
    const report = await runWorker(t, {
      activate: { allow: STANDARD_ALLOW, locked: true },
      kind,
      probeTask: { steps: [{ id: 'deactivate', op: 'deactivate' }, { id: 'activate', op: 'activate' }, ...standard.task.steps] },
    })
    assertWorkerReport(t, report, kind)
    assertLocked(t, report.results.deactivate, 'deactivate() in the worker')
    assertLocked(t, report.results.activate, "activate() with a wider allow list in the worker")
    await standard.check(t, report)
  })
}

// Control for the test above: the same call from a worker of an unlocked process goes through,
// so TetheredLocked there comes from the lock, not from the worker.
netTest('a worker of an unlocked process can deactivate() (control for the locked case)', async (t) => {
  const report = await runWorker(t, { activate: { allow: STANDARD_ALLOW }, kind: 'file', probeTask: { steps: [{ id: 'deactivate', op: 'deactivate' }] } })
  assertAllowed(t, report.results.deactivate, null, 'deactivate() in the worker')
})

const LABEL = 'worker-scope'

for (const kind of ['file', 'eval', 'execArgv-empty', 'env-empty', 'share-env', 'nested'] as const) {
  netTest(`${KINDS[kind]} started inside scope() stays narrowed by it after the scope is left`, async (t) => {
    const { x, y, task } = await scopeServers(t)
    // The worker acts only when told, in a message callback, after the launching code left
    // the scope: the narrowing belongs to the worker, not to the parent's async context.
    const report = await runWorker(t, {
      activate: { allow: ['a.test', 'other.test'] },
      scope: { allow: ['a.test'], label: LABEL },
      goAfterScope: true,
      kind,
      probeTask: task({ waitForGo: true }),
    })
    assertWorkerReport(t, report, kind)
    assertNarrowedByScope(t, report.results, { x, y }, LABEL)
    t.is(x.connections, 1)
  })
}

netTest('control: the same worker started outside any scope reaches both hosts', async (t) => {
  const { x, y, task } = await scopeServers(t)
  const report = await runWorker(t, { activate: { allow: ['a.test', 'other.test'] }, kind: 'file', probeTask: task() })
  assertReachesBoth(t, report.results, { x, y })
})

netTest('a worker started inside a scope, with no global policy, is narrowed by the scope', async (t) => {
  const { x, y, task } = await scopeServers(t)
  const report = await runWorker(t, { scope: { allow: ['a.test'], label: LABEL }, kind: 'env-empty', probeTask: task() })
  assertNarrowedByScope(t, report.results, { x, y }, LABEL, 'other.test')
})
