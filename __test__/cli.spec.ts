// The tethered command line, run as a user runs it: `node dist/cli/main.js run|record|check`
// in a real process, with real commands under it (tree.cjs, record-app.cjs, sh, npm). The
// servers live in this process, where no policy is active, so "no packet left" is counted here.
import test, { type ExecutionContext } from 'ava'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ALLOWED_V4, OTHER_V4, countingHttpServer, countingTcpServer, netTest, type CountingServer } from './harness/index.js'
import { CLI, RECORD_APP, STACK_LINE, TREE, cleanEnv, cli, resultOf, start, transcript } from './fixtures-cli/support.js'

const LOOPBACK = '127.0.0.1'

/** A fresh directory (no package.json unless the test writes one), removed after the test. */
function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'tethered-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function servers(t: ExecutionContext, ...make: Array<() => Promise<CountingServer>>): Promise<CountingServer[]> {
  const list = await Promise.all(make.map((m) => m()))
  for (const s of list) t.teardown(() => s.close())
  return list
}

const tcp = (host = LOOPBACK) => () => countingTcpServer(host)

// ------------------------------------------------------------------ help and usage errors

test('tethered --help lists the commands; no command prints it and exits 2', async (t) => {
  const help = await cli(['--help'])
  t.is(help.code, 0, transcript(help))
  t.regex(help.stdout, /^Usage: tethered <command>/)
  for (const command of ['run', 'record', 'check']) t.regex(help.stdout, new RegExp(`^  ${command} `, 'm'))
  const bare = await cli([])
  t.is(bare.code, 2)
  t.is(bare.stdout, help.stdout)
})

for (const command of ['run', 'record', 'check']) {
  test(`tethered ${command} --help / -h prints its own usage and exits 0`, async (t) => {
    for (const flag of ['--help', '-h']) {
      const r = await cli([command, flag])
      t.is(r.code, 0, transcript(r))
      t.regex(r.stdout, new RegExp(`^Usage: tethered ${command} `))
      t.is(r.stderr, '')
    }
  })
}

const USAGE_ERRORS: Array<[string, string[], RegExp]> = [
  ['an unknown command', ['bogus'], /^tethered: unknown command "bogus"; expected run, record or check$/],
  ['an unknown option', ['run', '--bogus', '--', 'true'], /^tethered: Unknown option '--bogus'/],
  ['a missing option value', ['record', '--out'], /^tethered: Option '--out <value>' argument missing/],
  ['run without any rule', ['run', '--', 'true'], /^tethered: no allow rules: pass --allow RULE/],
  ['a bad --external-subprocess', ['run', '--allow', 'x.test', '--external-subprocess', 'nope', '--', 'true'], /--external-subprocess must be warn, allow or block, got "nope"/],
  ['a malformed --allow', ['run', '--allow', 'x.test:99999', '--', 'true'], /^tethered: --allow: allow rule 'x.test:99999': Port 99999 is out of valid range/],
  ['a match-all --allow', ['check', '--allow', '*'], /^tethered: --allow: allow rule '\*' matches ALL destinations/],
  ['a rule with a comma', ['check', '--allow', 'a.test,b.test'], /^tethered: --allow: allow rule "a.test,b.test" contains a comma/],
  ['an unreadable --allow-file', ['check', '--allow-file', 'no-such-rules.txt'], /^tethered: --allow-file no-such-rules.txt: cannot read it \(ENOENT\)$/],
  ['run without a command', ['run', '--allow', 'x.test'], /^tethered: missing the command to run/],
  ['a command that does not exist', ['run', '--allow', 'x.test', '--', 'no-such-command-tethered'], /^tethered: cannot run "no-such-command-tethered": command not found$/],
  ['record without a command', ['record'], /^tethered: missing the command to run/],
  // Refused before the command runs, not after it.
  ['an unwritable --out', ['record', '--out', '/no-such-dir-tethered/x.json', '--', 'true'], /^tethered: --out \/no-such-dir-tethered\/x\.json: cannot write it \(ENOENT\)$/],
  ['a destination with a bad port', ['check', '--allow', 'x.test', 'x.test:http'], /^tethered: destination "x.test:http": port must be 0-65535$/],
]

