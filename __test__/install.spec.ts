// End-to-end install: `npm install tethered` from a registry, as a user would, with no compiler
// on PATH. A local verdaccio (loopback, started and stopped here) receives the root package and
// the linux-x64-gnu platform package through napi pre-publish + npm publish (the release job's
// steps); fresh projects in a temp dir install from it. Also: the loader cannot be redirected
// through napi-rs' environment variables, and a missing platform package fails closed.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { type CountingServer, countingTcpServer } from './harness/index.js'
import { type Registry, registryUnavailable, startRegistry } from './install/registry.js'
import { BINARY, PLATFORM, publishRelease } from './install/release.js'
import { REPO, type Run, compilerFreeBin, mustRun, npmEnv, reachable, run } from './install/tools.js'

const SLOW = 8 * 60_000 // npm installs from a local registry: seconds here, generous for a loaded CI machine
const BUILD_TOOLS = ['cc', 'gcc', 'g++', 'c++', 'clang', 'ld', 'make', 'python3', 'python', 'cargo', 'rustc', 'node-gyp']

/** The loader's own musl test (src/native.ts). */
function isMusl(): boolean {
  try {
    return readFileSync('/usr/bin/ldd', 'latin1').includes('musl')
  } catch {
    return false
  }
}

// Only linux-x64-gnu is built on this machine. A missing verdaccio skips the registry tests
// outside CI only: in CI (CI=true) it must be installed, so the setup fails instead.
const host = `${process.platform}-${process.arch}${process.platform === 'linux' && isMusl() ? '-musl' : ''}`
const platformSkip = host === 'linux-x64' ? undefined : `needs linux-x64 glibc (the platform package built here), this is ${host}`
const registrySkip = platformSkip ?? (process.env.CI ? undefined : registryUnavailable())
const registryTest = registrySkip ? (title: string) => test.skip(`${title} [${registrySkip}]`, () => {}) : test.serial
const loaderTest = platformSkip ? (title: string) => test.skip(`${title} [${platformSkip}]`, () => {}) : test

interface Consumer {
  dir: string
  path: string
  install: Run
}

let work = ''
let registry: Registry | undefined
let published: { version: string; optionalDependencies?: Record<string, string> } | undefined
let consumer: Consumer | undefined
let omitted: Consumer | undefined
let allowedServer: CountingServer | undefined
let blockedServer: CountingServer | undefined

/** A fresh project outside the repo that runs `npm install tethered <extra>` with node and npm only on PATH. */
async function installConsumer(name: string, npmrc: string, extra: string[]): Promise<Consumer> {
  const dir = join(work, name)
  mkdirSync(dir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }))
  for (const file of readdirSync(join(REPO, '__test__', 'install', 'consumer'))) {
    copyFileSync(join(REPO, '__test__', 'install', 'consumer', file), join(dir, file))
  }
  const path = compilerFreeBin(join(work, `${name}-bin`))
  const install = await run(join(path, 'npm'), ['install', 'tethered', ...extra], { cwd: dir, env: npmEnv(work, npmrc, { PATH: path }) })
  return { dir, path, install }
}

/** `node <args>` in the consumer, with the consumer's PATH and extra environment. */
function nodeIn(c: Consumer, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return run(process.execPath, args, { cwd: c.dir, env: npmEnv(work, join(work, 'no-npmrc'), { PATH: c.path, ...env }) })
}

