import http from 'node:http'
import { BLOCKED_V4, countingHttpServer, netTest, uniqueName } from './harness/index.js'
import { activateFor } from './support/blocked.js'
Error.stackTraceLimit = 50
netTest.serial('debug', async (t) => {
  const sink = await countingHttpServer(BLOCKED_V4)
  t.teardown(() => sink.close())
  activateFor(t, { allow: ['api.stripe.test'] })
  const name = uniqueName('blocked.test')
  const err = await new Promise((resolve) => http.get(`http://${name}:${sink.port}/`, { agent: false }).on('error', resolve))
  console.log(err, (err as Error).stack)
  t.pass()
})
