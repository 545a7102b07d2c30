// examples/: every example runs as a user would run it (`node examples/NN-….mjs`, tsx for the
// .mts one) and must exit 0 with exactly the expected stdout and stderr. Ports are random, so
// the expected lines name them as {server}: the first occurrence captures the number and every
// later one must repeat it (a "tracker" line can't quietly report the api's port).
//
// The examples only talk to their own servers on 127.0.0.1 and to *.example.invalid names that
// tethered must refuse before any DNS query; they run in the test namespace (netTest) so a
// regression that did send such a query reaches the counting responder, not the real resolver,
// and is caught by the dnsCount assertions.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import test, { type ExecutionContext } from 'ava'
import { dnsCount, netTest } from './harness/index.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

interface Expected {
  file: string
  stdout: string[]
  stderr: string[]
  /** Hostnames the example must block before DNS: the responder must never see them. */
  neverResolved?: string[]
}

const BLOCKED = 'Blocked by tethered:'
const LOCKED = (action: string) => `tethered: ${action}() blocked — policy is locked. Pass the same lockToken to ${action}() to unlock.`
/** Marks an expected line that may be absent. */
const OPTIONAL = '(optional) '
const REFUSED = "refused by tethered policy (externalSubprocessPolicy: 'block')"

const EXAMPLES: Expected[] = [
  {
    file: '01-basic-activate.mjs',
    stdout: [
      'api: allowed (HTTP 200, "hello from api")',
      `tracker: blocked — ${BLOCKED} localhost:{tracker} is not in the allow list`,
      'tracker server saw 0 connections',
      `telemetry: blocked — ${BLOCKED} telemetry.example.invalid:443 is not in the allow list`,
      'details: host=telemetry.example.invalid port=443 kind=request code=ERR_TETHERED_EGRESS_BLOCKED',
      'tracker after deactivate(): allowed (HTTP 200, "hello from tracker")',
    ],
    stderr: [
      'tethered: blocked request to localhost:{tracker}',
      'tethered: blocked request to telemetry.example.invalid:443',
      'tethered: blocked request to telemetry.example.invalid:443',
    ],
    neverResolved: ['telemetry.example.invalid'],
  },
  {
    file: '02-scope-run.mjs',
    stdout: [
      'inside scope, api: allowed (HTTP 200, "hello from api")',
      `inside scope, tracker: blocked — ${BLOCKED} localhost:{tracker} is not in the allow list (blocked by checkout)`,
      'outside scope, tracker: allowed (HTTP 200, "hello from tracker")',
      'checkout.run(), api: allowed (HTTP 200, "hello from api")',
      `checkout.run(), tracker: blocked — ${BLOCKED} localhost:{tracker} is not in the allow list (blocked by checkout)`,
      'tracker server saw 1 request(s)',
    ],
    stderr: ['tethered: blocked request to localhost:{tracker} by checkout', 'tethered: blocked request to localhost:{tracker} by checkout'],
  },
  {
    file: '03-scope-decorator.mts',
    stdout: [
      'client.getStatus(): allowed (HTTP 200, "hello from api")',
      `client.sendAnalytics(): blocked — ${BLOCKED} localhost:{tracker} is not in the allow list (blocked by api-client)`,
      'wrapped fetchText(api): allowed (HTTP 200, "hello from api")',
      `wrapped fetchText(tracker): blocked — ${BLOCKED} localhost:{tracker} is not in the allow list (blocked by report-job)`,
      'outside any scope, tracker: allowed (HTTP 200)',
    ],
    stderr: ['tethered: blocked request to localhost:{tracker} by api-client', 'tethered: blocked request to localhost:{tracker} by report-job'],
  },
  {
    file: '04-global-with-scope.mjs',
    stdout: [
      'global only, db: allowed (HTTP 200, "hello from db")',
      'in scope, api: allowed (HTTP 200, "hello from api")',
      `in scope, db: blocked — ${BLOCKED} localhost:{db} is not in the allow list (blocked by charge-handler)`,
      `in scope, mail: blocked — ${BLOCKED} mail.example.invalid:443 is not in the allow list`,
    ],
    stderr: [
      'tethered: charge-handler rule "mail.example.invalid:443" has no overlap with global policy — it will never match',
      'tethered: blocked request to localhost:{db} by charge-handler',
      'tethered: blocked request to mail.example.invalid:443',
    ],
    neverResolved: ['mail.example.invalid'],
  },
  {
    file: '05-global-with-nested-scopes.mjs',
    stdout: [
      '--- outer scope ---',
      `outer, analytics: blocked — ${BLOCKED} localhost:{analytics} is not in the allow list (blocked by outer)`,
      '--- inner scope ---',
      'inner, api: allowed (HTTP 200, "hello from api")',
      `inner, payments: blocked — ${BLOCKED} localhost:{payments} is not in the allow list (blocked by inner)`,
      '--- outer scope again ---',
      'outer, payments: allowed (HTTP 200, "hello from payments")',
    ],
    stderr: ['tethered: blocked request to localhost:{analytics} by outer', 'tethered: blocked request to localhost:{payments} by inner'],
  },
  {
    file: '06-locked-mode.mjs',
    stdout: [
      'policy activated and locked',
      `activate() without the token: refused — ${LOCKED('activate')}`,
      `deactivate() without the token: refused — ${LOCKED('deactivate')}`,
      `deactivate() with a look-alike token: refused — ${LOCKED('deactivate')}`,
      'api: allowed (HTTP 200, "hello from api")',
      `tracker: blocked — ${BLOCKED} localhost:{tracker} is not in the allow list`,
      'deactivate({ lockToken: token }): succeeded',
      'tracker after unlocking: allowed (HTTP 200, "hello from tracker")',
    ],
    stderr: ['tethered: blocked request to localhost:{tracker}'],
  },
  {
    file: '07-log-only.mjs',
    stdout: [
      'tracker: allowed in log-only mode (HTTP 200, "hello from tracker")',
      'tracker server saw 1 request(s)',
      'api: allowed (HTTP 200, "hello from api")',
      'onBlocked: would block localhost:{tracker} (reported as: request, tcp)',
    ],
    stderr: [
      'tethered: blocked request to localhost:{tracker} (log-only: allowed)',
      // Happy eyeballs tries ::1 first where localhost has an IPv6 address (the server is on 127.0.0.1).
      `${OPTIONAL}tethered: blocked connection to [::1]:{tracker} (resolved from localhost) (log-only: allowed)`,
      'tethered: blocked connection to 127.0.0.1:{tracker} (resolved from localhost) (log-only: allowed)',
    ],
  },
  {
    file: '08-scope-in-workers.mjs',
    stdout: [
      'plain worker, api: allowed (HTTP 200, "hello from api")',
      'plain worker, partner: allowed (HTTP 200, "hello from partner")',
      `plain worker, tracker: blocked — ${BLOCKED} localhost:{tracker} is not in the allow list`,
      'worker started in scope, api: allowed (HTTP 200, "hello from api")',
      `worker started in scope, partner: blocked — ${BLOCKED} localhost:{partner} is not in the allow list (blocked by api-only)`,
      `worker started in scope, tracker: blocked — ${BLOCKED} localhost:{tracker} is not in the allow list`,
      `worker scoping its own job, api: blocked — ${BLOCKED} localhost:{api} is not in the allow list (blocked by partner-job)`,
      'worker scoping its own job, partner: allowed (HTTP 200, "hello from partner")',
      `worker scoping its own job, tracker: blocked — ${BLOCKED} localhost:{tracker} is not in the allow list`,
    ],
    stderr: [
      'tethered: blocked request to localhost:{tracker}',
      'tethered: blocked request to localhost:{partner} by api-only',
      'tethered: blocked request to localhost:{tracker}',
      'tethered: blocked request to localhost:{api} by partner-job',
      'tethered: blocked request to localhost:{tracker}',
    ],
  },
  {
    file: '09-async-scope.mjs',
    stdout: [
      'wrapped async fn, api: allowed (HTTP 200, "hello from api")',
      `wrapped async fn, tracker: blocked — ${BLOCKED} localhost:{tracker} is not in the allow list (blocked by api-only)`,
      `concurrent, in scope, tracker: blocked — ${BLOCKED} localhost:{tracker} is not in the allow list (blocked by api-only)`,
      'concurrent, no scope, tracker: allowed (HTTP 200, "hello from tracker")',
      'fan-out, api: allowed (HTTP 200, "hello from api")',
      `fan-out, tracker: blocked — ${BLOCKED} localhost:{tracker} is not in the allow list (blocked by fan-out)`,
    ],
    stderr: [
      'tethered: blocked request to localhost:{tracker} by api-only',
      'tethered: blocked request to localhost:{tracker} by api-only',
      'tethered: blocked request to localhost:{tracker} by fan-out',
    ],
  },
  {
    file: '10-package-maintainer.mjs',
    stdout: [
      'weather.getForecast(): allowed (forecast for London: HTTP 200, "hello from weather-api")',
      `weather.reportUsage(): blocked — ${BLOCKED} localhost:{collector} is not in the allow list (blocked by weather-sdk)`,
      'collector server saw 0 connections',
      'app code, collector: allowed (HTTP 200)',
      `weather.getForecast() under an app policy without it: blocked — ${BLOCKED} localhost:{weather} is not in the allow list`,
    ],
    stderr: ['tethered: blocked request to localhost:{collector} by weather-sdk', 'tethered: blocked request to localhost:{weather}'],
  },
  {
    file: '11-subprocess-control.mjs',
    stdout: [
      '--- a plain node child (no wrapper, no import) ---',
      '  child: api allowed (HTTP 200)',
      `  child: tracker blocked — ${BLOCKED} localhost:{tracker} is not in the allow list`,
      'tracker server saw 0 connections',
      "--- externalSubprocessPolicy: 'warn' (default) ---",
      'echo: launched, printed "hello from echo"',
      "--- externalSubprocessPolicy: 'block' ---",
      'node child: launched, printed "hello from node"',
      `echo: refused — ${BLOCKED} echo hello from echo — ${REFUSED}`,
      `shell command: refused — ${BLOCKED} /bin/sh -c echo hello from sh — ${REFUSED}`,
      `node without NODE_OPTIONS: refused — ${BLOCKED} /bin/sh -c env -u NODE_OPTIONS "{execPath}" -e 1 — ${REFUSED}`,
    ],
    stderr: [
      'tethered: external subprocess launch (its network use is not controlled): echo hello from echo',
      'tethered: blocked external subprocess launch: echo hello from echo',
      'tethered: blocked external subprocess launch: /bin/sh -c echo hello from sh',
      'tethered: blocked external subprocess launch: /bin/sh -c env -u NODE_OPTIONS "{execPath}" -e 1',
    ],
  },
  {
    file: '12-scope-subprocess.mjs',
    stdout: [
      'child launched inside scope(api only):',
      '  child: api allowed (HTTP 200)',
      `  child: partner blocked — ${BLOCKED} localhost:{partner} is not in the allow list (blocked by api-only)`,
      'child launched outside the scope (global policy only):',
      '  child: api allowed (HTTP 200)',
      '  child: partner allowed (HTTP 200)',
      'child launched from a function wrapped with the scope:',
      '  child: api allowed (HTTP 200)',
      `  child: partner blocked — ${BLOCKED} localhost:{partner} is not in the allow list (blocked by api-only)`,
    ],
    // The children's own log lines go to their stderr, which the example does not forward.
    stderr: [],
  },
]

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * A regex for the whole output: the lines in order and nothing else (OPTIONAL ones may be
 * missing). `{execPath}` is this Node's binary; any other `{name}` is a port, captured at its
 * first occurrence and back-referenced after, so one name always stands for one number.
 */
