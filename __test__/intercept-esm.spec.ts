// ESM named exports taken before activate(): `import { connect } from 'node:net'` and
// `import { lookup } from 'node:dns/promises'` are bound when this module links, long before
// any test calls activate(); they must be enforced all the same.
import { lookup } from 'node:dns/promises'
import { get } from 'node:http'
import { connect } from 'node:net'
import { ALLOWED_V4, BLOCKED_V4, countingHttpServer, countingTcpServer, dnsCount, netTest, uniqueName } from './harness/index.js'
import { activateFor, expectBlocked } from './support/blocked.js'
import { attempt } from './support/timeout.js'

const ALLOW = ['*.allowed.test', 'api.stripe.test']

/** The pre-bound `connect`: write "ping", resolve with the echo. */
function esmConnect(host: string, port: number): Promise<string> {
  return attempt<string>(`connect ${host}:${port}`, (resolve, reject) => {
    const socket = connect({ host, port })
    socket.setEncoding('utf8')
    socket.on('error', reject)
    socket.on('connect', () => socket.write('ping'))
    socket.on('data', (d: string) => resolve(d))
    return () => socket.destroy()
  })
}

netTest.serial("import { connect } from 'node:net': allowed works, blocked name and IP fail with EgressBlocked", async (t) => {
  const echo = await countingTcpServer(ALLOWED_V4)
  const sink = await countingTcpServer(BLOCKED_V4)
  t.teardown(() => Promise.all([echo.close(), sink.close()]))
  activateFor(t, { allow: ALLOW })
  t.is(await esmConnect(uniqueName('allowed.test'), echo.port), 'ping')
  const name = uniqueName('blocked.test')
  await expectBlocked(t, esmConnect(name, sink.port), { host: name, port: sink.port })
  await expectBlocked(t, esmConnect(BLOCKED_V4, sink.port), { host: BLOCKED_V4, port: sink.port })
  t.is(sink.connections, 0)
  t.is(await dnsCount(name), 0)
})

netTest.serial("import { lookup } from 'node:dns/promises': a blocked name rejects with EgressBlocked, never sent", async (t) => {
  activateFor(t, { allow: ALLOW })
  const allowed = uniqueName('allowed.test')
  t.deepEqual(await lookup(allowed, { family: 4 }), { address: ALLOWED_V4, family: 4 })
  t.true((await dnsCount(allowed)) > 0)
  const name = uniqueName('blocked.test')
  const blocked = await expectBlocked(t, lookup(name), { host: name })
  t.is(blocked?.port, null)
  t.is(await dnsCount(name), 0)
})

netTest.serial("import { get } from 'node:http': a blocked name fails on the request's 'error'", async (t) => {
  const sink = await countingHttpServer(BLOCKED_V4)
  t.teardown(() => sink.close())
  activateFor(t, { allow: ALLOW })
  const name = uniqueName('blocked.test')
  const request = attempt<number>('http get', (resolve, reject) => {
    const req = get(`http://${name}:${sink.port}/`, (res) => resolve(res.statusCode ?? 0))
    req.on('error', reject)
    return () => req.destroy()
  })
  await expectBlocked(t, request, { host: name, port: sink.port })
  t.is(sink.connections, 0)
  t.is(sink.requests, 0)
  t.is(await dnsCount(name), 0)
})
