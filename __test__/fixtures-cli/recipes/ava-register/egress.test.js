import net from 'node:net'
import test from 'ava'

const connect = (port) =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: Number(port) })
    socket.once('connect', () => resolve(socket.destroy()))
    socket.once('error', reject)
  })

test('allowed server', async (t) => {
  await connect(process.env.RECIPE_ALLOWED_PORT)
  t.pass()
})

test('blocked server', async (t) => {
  await connect(process.env.RECIPE_BLOCKED_PORT)
  t.pass()
})