for (const [what, args, message] of USAGE_ERRORS) {
  test(`usage error, exit 2, one line naming it, no stack trace: ${what}`, async (t) => {
    const r = await cli(args, { cwd: tempDir(t) })
    t.is(r.code, 2, transcript(r))
    t.regex(r.stderr.trimEnd(), message)
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr)
    t.notRegex(r.stderr, STACK_LINE)
    t.is(r.stdout, '')
  })
}

// ------------------------------------------------------------------ check

test('check: allowed/blocked with the deciding rule; exit 1 when anything is blocked', async (t) => {
  const rules = ['--allow', 'api.stripe.test:443', '--allow', '*.example.test', '--allow', '10.0.0.0/8:5432', '--allow', '[2001:db8::1]:443']
  const r = await cli(['check', ...rules, 'api.stripe.test:443', 'api.stripe.test:80', 'x.example.test', '10.1.2.3:5432', '10.1.2.3:80', '[2001:db8::1]:443', 'evil.test'])
  t.is(r.code, 1, transcript(r))
  t.deepEqual(r.stdout.trimEnd().split('\n'), [
    'allowed  api.stripe.test:443  (rule "api.stripe.test:443")',
    'blocked  api.stripe.test:80  (no rule matches)',
    'allowed  x.example.test  (rule "*.example.test")',
    'allowed  10.1.2.3:5432  (rule "10.0.0.0/8:5432")',
    'blocked  10.1.2.3:80  (no rule matches)',
    'allowed  [2001:db8::1]:443  (rule "[2001:db8::1]:443")',
    'blocked  evil.test  (no rule matches)',
  ])
  const all = await cli(['check', ...rules, 'api.stripe.test:443', 'deep.sub.example.test'])
  t.is(all.code, 0, transcript(all))
  t.regex(all.stdout, /^allowed {2}deep\.sub\.example\.test {2}\(rule "\*\.example\.test"\)$/m)
})

test('check: loopback is allowed by default and says so; --no-localhost checks the rules only', async (t) => {
  const r = await cli(['check', '--allow', 'x.test', '127.0.0.1:8080', '[::1]:5432'])
  t.is(r.code, 0, transcript(r))
  t.regex(r.stdout, /^allowed {2}127\.0\.0\.1:8080 {2}\(localhost is allowed/m)
  t.regex(r.stdout, /^allowed {2}\[::1\]:5432 {2}\(localhost is allowed/m)
  const strict = await cli(['check', '--no-localhost', '--allow', 'x.test', '127.0.0.1:8080'])
  t.is(strict.code, 1, transcript(strict))
  t.is(strict.stdout, 'blocked  127.0.0.1:8080  (no rule matches)\n')
})

test('check --allow-file: comments and blank lines are skipped; without destinations it validates', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'rules.txt')
  writeFileSync(file, '# payment provider\napi.stripe.test:443   # live API\n\n   \n*.example.test\n')
  const valid = await cli(['check', '--allow-file', file])
  t.is(valid.code, 0, transcript(valid))
  t.is(valid.stdout, '2 rules valid\n')
  const r = await cli(['check', '--allow-file', file, 'api.stripe.test:443', 'a.example.test:1'])
  t.is(r.code, 0, transcript(r))
  t.regex(r.stdout, /rule "api\.stripe\.test:443"/)
})

test('check --allow-file: a malformed rule exits 2 naming the file, line and rule', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'rules.txt')
  writeFileSync(file, 'api.stripe.test:443\n# next one is wrong\nhttps://api.example.test\n')
  const r = await cli(['check', '--allow-file', file, 'api.stripe.test:443'])
  t.is(r.code, 2, transcript(r))
  t.regex(r.stderr, new RegExp(`^tethered: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: allow rule 'https://api\\.example\\.test' looks like a URL`))
  t.notRegex(r.stderr, STACK_LINE)
  t.is(r.stdout, '')
})

