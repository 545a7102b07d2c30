// Locked mode against an attacker who has read tethered's source. Every attempt runs in a fresh
// child process (__test__/tamper/run.cjs): it locks a policy that allows api.stripe.test only,
// attacks, then tries the blocked destinations the parent counts (TCP by IP and by name, UDP,
// a getaddrinfo lookup and a c-ares query of fresh blocked names) and the allowed one.
// An attack has failed when its own steps had no effect AND nothing reached a blocked server.
import { createRequire } from 'node:module'
import type { ExecutionContext } from 'ava'
import { netTest } from './harness/index.js'
import { type AttackRun, runAttack } from './tamper/spawn.js'

const requireHere = createRequire(import.meta.url)
const { TARGET_IDS } = requireHere('./tamper/shims.cjs') as { TARGET_IDS: string[] }

const NODE_MAJOR = Number(process.versions.node.split('.')[0])

const ALERT = 'tethered: TAMPER DETECTED'

function dump(run: AttackRun): string {
  return `exit ${run.code} ${run.signal ?? ''}\nstdout: ${run.stdout.slice(0, 4000)}\nstderr: ${run.stderr.slice(0, 4000)}`
}

interface Expect {
  /** What the allowed destination must give: 'ok', 'blocked', or null to not look. */
  allowed?: 'ok' | 'blocked' | null
  /**
   * Polluted built-ins can break Node's own delivery (an internal `.apply` that lies leaves a
   * connect pending; a lying RegExp#exec makes dns.lookup take a name for an address and answer
   * it without a query). Then a probe need not end in EgressBlocked; it still must not succeed,
   * and the counters must still be 0.
   */
  lenient?: boolean
}

/** The child reported, nothing reached a blocked destination, every probe got EgressBlocked. */
function assertContained(t: ExecutionContext, run: AttackRun, expect: Expect = {}): void {
  const report = run.report
  t.truthy(report, dump(run))
  t.falsy(report?.crashed, dump(run))
  t.deepEqual(run.leaked, { tcp: 0, udp: 0, dns: 0 }, `something reached a blocked destination\n${dump(run)}`)
  if (expect.lenient) {
    const probes = report?.probes
    for (const name of ['tcpIp', 'tcpName', 'udp'] as const) t.not(probes?.[name], 'ok', `${name}\n${dump(run)}`)
  } else {
    t.deepEqual(
      report?.probes,
      { tcpIp: 'blocked', tcpName: 'blocked', udp: 'blocked', lookup: 'blocked', resolve: 'blocked' },
      dump(run),
    )
  }
  const allowed = expect.allowed === undefined ? 'ok' : expect.allowed
  if (allowed !== null) t.is(report?.allowed, allowed, dump(run))
}

function alerts(run: AttackRun): number {
  return run.stderr.split('\n').filter((line) => line.startsWith(ALERT)).length
}

// ---------------------------------------------------------------- controls

netTest('control: without tethered every probe reaches its blocked destination', async (t) => {
  const run = await runAttack('control', 'unprotected')
  t.truthy(run.report, dump(run))
  t.deepEqual(run.report?.probes, { tcpIp: 'ok', tcpName: 'ok', udp: 'ok', lookup: 'ok', resolve: 'ok' }, dump(run))
  t.is(run.report?.allowed, 'ok')
  t.true(run.leaked.tcp >= 2 && run.leaked.udp >= 1 && run.leaked.dns >= 2, JSON.stringify(run.leaked))
})

netTest('control: the locked policy blocks every probe and allows api.stripe.test', async (t) => {
  const run = await runAttack('control', 'locked')
  assertContained(t, run)
  t.is(run.allowedConnections, 1)
  t.is(alerts(run), 0)
  // Disabling node:ffi (Node 26) loads it: that must not print its ExperimentalWarning.
  t.notRegex(run.stderr, /ExperimentalWarning/)
})

// ---------------------------------------------------------------- the patched properties

