// What `npm publish` ships: the root package is the compiled JS and declarations only (no
// tests, no TS or Rust sources, no binary); each npm/<platform> package is exactly its
// package.json and .node, marked with the os/cpu/libc npm uses to pick it. The expectations
// here are written out independently of scripts/pack-check.mjs (the publish guard), which is
// checked against them at the end.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { REPO, cleanEnv, mustRun, npmCli, run } from './install/tools.js'

/** The eight napi-rs v3 platform packages and how npm recognises each platform. */
const PLATFORMS: Record<string, { os: string[]; cpu: string[]; libc?: string[] }> = {
  'linux-x64-gnu': { os: ['linux'], cpu: ['x64'], libc: ['glibc'] },
  'linux-x64-musl': { os: ['linux'], cpu: ['x64'], libc: ['musl'] },
  'linux-arm64-gnu': { os: ['linux'], cpu: ['arm64'], libc: ['glibc'] },
  'linux-arm64-musl': { os: ['linux'], cpu: ['arm64'], libc: ['musl'] },
  'darwin-x64': { os: ['darwin'], cpu: ['x64'] },
  'darwin-arm64': { os: ['darwin'], cpu: ['arm64'] },
  'win32-x64-msvc': { os: ['win32'], cpu: ['x64'] },
  'win32-arm64-msvc': { os: ['win32'], cpu: ['arm64'] },
}

// Each `npm pack` is ~0.5 s of npm start-up, far more on a loaded machine.
const SLOW = 5 * 60_000
const rootPkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'))
const work = mkdtempSync(join(tmpdir(), 'tethered-pack-'))
test.after.always(() => rmSync(work, { recursive: true, force: true }))

async function packList(dir: string): Promise<string[]> {
  const env = cleanEnv({ npm_config_cache: join(work, 'npm-cache'), npm_config_userconfig: join(work, 'no-npmrc') })
  const { stdout } = await mustRun(process.execPath, [npmCli(), 'pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, env })
  return (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path).sort()
}

let rootList: Promise<string[]> | undefined
const rootPackList = (): Promise<string[]> => (rootList ??= packList(REPO))

/** Every file under `dir`, relative to it. */
function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p).map((f) => `${name}/${f}`) : [name]
  })
}

/** What tsc makes of src/: X.ts -> dist/X.js + dist/X.d.ts, X.mts -> dist/X.mjs + dist/X.d.mts. */
function expectedDist(): string[] {
  return walk(join(REPO, 'src')).flatMap((f) => {
    if (f.endsWith('.d.ts')) return []
    if (f.endsWith('.mts')) return [`dist/${f.slice(0, -4)}.mjs`, `dist/${f.slice(0, -4)}.d.mts`]
    if (f.endsWith('.ts')) return [`dist/${f.slice(0, -3)}.js`, `dist/${f.slice(0, -3)}.d.ts`]
    return []
  })
}

