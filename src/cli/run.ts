// `tethered run`: runs any command with every Node process in its tree enforced.
import { parseArgs } from 'node:util'
import { collectRules } from './rules'
import { runTree } from './spawn-tree'
import { UsageError } from './usage-error'

export const RUN_HELP = `Usage: tethered run [options] -- COMMAND [ARGS...]

Runs COMMAND with tethered preloaded into every Node.js process it starts (children,
grandchildren, workers, npm scripts). Exits with COMMAND's exit code.

Options:
  --allow RULE                 allow a destination (repeatable): api.example.com:443,
                               *.example.com, 10.0.0.0/8:5432, [2001:db8::1]:443
  --allow-file FILE            read rules from FILE, one per line, # comments
  --log-only                   report instead of blocking
  --locked                     lock the policy (code in the tree cannot switch it off)
  --no-localhost               do not allow loopback without a rule
  --external-subprocess MODE   warn (default) | allow | block: non-Node executables
  -h, --help                   show this help

Without --allow/--allow-file, rules come from "tethered": { "allow": [...] } in ./package.json.`

const MODES = new Set(['warn', 'allow', 'block'])

export async function run(argv: string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      allow: { type: 'string', multiple: true, default: [] },
      'allow-file': { type: 'string', multiple: true, default: [] },
      'log-only': { type: 'boolean', default: false },
      locked: { type: 'boolean', default: false },
      'no-localhost': { type: 'boolean', default: false },
      'external-subprocess': { type: 'string', default: 'warn' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    out(RUN_HELP)
    return 0
  }
  const mode = values['external-subprocess']
  if (!MODES.has(mode)) throw new UsageError(`--external-subprocess must be warn, allow or block, got ${JSON.stringify(mode)}`)
  const rules = collectRules(values.allow, values['allow-file'], process.cwd(), { required: true })
  return runTree(positionals, {
    TETHERED_ALLOW: rules.join(','),
    TETHERED_LOG_ONLY: values['log-only'] ? '1' : '0',
    TETHERED_LOCKED: values.locked ? '1' : '0',
    TETHERED_ALLOW_LOCALHOST: values['no-localhost'] ? '0' : '1',
    TETHERED_EXTERNAL_SUBPROCESS: mode,
  })
}
