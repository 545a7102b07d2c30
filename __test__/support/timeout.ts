// Turning callback/event APIs into promises that can neither hang a test nor hide a
// synchronous throw: a blocked connection must fail through the API's normal error path.

/** How long any single network operation in a test may take before it counts as a hang. */
export const TIMEOUT_MS = 5_000

/**
 * How long to keep watching after an attempt failed. Some clients fail the request first and
 * still dial afterwards (undici opens a connection for a request it already aborted), so a
 * leak or a duplicate report can show up only after the rejection. Not a speed assertion: it
 * only gives a late connection the chance to be counted.
 */
export const SETTLE_MS = 100

export const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, SETTLE_MS))

/** The API under test threw from the call itself instead of reporting the error asynchronously. */
export class SynchronousThrow extends Error {
  constructor(what: string, cause: unknown) {
    super(`${what} threw synchronously (errors must arrive via 'error' / rejection): ${String(cause)}`, { cause })
    this.name = 'SynchronousThrow'
  }
}

/** Rejects with a "hang" error if `promise` has not settled after `ms`. */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms (hang)`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

type Executor<T> = (resolve: (value: T) => void, reject: (err: unknown) => void) => (() => void) | void

/**
 * Runs `start` like a Promise executor with a timeout. A synchronous throw becomes a
 * SynchronousThrow rejection (which expectBlocked() refuses); the cleanup `start` returns runs
 * once the outcome is known, also after a timeout, so no socket outlives its test.
 */
export function attempt<T>(what: string, start: Executor<T>, ms = TIMEOUT_MS): Promise<T> {
  let cleanup: (() => void) | void = undefined
  const result = new Promise<T>((resolve, reject) => {
    try {
      cleanup = start(resolve, reject)
    } catch (err) {
      reject(new SynchronousThrow(what, err))
    }
  })
  return withTimeout(result, what, ms).finally(() => {
    if (typeof cleanup === 'function') cleanup()
  })
}
