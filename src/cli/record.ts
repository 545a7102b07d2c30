// `tethered record`: runs a command without blocking anything and prints the minimal allow
// list that would have permitted exactly the traffic its process tree produced.
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { type RecordedEvent, RECORD_VAR } from '../recorder'
import { runTree } from './spawn-tree'
import { UsageError } from './usage-error'

export const RECORD_HELP = `Usage: tethered record [--out FILE] -- COMMAND [ARGS...]

Runs COMMAND with nothing blocked, records every destination its Node processes looked up
or connected to, and prints at exit the minimal allow list (exact hosts and ports) that
would have permitted exactly that traffic. --out FILE also writes the destinations with
counts and the package that first initiated each, as JSON.`

interface Destination {
  rule: string
  count: number
  kinds: string[]
  initiator: string | null
}

function ruleFor(host: string, port: number | null): string {
  if (port === null) return host
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * Folds raw events into rules: a lookup followed by connects to its answers is one host:port.
 *
 * `count` is how often the destination was used as the application named it: for a name, its
 * name-level events (one per connection, request or datagram); the address-level events that
 * follow its lookup are the same attempts seen again and are not added. Within a rule, the kind
 * with the most events gives the count (an HTTP request also makes a TCP connection).
 */
export function summarize(events: RecordedEvent[]): Destination[] {
  const byRule = new Map<string, { destination: Destination; perKind: Map<string, number> }>()
  const connectedHosts = new Set<string>()
  const add = (rule: string, e: RecordedEvent, counted: boolean) => {
    let entry = byRule.get(rule)
    if (!entry) {
      entry = { destination: { rule, count: 0, kinds: [], initiator: e.initiator }, perKind: new Map() }
      byRule.set(rule, entry)
    }
    const d = entry.destination
    if (!d.kinds.includes(e.kind)) d.kinds.push(e.kind)
    d.initiator ??= e.initiator
    if (!counted) return
    const n = (entry.perKind.get(e.kind) ?? 0) + e.count
    entry.perKind.set(e.kind, n)
    d.count = Math.max(d.count, n)
  }
  // A connect to an IP is recorded under the name it came from only when the application asked
  // for that name (a hostname-level event exists); an IP literal in the code stays an IP rule.
  const named = new Set(events.filter((e) => e.port !== null && isIP(e.host) === 0).map((e) => `${e.host}\u0000${e.port}`))
  for (const e of events) {
    if (e.port === null) continue
    const viaName = e.resolvedFrom !== null && named.has(`${e.resolvedFrom}\u0000${e.port}`)
    const host = viaName ? e.resolvedFrom! : e.host
    connectedHosts.add(host)
    add(ruleFor(host, e.port), e, !viaName)
  }
  for (const e of events) {
    if (e.port !== null || connectedHosts.has(e.host)) continue
    add(ruleFor(e.host, null), e, true)
  }
  return [...byRule.values()].map((entry) => entry.destination).sort((a, b) => a.rule.localeCompare(b.rule))
}

function readEvents(dir: string): RecordedEvent[] {
  const events: RecordedEvent[] = []
  for (const name of readdirSync(dir)) {
    try {
      events.push(...(JSON.parse(readFileSync(join(dir, name), 'utf8')) as RecordedEvent[]))
    } catch {
      // a process that died mid-write: its events are lost, the rest still count
    }
  }
  return events
}

function assertWritable(path: string): void {
  try {
    closeSync(openSync(path, 'a'))
  } catch (err) {
    throw new UsageError(`--out ${path}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
}

export async function record(argv: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    out(RECORD_HELP)
    return 0
  }
  // A --out that cannot be written is an error before the command runs, not after it.
  if (values.out) assertWritable(values.out)
  const dir = mkdtempSync(join(tmpdir(), 'tethered-record-'))
  try {
    const code = await runTree(positionals, { [RECORD_VAR]: dir })
    const destinations = summarize(readEvents(dir))
    err(`tethered record: ${destinations.length} destination${destinations.length === 1 ? '' : 's'}; allow list:`)
    for (const d of destinations) out(d.rule)
    if (values.out) {
      writeFileSync(values.out, `${JSON.stringify({ allow: destinations.map((d) => d.rule), destinations }, null, 2)}\n`)
    }
    return code
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
