// Logging: one line per event, prefixed `tethered:`. Any console-compatible logger fits
// (console, pino, winston); null silences. The default writes straight to stderr.
import { ReflectApply } from './primordials'

export interface Logger {
  warn(message: string): unknown
  error(message: string): unknown
  debug?(message: string): unknown
  info?(message: string): unknown
}

const stderrWrite = process.stderr.write.bind(process.stderr)

export const stderrLogger: Logger = Object.freeze({
  warn: (message: string) => stderrWrite(`${message}\n`),
  error: (message: string) => stderrWrite(`${message}\n`),
})

let current: Logger | null = stderrLogger

export function setLogger(logger: Logger | null): void {
  current = logger
}

/** Logs without ever throwing into the connection path. */
export function log(level: 'warn' | 'error' | 'debug', message: string): void {
  const logger = current
  if (logger === null) return
  try {
    const fn = logger[level]
    if (typeof fn === 'function') ReflectApply(fn, logger, [message])
  } catch {
    // A broken logger must not break a connection; there is nowhere left to report it.
  }
}