test('check: rules from "tethered.allow" in ./package.json; a bad one is named by its index', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', tethered: { allow: ['api.stripe.test:443', 'db.test:5432'] } }))
  const r = await cli(['check', 'db.test:5432', 'db.test:5433'], { cwd: dir })
  t.is(r.code, 1, transcript(r))
  t.deepEqual(r.stdout.trimEnd().split('\n'), ['allowed  db.test:5432  (rule "db.test:5432")', 'blocked  db.test:5433  (no rule matches)'])
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ tethered: { allow: ['ok.test', '*'] } }))
  const bad = await cli(['check'], { cwd: dir })
  t.is(bad.code, 2, transcript(bad))
  t.regex(bad.stderr, /package\.json "tethered\.allow"\[1\]: allow rule '\*' matches ALL destinations/)
})

test('a package.json that is not JSON, or whose "tethered.allow" is not a list of strings, is a usage error', async (t) => {
  const dir = tempDir(t)
  for (const [text, message] of [
    ['{ "tethered": ', /package\.json: not valid JSON$/],
    ['{ "tethered": { "allow": "a.test" } }', /package\.json: "tethered\.allow" must be an array of strings$/],
    ['{ "tethered": { "allow": ["a.test", 443] } }', /package\.json: "tethered\.allow" must be an array of strings$/],
  ] as const) {
    writeFileSync(join(dir, 'package.json'), text)
    const r = await cli(['run', '--', process.execPath, TREE, 'exit', '0'], { cwd: dir })
    t.is(r.code, 2, transcript(r))
    t.regex(r.stderr.trimEnd(), message)
    t.notRegex(r.stderr, STACK_LINE)
  }
})

// ------------------------------------------------------------------ run: enforcement in the tree

test('run: a Node grandchild is enforced (blocked one fails with EgressBlocked, nothing reaches the server)', async (t) => {
  const [allowed, blocked] = await servers(t, tcp(), tcp())
  const policy = ['run', '--no-localhost', '--allow', `${LOOPBACK}:${allowed.port}`, '--']
  const denied = await cli([...policy, process.execPath, TREE, 'node', 'connect', LOOPBACK, String(blocked.port)])
  t.is(denied.code, 3, transcript(denied))
  t.like(resultOf(denied), { name: 'EgressBlocked', code: 'ERR_TETHERED_EGRESS_BLOCKED' })
  t.regex(denied.stderr, new RegExp(`^tethered: blocked connection to 127\\.0\\.0\\.1:${blocked.port}( \\(initiated by [^)]+\\))?$`, 'm'))
  t.is(blocked.connections, 0)
  const ok = await cli([...policy, process.execPath, TREE, 'node', 'connect', LOOPBACK, String(allowed.port)])
  t.is(ok.code, 0, transcript(ok))
  t.deepEqual(resultOf(ok), { connected: true })
  t.is(allowed.connections, 1)
})

test('run: the policy reaches Node processes started through a shell and through npm scripts', async (t) => {
  const [blocked] = await servers(t, tcp())
  const dir = tempDir(t)
  const connect = `"${process.execPath}" "${TREE}" connect ${LOOPBACK} ${blocked.port}`
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, scripts: { test: connect } }))
  const policy = ['run', '--no-localhost', '--allow', 'api.stripe.test:443', '--']
  const viaShell = await cli([...policy, 'sh', '-c', `echo start && ${connect}`], { cwd: dir })
  t.is(viaShell.code, 3, transcript(viaShell))
  t.like(resultOf(viaShell), { code: 'ERR_TETHERED_EGRESS_BLOCKED' })
  const viaNpm = await cli([...policy, 'npm', 'test'], { cwd: dir })
  t.not(viaNpm.code, 0, transcript(viaNpm)) // npm reports a failed script with its own exit code
  t.like(resultOf(viaNpm), { code: 'ERR_TETHERED_EGRESS_BLOCKED' })
  t.is(blocked.connections, 0)
})

