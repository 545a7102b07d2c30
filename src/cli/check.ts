// `tethered check`: answers allowed / blocked for destinations, and names the deciding rule.
import { parseArgs } from 'node:util'
import { Policy } from '../policy'
import { collectRules } from './rules'
import { UsageError } from './usage-error'

export const CHECK_HELP = `Usage: tethered check [--allow RULE]... [--allow-file FILE]... [--no-localhost] [HOST[:PORT]]...

Prints, for each destination, whether the allow list permits it and which rule decided.
A destination without a port is checked as a DNS lookup. With no destination, only
validates the rules.

Exit codes: 0 all allowed (or rules valid), 1 something blocked, 2 bad arguments or rules.`

/** Splits `host:port`, `[v6]:port`, `v6`, `host` into host and port (null: a lookup). */
export function parseDestination(text: string): { host: string; port: number | null } {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text)
  if (bracket) return { host: bracket[1]!, port: bracket[2] === undefined ? null : portOf(bracket[2], text) }
  const colons = text.split(':').length - 1
  if (colons === 1) {
    const [host, port] = text.split(':') as [string, string]
    return { host, port: portOf(port, text) }
  }
  return { host: text, port: null }
}

function portOf(digits: string, text: string): number {
  const port = Number(digits)
  if (!/^\d+$/.test(digits) || port > 65535) throw new UsageError(`destination ${JSON.stringify(text)}: port must be 0-65535`)
  return port
}

export function check(argv: string[], out: (line: string) => void): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      allow: { type: 'string', multiple: true, default: [] },
      'allow-file': { type: 'string', multiple: true, default: [] },
      'no-localhost': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    out(CHECK_HELP)
    return 0
  }
  const rules = collectRules(values.allow, values['allow-file'], process.cwd(), { required: positionals.length > 0 })
  const allowLocalhost = !values['no-localhost']
  if (positionals.length === 0) {
    out(`${rules.length} rule${rules.length === 1 ? '' : 's'} valid`)
    return 0
  }
  const policy = new Policy(rules, { allowLocalhost })
  const single = rules.map((rule) => new Policy([rule], { allowLocalhost: false }))
  let allBlocked = false
  for (const text of positionals) {
    const { host, port } = parseDestination(text)
    const allowed = policy.allows(host, port)
    let reason: string
    if (!allowed) reason = 'no rule matches'
    else {
      const index = single.findIndex((p) => p.allows(host, port))
      reason = index >= 0 ? `rule ${JSON.stringify(rules[index])}` : 'localhost is allowed (use --no-localhost to check rules only)'
    }
    out(`${allowed ? 'allowed' : 'blocked'}  ${text}  (${reason})`)
    allBlocked ||= !allowed
  }
  return allBlocked ? 1 : 0
}
