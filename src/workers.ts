// Worker threads: the policy is process-wide native state, but each worker has its own JS and
// needs its own shims before its code runs. worker_threads.Worker is replaced by a subclass
// that adds `--require <register>` to execArgv (covers eval workers and `execArgv: []`) and the
// payload (scopes active at the launch site) to the worker's environment data and env
// (covers `env: {}` and `env: SHARE_ENV`).
import workerThreads from 'node:worker_threads'
import { ReflectConstruct } from './primordials'
import { lockIfLocked, registerPatch } from './protect'
import { PAYLOAD_VAR, WORKER_PAYLOAD_KEY, currentPayload } from './payload'
import { RECORD_VAR } from './recorder'
import { REGISTER_PATH, withPreload } from './subprocess'

type WorkerOptions = ConstructorParameters<typeof workerThreads.Worker>[1]

// Captured at load: application code replacing them later must not reroute the payload.
const { getEnvironmentData, setEnvironmentData } = workerThreads

function hasPreload(execArgv: readonly string[]): boolean {
  return execArgv.some((arg, i) => arg.includes(REGISTER_PATH) && (i === 0 || execArgv[i - 1] === '--require' || arg.startsWith('--require')))
}

export function workerOptions(options: WorkerOptions | undefined, payload: ReturnType<typeof currentPayload>): WorkerOptions {
  const opts: NonNullable<WorkerOptions> = { ...(options ?? {}) }
  const execArgv = [...(opts.execArgv ?? process.execArgv)]
  if (!hasPreload(execArgv)) execArgv.unshift('--require', REGISTER_PATH)
  opts.execArgv = execArgv
  if (opts.env !== workerThreads.SHARE_ENV) {
    const env: Record<string, string | undefined> = { ...((opts.env as Record<string, string | undefined> | undefined) ?? process.env) }
    env.NODE_OPTIONS = withPreload(env.NODE_OPTIONS)
    if (payload) env[PAYLOAD_VAR] = JSON.stringify(payload)
    else delete env[PAYLOAD_VAR]
    if (process.env[RECORD_VAR]) env[RECORD_VAR] = process.env[RECORD_VAR]
    opts.env = env
  }
  return opts
}

let installed = false

export function installWorkers(): void {
  if (installed) return
  installed = true
  const Original = workerThreads.Worker
  // Another copy of tethered (a cleared require.cache) installed its wrapper already: Node's
  // Worker is a class, the wrapper a plain function.
  if (!Function.prototype.toString.call(Original).startsWith('class')) return
  // A plain constructor function, not `class extends Original`: a subclass would hand out the
  // original class as its prototype (Object.getPrototypeOf(Worker)), and a worker made with it
  // would run without tethered. Instances still come from the original, so `instanceof` holds.
  const Worker = function Worker(this: unknown, filename: string | URL, options?: WorkerOptions): object {
    if (new.target === undefined) throw new TypeError("Class constructor Worker cannot be invoked without 'new'")
    const payload = currentPayload()
    const opts = workerOptions(options, payload)
    // The payload also travels as environment data, which every worker receives whatever its
    // `env` option: a SHARE_ENV worker sees the parent's process.env, where this launch's
    // scopes cannot be put. Set for this construction only: Node clones the environment data
    // synchronously inside the constructor.
    const previous = getEnvironmentData(WORKER_PAYLOAD_KEY)
    setEnvironmentData(WORKER_PAYLOAD_KEY, payload ? JSON.stringify(payload) : undefined)
    try {
      return ReflectConstruct(Original, [filename, opts], new.target === Worker ? Original : new.target) as object
    } finally {
      setEnvironmentData(WORKER_PAYLOAD_KEY, previous)
    }
  } as unknown as typeof workerThreads.Worker
  Object.setPrototypeOf(Worker, Object.getPrototypeOf(Original))
  Object.defineProperty(Worker, 'prototype', { value: Original.prototype, writable: false })
  // …and the prototype's `constructor` must not lead back to the original either.
  Object.defineProperty(Original.prototype, 'constructor', { value: Worker, writable: true, configurable: true, enumerable: false })
  registerPatch(Original.prototype, 'constructor', Worker)
  lockIfLocked(Original.prototype, 'constructor')
  ;(workerThreads as unknown as Record<string, unknown>).Worker = Worker
  registerPatch(workerThreads, 'Worker', Worker)
  lockIfLocked(workerThreads, 'Worker')
}
