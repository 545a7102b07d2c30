// Child processes: every launch through child_process (spawn, exec, execFile, fork and their
// Sync forms) and process.execve gets the parent's effective policy (global ∩ scopes at the
// launch site) as NODE_OPTIONS=--require <register> plus the payload in its environment, also
// when the caller passes its own env. Node children enforce it; any other executable is
// "external" and follows externalSubprocessPolicy ('warn' | 'allow' | 'block').
import childProcess from 'node:child_process'
import { basename, join } from 'node:path'
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

function isNodeCommand(word: string): boolean {
  return word === process.execPath || NODE_COMMANDS.has(basename(word))
}

/** What a launch is: a Node process that will load the preload, or something else. */
export function classify(file: string, args: readonly string[]): Kind {
  if (isNodeCommand(file)) return 'node'
  const shell = basename(file)
  const flagIndex = args.findIndex((a) => a === '-c' || a === '/c' || a === '/d /s /c')
  if (SHELLS.has(shell) && flagIndex >= 0 && typeof args[flagIndex + 1] === 'string') {
    const command = args[flagIndex + 1]!
    if (STRIPS_PAYLOAD.test(command)) return 'stripping'
    const words = command.trim().split(/\s+/).filter((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w))
    const first = (words[0] ?? '').replace(/^["']|["']$/g, '')
    return isNodeCommand(first) ? 'node' : 'external'
  }
  return 'external'
}

function describeLaunch(file: string, args: readonly string[]): string {
  const shown = args.length > 0 && (args[0] === file || basename(args[0]!) === basename(file)) ? args.slice(1) : args
  return [file, ...shown].join(' ').slice(0, 200)
}

/** Applies the external-subprocess policy; throws SubprocessBlocked to refuse the launch. */
function admit(file: string, args: readonly string[]): void {
  const kind = classify(file, args)
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

/** Checks and rewrites the normalized options every child_process launch ends up with. */
function prepare(options: SpawnOptions | undefined): void {
  if (!options || typeof options !== 'object' || typeof options.file !== 'string') return
  if (!native.globalSettings() && !currentPayload()) return
  const args = Array.isArray(options.args) ? (options.args as unknown[]).filter((a): a is string => typeof a === 'string') : []
  admit(options.file, args)
  const envPairs = injectEnvPairs(options.envPairs)
  if (envPairs) options.envPairs = envPairs
}

function patchChildProcess(): void {
  const proto = childProcess.ChildProcess.prototype as unknown as Record<string, unknown>
  patchMethod(proto, 'spawn', (original) =>
    function spawn(this: unknown, ...args: unknown[]) {
      prepare(args[0] as SpawnOptions)
      return ReflectApply(original, this, args)
    },
  )
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
