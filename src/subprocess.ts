// Child processes: every launch through child_process (spawn, exec, execFile, fork and their
// Sync forms) and process.execve gets the parent's effective policy (global ∩ scopes at the
// launch site) as NODE_OPTIONS=--require <register> plus the payload in its environment, also
// when the caller passes its own env. Node children enforce it; any other executable is
// "external" and follows externalSubprocessPolicy ('warn' | 'allow' | 'block').
import childProcess from 'node:child_process'
import { closeSync, existsSync, openSync, readSync } from 'node:fs'
import { basename, delimiter, join } from 'node:path'
import { SubprocessBlocked } from './egress-blocked'
import { binding, patchMethod } from './intercept/bindings'
import { log } from './logger'
import { native } from './native'
import { PAYLOAD_VAR, currentPayload } from './payload'
import { ReflectApply } from './primordials'
import { RECORD_VAR } from './recorder'

export const REGISTER_PATH = join(__dirname, 'register.js')

/** The NODE_OPTIONS flag that loads tethered first (valid on every supported Node version). */
export function requireFlag(): string {
  return `--require "${REGISTER_PATH.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

/** NODE_OPTIONS with our preload added (once), keeping what the caller had. */
export function withPreload(nodeOptions: string | undefined): string {
  const flag = requireFlag()
  if (!nodeOptions) return flag
  return nodeOptions.includes(REGISTER_PATH) ? nodeOptions : `${nodeOptions} ${flag}`
}

const NODE_COMMANDS = new Set(['node', 'nodejs', 'node.exe', 'npm', 'npx', 'npm.cmd', 'npx.cmd', 'corepack'])
const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ash', 'ksh', 'cmd.exe', 'cmd'])
/** Shell text that removes the payload before a node starts. */
const STRIPS_PAYLOAD = /\benv\b[^;&|]*\s-(?:[a-z]*u\s*NODE_OPTIONS|i\b|-ignore-environment|-unset[= ]NODE_OPTIONS)|\bunset\s+NODE_OPTIONS\b|\bNODE_OPTIONS=|\bTETHERED_CHILD_POLICY=/

type Kind = 'node' | 'external' | 'stripping'

/** Shebang scripts seen before, by path: true when they run node (npm bin shims do). */
const nodeScripts = new Map<string, boolean>()

function runsNode(path: string): boolean {
  let known = nodeScripts.get(path)
  if (known === undefined) {
    known = false
    try {
      const fd = openSync(path, 'r')
      try {
        const head = Buffer.alloc(128)
        const n = readSync(fd, head, 0, 128, 0)
        const line = head.toString('latin1', 0, n).split('\n')[0] ?? ''
        known = line.startsWith('#!') && /\bnode(js)?\b/.test(line)
      } finally {
        closeSync(fd)
      }
    } catch {
      // not a readable file: not a Node script
    }
    nodeScripts.set(path, known)
  }
  return known
}

/** The file a command word names: itself when it has a slash, else the first hit on PATH. */
function resolveCommand(word: string, path: string | undefined): string | null {
  if (word.includes('/')) return word
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, word)
    if (existsSync(candidate)) return candidate
  }
  return null
}

function isNodeCommand(word: string, path: string | undefined): boolean {
  if (word === process.execPath || NODE_COMMANDS.has(basename(word))) return true
  const file = resolveCommand(word, path)
  return file !== null && runsNode(file)
}

/** Shell words that start no program of their own. */
const HARMLESS = new Set(['cd', 'echo', 'export', 'set', 'printf', ':'])

/** What a launch is: a Node process that will load the preload, or something else. */
export function classify(file: string, args: readonly string[], path: string | undefined = process.env.PATH): Kind {
  if (isNodeCommand(file, path)) return 'node'
  const shell = basename(file)
  const flagIndex = args.findIndex((a) => a === '-c' || a === '/c' || a === '/d /s /c')
  if (SHELLS.has(shell) && flagIndex >= 0 && typeof args[flagIndex + 1] === 'string') {
    const command = args[flagIndex + 1]!
    if (STRIPS_PAYLOAD.test(command)) return 'stripping'
    // Every program the command line starts must be Node for the launch to be a Node launch.
    let programs = 0
    for (const segment of command.split(/&&|\|\||;|\||\n/)) {
      const words = segment
        .trim()
        .split(/\s+/)
        .filter((w) => w !== '' && !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w))
        .map((w) => w.replace(/^["']|["']$/g, ''))
      if (words[0] === 'exec') words.shift()
      const first = words[0]
      if (first === undefined || HARMLESS.has(first)) continue
      programs++
      if (!isNodeCommand(first, path)) return 'external'
    }
    return programs > 0 ? 'node' : 'external'
  }
  return 'external'
}

function describeLaunch(file: string, args: readonly string[]): string {
  const shown = args.length > 0 && (args[0] === file || basename(args[0]!) === basename(file)) ? args.slice(1) : args
  return [file, ...shown].join(' ').slice(0, 200)
}

/** Applies the external-subprocess policy; throws SubprocessBlocked to refuse the launch. */
function admit(file: string, args: readonly string[], path: string | undefined = process.env.PATH): void {
  const kind = classify(file, args, path)
  if (kind === 'node') return
  const settings = native.globalSettings()
  const command = describeLaunch(file, args)
  if (kind === 'stripping' && settings?.locked) {
    log('warn', `tethered: blocked subprocess launch that strips the policy: ${command}`)
    throw new SubprocessBlocked(command, 'it removes the inherited egress policy, which locked mode refuses')
  }
  if (!settings) return // scope-only: no process-wide subprocess policy (as upstream)
  const policy = settings.externalSubprocessPolicy
  if (policy === 'block') {
    log('warn', `tethered: blocked external subprocess launch: ${command}`)
    throw new SubprocessBlocked(command, "refused by tethered policy (externalSubprocessPolicy: 'block')")
  }
  if (policy === 'warn') log('warn', `tethered: external subprocess launch (its network use is not controlled): ${command}`)
}

/** Rewrites `KEY=value` env pairs so the child inherits the policy. */
function injectEnvPairs(envPairs: unknown): string[] | null {
  const payload = currentPayload()
  if (!payload || !Array.isArray(envPairs)) return null
  let nodeOptions: string | undefined
  const out: string[] = []
  for (const pair of envPairs as unknown[]) {
    if (typeof pair !== 'string') continue
    if (pair.startsWith('NODE_OPTIONS=')) nodeOptions = pair.slice('NODE_OPTIONS='.length)
    else if (!pair.startsWith(`${PAYLOAD_VAR}=`)) out.push(pair)
  }
  out.push(`NODE_OPTIONS=${withPreload(nodeOptions)}`, `${PAYLOAD_VAR}=${JSON.stringify(payload)}`)
  const recordDir = process.env[RECORD_VAR]
  if (recordDir && !out.some((pair) => pair.startsWith(`${RECORD_VAR}=`))) out.push(`${RECORD_VAR}=${recordDir}`)
  return out
}

interface SpawnOptions {
  file?: unknown
  args?: unknown
  envPairs?: unknown
}

/** PATH as the child will see it (npm puts node_modules/.bin there for its scripts). */
function pathOf(envPairs: unknown): string | undefined {
  if (!Array.isArray(envPairs)) return process.env.PATH
  for (const pair of envPairs as unknown[]) {
    if (typeof pair === 'string' && pair.startsWith('PATH=')) return pair.slice(5)
  }
  return undefined
}

/** Checks and rewrites the normalized options every child_process launch ends up with. */
function prepare(options: SpawnOptions | undefined): void {
  if (!options || typeof options !== 'object' || typeof options.file !== 'string') return
  if (!native.globalSettings() && !currentPayload()) return
  const args = Array.isArray(options.args) ? (options.args as unknown[]).filter((a): a is string => typeof a === 'string') : []
  admit(options.file, args, pathOf(options.envPairs))
  const envPairs = injectEnvPairs(options.envPairs)
  if (envPairs) options.envPairs = envPairs
}

/** Launches made through ChildProcess#spawn, already prepared when they reach the binding. */
let preparedLaunch = false

/**
 * process_wrap's Process#spawn, under ChildProcess#spawn and reachable directly through
 * process.binding: takes an options object on Node 20-24 and positional arguments on 26
 * (file, args, cwd, envPairs, ...). Never pass it a wrong type: it aborts the process.
 */
function prepareRawSpawn(args: unknown[]): void {
  if (preparedLaunch) return
  const first = args[0]
  if (first !== null && typeof first === 'object') {
    prepare(first as SpawnOptions)
    return
  }
  if (typeof first !== 'string' || !Array.isArray(args[3])) return
  const options: SpawnOptions = { file: first, args: args[1], envPairs: args[3] }
  prepare(options)
  args[3] = options.envPairs
}

function patchChildProcess(): void {
  const proto = childProcess.ChildProcess.prototype as unknown as Record<string, unknown>
  patchMethod(proto, 'spawn', (original) =>
    function spawn(this: unknown, ...args: unknown[]) {
      prepare(args[0] as SpawnOptions)
      preparedLaunch = true
      try {
        return ReflectApply(original, this, args)
      } finally {
        preparedLaunch = false
      }
    },
  )
  const processWrap = binding('process_wrap')
  const processProto = (processWrap?.Process as { prototype?: object } | undefined)?.prototype
  if (processProto) {
    patchMethod(processProto, 'spawn', (original) =>
      function spawn(this: unknown, ...args: unknown[]) {
        prepareRawSpawn(args)
        return ReflectApply(original, this, args)
      },
    )
  }
  const spawnSync = binding('spawn_sync')
  if (spawnSync) {
    patchMethod(spawnSync, 'spawn', (original) =>
      function spawn(this: unknown, ...args: unknown[]) {
        prepare(args[0] as SpawnOptions)
        return ReflectApply(original, this, args)
      },
    )
  }
}

function patchExecve(): void {
  if (typeof (process as { execve?: unknown }).execve !== 'function') return
  patchMethod(process, 'execve', (original) =>
    function execve(this: unknown, ...args: unknown[]) {
      const [file, argv, env] = args as [unknown, unknown, Record<string, string> | undefined]
      if (typeof file === 'string' && (native.globalSettings() || currentPayload())) {
        const list = Array.isArray(argv) ? (argv as unknown[]).filter((a): a is string => typeof a === 'string') : []
        admit(file, list)
        const payload = currentPayload()
        const base = { ...(env ?? process.env) }
        if (payload) {
          base.NODE_OPTIONS = withPreload(base.NODE_OPTIONS)
          base[PAYLOAD_VAR] = JSON.stringify(payload)
        }
        return ReflectApply(original, this, [file, argv, base])
      }
      return ReflectApply(original, this, args)
    },
  )
}

export function installSubprocess(): void {
  patchChildProcess()
  patchExecve()
}