for (const id of TARGET_IDS) {
  const missing = id === 'process.execve' && typeof (process as { execve?: unknown }).execve !== 'function'
  ;(missing ? netTest.skip : netTest)(
    `${id}: assign, delete, defineProperty, Reflect.*, setPrototypeOf and restoring a saved reference have no effect${missing ? ' [needs Node 22+]' : ''}`,
    async (t) => {
      const run = await runAttack('shims', 'target', id)
      assertContained(t, run)
      const details = run.report?.details
      t.falsy(details?.missing, `${id} is not patched`)
      t.deepEqual(details?.descriptor, { configurable: false, accessor: true }, `${id} is not a locked accessor`)
      for (const [technique, result] of Object.entries((details?.results ?? {}) as Record<string, { intact: boolean }>)) {
        t.true(result.intact, `${technique} replaced ${id}: ${JSON.stringify(result)}`)
      }
      t.true(details?.intact, dump(run))
      t.is(alerts(run), 0, 'nothing was replaced, so nothing may be reported as tampered')
    },
  )
}

// ---------------------------------------------------------------- around the patched properties

interface Outcome {
  ok?: boolean
  threw?: boolean
  code?: string
  name?: string
  value?: unknown
}

/** Each outcome threw TetheredLocked (ERR_TETHERED_LOCKED). */
function assertAllLocked(t: ExecutionContext, outcomes: Record<string, Outcome> | undefined, what: string): void {
  t.truthy(outcomes, what)
  t.true(Object.keys(outcomes ?? {}).length > 0, `${what}: no attempt was made`)
  for (const [name, outcome] of Object.entries(outcomes ?? {})) {
    t.like(outcome, { threw: true, code: 'ERR_TETHERED_LOCKED' }, `${what}: ${name} ${JSON.stringify(outcome)}`)
  }
}

netTest('tls: shadowing connect on TLSSocket.prototype (with a lying lookup) still ends in the checked layers', async (t) => {
  const run = await runAttack('paths', 'tlsShadow')
  assertContained(t, run)
  t.like(run.report?.details, { tlsIp: 'blocked', tlsName: 'blocked', tlsAllowedName: 'blocked' }, dump(run))
})

netTest('subclasses of net.Socket, TCP and dgram.Socket calling super are checked', async (t) => {
  const run = await runAttack('paths', 'subclasses')
  assertContained(t, run)
  const d = run.report?.details
  t.is(d?.socketResult, 'blocked', dump(run))
  t.true(d?.tcpResult?.rc < 0, `raw TCP handle through a subclass: ${JSON.stringify(d?.tcpResult)}`)
  t.is(d?.dgramResult, 'blocked', dump(run))
})

netTest('raw TCP/UDP handles through the binding prototypes get EACCES (references taken after the lock are the wrappers)', async (t) => {
  const run = await runAttack('paths', 'rawHandles')
  assertContained(t, run)
  const d = run.report?.details
  t.deepEqual(d?.tcp, { rc: d?.eacces }, dump(run))
  t.deepEqual(d?.tcpMapped6, { rc: d?.eacces }, dump(run))
  t.deepEqual(d?.udp, { rc: d?.eacces }, dump(run))
})

netTest('a lying lookup (connect option, replaced dns.lookup, replaced net.isIP) does not make a blocked address reachable', async (t) => {
  const run = await runAttack('paths', 'lyingResolvers')
  assertContained(t, run)
  t.like(run.report?.details, { viaOption: 'blocked', viaDnsLookup: 'blocked', viaIsIp: 'blocked' }, dump(run))
})

// ---------------------------------------------------------------- tethered's module objects

netTest('internal modules reached by path: replacing decide.check, native, primordials, integrity has no effect', async (t) => {
  const run = await runAttack('modules', 'internalExports')
  assertContained(t, run)
  for (const [name, result] of Object.entries((run.report?.details ?? {}) as Record<string, { took: boolean }>)) {
    t.false(result.took, `${name} was replaced: ${JSON.stringify(result)}`)
  }
})