test('run --log-only: the connection goes through and is reported as a would-be block', async (t) => {
  const [target] = await servers(t, tcp())
  const r = await cli(['run', '--log-only', '--no-localhost', '--allow', 'api.stripe.test:443', '--', process.execPath, TREE, 'node', 'connect', LOOPBACK, String(target.port)])
  t.is(r.code, 0, transcript(r))
  t.deepEqual(resultOf(r), { connected: true })
  t.regex(r.stderr, new RegExp(`^tethered: blocked connection to 127\\.0\\.0\\.1:${target.port}( \\(initiated by [^)]+\\))? \\(log-only: allowed\\)$`, 'm'))
  t.is(target.connections, 1)
})

test('run: loopback is allowed unless --no-localhost', async (t) => {
  const [target] = await servers(t, tcp())
  const r = await cli(['run', '--allow', 'api.stripe.test:443', '--', process.execPath, TREE, 'connect', LOOPBACK, String(target.port)])
  t.is(r.code, 0, transcript(r))
  t.is(target.connections, 1)
})

test('run: rules from --allow-file and from package.json "tethered.allow"', async (t) => {
  const [allowed, blocked] = await servers(t, tcp(), tcp())
  const dir = tempDir(t)
  writeFileSync(join(dir, 'rules.txt'), `# the one server this app may use\n${LOOPBACK}:${allowed.port}\n`)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', tethered: { allow: [`${LOOPBACK}:${blocked.port}`] } }))
  const step = (port: number) => [process.execPath, TREE, 'connect', LOOPBACK, String(port)]
  // --allow-file wins over package.json: only `allowed` is reachable.
  const fromFile = await cli(['run', '--no-localhost', '--allow-file', 'rules.txt', '--', ...step(blocked.port)], { cwd: dir })
  t.is(fromFile.code, 3, transcript(fromFile))
  const fileOk = await cli(['run', '--no-localhost', '--allow-file', 'rules.txt', '--', ...step(allowed.port)], { cwd: dir })
  t.is(fileOk.code, 0, transcript(fileOk))
  // Without flags, package.json decides: now `blocked` is the allowed one.
  const fromPackage = await cli(['run', '--no-localhost', '--', ...step(blocked.port)], { cwd: dir })
  t.is(fromPackage.code, 0, transcript(fromPackage))
  const packageDenied = await cli(['run', '--no-localhost', '--', ...step(allowed.port)], { cwd: dir })
  t.is(packageDenied.code, 3, transcript(packageDenied))
  t.is(allowed.connections, 1)
  t.is(blocked.connections, 1)
})

test('run --locked: code in the tree cannot deactivate the policy; without it, it can', async (t) => {
  const step = [process.execPath, TREE, 'node', 'deactivate']
  const locked = await cli(['run', '--locked', '--allow', 'api.stripe.test:443', '--', ...step])
  t.is(locked.code, 5, transcript(locked))
  t.like(resultOf(locked), { name: 'TetheredLocked', code: 'ERR_TETHERED_LOCKED' })
  const unlocked = await cli(['run', '--allow', 'api.stripe.test:443', '--', ...step])
  t.is(unlocked.code, 0, transcript(unlocked))
  t.deepEqual(resultOf(unlocked), { deactivated: true })
})

test('run --external-subprocess: warn (default) says so once, allow is silent, block refuses the launch', async (t) => {
  const step = [process.execPath, TREE, 'external', 'true']
  const warn = await cli(['run', '--allow', 'x.test', '--', ...step])
  t.is(warn.code, 0, transcript(warn))
  t.is(warn.stderr.match(/^tethered: external subprocess launch .*: true$/gm)?.length, 1, warn.stderr)
  const allow = await cli(['run', '--allow', 'x.test', '--external-subprocess', 'allow', '--', ...step])
  t.is(allow.code, 0, transcript(allow))
  t.notRegex(allow.stderr, /external subprocess/)
  const block = await cli(['run', '--allow', 'x.test', '--external-subprocess', 'block', '--', ...step])
  t.is(block.code, 6, transcript(block))
  t.like(resultOf(block), { name: 'SubprocessBlocked', code: 'ERR_TETHERED_SUBPROCESS_BLOCKED' })
})