test('the root package ships exactly the compiled src/, package.json and the docs', async (t) => {
  const docs = readdirSync(REPO).filter((f) => /^(README|LICEN[CS]E)(\.md|\.txt)?$/i.test(f))
  const expected = [...expectedDist(), 'package.json', ...docs].sort()
  const actual = await rootPackList()
  t.deepEqual(actual, expected, 'a difference in dist/ only may be a stale build: rm -rf dist && npm run build:ts')
  t.false(actual.some((f) => /\.node$|^(crates|src|__test__|benches|scripts|npm)\//.test(f)))
})

test('every entry point the root package declares is shipped, and the exports map is complete', async (t) => {
  const shipped = new Set(await rootPackList())
  const entries: string[] = []
  const collect = (v: unknown): void => {
    if (typeof v === 'string') entries.push(v.replace(/^\.\//, ''))
    else if (v && typeof v === 'object') Object.values(v).forEach(collect)
  }
  collect([rootPkg.main, rootPkg.types, rootPkg.bin, rootPkg.exports])
  t.true(entries.length > 0)
  for (const entry of entries) t.true(shipped.has(entry), `${entry} is declared but not shipped`)
  const dot = rootPkg.exports['.']
  t.deepEqual(Object.keys(dot), ['types', 'import', 'require'], '"types" must come first for TypeScript')
  t.truthy(rootPkg.exports['./register'])
  t.is(rootPkg.exports['./package.json'], './package.json')
})

test('npm/ holds exactly the eight platform packages, each with the right os/cpu/libc', (t) => {
  t.deepEqual(readdirSync(join(REPO, 'npm')).sort(), Object.keys(PLATFORMS).sort())
  t.deepEqual([...rootPkg.napi.targets].length, 8)
  for (const [platform, selector] of Object.entries(PLATFORMS)) {
    const dir = join(REPO, 'npm', platform)
    const binary = `tethered.${platform}.node`
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    t.like(manifest, { name: `tethered-${platform}`, version: rootPkg.version, main: binary, ...selector }, platform)
    t.deepEqual(manifest.files, [binary], `${platform}: files must name only the binary`)
    if (!selector.libc) t.is(manifest.libc, undefined, platform)
    for (const key of ['scripts', 'dependencies', 'optionalDependencies', 'bin', 'exports']) t.is(manifest[key], undefined, `${platform}: ${key}`)
    // Same metadata as the root (napi create-npm-dirs copies it).
    for (const key of ['license', 'engines', 'description', 'repository']) t.deepEqual(manifest[key], rootPkg[key], `${platform}: ${key}`)
    // No README: npm packs one whatever "files" says. A built binary (gitignored) may be there.
    const extra = readdirSync(dir).filter((f) => f !== 'package.json' && f !== binary)
    t.deepEqual(extra, [], `${platform}: unexpected files`)
  }
})

test('a platform package packs to exactly its package.json and .node', async (t) => {
  t.timeout(SLOW)
  const packed = Object.keys(PLATFORMS).map(async (platform) => {
    const dir = join(work, 'platform', platform)
    mkdirSync(join(dir, 'src'), { recursive: true })
    copyFileSync(join(REPO, 'npm', platform, 'package.json'), join(dir, 'package.json'))
    const binary = `tethered.${platform}.node`
    writeFileSync(join(dir, binary), 'stand-in for the binary')
    // Decoys that must stay out: what a build or napi could leave next to the binary.
    writeFileSync(join(dir, 'src', 'lib.rs'), '')
    writeFileSync(join(dir, 'index.js'), '')
    writeFileSync(join(dir, 'tethered.node.d.ts'), '')
    return [platform, await packList(dir), [binary, 'package.json'].sort()] as const
  })
  for (const [platform, actual, expected] of await Promise.all(packed)) t.deepEqual(actual, expected, platform)
})

test('package.json, npm/* and the Cargo workspace have one version', (t) => {
  const cargo = readFileSync(join(REPO, 'Cargo.toml'), 'utf8')
  const cargoVersion = /\[workspace\.package\][^[]*?^version\s*=\s*"([^"]+)"/m.exec(cargo)?.[1]
  t.is(cargoVersion, rootPkg.version, 'the loader refuses a native library whose version differs from the JS package')
  for (const platform of Object.keys(PLATFORMS)) {
    t.is(JSON.parse(readFileSync(join(REPO, 'npm', platform, 'package.json'), 'utf8')).version, rootPkg.version, platform)
  }
})

test('optionalDependencies are written at publish time: absent in the checkout', (t) => {
  t.is(rootPkg.optionalDependencies, undefined, 'napi pre-publish writes them in the release job')
})

test('the publish guard passes on the checkout and refuses to publish without the platform packages', async (t) => {
  const guard = join(REPO, 'scripts', 'pack-check.mjs')
  const env = cleanEnv({ npm_config_cache: join(work, 'npm-cache'), npm_config_userconfig: join(work, 'no-npmrc') })
  t.timeout(SLOW)
  const [ok, publish] = await Promise.all([
    run(process.execPath, [guard], { cwd: REPO, env }),
    run(process.execPath, [guard, '--publish'], { cwd: REPO, env }),
  ])
  t.is(ok.code, 0, ok.stderr)
  t.is(publish.code, 1)
  t.regex(publish.stderr, /optionalDependencies must be exactly/)
  t.regex(publish.stderr, /npm\/darwin-arm64 would ship \[package\.json\], expected \[package\.json, tethered\.darwin-arm64\.node\]/)
})
