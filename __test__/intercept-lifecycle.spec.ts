// Policy lifecycle as seen by real connections: allowLocalhost (default on, and off), a second
// activate() replacing the first completely, deactivate() restoring connectivity, and the
// `allow` array being copied at activate() time.
import {
  ALLOWED_V4,
  BLOCKED_V4,
  OTHER_V4,
  closeAfter,
  countingTcpServer,
  netTest,
} from './harness/index.js'
import { activate, deactivate } from '../dist/index.mjs'
import { activateFor, expectBlocked } from './support/blocked.js'
import { connectOnce } from './support/clients.js'


netTest.serial('allowLocalhost (default): loopback servers stay reachable with any allow list', async (t) => {
  const v4 = await closeAfter(t, countingTcpServer('127.0.0.1'))
  const v6 = await closeAfter(t, countingTcpServer('::1'))
  activateFor(t, { allow: ['api.stripe.test'] })
  t.is(await connectOnce('127.0.0.1', v4.port), 'ping')
  t.is(await connectOnce('localhost', v4.port, { family: 4 }), 'ping')
  t.is(await connectOnce('::1', v6.port), 'ping')
  t.is(v4.connections + v6.connections, 3)
})

netTest.serial('allowLocalhost: false blocks loopback addresses and the name localhost', async (t) => {
  const v4 = await closeAfter(t, countingTcpServer('127.0.0.1'))
  const v6 = await closeAfter(t, countingTcpServer('::1'))
  activateFor(t, { allow: ['api.stripe.test'], allowLocalhost: false })
  await expectBlocked(t, connectOnce('127.0.0.1', v4.port), { host: '127.0.0.1', port: v4.port })
  await expectBlocked(t, connectOnce('localhost', v4.port), { host: 'localhost', port: v4.port })
  await expectBlocked(t, connectOnce('::1', v6.port), { host: '::1', port: v6.port })
  t.is(v4.connections + v6.connections, 0)
})

netTest.serial('a second activate() replaces the first policy completely', async (t) => {
  const api = await closeAfter(t, countingTcpServer(ALLOWED_V4)) // api.stripe.test
  const other = await closeAfter(t, countingTcpServer(OTHER_V4)) // other.test
  const loop = await closeAfter(t, countingTcpServer('127.0.0.1'))
  const firstReports: string[] = []
  const secondReports: string[] = []
  activateFor(t, { allow: ['api.stripe.test', '198.51.100.0/24'], allowLocalhost: false, onBlocked: (h) => void firstReports.push(h) })
  t.is(await connectOnce('api.stripe.test', api.port), 'ping')
  t.is(await connectOnce(OTHER_V4, other.port), 'ping')
  await expectBlocked(t, connectOnce('127.0.0.1', loop.port))

  activate({ allow: ['other.test'], logger: null, onBlocked: (h) => void secondReports.push(h) })
  // Rules, allowLocalhost and onBlocked all come from the second call only.
  await expectBlocked(t, connectOnce('api.stripe.test', api.port), { host: 'api.stripe.test' })
  await expectBlocked(t, connectOnce(ALLOWED_V4, api.port), { host: ALLOWED_V4 })
  t.is(await connectOnce('other.test', other.port), 'ping')
  t.is(await connectOnce('127.0.0.1', loop.port), 'ping')
  t.deepEqual(firstReports, ['127.0.0.1'])
  t.deepEqual(secondReports, ['api.stripe.test', ALLOWED_V4])
  t.is(api.connections, 1)
  t.is(other.connections, 2)
})

netTest.serial('deactivate() restores connectivity to what was blocked', async (t) => {
  const evil = await closeAfter(t, countingTcpServer(BLOCKED_V4)) // evil.test
  t.teardown(() => deactivate())
  activate({ allow: ['api.stripe.test'], logger: null })
  await expectBlocked(t, connectOnce('evil.test', evil.port), { host: 'evil.test' })
  await expectBlocked(t, connectOnce(BLOCKED_V4, evil.port), { host: BLOCKED_V4 })
  t.is(evil.connections, 0)
  deactivate()
  t.is(await connectOnce('evil.test', evil.port), 'ping')
  t.is(await connectOnce(BLOCKED_V4, evil.port), 'ping')
  t.is(evil.connections, 2)
})

netTest.serial('the allow array is copied: mutating it after activate() changes nothing', async (t) => {
  const api = await closeAfter(t, countingTcpServer(ALLOWED_V4))
  const evil = await closeAfter(t, countingTcpServer(BLOCKED_V4))
  const allow = ['api.stripe.test']
  activateFor(t, { allow })
  allow.push('evil.test', '203.0.113.0/24')
  allow[0] = 'nothing.test'
  t.is(await connectOnce('api.stripe.test', api.port), 'ping')
  await expectBlocked(t, connectOnce('evil.test', evil.port), { host: 'evil.test' })
  await expectBlocked(t, connectOnce(BLOCKED_V4, evil.port), { host: BLOCKED_V4 })
  t.is(evil.connections, 0)
})
