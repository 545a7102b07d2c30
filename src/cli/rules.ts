// Where the CLI's allow rules come from: --allow flags, --allow-file files (one rule per line,
// `#` comments), or the "tethered": { "allow": [...] } field of the project's package.json.
// A malformed rule is reported with where it came from (`rules.txt:3`), so it can be found.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { InvalidRuleError } from '../errors'
import { Policy } from '../policy'
import { UsageError } from './usage-error'

/** A rule and where it was given: `--allow`, `FILE:LINE` or `package.json "tethered.allow"[i]`. */
interface Sourced {
  rule: string
  origin: string
}

function readRuleFile(path: string): Sourced[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(`--allow-file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  const rules: Sourced[] = []
  text.split(/\r?\n/).forEach((line, i) => {
    const rule = line.replace(/(^|\s)#.*$/, '').trim()
    if (rule !== '') rules.push({ rule, origin: `${path}:${i + 1}` })
  })
  return rules
}

function readPackageRules(cwd: string): Sourced[] | null {
  const path = join(cwd, 'package.json')
  if (!existsSync(path)) return null
  let pkg: { tethered?: { allow?: unknown } }
  try {
    pkg = JSON.parse(readFileSync(path, 'utf8'))
  } catch {
    throw new UsageError(`${path}: not valid JSON`)
  }
  const allow = pkg.tethered?.allow
  if (allow === undefined) return null
  if (!Array.isArray(allow) || !allow.every((r) => typeof r === 'string')) {
    throw new UsageError(`${path}: "tethered.allow" must be an array of strings`)
  }
  return allow.map((rule, i) => ({ rule, origin: `${path} "tethered.allow"[${i}]` }))
}

/** Collects and validates the rules; a malformed one is a usage error naming it and its origin. */
export function collectRules(flags: string[], files: string[], cwd: string, { required }: { required: boolean }): string[] {
  let rules: Sourced[] = [...flags.map((rule) => ({ rule, origin: '--allow' })), ...files.flatMap(readRuleFile)]
  if (rules.length === 0) {
    const fromPackage = readPackageRules(cwd)
    if (fromPackage) rules = fromPackage
    else if (required) {
      throw new UsageError('no allow rules: pass --allow RULE (repeatable), --allow-file FILE, or add "tethered": { "allow": [...] } to package.json')
    }
  }
  for (const { rule, origin } of rules) {
    // The rules travel to the process tree as one comma-separated TETHERED_ALLOW.
    if (rule.includes(',')) throw new UsageError(`${origin}: allow rule ${JSON.stringify(rule)} contains a comma; give each rule separately`)
  }
  try {
    new Policy(rules.map((r) => r.rule))
  } catch (err) {
    if (!(err instanceof InvalidRuleError)) throw err
    // The engine's message already quotes the rule; drop its `allow[i]: ` position prefix.
    throw new UsageError(`${rules[err.index]?.origin ?? '--allow'}: ${err.message.replace(/^allow\[\d+\]: /, '')}`)
  }
  return rules.map((r) => r.rule)
}