test('run: an inherited TETHERED_CHILD_POLICY does not leak into the tree (its options decide)', async (t) => {
  // Garbage in the payload variable would make the preload refuse to start (exit 78).
  const env = cleanEnv({ TETHERED_CHILD_POLICY: '{not json' })
  const r = await cli(['run', '--allow', 'x.test', '--', process.execPath, TREE, 'node', 'exit', '0'], { env })
  t.is(r.code, 0, transcript(r))
})

// ------------------------------------------------------------------ run: exit codes and signals

for (const [status, expected] of [['0', 0], ['7', 7], ['255', 255]] as const) {
  test(`run passes exit code ${status} through`, async (t) => {
    const r = await cli(['run', '--allow', 'x.test', '--', process.execPath, TREE, 'exit', status])
    t.is(r.code, expected, transcript(r))
  })
}

for (const [signal, expected] of [['SIGKILL', 137], ['SIGTERM', 143]] as const) {
  test(`run exits 128+n when the command dies of ${signal}`, async (t) => {
    const r = await cli(['run', '--allow', 'x.test', '--', process.execPath, TREE, 'kill', signal])
    t.is(r.code, expected, transcript(r))
  })
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`run forwards ${signal} to the command and exits with its status`, async (t) => {
    const running = start(process.execPath, [CLI, 'run', '--allow', 'x.test', '--', process.execPath, TREE, 'wait-signal'])
    await running.waitFor('READY')
    running.child.kill(signal)
    const r = await running.done
    t.is(r.code, 42, transcript(r))
    t.regex(r.stdout, new RegExp(`^got ${signal}$`, 'm'))
  })
}

test('run: a signal to the command that it does not handle ends it; the CLI reports 128+n', async (t) => {
  // SIGHUP is forwarded too; tree.cjs has no handler for it, so it dies of it.
  const running = start(process.execPath, [CLI, 'run', '--allow', 'x.test', '--', process.execPath, TREE, 'wait-signal'])
  await running.waitFor('READY')
  running.child.kill('SIGHUP')
  const r = await running.done
  t.is(r.code, 129, transcript(r))
})

// ------------------------------------------------------------------ record

interface Recorded {
  allow: string[]
  destinations: Array<{ rule: string; count: number; kinds: string[]; initiator: string | null }>
}

interface Target {
  host: string
  server: CountingServer
  via: 'sdk-tcp' | 'child-http' | 'worker-tcp'
}

const ruleOf = (t: Target) => `${t.host}:${t.server.port}`
const targetsEnv = (targets: Target[]) => cleanEnv({ RECORD_APP_TARGETS: JSON.stringify(targets.map((x) => ({ host: x.host, port: x.server.port, via: x.via }))) })

/** The rules `record` printed: its stdout without the application's own lines. */
const printedRules = (stdout: string) => stdout.split('\n').filter((l) => l !== '' && !l.startsWith('record-app:'))

/**
 * Records the app reaching `targets` from its main thread, a child process and a worker; checks
 * the printed list is exactly those rules, then that `run` with that list lets the app work and
 * that the list is not wider than needed (without one rule, that target is blocked).
 */
