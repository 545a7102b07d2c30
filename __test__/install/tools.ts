// Running npm and node the way a user's machine would: a clean environment (nothing inherited
// from the `npm test` that started ava), and for the consumer a PATH holding node and npm only.
import { execFile } from 'node:child_process'
import { accessSync, constants, mkdirSync, realpathSync, symlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'

export const REPO = join(import.meta.dirname ?? dirname(new URL(import.meta.url).pathname), '..', '..')

/** npm's JS entry, run with this test's node (so Node 22/24/26 runs use their own node). */
export function npmCli(): string {
  const candidates = [
    ...(process.env.PATH ?? '').split(':').map((d) => join(d, 'npm')),
    join(dirname(process.execPath), 'npm'),
    '/usr/bin/npm',
    '/usr/local/bin/npm',
  ]
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK)
      return realpathSync(candidate)
    } catch {}
  }
  throw new Error('npm not found on PATH')
}

/**
 * process.env without npm's lifecycle variables (npm_config_userconfig, npm_config_cache, … would
 * override the test's own npm configuration), without NODE_OPTIONS and TETHERED_*, plus `extra`.
 */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|NODE_OPTIONS$|TETHERED_|NAPI_RS_)/i.test(k)) continue
    env[k] = v
  }
  return {
    ...env,
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    ...extra,
  }
}

/** npm configuration pointing at the test registry only, with a private cache. */
export function npmEnv(work: string, npmrc: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cleanEnv({ npm_config_userconfig: npmrc, npm_config_cache: join(work, 'npm-cache'), HOME: join(work, 'home'), ...extra })
}

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command to completion; never rejects (the caller asserts on code/stdout/stderr). */
export function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 180_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err && typeof err.code !== 'number' ? `\n${err.message}` : '') })
    })
  })
}

/** Like run, but throws with the command's output if it fails. */
export async function mustRun(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  const result = await run(cmd, args, opts)
  if (result.code !== 0) {
    throw new Error(`${[cmd, ...args].join(' ')} (in ${opts.cwd}) exited ${result.code}\n${result.stdout}\n${result.stderr}`)
  }
  return result
}

/**
 * A bin directory holding only `node` and `npm`: as the consumer's whole PATH it proves the
 * install needs no compiler (no cc, gcc, make, python, cargo or rustc is reachable).
 */
export function compilerFreeBin(dir: string): string {
  mkdirSync(dir, { recursive: true })
  symlinkSync(process.execPath, join(dir, 'node'))
  symlinkSync(npmCli(), join(dir, 'npm')) // npm-cli.js: `#!/usr/bin/env node` finds ./node
  return dir
}

/** Which of `names` can be found on `path` (expected: none of the build tools). */
export function reachable(path: string, names: string[]): string[] {
  return names.filter((name) =>
    path.split(':').some((d) => {
      try {
        accessSync(join(d, name), constants.X_OK)
        return true
      } catch {
        return false
      }
    }),
  )
}
