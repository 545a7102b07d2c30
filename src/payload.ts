// The policy a worker or child process inherits: the global policy (read from native memory,
// so JS cannot widen what children get) and the scopes active at the launch site.
import { native } from './native'
import { currentFrame } from './scope-context'

export const PAYLOAD_VAR = 'TETHERED_CHILD_POLICY'
/** The worker_threads environment-data key carrying the payload to a worker. */
export const WORKER_PAYLOAD_KEY = 'tethered:child-policy'

export interface GlobalPayload {
  allow: string[]
  allowLocalhost: boolean
  logOnly: boolean
  failClosed: boolean
  externalSubprocessPolicy: string
  locked: boolean
}
export interface ScopePayload {
  allow: string[]
  allowLocalhost: boolean
  logOnly: boolean
  failClosed: boolean
  label: string
}
export interface Payload {
  v: 1
  global: GlobalPayload | null
  scopes: ScopePayload[]
}

/** The payload for a launch made now, or null when tethered is not in force here. */
export function currentPayload(): Payload | null {
  const settings = native.globalSettings()
  const frame = currentFrame()
  if (!settings && !frame) return null
  const global: GlobalPayload | null = settings && {
    allow: settings.allow,
    allowLocalhost: settings.allowLocalhost,
    logOnly: settings.logOnly,
    failClosed: settings.failClosed,
    externalSubprocessPolicy: settings.externalSubprocessPolicy,
    locked: settings.locked,
  }
  const scopes = (frame?.entries ?? []).map((e) => ({
    allow: [...e.allow],
    allowLocalhost: e.allowLocalhost,
    logOnly: e.logOnly,
    failClosed: e.failClosed,
    label: e.label,
  }))
  return { v: 1, global, scopes }
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((r) => typeof r === 'string')
}

/** Parses and checks a payload; throws a message naming what is wrong. */
export function parsePayload(text: string): Payload {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    throw new Error(`${PAYLOAD_VAR} is not valid JSON`)
  }
  const p = data as Partial<Payload> | null
  if (!p || typeof p !== 'object' || p.v !== 1 || !Array.isArray(p.scopes)) {
    throw new Error(`${PAYLOAD_VAR} is not a tethered policy payload`)
  }
  const g = p.global
  if (g !== null && (typeof g !== 'object' || !isStringArray(g?.allow))) {
    throw new Error(`${PAYLOAD_VAR}.global is malformed`)
  }
  for (const s of p.scopes) {
    if (!s || typeof s !== 'object' || !isStringArray(s.allow) || typeof s.label !== 'string') {
      throw new Error(`${PAYLOAD_VAR}.scopes has a malformed entry`)
    }
  }
  return p as Payload
}
