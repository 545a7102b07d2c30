// WebSocket clients: the `ws` package (its 'error' event carries the EgressBlocked) and the
// global WebSocket of Node 22+ (undici; it only fires a generic error event, which is the
// documented surface). Either way the blocked server sees no connection and no upgrade request.
import { ALLOWED_V4, BLOCKED_V4, dnsCount, netTest, uniqueName } from './harness/index.js'
import { activateFor, expectBlocked } from './support/blocked.js'
import { GlobalWebSocket, WebSocketFailure, globalWsEcho, wsPackageEcho } from './support/ws-clients.js'
import { countingWsServer } from './support/ws-server.js'
import { withTimeout } from './support/timeout.js'

const ALLOW = ['*.allowed.test', 'api.stripe.test']

netTest.serial('ws: an allowed hostname upgrades and echoes', async (t) => {
  const srv = await countingWsServer(ALLOWED_V4)
  t.teardown(() => srv.close())
  activateFor(t, { allow: ALLOW })
  const name = uniqueName('allowed.test')
  t.is(await wsPackageEcho(`ws://${name}:${srv.port}/`), 'ping')
  t.is(srv.messages, 1)
  t.true((await dnsCount(name)) > 0)
})

for (const target of ['hostname', 'IP'] as const) {
  netTest.serial(`ws: a blocked ${target} fails with EgressBlocked on 'error'`, async (t) => {
    const sink = await countingWsServer(BLOCKED_V4)
    t.teardown(() => sink.close())
    activateFor(t, { allow: ALLOW })
    const host = target === 'IP' ? BLOCKED_V4 : uniqueName('blocked.test')
    await expectBlocked(t, wsPackageEcho(`ws://${host}:${sink.port}/`), { host, port: sink.port })
    t.is(sink.connections, 0)
    t.is(sink.requests, 0)
    if (target === 'hostname') t.is(await dnsCount(host), 0)
  })
}

const needs22 = GlobalWebSocket ? netTest.serial : netTest.skip

needs22('global WebSocket: an allowed hostname opens and echoes [needs Node 22+]', async (t) => {
  const srv = await countingWsServer(ALLOWED_V4)
  t.teardown(() => srv.close())
  activateFor(t, { allow: ALLOW })
  const name = uniqueName('allowed.test')
  t.is(await globalWsEcho(`ws://${name}:${srv.port}/`), 'ping')
  t.is(srv.messages, 1)
})

for (const target of ['hostname', 'IP'] as const) {
  needs22(`global WebSocket: a blocked ${target} fires 'error' and reaches nothing [needs Node 22+]`, async (t) => {
    const sink = await countingWsServer(BLOCKED_V4)
    t.teardown(() => sink.close())
    activateFor(t, { allow: ALLOW })
    const host = target === 'IP' ? BLOCKED_V4 : uniqueName('blocked.test')
    // undici's WebSocket hides the cause: a generic error event is the documented surface.
    const failure = await t.throwsAsync(withTimeout(globalWsEcho(`ws://${host}:${sink.port}/`), 'WebSocket'), { instanceOf: WebSocketFailure })
    t.is(failure?.event.type, 'error')
    t.is(sink.connections, 0)
    t.is(sink.requests, 0)
    if (target === 'hostname') t.is(await dnsCount(host), 0)
  })
}
