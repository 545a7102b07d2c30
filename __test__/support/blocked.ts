// Asserting "blocked by tethered" precisely: the failure is an EgressBlocked (not EACCES or a
// timeout), it arrived asynchronously, and the policy is scoped to the test that set it.
import type { ExecutionContext } from 'ava'
import { activate, deactivate, EgressBlocked, type ActivateOptions } from '../../dist/index.mjs'
import { SynchronousThrow, settle, withTimeout } from './timeout.js'

export const BLOCKED_CODE = 'ERR_TETHERED_EGRESS_BLOCKED'

/**
 * Where the EgressBlocked must sit in what the API rejects with: the error itself (net, http,
 * ws, undici.request), its `cause` (fetch's TypeError, axios' and got's wrappers), or anywhere
 * in the cause chain or an AggregateError's `errors` (happy eyeballs).
 */
export type Via = 'self' | 'cause' | 'anywhere'

/** The EgressBlocked inside `err` (cause chain, AggregateError.errors), if any. */
export function findBlocked(err: unknown, depth = 0): EgressBlocked | undefined {
  if (depth > 8 || err === null || typeof err !== 'object') return undefined
  if (err instanceof EgressBlocked) return err
  if (err instanceof SynchronousThrow) return undefined
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const found = findBlocked(inner, depth + 1)
      if (found) return found
    }
  }
  return findBlocked((err as { cause?: unknown }).cause, depth + 1)
}

export interface Expected {
  via?: Via
  host?: string
  port?: number
}

/**
 * Awaits `promise` (with a timeout) and asserts it rejected with an EgressBlocked placed as
 * `via` says, with `host`/`port` if given, then waits SETTLE_MS so the caller's "the server saw
 * nothing" counts also cover late connections. Returns the EgressBlocked, or undefined after
 * recording a failure.
 */
export async function expectBlocked(t: ExecutionContext, promise: Promise<unknown>, expected: Expected = {}): Promise<EgressBlocked | undefined> {
  const via = expected.via ?? 'self'
  let error: unknown
  let rejected = false
  try {
    await withTimeout(promise, 'blocked attempt')
  } catch (err) {
    error = err
    rejected = true
  }
  await settle() // let a late dial or report happen before the caller counts them
  if (!rejected) {
    t.fail('the attempt succeeded; expected it to fail with EgressBlocked')
    return undefined
  }
  if (error instanceof SynchronousThrow) {
    t.fail(error.message)
    return undefined
  }
  const blocked =
    via === 'self' ? (error instanceof EgressBlocked ? error : undefined)
    : via === 'cause' ? ((error as { cause?: unknown })?.cause instanceof EgressBlocked ? ((error as { cause: EgressBlocked }).cause) : undefined)
    : findBlocked(error)
  if (!blocked) {
    t.fail(`expected EgressBlocked (${via}), got: ${describeError(error)}`)
    return undefined
  }
  t.is(blocked.code, BLOCKED_CODE)
  if (expected.host !== undefined) t.is(blocked.host, expected.host)
  if (expected.port !== undefined) t.is(blocked.port, expected.port)
  return blocked
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const code = (err as { code?: unknown }).code
  const cause = (err as { cause?: unknown }).cause
  let text = `${err.name}${code ? ` [${String(code)}]` : ''}: ${err.message}`
  if (err instanceof AggregateError) text += ` errors=[${err.errors.map(describeError).join('; ')}]`
  if (cause !== undefined) text += ` (cause: ${describeError(cause)})`
  return text
}

/** activate() for this test only: silent logger, deactivated in teardown even if the test fails. */
export function activateFor(t: ExecutionContext, options: ActivateOptions): void {
  t.teardown(() => deactivate())
  activate({ logger: null, ...options })
}
