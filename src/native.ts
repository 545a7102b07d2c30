// The only module that loads the native library. It picks the binary for this platform from
// a fixed list and nothing else: unlike napi-rs' generated loader it reads no environment
// variable, so the environment cannot swap tethered's native code. If no binary loads, the
// import fails with a message naming the platform and the package to install (fail closed).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

/** Shape of the Node-API module built from crates/tethered-node. */
export interface CompiledPolicy {
  readonly ruleCount: number
}
export interface ScopeChain {
  push(policy: CompiledPolicy): ScopeChain
}
export interface RuleProblem {
  index: number
  kind: 'empty' | 'url' | 'port-range' | 'matches-all' | 'malformed'
  message: string
}
/** The settings `setGlobalPolicy` takes besides the policy. */
export interface GlobalSettings {
  /** The rules as given. */
  allow: string[]
  allowLocalhost: boolean
  externalSubprocessPolicy: string
  localHostname: string
  logOnly: boolean
  failClosed: boolean
  locked: boolean
}
export interface GlobalFlags {
  active: boolean
  logOnly: boolean
  failClosed: boolean
  locked: boolean
  tampered: boolean
}
/** Opaque proof that this copy of tethered installed the isolate's shims. */
export interface Capability {
  readonly __capability: never
}

/** A policy's fast dry-run decision: 1 allowed, 0 blocked, -1 resolvedFrom for a non-IP. */
export type PolicyCheck = (host: string, port: number, resolvedFrom?: string | null) => number
/** A scope chain's fast enforcement check (see checkEgress for the verdicts). */
export type ChainCheck = (host: string, port: number, firstScope: number) => number

/** The functions of the Node-API module that tethered uses as they are. */
interface SharedFunctions {
  nativeVersion(): string
  compilePolicy(rules: string[], allowLocalhost: boolean): CompiledPolicy | RuleProblem
  /** The fast `allows` of a compiled policy. */
  policyChecker(policy: CompiledPolicy): PolicyCheck
  scopeChain(policy: CompiledPolicy): ScopeChain
  /** The fast enforcement check of a scope chain (null: no scopes). */
  chainChecker(chain: ScopeChain | null): ChainCheck
  isIp(host: string): boolean
  setGlobalPolicy(token: unknown, policy: CompiledPolicy | null, settings: GlobalSettings, newToken: object | null): void
  unlocks(token: unknown): boolean
  globalFlags(): GlobalFlags
  /** The active global policy's settings from native memory (what children inherit). */
  globalSettings(): GlobalSettings | null
  reportTamper(): boolean
  resolvedFrom(ip: string): string | null
  /** Per raw scope rule: 0 reachable under the global policy, 1 partly, 2 never. */
  scopeOverlap(rules: string[]): number[]
}

/** The raw Node-API module. */
interface RawBinding extends SharedFunctions {
  claim(): Capability | null
  recorder(capability: Capability): (hostname: string, addresses: string[]) => void
}

/** What the rest of tethered uses: the shared functions, with the capability applied. */
export interface NativeBinding extends SharedFunctions {
  /** Records allowed lookup answers; a no-op in a copy of tethered without the capability. */
  recordResolution(hostname: string, addresses: string[]): void
  /**
   * 0 allowed, -1 blocked by the global policy, -2 reported (log-only), n >= 1 blocked by scope
   * n-1. Runs `check`, the fast checker of the current scope chain (a seam tests can replace).
   */
  checkEgress(host: string, port: number, check: ChainCheck, firstScope: number): number
}

const packageRoot = join(__dirname, '..')
const requireHere = createRequire(__filename)

function isMusl(): boolean {
  try {
    return readFileSync('/usr/bin/ldd', 'latin1').includes('musl')
  } catch {
    return false
  }
}

/** Platform package suffixes to try, most likely first. */
function platformTriples(): string[] {
  const { platform, arch } = process
  if (platform === 'linux') {
    const libcs = isMusl() ? ['musl', 'gnu'] : ['gnu', 'musl']
    return libcs.map((libc) => `linux-${arch}-${libc}`)
  }
  if (platform === 'darwin') return [`darwin-${arch}`]
  if (platform === 'win32') return [`win32-${arch}-msvc`]
  return []
}

function packageVersion(): string {
  return JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version
}

function load(): RawBinding {
  const tried: string[] = []
  let addonsDisabled = false
  const triples = platformTriples()
  for (const triple of triples) {
    // A development checkout has the binary at the package root (`npm run build`); a published
    // package never does (see "files"), so installs always use the platform package.
    for (const id of [join(packageRoot, `tethered.${triple}.node`), `tethered-${triple}`]) {
      let binding: RawBinding
      try {
        binding = requireHere(id) as RawBinding
      } catch (err) {
        addonsDisabled ||= (err as NodeJS.ErrnoException).code === 'ERR_DLOPEN_DISABLED'
        tried.push(`${id}: ${(err as Error).message.split('\n')[0]}`)
        continue
      }
      const expected = packageVersion()
      if (binding.nativeVersion() !== expected) {
        throw new Error(
          `tethered: the native library ${id} is version ${binding.nativeVersion()}, but the JS package is ${expected}. Reinstall tethered so both match.`,
        )
      }
      return binding
    }
  }
  if (addonsDisabled) {
    const error = new Error(
      'tethered: native addons are disabled in this process (node --permission without --allow-addons, or --no-addons), ' +
        'so the egress policy cannot be loaded. Network egress is NOT controlled. Add --allow-addons.',
    )
    Object.assign(error, { code: 'ERR_TETHERED_NATIVE_MISSING' })
    throw error
  }
  const wanted = triples.length ? triples.map((t) => `tethered-${t}`).join(' or ') : '(none is published)'
  const error = new Error(
    `tethered: no native library for ${process.platform}-${process.arch}. ` +
      `Install the platform package ${wanted} (npm installs it automatically as an optional dependency; ` +
      `check that optional dependencies were not omitted). Network egress is NOT controlled.\n  tried:\n  ` +
      tried.join('\n  '),
  )
  Object.assign(error, { code: 'ERR_TETHERED_NATIVE_MISSING' })
  throw error
}

const raw = load()
// Claimed before any application code can ask: the copy of tethered loaded first owns it.
const capability = raw.claim()
// The fast recording function, made once with the capability and kept in this closure.
const record = capability !== null ? raw.recorder(capability) : null

/**
 * The binding as tethered uses it: a plain object (not the module itself) so that locked mode
 * can freeze it, holding the functions taken when tethered loaded (replacing one on the module
 * later changes nothing); the capability stays in this module's closure.
 */
export const native: NativeBinding = {
  nativeVersion: raw.nativeVersion,
  compilePolicy: raw.compilePolicy,
  policyChecker: raw.policyChecker,
  scopeChain: raw.scopeChain,
  chainChecker: raw.chainChecker,
  isIp: raw.isIp,
  setGlobalPolicy: raw.setGlobalPolicy,
  unlocks: raw.unlocks,
  globalFlags: raw.globalFlags,
  globalSettings: raw.globalSettings,
  reportTamper: raw.reportTamper,
  resolvedFrom: raw.resolvedFrom,
  scopeOverlap: raw.scopeOverlap,
  recordResolution: (hostname, addresses) => {
    if (record !== null) record(hostname, addresses)
  },
  checkEgress: (host, port, check, firstScope) => check(host, port, firstScope),
}
