// Builds the native module (release) and the TypeScript. With --if-needed, skips each part
// whose outputs are newer than its sources, so `npm test` and `npm run demo` work on a fresh
// clone without a separate build step and stay fast afterwards.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const ifNeeded = process.argv.includes('--if-needed')

function newestMtime(paths) {
  let newest = 0
  const visit = (p) => {
    if (!existsSync(p)) return
    const st = statSync(p)
    if (st.isDirectory()) {
      for (const entry of readdirSync(p)) if (entry !== 'target' && entry !== 'node_modules') visit(join(p, entry))
    } else newest = Math.max(newest, st.mtimeMs)
  }
  paths.forEach((p) => visit(join(root, p)))
  return newest
}

function outdated(outputs, sources) {
  if (!ifNeeded) return true
  const outs = outputs.map((o) => join(root, o))
  if (!outs.every((o) => existsSync(o))) return true
  const oldestOutput = Math.min(...outs.map((o) => statSync(o).mtimeMs))
  return newestMtime(sources) > oldestOutput
}

function run(cmd, args) {
  console.error(`> ${cmd} ${args.join(' ')}`)
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit' })
}

const napiCli = join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
function hostTriple() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const musl = existsSync('/usr/bin/ldd') && readFileSync('/usr/bin/ldd', 'latin1').includes('musl')
    return `linux-${arch}-${musl ? 'musl' : 'gnu'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}
const triple = hostTriple()
if (outdated([`tethered.${triple}.node`], ['crates', 'Cargo.toml', 'Cargo.lock'])) {
  // Build into target/ and rename into place: overwriting the library in place would corrupt
  // it under any process that has it mapped (a test run in progress).
  const outDir = join(root, 'target', 'napi-out')
  mkdirSync(outDir, { recursive: true })
  run(process.execPath, [napiCli, 'build', '--platform', '--release', '-p', 'tethered-node', '-o', outDir, '--no-js', '--dts', 'binding.d.ts'])
  renameSync(join(outDir, `tethered.${triple}.node`), join(root, `tethered.${triple}.node`))
}
if (outdated(['dist/index.js', 'dist/index.mjs'], ['src', 'tsconfig.json'])) {
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'])
}
