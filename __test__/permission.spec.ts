// Under Node's permission model `process.binding` is refused (measured on 20.20, 22, 24 and 26:
// ERR_ACCESS_DENIED on every version), so tethered cannot patch the binding layer. It must still
// install its JS layer, say once on stderr that the binding layer is missing, and block what the
// JS layer sees. Native addons need --allow-addons (else tethered's import fails closed). On
// Node 25+ the permission model also gates the network itself (--allow-net, all or nothing).
//
// The children run inside the test namespace; the counting servers live in this process, so
// "no packet left" is asserted here, where no policy is active.
import test from 'ava'
import { fileURLToPath, pathToFileURL } from 'node:url'
import {
  ALLOWED_V4,
  BLOCKED_V4,
  BLOCKED_V4_B,
  countingTcpServer,
  countingUdpServer,
  dnsCount,
  netTest,
  uniqueName,
  type CountingServer,
} from './harness/index.js'
import { NODE_MAJOR, type ChildResult, lastJson, runNode, tetheredLines, udpSentinel } from './support-dns/index.js'

const CHILD = fileURLToPath(new URL('./support-dns/permission-child.mjs', import.meta.url))
const DIST = pathToFileURL(fileURLToPath(new URL('../dist/index.mjs', import.meta.url))).href
// Node 20 only knows the experimental spelling.
const PERMISSION = NODE_MAJOR >= 22 ? '--permission' : '--experimental-permission'
const HAS_ALLOW_NET = process.allowedNodeEnvironmentFlags.has('--allow-net')
const BASE_FLAGS = [PERMISSION, '--allow-fs-read=*', '--allow-addons', ...(HAS_ALLOW_NET ? ['--allow-net'] : [])]

type Outcome = { ok: true } | { name: string; code: string; kind?: string } | { thrown: { name: string; code: string } }
interface Report {
  bindingAvailable: boolean
  bindingError?: string
  importError?: { code: string; message: string }
  [step: string]: unknown
}

function runChild(flags: string[], allow: string[], steps: Array<[string, unknown[]]>, captureLogger = false): Promise<ChildResult> {
  return runNode([...flags, CHILD], { PERMISSION_CHILD: JSON.stringify({ dist: DIST, allow, steps, captureLogger }) })
}

const blocked = (kind: string) => ({ name: 'EgressBlocked', code: 'ERR_TETHERED_EGRESS_BLOCKED', kind })

// ------------------------------------------------------------ one child run, several assertions

interface Scenario {
  result: ChildResult
  report: Report
  servers: Record<'allowed' | 'blockedName' | 'blockedIp' | 'udpAllowed' | 'udpBlocked', CountingServer>
  names: Record<'lookupAllowed' | 'lookupBlocked' | 'resolveBlocked', string>
}

let scenario: Promise<Scenario> | undefined

/** Starts the servers and runs the child once; every test below reads the same run. */
function permissionRun(): Promise<Scenario> {
  scenario ??= (async () => {
    const servers = {
      allowed: await countingTcpServer(ALLOWED_V4),
      blockedName: await countingTcpServer(BLOCKED_V4),
      blockedIp: await countingTcpServer(BLOCKED_V4_B),
      udpAllowed: await countingUdpServer('udp4', ALLOWED_V4),
      udpBlocked: await countingUdpServer('udp4', BLOCKED_V4),
    }
    const names = { lookupAllowed: uniqueName('allowed.test'), lookupBlocked: uniqueName('blocked.test'), resolveBlocked: uniqueName('blocked.test') }
    // Names only: an allowed name's address is allowed only through the lookup tethered saw.
    const result = await runChild(BASE_FLAGS, ['api.stripe.test', '*.allowed.test'], [
      ['allowedName', ['tcp', servers.allowed.port, 'api.stripe.test']],
      ['blockedName', ['tcp', servers.blockedName.port, 'evil.test']],
      ['blockedIp', ['tcp', servers.blockedIp.port, BLOCKED_V4_B]],
      ['lookupAllowed', ['lookup', names.lookupAllowed]],
      ['lookupBlocked', ['lookup', names.lookupBlocked]],
      ['promisesLookupBlocked', ['promises.lookup', names.lookupBlocked]],
      ['resolveBlocked', ['resolve4', names.resolveBlocked]],
      ['reverseBlocked', ['reverse', BLOCKED_V4]],
      ['udpAllowed', ['udp', servers.udpAllowed.port, 'api.stripe.test']],
      ['udpBlocked', ['udp', servers.udpBlocked.port, BLOCKED_V4]],
    ])
    return { result, report: lastJson<Report>(result.stdout), servers, names }
  })()
  return scenario
}

test.after.always(async () => {
  if (!scenario) return
  const { servers } = await scenario
  await Promise.all(Object.values(servers).map((s) => s.close()))
})

netTest(`${PERMISSION}: process.binding is refused, tethered loads and activates`, async (t) => {
  const { result, report } = await permissionRun()
  t.is(result.code, 0, result.stderr)
  t.false(report.bindingAvailable, `process.binding under ${PERMISSION} on Node ${process.versions.node}`)
  t.is(report.bindingError, 'ERR_ACCESS_DENIED')
  t.is(report.importError, undefined)
})

