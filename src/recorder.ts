// Record mode (tethered record): every process in the tree runs with an empty allow list in
// log-only mode, and each thread writes what it would have blocked to a file at exit.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { threadId } from 'node:worker_threads'
import { reportEverything } from './decide'
import { setLogger } from './logger'
import { blockedChannel, type EgressEvent } from './observe'

export const RECORD_VAR = 'TETHERED_RECORD'

export interface RecordedEvent {
  kind: string
  host: string
  port: number | null
  resolvedFrom: string | null
  count: number
  initiator: string | null
}

/** Collects this thread's events and writes them into `dir` when it exits. */
export function startRecorder(dir: string): void {
  reportEverything()
  // Every thread, not only the ones that activate() with logger: null: a worker adopts the
  // policy with the default stderr logger and would print each recorded event as a block.
  setLogger(null)
  const events = new Map<string, RecordedEvent>()
  blockedChannel.subscribe((message) => {
    const e = message as EgressEvent
    const key = `${e.kind}\u0000${e.host}\u0000${e.port}\u0000${e.resolvedFrom}`
    const existing = events.get(key)
    if (existing) existing.count++
    else {
      const initiator = e.initiator ? `${e.initiator.name}${e.initiator.version ? `@${e.initiator.version}` : ''}` : null
      events.set(key, { kind: e.kind, host: e.host, port: e.port, resolvedFrom: e.resolvedFrom, count: 1, initiator })
    }
  })
  process.on('exit', () => {
    try {
      writeFileSync(join(dir, `${process.pid}-${threadId}.json`), JSON.stringify([...events.values()]))
    } catch {
      // the recording directory is gone (the CLI exited first): nothing to report to
    }
  })
}