netTest('the lock token is not readable from dist/state.js (state.global.lockToken)', async (t) => {
  const run = await runAttack('modules', 'stateToken')
  t.false(run.report?.details?.tokenFound, dump(run))
  assertContained(t, run)
})

netTest('require.cache cleared, tethered required again: the copy cannot deactivate, widen, log-only or re-lock', async (t) => {
  const run = await runAttack('modules', 'requireCacheCopy')
  assertContained(t, run)
  const { isCopy, register, ...attempts } = run.report?.details ?? {}
  t.true(isCopy, 'the second require must really be a second copy')
  assertAllLocked(t, attempts, 'copy')
  t.truthy(register)
})

netTest('locked through require, the ESM entry is the same module and the same lock', async (t) => {
  const run = await runAttack('modules', 'cjsThenEsm')
  assertContained(t, run)
  const { same, ...attempts } = run.report?.details ?? {}
  t.true(same)
  assertAllLocked(t, attempts, 'import()')
})

netTest('locked through import(), require gives the same module and the same lock', async (t) => {
  const run = await runAttack('modules', 'esmThenCjs')
  assertContained(t, run)
  const { same, ...attempts } = run.report?.details ?? {}
  t.true(same)
  assertAllLocked(t, attempts, 'require')
})

netTest('exports and error classes are frozen: no swapped activate/deactivate, no lying instanceof', async (t) => {
  const run = await runAttack('modules', 'frozenExports')
  assertContained(t, run)
  const d = run.report?.details
  for (const [name, result] of Object.entries((d?.attempts ?? {}) as Record<string, { took?: boolean; ok?: boolean }>)) {
    if ('took' in result) t.false(result.took, `${name}: ${JSON.stringify(result)}`)
    else t.falsy(result.ok, `${name}: ${JSON.stringify(result)}`)
  }
  t.true(d?.lockedStillThrown)
})

// ---------------------------------------------------------------- the token

netTest('forged tokens ({}, structuredClone, Object.create, Proxy, copies, Symbol.for, JSON, null) unlock nothing', async (t) => {
  const run = await runAttack('tokens', 'forgedTokens')
  assertContained(t, run)
  const primitives = new Set(['symbolFor', 'json'])
  for (const [name, pair] of Object.entries((run.report?.details ?? {}) as Record<string, Record<string, Outcome>>)) {
    for (const [action, outcome] of Object.entries(pair)) {
      // A primitive may be refused as an argument (TypeError); anything else as the wrong token.
      const refusal = primitives.has(name) && outcome.name === 'TypeError' ? 'TypeError' : 'TetheredLocked'
      t.like(outcome, { threw: true, name: refusal }, `${name} ${action}: ${JSON.stringify(outcome)}`)
    }
  }
})

netTest('a worker thread cannot deactivate, widen or re-lock (TetheredLocked), nor clear the policy natively', async (t) => {
  const run = await runAttack('tokens', 'workerDeactivate')
  assertContained(t, run)
  const { nativeClear, flagsAfter, ...attempts } = run.report?.details ?? {}
  assertAllLocked(t, attempts, 'worker')
  for (const outcome of Object.values(attempts as Record<string, Outcome>)) t.is(outcome.name, 'TetheredLocked')
  t.like(nativeClear, { threw: true }, JSON.stringify(nativeClear))
  t.deepEqual(flagsAfter, { active: true, locked: true })
})

