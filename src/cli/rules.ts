// Where the CLI's allow rules come from: --allow flags, --allow-file files (one rule per line,
// `#` comments), or the "tethered": { "allow": [...] } field of the project's package.json.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { InvalidRuleError } from '../errors'
import { Policy } from '../policy'
import { UsageError } from './usage-error'

export function readRuleFile(path: string): string[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(`--allow-file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  return text
    .split(/\r?\n/)
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '')
}

export function readPackageRules(cwd: string): string[] | null {
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
  return allow
}

/** Collects and validates the rules; a malformed one is a usage error naming it. */
export function collectRules(flags: string[], files: string[], cwd: string, { required }: { required: boolean }): string[] {
  let rules = [...flags, ...files.flatMap(readRuleFile)]
  if (rules.length === 0) {
    const fromPackage = readPackageRules(cwd)
    if (fromPackage) rules = fromPackage
    else if (required) {
      throw new UsageError('no allow rules: pass --allow RULE (repeatable), --allow-file FILE, or add "tethered": { "allow": [...] } to package.json')
    }
  }
  for (const rule of rules) {
    if (rule.includes(',')) throw new UsageError(`allow rule ${JSON.stringify(rule)} contains a comma; give each rule separately`)
  }
  try {
    new Policy(rules)
  } catch (err) {
    if (err instanceof InvalidRuleError) throw new UsageError(`invalid allow rule ${JSON.stringify(err.rule)}: ${err.message.replace(/^allow\[\d+\]: /, '')}`)
    throw err
  }
  return rules
}
