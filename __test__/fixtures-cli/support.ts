// Running real processes for the CLI and recipe tests: the tethered CLI (dist/cli/main.js) and
// test runners, with output captured, a clean environment, and a hard time limit so a hang
// fails the test with what the process printed instead of stalling the run.
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))
export const FIXTURES = fileURLToPath(new URL('./', import.meta.url))
export const TREE = fileURLToPath(new URL('./tree.cjs', import.meta.url))
export const RECORD_APP = fileURLToPath(new URL('./record-app.cjs', import.meta.url))

/** Long enough for a cold jest start on a busy 2-core machine; a hang still ends the test. */
const LIMIT_MS = 90_000

export interface Finished {
  /** Exit code, or null when a signal ended the process. */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface Running {
  child: ChildProcess
  /** Resolves once stdout contains `text`, with everything printed so far. */
  waitFor(text: string): Promise<void>
  done: Promise<Finished>
}

/**
 * The parent's environment without what would change the child's behaviour behind the test's
 * back: an outer NODE_OPTIONS preload, TETHERED_* configuration, proxies, colours.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(NODE_OPTIONS|TETHERED_|NODE_USE_ENV_PROXY$|(HTTPS?|ALL|NO)_PROXY$|FORCE_COLOR$)/i.test(key)) continue
    env[key] = value
  }
  return { ...env, NO_COLOR: '1', npm_config_update_notifier: 'false', ...extra }
}

export function start(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  const child = spawn(command, args, { cwd: options.cwd ?? REPO, env: options.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  const waiters: Array<{ text: string; resolve: () => void }> = []
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    for (const w of waiters.filter((w) => stdout.includes(w.text))) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve()
    }
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const done = new Promise<Finished>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${command} ${args.join(' ')}: still running after ${LIMIT_MS} ms\n--- stdout\n${stdout}\n--- stderr\n${stderr}`))
    }, LIMIT_MS)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
  const waitFor = (text: string) =>
    stdout.includes(text)
      ? Promise.resolve()
      : Promise.race([
          new Promise<void>((resolve) => waiters.push({ text, resolve })),
          done.then((r) => Promise.reject(new Error(`exited (${r.code ?? r.signal}) before printing ${JSON.stringify(text)}:\n${r.stdout}\n${r.stderr}`))),
        ])
  return { child, waitFor, done }
}

/** Runs `node dist/cli/main.js ...args` to completion. */
export function cli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Finished> {
  return start(process.execPath, [CLI, ...args], options).done
}

/** The `RESULT {...}` line tree.cjs printed, parsed. */
export function resultOf(run: Finished): Record<string, unknown> {
  const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  if (!line) throw new Error(`no RESULT line in stdout:\n${run.stdout}\n--- stderr\n${run.stderr}`)
  return JSON.parse(line.slice('RESULT '.length)) as Record<string, unknown>
}

/** What a failed run printed, for assertion messages. */
export function transcript(run: Finished): string {
  return `exit ${run.code ?? run.signal}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`
}

/** A stack trace line: user errors must be one line, never a trace. */
export const STACK_LINE = /^\s+at .+\(?.*:\d+:\d+\)?$/m
