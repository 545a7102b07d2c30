#!/usr/bin/env node
// Publish guard: checks what `npm publish` would ship, for the root package and every
// npm/<platform> package, and exits 1 naming each problem.
//
//   node scripts/pack-check.mjs            contents only (any time after `npm run build`)
//   node scripts/pack-check.mjs --publish  also: every platform package holds its .node and the
//                                          root lists all of them as optionalDependencies at its
//                                          own version (what `napi pre-publish` writes); run
//                                          right before `npm publish` (prepublishOnly, release job)
//
// Rules: the root ships package.json, README/LICENSE and compiled JS + declarations under
// dist/ only (no .node: a root binary would shadow a missing platform package; no sources,
// tests or Rust); every entry point it declares is shipped. A platform package ships exactly
// package.json and its .node. Versions of package.json, npm/* and the Cargo workspace agree
// (the loader refuses a native library whose version differs from the JS package).
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const publishing = process.argv.includes('--publish')
const problems = []
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'))

/** The file list `npm pack` would produce for the package in `dir`. */
async function packList(dir) {
  const npmCli = process.env.npm_execpath // set when run from an npm script
  const [cmd, args] = npmCli && /npm-cli\.js$/.test(npmCli) ? [process.execPath, [npmCli]] : ['npm', []]
  const { stdout } = await promisify(execFile)(cmd, [...args, 'pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: dir,
    encoding: 'utf8',
    shell: process.platform === 'win32' && cmd === 'npm',
  })
  return JSON.parse(stdout)[0].files.map((f) => f.path.replaceAll('\\', '/')).sort()
}

/** Every file path named by main/types/bin/exports (conditions and subpaths, recursively). */
function entryPoints(pkg) {
  const found = new Set()
  const visit = (value) => {
    if (typeof value === 'string') found.add(value.replace(/^\.\//, ''))
    else if (value && typeof value === 'object') Object.values(value).forEach(visit)
  }
  visit([pkg.main, pkg.types, pkg.bin, pkg.exports])
  return [...found].filter((p) => !p.includes('*'))
}

const pkg = readJson(join(root, 'package.json'))
const version = pkg.version

const npmDir = join(root, 'npm')
const platforms = existsSync(npmDir) ? readdirSync(npmDir).sort() : []
// All packs at once: each is mostly npm's start-up time.
const [rootFiles, ...platformFiles] = await Promise.all([root, ...platforms.map((p) => join(npmDir, p))].map(packList))

// Root package.
const ALWAYS = /^(package\.json|README(\.md)?|LICEN[CS]E(\.md|\.txt)?)$/i
for (const file of rootFiles) {
  if (ALWAYS.test(file)) continue
  if (!file.startsWith('dist/')) problems.push(`root package ships ${file} (only dist/ is allowed)`)
  else if (!/\.(js|mjs|cjs|d\.ts|d\.mts|d\.cts)$/.test(file)) problems.push(`root package ships ${file} (not compiled JS or a declaration)`)
}
for (const entry of entryPoints(pkg)) {
  if (!rootFiles.includes(entry)) problems.push(`root package declares ${entry} (main/types/bin/exports) but does not ship it`)
}

// Platform packages.
const targets = pkg.napi?.targets ?? []
const binaryName = pkg.napi?.binaryName ?? 'index'
if (platforms.length !== targets.length) problems.push(`npm/ has ${platforms.length} platform packages, napi.targets lists ${targets.length}`)
for (const [i, platform] of platforms.entries()) {
  const manifest = readJson(join(npmDir, platform, 'package.json'))
  const binary = `${binaryName}.${platform}.node`
  if (manifest.name !== `${pkg.name}-${platform}`) problems.push(`npm/${platform}: name is ${manifest.name}`)
  if (manifest.version !== version) problems.push(`npm/${platform}: version ${manifest.version}, root is ${version}`)
  if (manifest.main !== binary || JSON.stringify(manifest.files) !== JSON.stringify([binary])) {
    problems.push(`npm/${platform}: main and files must be exactly ${binary}`)
  }
  for (const key of ['scripts', 'dependencies', 'optionalDependencies', 'bin']) {
    if (manifest[key] !== undefined) problems.push(`npm/${platform}: must not have "${key}"`)
  }
  const files = platformFiles[i]
  const allowed = publishing ? ['package.json', binary] : ['package.json', binary].filter((f) => f === 'package.json' || files.includes(f))
  if (JSON.stringify(files) !== JSON.stringify(allowed.sort())) {
    problems.push(`npm/${platform} would ship [${files.join(', ')}], expected [${allowed.join(', ')}]`)
  }
}

// optionalDependencies: written by `napi pre-publish`, never committed half-done.
const optional = pkg.optionalDependencies ?? {}
const wanted = Object.fromEntries(platforms.map((p) => [`${pkg.name}-${p}`, version]))
if (publishing || Object.keys(optional).length) {
  if (JSON.stringify(Object.entries(optional).sort()) !== JSON.stringify(Object.entries(wanted).sort())) {
    problems.push(`optionalDependencies must be exactly ${JSON.stringify(wanted)} (run napi pre-publish), got ${JSON.stringify(optional)}`)
  }
}

// Version lockstep with the native crate.
const cargo = readFileSync(join(root, 'Cargo.toml'), 'utf8')
const cargoVersion = /\[workspace\.package\][^[]*?^version\s*=\s*"([^"]+)"/m.exec(cargo)?.[1]
if (cargoVersion !== version) problems.push(`Cargo.toml [workspace.package] version is ${cargoVersion}, package.json is ${version}`)

try {
  execFileSync(process.execPath, [join(root, 'scripts', 'sync-npm-dirs.mjs'), '--check'], { stdio: ['ignore', 'ignore', 'pipe'] })
} catch (err) {
  problems.push(String(err.stderr ?? err.message).trim())
}

if (problems.length) {
  console.error(`pack-check: ${problems.length} problem(s):\n- ${problems.join('\n- ')}`)
  process.exit(1)
}
console.log(`pack-check: ok (root: ${rootFiles.length} files; ${platforms.length} platform packages${publishing ? ', ready to publish' : ''})`)