netTest('the native setGlobalPolicy/unlocks called directly with forged tokens are refused', async (t) => {
  const run = await runAttack('tokens', 'nativeSetGlobalPolicy')
  assertContained(t, run)
  const { flagsAfter, ...results } = run.report?.details ?? {}
  for (const [name, r] of Object.entries(results as Record<string, Record<string, Outcome & { returnedError?: boolean; message?: string }>>)) {
    t.deepEqual(r.unlocks, { ok: true, value: false }, `${name} unlocks`)
    for (const action of ['clear', 'replace', 'relock']) {
      // Refused, whether the napi function threw its error or returned it (see child.cjs).
      const outcome = r[action]!
      t.true(outcome.threw === true || outcome.returnedError === true, `${name} ${action}: ${JSON.stringify(outcome)}`)
      t.regex(outcome.message ?? '', /^ERR_TETHERED_LOCKED/, `${name} ${action}`)
    }
  }
  t.deepEqual(flagsAfter, { active: true, locked: true, logOnly: false })
})

netTest('mutating the allow array and the options object after activate() changes nothing', async (t) => {
  const run = await runAttack('tokens', 'mutateAllow')
  assertContained(t, run)
})

// ---------------------------------------------------------------- polluted built-ins

for (const [attack, what] of [
  ['arrayMethods', 'Array.prototype includes/indexOf/some/every/find/filter/push/join'],
  ['stringMethods', 'String.prototype startsWith/endsWith/includes/toLowerCase/split/..., RegExp test/exec'],
  ['collections', 'Set#has, Map#has/get, WeakMap#get, Object.hasOwn, hasOwnProperty'],
  ['functionMethods', 'Function.prototype call/apply/bind, Reflect.apply, Reflect.construct'],
] as const) {
  netTest(`polluted ${what} change no decision`, async (t) => {
    const run = await runAttack('builtins', attack)
    assertContained(t, run, { lenient: true })
  })
}

netTest('Object.prototype pollution (an inherited lying lookup, hints, verbatim) changes no decision', async (t) => {
  const run = await runAttack('builtins', 'objectPrototype')
  // The allowed name too is "resolved" by the inherited liar, to the blocked address.
  assertContained(t, run, { lenient: true, allowed: 'blocked' })
  t.is(run.report?.aftermath?.viaAllowedName, 'blocked', dump(run))
})

netTest('a replaced Array.prototype[Symbol.iterator] does not hide the address from the binding shims', async (t) => {
  const run = await runAttack('builtins', 'arrayIterator')
  assertContained(t, run)
})

netTest('a replaced %ArrayIteratorPrototype%.next does not hide the address from the binding shims', async (t) => {
  const run = await runAttack('builtins', 'arrayIteratorNext')
  assertContained(t, run)
})

netTest('a replaced AsyncLocalStorage.prototype.getStore does not escape scope()', async (t) => {
  const run = await runAttack('builtins', 'asyncLocalStorage')
  assertContained(t, run)
  t.is(run.report?.details?.before, 'blocked', dump(run))
  t.is(run.report?.details?.after, 'blocked', dump(run))
})

// ---------------------------------------------------------------- the IP -> hostname cache

netTest('the native cache cannot be written without the capability (forged, null, claimed again, second module instance)', async (t) => {
  const run = await runAttack('cache', 'nativeNoCapability')
  assertContained(t, run)
  const { claimAgain, construct, secondInstance, afterPoison, ...forged } = run.report?.details ?? {}
  t.is(claimAgain, 'null')
  t.like(construct, { threw: true })
  t.like(secondInstance, { claimed: false }, JSON.stringify(secondInstance))
  for (const [name, r] of Object.entries(forged as Record<string, Record<string, Outcome>>)) {
    t.like(r.record, { threw: true }, `${name} record`)
    t.like(r.recorder, { threw: true }, `${name} recorder`)
  }
  t.is(afterPoison, 'blocked')
})

netTest('replacing the raw module\'s recorder to steal the capability has no effect', async (t) => {
  const run = await runAttack('cache', 'rawMethodSteal')
  assertContained(t, run)
  const d = run.report?.details
  t.like(d?.replaced, { threw: true }, dump(run))
  t.false(d?.stolen, dump(run))
  t.is(d?.afterPoison, 'blocked')
})