function outputPattern(lines: string[]): RegExp {
  const seen = new Set<string>()
  const body = lines
    .map((line) => {
      const optional = line.startsWith(OPTIONAL)
      const regex = line
        .slice(optional ? OPTIONAL.length : 0)
        .split(/(\{[a-zA-Z]+\})/)
        .map((part) => {
          const name = /^\{([a-zA-Z]+)\}$/.exec(part)?.[1]
          if (name === undefined) return escapeRegExp(part)
          if (name === 'execPath') return escapeRegExp(process.execPath)
          if (seen.has(name)) return `\\k<${name}>`
          seen.add(name)
          return `(?<${name}>[1-9]\\d{0,4})`
        })
        .join('')
      return optional ? `(?:${regex}\\n)?` : `${regex}\\n`
    })
    .join('')
  return new RegExp(`^${body}$`)
}

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs an example the way the README says: from the repo root, with this Node. */
function runExample(file: string): Promise<Run> {
  const args = file.endsWith('.mts') ? ['--import', 'tsx', path.join('examples', file)] : [path.join('examples', file)]
  // The user's environment, minus anything that would pre-load or configure tethered.
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.NODE_OPTIONS
  for (const key of Object.keys(env)) if (/^_?TETHERED_(?!NETNS$|DNS_CONTROL$)/.test(key)) delete env[key]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 90_000 })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

