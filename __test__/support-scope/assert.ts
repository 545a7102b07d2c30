// Asserting who blocked: an EgressBlocked with the right scopeLabel (null = the global policy),
// the message suffix that names it, and the target. Allowed attempts must really complete.
import type { ExecutionContext } from 'ava'
import { EgressBlocked } from '../../dist/index.mjs'
import { type Outcome, settle } from './io.js'

export interface Target {
  host?: string
  /** null for a lookup. */
  port?: number | null
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

/** Checks one settled attempt: blocked by `label` (null: by the global policy). */
export function isBlockedBy(t: ExecutionContext, outcome: Outcome<unknown>, label: string | null, target: Target = {}, what = ''): EgressBlocked | undefined {
  const prefix = what ? `${what}: ` : ''
  if (outcome.ok) {
    t.fail(`${prefix}expected EgressBlocked by ${label ?? 'the global policy'}, but it succeeded`)
    return undefined
  }
  const { error } = outcome
  if (!(error instanceof EgressBlocked)) {
    t.fail(`${prefix}expected EgressBlocked, got ${describe(error)}`)
    return undefined
  }
  t.is(error.code, 'ERR_TETHERED_EGRESS_BLOCKED')
  t.is(error.scopeLabel, label, `${prefix}scopeLabel`)
  if (label) t.true(error.message.endsWith(` (blocked by ${label})`), `${prefix}message names the scope: ${error.message}`)
  else t.false(error.message.includes('(blocked by'), `${prefix}no scope in the message: ${error.message}`)
  if (target.host !== undefined) t.is(error.host, target.host, `${prefix}host`)
  if (target.port !== undefined) t.is(error.port, target.port, `${prefix}port`)
  return error
}

/** Awaits `attempt` and checks it was blocked by `label`. */
export async function blockedBy(t: ExecutionContext, attempt: Promise<unknown>, label: string | null, target: Target = {}, what = ''): Promise<EgressBlocked | undefined> {
  return isBlockedBy(t, await settle(attempt), label, target, what)
}

/** Awaits `attempt` and checks it succeeded; returns its value. */
export async function allowed<T>(t: ExecutionContext, attempt: Promise<T>, what = ''): Promise<T | undefined> {
  const outcome = await settle(attempt)
  if (!outcome.ok) {
    t.fail(`${what ? `${what}: ` : ''}expected success, got ${describe(outcome.error)}`)
    return undefined
  }
  t.pass()
  return outcome.value
}
