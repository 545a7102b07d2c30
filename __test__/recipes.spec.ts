// The test-runner recipes of docs/recipes.md, run for real: each spawns ava, node --test, vitest
// or jest on a tiny project (__test__/fixtures-cli/recipes/<name>, copied to a temp dir with
// node_modules/tethered linked to this repo) whose one test reaches an allowed loopback server and
// whose other test calls a server outside the allow list. The recipe works when that second test,
// and only it, fails with EgressBlocked, the runner exits 1, and the blocked server saw nothing.
// vitest and jest are devDependencies; without them installed their tests show as skipped.
import test, { type ExecutionContext } from 'ava'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { countingTcpServer, type CountingServer } from './harness/index.js'
import { FIXTURES, REPO, cleanEnv, start, transcript, type Finished } from './fixtures-cli/support.js'

const RECIPES = join(FIXTURES, 'recipes')

/** A runner package installed in this repo, or undefined. */
function installed(name: string): string | undefined {
  const dir = join(REPO, 'node_modules', name)
  return existsSync(join(dir, 'package.json')) ? realpathSync(dir) : undefined
}

interface Project {
  dir: string
  allowed: CountingServer
  blocked: CountingServer
  env: NodeJS.ProcessEnv
}

/** Copies recipe `name` to a temp dir, links tethered and `runners`, starts the two servers. */
async function project(t: ExecutionContext, name: string, runners: string[], edit?: (pkg: Record<string, any>) => void): Promise<Project> {
  const dir = mkdtempSync(join(tmpdir(), `tethered-recipe-${name}-`))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(join(RECIPES, name), dir, { recursive: true })
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(REPO, join(dir, 'node_modules', 'tethered'), 'dir')
  for (const runner of runners) symlinkSync(installed(runner)!, join(dir, 'node_modules', runner), 'dir')
  if (edit) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, any>
    edit(pkg)
    writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2))
  }
  const [allowed, blocked] = await Promise.all([countingTcpServer('127.0.0.1'), countingTcpServer('127.0.0.1')])
  t.teardown(() => allowed!.close())
  t.teardown(() => blocked!.close())
  const env = cleanEnv({ RECIPE_ALLOWED_PORT: String(allowed!.port), RECIPE_BLOCKED_PORT: String(blocked!.port) })
  return { dir, allowed: allowed!, blocked: blocked!, env }
}

function run(p: Project, args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return start(process.execPath, args, { cwd: p.dir, env: { ...p.env, ...env } }).done
}

/**
 * What every recipe must show: exit 1; the runner printed the EgressBlocked of the blocked test
 * (`failed` matches its failure line) and a pass for the allowed one (`passed`); the allowed
 * server was reached and the blocked one never was.
 */
function assertRecipe(t: ExecutionContext, p: Project, r: Finished, failed: RegExp, passed: RegExp): void {
  const output = `${r.stdout}\n${r.stderr}`
  t.is(r.code, 1, transcript(r))
  t.regex(output, failed, transcript(r))
  t.regex(output, passed, transcript(r))
  t.regex(output, /EgressBlocked/)
  t.true(output.includes(`Blocked by tethered: 127.0.0.1:${p.blocked.port} is not in the allow list`), transcript(r))
  t.true(p.allowed.connections >= 1, 'the allowed test reached its server')
  t.is(p.blocked.connections, 0, 'nothing reached the blocked server')
}

// ------------------------------------------------------------------ ava

const AVA_CLI = ['node_modules/ava/entrypoints/cli.mjs']
const AVA_FAILED = /✘ \[fail\]: blocked server/
const AVA_PASSED = /✔ allowed server/

test('ava: "require": ["./tethered.setup.js"] (a setup file that calls activate()) fails the blocked test', async (t) => {
  const p = await project(t, 'ava-setup', ['ava'])
  const r = await run(p, AVA_CLI)
  assertRecipe(t, p, r, AVA_FAILED, AVA_PASSED)
  t.regex(r.stdout + r.stderr, /1 test failed/)
})

test('ava: "workerThreads": false + "require": ["tethered/register"] with TETHERED_ALLOW fails the blocked test', async (t) => {
  const p = await project(t, 'ava-register', ['ava'])
  const r = await run(p, AVA_CLI, { TETHERED_ALLOW: `127.0.0.1:${p.allowed.port}`, TETHERED_ALLOW_LOCALHOST: '0' })
  assertRecipe(t, p, r, AVA_FAILED, AVA_PASSED)
})

// With ava's default worker threads, tethered/register runs only inside the worker: there it
// activates from TETHERED_ALLOW like in a main thread.
test('ava: "require": ["tethered/register"] with worker threads (the default)', async (t) => {
  const p = await project(t, 'ava-register', ['ava'], (pkg) => delete pkg.ava.workerThreads)
  const r = await run(p, AVA_CLI, { TETHERED_ALLOW: `127.0.0.1:${p.allowed.port}`, TETHERED_ALLOW_LOCALHOST: '0' })
  assertRecipe(t, p, r, AVA_FAILED, AVA_PASSED)
})

// ------------------------------------------------------------------ node --test

// TAP on every version (the default reporter differs between Node 20 and 22+).
const NODE_TEST = ['--test', '--test-reporter=tap']
const TAP_FAILED = /^not ok \d+ - blocked server$/m
const TAP_PASSED = /^ok \d+ - allowed server$/m

test('node --test --require ./tethered.setup.cjs fails the blocked test', async (t) => {
  const p = await project(t, 'node-test', [])
  const r = await run(p, [...NODE_TEST, '--require', './tethered.setup.cjs', 'egress.test.cjs'])
  assertRecipe(t, p, r, TAP_FAILED, TAP_PASSED)
  t.regex(r.stdout, /^# pass 1$/m)
  t.regex(r.stdout, /^# fail 1$/m)
})

test('node --test --require tethered/register with TETHERED_ALLOW fails the blocked test', async (t) => {
  const p = await project(t, 'node-test', [])
  const r = await run(p, [...NODE_TEST, '--require', 'tethered/register', 'egress.test.cjs'], {
    TETHERED_ALLOW: `127.0.0.1:${p.allowed.port}`,
    TETHERED_ALLOW_LOCALHOST: '0',
  })
  assertRecipe(t, p, r, TAP_FAILED, TAP_PASSED)
})

// ------------------------------------------------------------------ vitest and jest

const hasVitest = installed('vitest') !== undefined
;(hasVitest ? test : test.skip)(`vitest: setupFiles: ['./tethered.setup.js'] fails the blocked test${hasVitest ? '' : ' [needs devDependency vitest]'}`, async (t) => {
  const p = await project(t, 'vitest', ['vitest'])
  const r = await run(p, ['node_modules/vitest/vitest.mjs', 'run'])
  assertRecipe(t, p, r, /FAIL\s+egress\.test\.js > blocked server/, /Tests\s+1 failed \| 1 passed \(2\)/)
})

const hasJest = installed('jest') !== undefined
;(hasJest ? test : test.skip)(`jest: "setupFiles": ["<rootDir>/tethered.setup.js"] fails the blocked test${hasJest ? '' : ' [needs devDependency jest]'}`, async (t) => {
  const p = await project(t, 'jest', ['jest'])
  const r = await run(p, ['node_modules/jest/bin/jest.js', '--ci'])
  assertRecipe(t, p, r, /● blocked server/, /Tests:\s+1 failed, 1 passed, 2 total/)
})