async function checkExample(t: ExecutionContext, example: Expected): Promise<void> {
  const run = await runExample(example.file)
  const shown = `--- stdout\n${run.stdout}--- stderr\n${run.stderr}`
  t.is(run.signal, null, shown)
  t.is(run.code, 0, shown)
  t.regex(run.stdout, outputPattern(example.stdout), `stdout is not the expected lines:\n${example.stdout.join('\n')}\n${shown}`)
  t.regex(run.stderr, outputPattern(example.stderr), `stderr is not the expected lines:\n${example.stderr.join('\n')}\n${shown}`)
  for (const name of example.neverResolved ?? []) t.is(await dnsCount(name), 0, `${name} reached the DNS responder`)
}

for (const example of EXAMPLES) {
  netTest(`examples/${example.file} runs and prints what it should`, checkExample, example)
}

// The list above is the whole directory: a new example without expectations fails here.
test('every example in examples/ is checked', (t) => {
  const files = fs.readdirSync(path.join(REPO, 'examples')).filter((f) => /^\d\d-.*\.m?[jt]s$/.test(f))
  t.deepEqual(files.sort(), EXAMPLES.map((e) => e.file).sort())
  t.is(files.length, 12)
})

// Examples are copied and edited: every URL in them must stay on the machine (localhost) or be a
// name that tethered refuses before DNS (.invalid, reserved so it never resolves anywhere).
test('examples only name localhost or .invalid hosts in URLs', (t) => {
  const dir = path.join(REPO, 'examples')
  const sources = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.m?[jt]s$/.test(f))
  let urls = 0
  for (const file of sources) {
    for (const [, host] of fs.readFileSync(path.join(dir, file), 'utf8').matchAll(/\bhttps?:\/\/([^/:'"`\s]+)/g)) {
      urls++
      t.true(host === 'localhost' || host.endsWith('.invalid'), `${file}: ${host}`)
    }
  }
  t.true(urls > 0)
})