netTest(`${PERMISSION}: stderr says once that the binding-level layer is missing`, async (t) => {
  const { result } = await permissionRun()
  const missing = tetheredLines(result.stderr).filter((l) => /binding-level layer is missing/.test(l))
  t.is(missing.length, 1, result.stderr)
})

// One condition, one line (there used to be two).
netTest(`${PERMISSION}: exactly one tethered warning about the missing bindings`, async (t) => {
  const { result } = await permissionRun()
  const aboutBindings = tetheredLines(result.stderr).filter((l) => /binding/i.test(l))
  t.is(aboutBindings.length, 1, aboutBindings.join('\n'))
})

// PRODUCT.md: warnings go to the logger given to activate() (the logger is set before the shims
// are installed).
test(`${PERMISSION}: the warning goes to the logger given to activate(), not to stderr`, async (t) => {
  const result = await runChild(BASE_FLAGS, [], [], true)
  t.is(result.code, 0, result.stderr)
  const lines = lastJson<Report>(result.stdout).loggerLines as string[]
  t.true(lines.some((l) => /binding-level layer is missing/.test(l)), JSON.stringify(lines))
  t.deepEqual(tetheredLines(result.stderr), [])
})

netTest(`${PERMISSION}: the JS layer blocks a connect by hostname, allowed traffic works`, async (t) => {
  const { report, servers } = await permissionRun()
  t.like(report.blockedName, blocked('tcp'))
  t.is(servers.blockedName.connections, 0)
  t.deepEqual(report.allowedName, { ok: true }, 'an allowed name connects: its address is judged by the lookup tethered recorded')
  t.is(servers.allowed.connections, 1)
})

// Without the binding layer, Socket#connect decides IP literals itself.
netTest(`${PERMISSION}: a connect to a blocked IP literal is refused`, async (t) => {
  const { report, servers } = await permissionRun()
  t.like(report.blockedIp, blocked('tcp'))
  t.is(servers.blockedIp.connections, 0)
})

netTest(`${PERMISSION}: DNS is still checked: blocked names are refused and never queried`, async (t) => {
  const { report, names } = await permissionRun()
  t.deepEqual(report.lookupAllowed, { ok: true })
  t.true((await dnsCount(names.lookupAllowed)) > 0)
  t.like(report.lookupBlocked, blocked('dns'), 'dns.lookup')
  t.like(report.promisesLookupBlocked, blocked('dns'), 'dns.promises.lookup')
  t.like(report.resolveBlocked, blocked('dns'), 'dns.resolve4 (c-ares)')
  t.like(report.reverseBlocked, blocked('dns'), 'dns.reverse (c-ares)')
  t.is(await dnsCount(names.lookupBlocked), 0)
  t.is(await dnsCount(names.resolveBlocked), 0)
})

netTest(`${PERMISSION}: UDP sends are checked by the JS layer`, async (t) => {
  const { report, servers } = await permissionRun()
  t.deepEqual(report.udpAllowed, { ok: true })
  t.is(servers.udpAllowed.messages, 1)
  t.like(report.udpBlocked, blocked('udp'))
  t.is(await udpSentinel('udp4', servers.udpBlocked), 0)
})

// ------------------------------------------------------------ other flag sets

test(`${PERMISSION} without --allow-addons: importing tethered fails (closed), naming the cause`, async (t) => {
  const flags = BASE_FLAGS.filter((f) => f !== '--allow-addons')
  const result = await runChild(flags, [], [])
  t.is(result.code, 0, result.stderr)
  const report = lastJson<Report>(result.stdout)
  t.is(report.importError?.code, 'ERR_TETHERED_NATIVE_MISSING')
  t.regex(report.importError?.message ?? '', /Network egress is NOT controlled/)
  t.regex(report.importError?.message ?? '', /addons/, 'the underlying reason (addons disabled) is in the message')
})

// Node 25+: without --allow-net the permission model refuses all network access itself.
;(HAS_ALLOW_NET ? netTest : test.skip)(`${PERMISSION} without --allow-net: tethered blocks first, Node refuses the rest [needs --allow-net, Node 25+]`, async (t) => {
  const servers = { allowed: await countingTcpServer(ALLOWED_V4), sink: await countingTcpServer(BLOCKED_V4) }
  t.teardown(() => Promise.all([servers.allowed.close(), servers.sink.close()]))
  const name = uniqueName('blocked.test')
  const result = await runChild(
    BASE_FLAGS.filter((f) => f !== '--allow-net'),
    ['api.stripe.test'],
    [
      ['blockedName', ['tcp', servers.sink.port, 'evil.test']],
      ['allowedName', ['tcp', servers.allowed.port, 'api.stripe.test']],
      ['lookupBlocked', ['lookup', name]],
    ],
  )
  t.is(result.code, 0, result.stderr)
  const report = lastJson<Report>(result.stdout)
  t.like(report.blockedName, blocked('tcp'), 'tethered decides before Node checks the permission')
  t.like(report.lookupBlocked, blocked('dns'))
  t.like(report.allowedName as Outcome, { code: 'ERR_ACCESS_DENIED' }, 'allowed by tethered, refused by Node')
  t.is(servers.sink.connections + servers.allowed.connections, 0)
  t.is(await dnsCount(name), 0)
})
