#!/usr/bin/env node
// Writes npm/<platform>/package.json for every target in package.json "napi.targets", the
// napi-rs way (`napi create-npm-dirs`: name, version, os/cpu/libc, main, files and the root's
// description/keywords/license/engines/repository/publishConfig), but without the README.md
// napi adds: a platform package ships exactly its .node file and package.json, and npm packs
// any README it finds whatever "files" says.
//
//   node scripts/sync-npm-dirs.mjs           rewrite npm/*/package.json (after a version or metadata change)
//   node scripts/sync-npm-dirs.mjs --check   exit 1 if any of them differs from what would be written
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const check = process.argv.includes('--check')
const napiCli = join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')

const scratch = mkdtempSync(join(tmpdir(), 'tethered-npm-dirs-'))
const problems = []
try {
  // napi only writes inside the project it runs in: give it a copy of the manifest alone.
  writeFileSync(join(scratch, 'package.json'), readFileSync(join(root, 'package.json')))
  // (its INFO lines go to stderr; on failure execFileSync's error carries them)
  execFileSync(process.execPath, [napiCli, 'create-npm-dirs', '--cwd', scratch], { stdio: 'pipe' })
  const generated = readdirSync(join(scratch, 'npm')).sort()
  for (const platform of generated) {
    const text = readFileSync(join(scratch, 'npm', platform, 'package.json'), 'utf8')
    const target = join(root, 'npm', platform, 'package.json')
    const current = existsSync(target) ? readFileSync(target, 'utf8') : null
    if (current === text) continue
    if (check) problems.push(`npm/${platform}/package.json is ${current === null ? 'missing' : 'out of date'}`)
    else {
      mkdirSync(dirname(target), { recursive: true })
      writeFileSync(target, text)
      console.log(`wrote npm/${platform}/package.json`)
    }
  }
  const npmDir = join(root, 'npm')
  for (const platform of existsSync(npmDir) ? readdirSync(npmDir) : []) {
    if (!generated.includes(platform)) problems.push(`npm/${platform} is not a configured target (napi.targets): remove it`)
  }
} finally {
  rmSync(scratch, { recursive: true, force: true })
}
if (problems.length) {
  console.error(`${problems.join('\n')}\n(run: node scripts/sync-npm-dirs.mjs)`)
  process.exit(1)
}
