// Zero-code configuration: TETHERED_* environment variables read by tethered/register.
// A bad value is an error naming the variable, never a silently open process.

export interface EnvConfig {
  allow: string[]
  logOnly?: boolean
  failClosed?: boolean
  allowLocalhost?: boolean
  locked?: boolean
  externalSubprocessPolicy?: 'warn' | 'allow' | 'block'
}

const TRUE = new Set(['1', 'true', 'yes'])
const FALSE = new Set(['0', 'false', 'no'])
const BOOLEAN_VARS = {
  TETHERED_LOG_ONLY: 'logOnly',
  TETHERED_FAIL_CLOSED: 'failClosed',
  TETHERED_ALLOW_LOCALHOST: 'allowLocalhost',
  TETHERED_LOCKED: 'locked',
} as const

export class EnvConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`tethered: ${variable} ${problem}`)
    this.name = 'EnvConfigError'
  }
}

function parseBool(name: string, raw: string): boolean {
  const value = raw.trim().toLowerCase()
  if (TRUE.has(value)) return true
  if (FALSE.has(value)) return false
  throw new EnvConfigError(name, `must be 1/0, true/false or yes/no, got ${JSON.stringify(raw)}`)
}

/** The activate() options from the environment, or null when TETHERED_ALLOW is not set. */
export function readEnvConfig(env: NodeJS.ProcessEnv): EnvConfig | null {
  const allowRaw = env.TETHERED_ALLOW
  if (allowRaw === undefined) {
    const stray = [...Object.keys(BOOLEAN_VARS), 'TETHERED_EXTERNAL_SUBPROCESS'].find((v) => env[v] !== undefined)
    if (stray) throw new EnvConfigError(stray, 'is set but TETHERED_ALLOW is not (set TETHERED_ALLOW to the allow list, or "" to allow nothing)')
    return null
  }
  const allow = allowRaw
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '')
  const config: EnvConfig = { allow }
  for (const [name, key] of Object.entries(BOOLEAN_VARS)) {
    const raw = env[name]
    if (raw !== undefined) config[key] = parseBool(name, raw)
  }
  const sub = env.TETHERED_EXTERNAL_SUBPROCESS
  if (sub !== undefined) {
    const value = sub.trim().toLowerCase()
    if (value !== 'warn' && value !== 'allow' && value !== 'block') {
      throw new EnvConfigError('TETHERED_EXTERNAL_SUBPROCESS', `must be warn, allow or block, got ${JSON.stringify(sub)}`)
    }
    config.externalSubprocessPolicy = value
  }
  return config
}
