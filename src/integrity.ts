// The per-decision integrity check of locked mode: if any shim was replaced, every connection
// and lookup in the process is blocked from then on, and one alert goes to fd 2 directly (a
// replaced console or process.stderr.write cannot hide it).
import { writeSync as fsWriteSync } from 'node:fs'
import { native } from './native'
import { patchesIntact } from './protect'

// Captured at load: `fs.writeSync` is a writable export that code loaded later could replace.
const writeSync = fsWriteSync

const ALERT = 'tethered: TAMPER DETECTED: locked egress policy integrity violated — all network access is now blocked.\n'

let verifying = false

/** One-way: once a policy has been locked in this thread, decisions verify the shims. */
export function startVerifying(): void {
  verifying = true
}

/** False when tampering was detected (now or before). */
export function verifyIntegrity(): boolean {
  if (!verifying || patchesIntact()) return true
  let first = true
  try {
    first = native.reportTamper()
  } catch {
    // Reporting failed; the caller blocks anyway.
  }
  if (first) {
    try {
      writeSync(2, ALERT)
    } catch {
      // stderr closed: the block itself still happens.
    }
  }
  return false
}