netTest('replacing the raw module\'s isIp does not skip the dns.promises check (dns/promises loaded before tethered)', async (t) => {
  const run = await runAttack('cache', 'rawIsIp')
  assertContained(t, run)
  const d = run.report?.details
  t.like(d?.replaced, { threw: true }, dump(run))
  t.like(d?.viaPromises, { threw: true, code: 'ERR_TETHERED_EGRESS_BLOCKED' }, dump(run))
})

netTest('workers made with the Worker class (any execArgv/env) hold their own capability: claim() gets nothing', async (t) => {
  const run = await runAttack('cache', 'workerClaim')
  assertContained(t, run)
  const d = run.report?.details
  for (const name of ['plain', 'noExecArgvNoEnv', 'shareEnv']) t.like(d?.[name], { claimed: false }, `${name}: ${JSON.stringify(d?.[name])}`)
  t.is(d?.afterPoison, 'blocked')
})

netTest('async_hooks cannot reach the recording of a lookup (init/before hooks, executionAsyncResource, the async_wrap binding)', async (t) => {
  const run = await runAttack('cache', 'asyncHooks')
  assertContained(t, run)
  const d = run.report?.details
  t.true((d?.requestsSeen as number) >= 2, dump(run))
  t.true((d?.initSeen as number) >= 1, `the init hook saw the lookup's request\n${dump(run)}`)
  t.true((d?.forgedCalls as number) >= 1, `forged completions were attempted\n${dump(run)}`)
  t.deepEqual(d?.privateSeen, [], `no hook or API handed out tethered's private request\n${dump(run)}`)
  t.like(d?.asyncWrapBinding, { threw: true }, dump(run))
  t.is(d?.afterPoison, 'blocked', dump(run))
})

for (const [attack, what] of [
  ['oncompleteGetaddrinfo', "the oncomplete tethered installs on a getaddrinfo request, called with a forged answer"],
  ['oncompleteQuery', "the oncomplete tethered installs on a c-ares queryA request, called with a forged answer"],
  ['oncompleteSetter', "an oncomplete accessor on GetAddrInfoReqWrap.prototype capturing tethered's recorder during dns.lookup"],
  ['promiseThen', 'Promise.prototype.then/constructor swapping the answer dns.promises.lookup records'],
  ['rawWorkerClaim', 'a worker made with the original Worker class (Object.getPrototypeOf(Worker)) claiming its capability'],
] as const) {
  netTest(`cache cannot be poisoned through ${what}`, async (t) => {
    const run = await runAttack('cache', attack)
    t.is(run.report?.details?.afterPoison, 'blocked', dump(run))
    assertContained(t, run)
  })
}

// ---------------------------------------------------------------- debugger, signals, native code
// The tests that look at 127.0.0.1:9229 are serial (ava runs them before the concurrent ones),
// so the control's debugger port is never mistaken for another attempt's.

netTest.serial('node:inspector, inspector/promises (require, getBuiltinModule, import) and process.binding(\'inspector\') are disabled', async (t) => {
  const run = await runAttack('debug', 'inspector')
  assertContained(t, run)
  const { port9229, ...doors } = run.report?.details ?? {}
  assertAllLocked(t, doors, 'inspector')
  t.not(port9229, 'ok', 'something listens on 127.0.0.1:9229')
})

netTest.serial('SIGUSR1 (kill, _debugProcess, after removeAllListeners/off through process) opens no debugger', async (t) => {
  const run = await runAttack('debug', 'sigusr1')
  assertContained(t, run)
  const { port9229, ...attempts } = run.report?.details ?? {}
  for (const [name, r] of Object.entries(attempts as Record<string, { listeners: number }>)) {
    t.true(r.listeners >= 1, `${name} left no SIGUSR1 listener: ${JSON.stringify(r)}`)
  }
  t.is(port9229, 'error:ECONNREFUSED')
})