async function recordThenRun(t: ExecutionContext, targets: Target[], expectInitiator: (target: Target) => boolean): Promise<void> {
  const dir = tempDir(t)
  const out = join(dir, 'recorded.json')
  const env = targetsEnv(targets)
  const recorded = await cli(['record', '--out', out, '--', process.execPath, RECORD_APP], { env })
  t.is(recorded.code, 0, transcript(recorded))
  const expected = targets.map(ruleOf).sort()
  t.deepEqual(printedRules(recorded.stdout).sort(), expected, transcript(recorded))
  t.regex(recorded.stderr, /^tethered record: 3 destinations; allow list:$/m)
  t.notRegex(recorded.stderr, /tethered: blocked/, 'record mode blocks nothing and reports only to the recorder')
  for (const target of targets) t.is(target.server.connections, 1, `${ruleOf(target)} was reached while recording`)

  const json = JSON.parse(readFileSync(out, 'utf8')) as Recorded
  t.deepEqual([...json.allow].sort(), expected)
  for (const target of targets) {
    const d = json.destinations.find((x) => x.rule === ruleOf(target))
    if (!d) {
      t.fail(`no destination ${ruleOf(target)} in ${JSON.stringify(json)}`)
      continue
    }
    t.is(d.count, 1, `${d.rule}: one use, counted once (${JSON.stringify(d)})`)
    // An HTTP request is recorded as one (its connection is the same event seen again).
    t.true(d.kinds.includes(target.via === 'child-http' ? 'request' : 'tcp'), JSON.stringify(d))
    if (expectInitiator(target)) t.is(d.initiator, 'fake-sdk@1.2.3', JSON.stringify(d))
  }

  const list = join(dir, 'allow.txt')
  writeFileSync(list, printedRules(recorded.stdout).join('\n'))
  const replay = await cli(['run', '--no-localhost', '--allow-file', list, '--', process.execPath, RECORD_APP], { env })
  t.is(replay.code, 0, transcript(replay))
  t.regex(replay.stdout, /record-app: 3 of 3 reached/)
  t.notRegex(replay.stderr, /tethered: blocked/)

  const [dropped, ...kept] = [targets[2]!, targets[0]!, targets[1]!]
  const before = dropped.server.connections
  const narrower = await cli(['run', '--no-localhost', ...kept.flatMap((k) => ['--allow', ruleOf(k)]), '--', process.execPath, RECORD_APP], { env })
  t.is(narrower.code, 1, transcript(narrower))
  t.regex(narrower.stderr, new RegExp(`record-app: ${dropped.via} .*EgressBlocked \\[ERR_TETHERED_EGRESS_BLOCKED\\]`))
  t.is(dropped.server.connections, before, 'the target left out of the list was not reached')
}

test('record: three loopback servers reached from a thread, a child and a worker give exactly three rules, and run passes with them', async (t) => {
  const [a, b, c] = await servers(t, tcp(), () => countingHttpServer(LOOPBACK), tcp())
  const targets: Target[] = [
    { host: LOOPBACK, server: a!, via: 'sdk-tcp' },
    { host: LOOPBACK, server: b!, via: 'child-http' },
    { host: LOOPBACK, server: c!, via: 'worker-tcp' },
  ]
  // An HTTP request is judged where the request is made, so its initiator is on the stack; a
  // TCP connect to an IP literal is judged a tick later, without the caller's frames.
  await recordThenRun(t, targets, (target) => target.via === 'child-http')
})

netTest('record: names are recorded as names (two of them share one address), with port and initiator', async (t) => {
  const [a, b, c] = await servers(t, tcp(ALLOWED_V4), () => countingHttpServer(OTHER_V4), tcp(ALLOWED_V4))
  const targets: Target[] = [
    { host: 'api.stripe.test', server: a!, via: 'sdk-tcp' },
    { host: 'other.test', server: b!, via: 'child-http' },
    { host: 'a.test', server: c!, via: 'worker-tcp' },
  ]
  await recordThenRun(t, targets, () => true)
})

test('record: a lookup without a connection becomes a rule for the name (any port)', async (t) => {
  const dir = tempDir(t)
  const out = join(dir, 'recorded.json')
  const r = await cli(['record', '--out', out, '--', process.execPath, TREE, 'node', 'lookup', 'localhost'])
  t.is(r.code, 0, transcript(r))
  t.deepEqual(resultOf(r), { looked: true })
  t.deepEqual(r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('RESULT ')), ['localhost'])
  t.like(JSON.parse(readFileSync(out, 'utf8')), { allow: ['localhost'], destinations: [{ rule: 'localhost', count: 1, kinds: ['dns'] }] })
})

test('record passes the exit code through and prints an empty list for no traffic', async (t) => {
  const r = await cli(['record', '--', process.execPath, TREE, 'exit', '5'])
  t.is(r.code, 5, transcript(r))
  t.is(r.stdout, '')
  t.regex(r.stderr, /^tethered record: 0 destinations; allow list:$/m)
})
