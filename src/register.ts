// tethered/register: the preload (`node --require tethered/register`, NODE_OPTIONS, and what
// workers and child processes get injected). It runs before any application code:
// - in a worker thread: installs this thread's shims under the process-wide policy and enters
//   the scopes that were active where the worker was created;
// - in a child process started by a tethered parent: activates the parent's effective policy
//   (a locked parent gives a locked child with its own token) and enters inherited scopes;
// - otherwise, with TETHERED_ALLOW set: activates from the TETHERED_* variables.
// A bad configuration stops the process with a message naming the variable.
import { getEnvironmentData, isMainThread, setEnvironmentData } from 'node:worker_threads'
import { activate, lockThisThread } from './activate'
import { readEnvConfig } from './env-config'
import { installShims } from './intercept/index'
import { native } from './native'
import { PAYLOAD_VAR, WORKER_PAYLOAD_KEY, type Payload, type ScopePayload, parsePayload } from './payload'
import { type Scope, scope } from './scope'
import { currentFrame, enterFrame, type ScopeFrame } from './scope-context'
import { adoptGlobal } from './state'
import { RECORD_VAR, startRecorder } from './recorder'

function fail(message: string): never {
  process.stderr.write(`${message}\n`)
  // Exit before any application code runs: an unprotected process must not start.
  process.exit(78)
}

/** The frame of `scopes` nested outer to inner, entered for the rest of this thread's life. */
function enterScopes(list: ScopePayload[]): void {
  if (list.length === 0) return
  const scopes: Scope[] = list.map((s) =>
    scope({ allow: s.allow, allowLocalhost: s.allowLocalhost, logOnly: s.logOnly, failClosed: s.failClosed, label: s.label }),
  )
  let frame: ScopeFrame | undefined
  const enter = (i: number): void => {
    if (i === scopes.length) {
      frame = currentFrame()
      return
    }
    scopes[i]!.run(() => enter(i + 1))
  }
  enter(0)
  if (frame) enterFrame(frame)
}

function activateFromPayload(payload: Payload, quiet: boolean): void {
  const g = payload.global
  if (g && !native.globalFlags().active) {
    activate({
      allow: g.allow,
      allowLocalhost: g.allowLocalhost,
      logOnly: g.logOnly,
      failClosed: g.failClosed,
      externalSubprocessPolicy: g.externalSubprocessPolicy as 'warn' | 'allow' | 'block',
      ...(quiet ? { logger: null } : {}),
      ...(g.locked ? { locked: true, lockToken: {} } : {}),
    })
  }
}

/**
 * The payload text for this thread. A worker started by tethered's Worker gets it as
 * environment data (exact for its launch site, whatever its `env` option; taken out so that
 * application code never sees it); a process, or a worker started otherwise, from its env.
 */
function payloadText(): string | undefined {
  if (!isMainThread) {
    const data = getEnvironmentData(WORKER_PAYLOAD_KEY)
    if (typeof data === 'string') {
      setEnvironmentData(WORKER_PAYLOAD_KEY, undefined)
      return data
    }
  }
  return process.env[PAYLOAD_VAR]
}

function main(): void {
  const recordDir = process.env[RECORD_VAR]
  if (recordDir) startRecorder(recordDir)
  const text = payloadText()
  let payload: Payload | null = null
  if (text !== undefined && text !== '') {
    try {
      payload = parsePayload(text)
    } catch (err) {
      fail(`tethered: ${(err as Error).message}; refusing to start without the inherited egress policy`)
    }
  }
  if (native.globalFlags().active) {
    // A worker (or a second preload): the policy is already process-wide native state.
    adoptGlobal()
    installShims()
    if (native.globalFlags().locked) lockThisThread({ denyNativeAddons: false })
  } else if (payload) {
    // A worker never activates the process-wide policy from a payload: the parent's native
    // state is the authority, and here it is (now) inactive.
    if (isMainThread) activateFromPayload(payload, recordDir !== undefined)
  } else if (recordDir) {
    // tethered record: nothing is blocked, everything is reported (to the recorder only).
    activate({ allow: [], logOnly: true, allowLocalhost: false, logger: null, externalSubprocessPolicy: 'allow' })
  } else {
    // TETHERED_* configuration; in a worker too (test runners preload into worker threads).
    let config
    try {
      config = readEnvConfig(process.env)
    } catch (err) {
      fail((err as Error).message)
    }
    if (config) {
      try {
        activate({ ...config, ...(config.locked ? { lockToken: {} } : {}) })
      } catch (err) {
        fail(`tethered: TETHERED_ALLOW: ${(err as Error).message}`)
      }
    }
  }
  // A worker gets its shims even when nothing is active yet: decisions are native, so an
  // activate() in the parent after the worker started applies to it as well.
  if (!isMainThread) installShims()
  if (payload) enterScopes(payload.scopes)
}

main()