function json(r: Run): Record<string, any> {
  try {
    return JSON.parse(r.stdout)
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`)
  }
}

/** Every file under `dir`, relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p, base) : [p.slice(base.length + 1)]
  })
}

test.before(async (t) => {
  t.timeout(SLOW)
  work = mkdtempSync(join(tmpdir(), 'tethered-install-'))
  if (registrySkip) return
  if (!existsSync(join(REPO, BINARY))) throw new Error(`${BINARY} is not built: run npm run build first`)
  registry = await startRegistry(join(work, 'registry'))
  published = await publishRelease(work, registry.npmrc)
  consumer = await installConsumer('consumer', registry.npmrc, [])
  omitted = await installConsumer('consumer-omit-optional', registry.npmrc, ['--omit=optional'])
  allowedServer = await countingTcpServer('127.0.0.1')
  blockedServer = await countingTcpServer('127.0.0.1')
})

test.after.always(async () => {
  await allowedServer?.close()
  await blockedServer?.close()
  await registry?.close()
  if (work) rmSync(work, { recursive: true, force: true })
})

registryTest('the published root package lists the platform package as optionalDependencies and ships no binary', async (t) => {
  const version = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version
  t.deepEqual(published!.optionalDependencies, { [`tethered-${PLATFORM}`]: version })
  const installed = walk(join(consumer!.dir, 'node_modules', 'tethered'))
  t.deepEqual(installed.filter((f) => f.endsWith('.node')), [])
  t.deepEqual(walk(join(consumer!.dir, 'node_modules', `tethered-${PLATFORM}`)).sort(), ['package.json', BINARY])
})

registryTest('npm install tethered needs no compiler: node and npm are all there is on PATH', async (t) => {
  const c = consumer!
  t.deepEqual(reachable(c.path, BUILD_TOOLS), [], 'the consumer PATH must not reach a build tool')
  t.is(c.install.code, 0, c.install.stderr)
  const lock = JSON.parse(readFileSync(join(c.dir, 'package-lock.json'), 'utf8'))
  const platform = lock.packages[`node_modules/tethered-${PLATFORM}`]
  // Installed through the optionalDependencies path (not as a direct dependency), by os/cpu/libc.
  t.like(platform, { optional: true, os: ['linux'], cpu: ['x64'], libc: ['glibc'] })
  t.deepEqual(lock.packages['node_modules/tethered'].optionalDependencies, { [`tethered-${PLATFORM}`]: published!.version })
  // Nothing ran at install time.
  t.false(Object.values(lock.packages as Record<string, { hasInstallScript?: boolean }>).some((p) => p.hasInstallScript))
})

/** Runs check.mjs and asserts: one module instance, an allowed and a blocked connection, the platform package's library. */
async function assertInstalledPackageWorks(t: ExecutionContext, env: Record<string, string> = {}): Promise<Record<string, any>> {
  const c = consumer!
  const before = { allowed: allowedServer!.connections, blocked: blockedServer!.connections }
  const r = await nodeIn(c, ['check.mjs', String(allowedServer!.port), String(blockedServer!.port)], env)
  t.is(r.code, 0, r.stderr)
  const out = json(r)
  t.true(out.sameExports, 'import and require must give the same module (one native instance, one state)')
  t.is(out.version, published!.version)
  t.is(out.resolved, join(c.dir, 'node_modules', 'tethered', 'dist', 'index.js'))
  t.deepEqual(out.allowed, { connected: true })
  t.like(out.blocked, { connected: false, name: 'EgressBlocked', egressBlocked: true, host: '127.0.0.1', port: blockedServer!.port })
  t.deepEqual(out.afterDeactivate, { connected: true }, 'deactivate() through require() ends the policy activate() set through import')
  t.deepEqual(out.nativeLibraries, [join(c.dir, 'node_modules', `tethered-${PLATFORM}`, BINARY)])
  // The blocked attempt never reached the server: its one connection is the one after deactivate().
  t.is(allowedServer!.connections - before.allowed, 1)
  t.is(blockedServer!.connections - before.blocked, 1)
  return out
}

registryTest('the installed package loads its platform package, blocks, and ESM and CJS share one state', async (t) => {
  await assertInstalledPackageWorks(t)
})

registryTest('zero-code: node --import tethered/register blocks in the installed package', async (t) => {
  const before = blockedServer!.connections
  const env = { TETHERED_ALLOW: `127.0.0.1:${allowedServer!.port}`, TETHERED_ALLOW_LOCALHOST: '0' }
  const blocked = await nodeIn(consumer!, ['--import', 'tethered/register', 'connect.cjs', String(blockedServer!.port)], env)
  t.like(json(blocked), { connected: false, name: 'EgressBlocked' })
  const allowed = await nodeIn(consumer!, ['--import', 'tethered/register', 'connect.cjs', String(allowedServer!.port)], env)
  t.deepEqual(json(allowed), { connected: true })
  t.is(blockedServer!.connections, before)
})

registryTest('NAPI_RS_NATIVE_LIBRARY_PATH and NAPI_RS_FORCE_WASI change nothing in the installed package', async (t) => {
  // A genuine copy of the library elsewhere: napi-rs' generated loader would load exactly it.
  const decoyDir = join(work, 'decoy')
  mkdirSync(decoyDir, { recursive: true })
  copyFileSync(join(REPO, BINARY), join(decoyDir, BINARY))
  await assertInstalledPackageWorks(t, { NAPI_RS_NATIVE_LIBRARY_PATH: join(decoyDir, BINARY), NAPI_RS_FORCE_WASI: '1' })
})

registryTest('without the platform package (--omit=optional) tethered fails closed naming the platform and the package', async (t) => {
  const c = omitted!
  t.is(c.install.code, 0, c.install.stderr)
  t.false(existsSync(join(c.dir, 'node_modules', `tethered-${PLATFORM}`)))
  // Even a working library offered through napi-rs' variable is not taken.
  const decoy = join(work, 'decoy-omit', BINARY)
  mkdirSync(join(work, 'decoy-omit'), { recursive: true })
  copyFileSync(join(REPO, BINARY), decoy)
  for (const env of [{}, { NAPI_RS_NATIVE_LIBRARY_PATH: decoy }] as Record<string, string>[]) {
    const out = json(await nodeIn(c, ['missing.cjs'], env))
    for (const how of ['require', 'import'] as const) {
      t.like(out[how], { threw: true, code: 'ERR_TETHERED_NATIVE_MISSING' }, how)
      t.regex(out[how].message, /no native library for linux-x64\b/, how)
      t.regex(out[how].message, new RegExp(`Install the platform package tethered-${PLATFORM}\\b`), how)
      t.regex(out[how].message, /NOT controlled/, how)
    }
  }
  // The zero-code preload stops the process before the application runs.
  const before = blockedServer!.connections
  const r = await nodeIn(c, ['--import', 'tethered/register', 'connect.cjs', String(blockedServer!.port)], { TETHERED_ALLOW: '' })
  t.not(r.code, 0)
  t.is(r.stdout, '', 'the application must not have run')
  t.regex(r.stderr, /ERR_TETHERED_NATIVE_MISSING|no native library for linux-x64/)
  t.is(blockedServer!.connections, before)
})

loaderTest('in the checkout too, NAPI_RS_NATIVE_LIBRARY_PATH is never loaded', async (t) => {
  const marker = join(work, 'evil-loaded')
  const script = `
    const t = require(${JSON.stringify(join(REPO, 'dist', 'index.js'))})
    const maps = require('node:fs').readFileSync('/proc/self/maps', 'utf8').split('\\n')
    const libs = [...new Set(maps.map((l) => l.slice(l.indexOf('/'))).filter((p) => p.includes('.node')))]
    process.stdout.write(JSON.stringify({ libs, policy: new t.Policy(['a.test:1'], {}).allows('a.test', 1) }))`
  const r = await mustRun(process.execPath, ['-e', script], {
    cwd: work,
    env: {
      PATH: process.env.PATH ?? '',
      NAPI_RS_NATIVE_LIBRARY_PATH: join(REPO, '__test__', 'install', 'consumer', 'evil.cjs'),
      NAPI_RS_FORCE_WASI: '1',
      EVIL_MARKER: marker,
    },
  })
  t.deepEqual(json(r), { libs: [join(REPO, BINARY)], policy: true })
  t.false(existsSync(marker), 'the file named by NAPI_RS_NATIVE_LIBRARY_PATH was loaded')
})
