#!/usr/bin/env node
// The tethered command line: run, record, check.
import { check } from './check'
import { record } from './record'
import { run } from './run'
import { UsageError } from './usage-error'

const HELP = `Usage: tethered <command> [options]

Commands:
  run     run a command with egress control on every Node process in its tree
  record  run a command without blocking and print the allow list it needs
  check   say whether destinations are allowed by rules, and by which rule

Run 'tethered <command> --help' for its options.`

const out = (line: string) => process.stdout.write(`${line}\n`)
const err = (line: string) => process.stderr.write(`${line}\n`)

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'run':
      return run(rest, out)
    case 'record':
      return record(rest, out, err)
    case 'check':
      return check(rest, out)
    case undefined:
    case '-h':
    case '--help':
      out(HELP)
      return command === undefined ? 2 : 0
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}; expected run, record or check`)
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    const known = error instanceof UsageError || (error as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS')
    err(known ? `tethered: ${(error as Error).message}` : `tethered: internal error: ${(error as Error)?.stack ?? String(error)}`)
    process.exitCode = known ? 2 : 70
  },
)