for (const attack of ['sigusr1Prototype', 'sigusr1Everything'] as const) {
  const how = attack === 'sigusr1Prototype' ? 'EventEmitter.prototype.removeListener.call(process)' : 'process.removeAllListeners()'
  netTest.serial(`SIGUSR1 after ${how} opens no debugger (the signal may end the process instead)`, async (t) => {
    const run = await runAttack('debug', attack)
    t.is(run.leaked.tcp + run.leaked.udp + run.leaked.dns, 0)
    if (run.signal === 'SIGUSR1') {
      t.pass('the signal ended the process: no debugger was started')
    } else {
      t.is(run.report?.details?.port9229, 'error:ECONNREFUSED', dump(run))
      assertContained(t, run)
    }
  })
}

netTest.serial('control: without tethered SIGUSR1 does open 127.0.0.1:9229', async (t) => {
  const run = await runAttack('debug', 'sigusr1Unprotected')
  t.is(run.report?.details?.port9229, 'ok', dump(run))
})

const hasFfi = NODE_MAJOR >= 26
;(hasFfi ? netTest : netTest.skip)(`node:ffi: every function export refuses (require, getBuiltinModule, import)${hasFfi ? '' : ' [needs Node 26+: no node:ffi]'}`, async (t) => {
  const run = await runAttack('debug', 'ffi')
  assertContained(t, run)
  const d = run.report?.details
  t.true(d?.functions > 0, dump(run))
  t.deepEqual(d?.usable, [], 'ffi functions that did not refuse')
  assertAllLocked(t, { dlopen: d?.dlopen, dynamicLibrary: d?.dynamicLibrary, getBuiltinModule: d?.getBuiltinModule, esm: d?.esm }, 'ffi')
  t.true(d?.stillStub, 'assigning ffi.dlopen replaced the stub')
})

netTest('denyNativeAddons: process.dlopen, require of a .node, Module._extensions and SQLite loadExtension refuse', async (t) => {
  const run = await runAttack('debug', 'dlopen')
  assertContained(t, run)
  const { replace, ...doors } = run.report?.details ?? {}
  assertAllLocked(t, doors, 'native code')
  if (NODE_MAJOR >= 22) t.truthy(doors.sqliteLoadExtension, 'node:sqlite is there on Node 22+')
  t.truthy(replace)
})

netTest('the original Worker class is not reachable to attach node:inspector to the main thread', async (t) => {
  const run = await runAttack('debug', 'rawWorkerInspector')
  const d = run.report?.details
  t.like(d?.viaWrapped, { error: 'tethered: node:inspector is disabled while the egress policy is locked' }, dump(run))
  t.is(typeof d?.viaOriginal, 'object', `the worker gave no answer: ${JSON.stringify(d?.viaOriginal)}`)
  t.like(d?.viaOriginal, { error: 'no superclass' }, 'the original Worker class is reachable')
  t.not(d?.viaOriginal?.evaluated, 'main-thread', 'the worker evaluated code in the main thread')
})

// ---------------------------------------------------------------- tamper detection

netTest('a shim replaced after all: everything is blocked in every thread, allowed hosts too, and fd 2 gets one alert despite silenced console/stderr/fs', async (t) => {
  const run = await runAttack('detect', 'replaceShim')
  t.true(run.report?.details?.replaced, dump(run))
  assertContained(t, run, { allowed: 'blocked' })
  t.is(run.allowedConnections, 0)
  t.is(run.report?.aftermath?.worker, 'blocked', dump(run))
  t.is(alerts(run), 1, run.stderr)
})

netTest('a refused native setGlobalPolicy throws its error', async (t) => {
  const run = await runAttack('tokens', 'nativeSetGlobalPolicy')
  const forged = run.report?.details?.emptyObject as Record<string, Outcome> | undefined
  for (const action of ['clear', 'replace', 'relock']) t.like(forged?.[action], { threw: true }, `${action}: ${JSON.stringify(forged?.[action])}`)
})
