// activate() for one test, with a logger that records every line (overlap warnings, block
// reports); deactivated in teardown even when the test fails.
import type { ExecutionContext } from 'ava'
import { type ActivateOptions, type Logger, activate, deactivate } from '../../dist/index.mjs'

export interface CapturedLog {
  readonly logger: Logger
  /** Every line as `<level> <message>`. */
  readonly lines: string[]
  /** The messages logged at warn level. */
  warnings(): string[]
}

export function captureLog(): CapturedLog {
  const lines: string[] = []
  const at = (level: string) => (message: string) => void lines.push(`${level} ${message}`)
  return {
    logger: { warn: at('warn'), error: at('error'), debug: at('debug'), info: at('info') },
    lines,
    warnings: () => lines.filter((l) => l.startsWith('warn ')).map((l) => l.slice(5)),
  }
}

/** Activates `options` for this test only and returns the captured log. */
export function activateFor(t: ExecutionContext, options: Omit<ActivateOptions, 'logger'>): CapturedLog {
  const log = captureLog()
  t.teardown(() => deactivate())
  activate({ ...options, logger: log.logger })
  return log
}
