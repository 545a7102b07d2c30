const net = require('node:net')

const connect = (port) =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: Number(port) })
    socket.once('connect', () => resolve(socket.destroy()))
    socket.once('error', reject)
  })

test('allowed server', () => connect(process.env.RECIPE_ALLOWED_PORT))

test('blocked server', () => connect(process.env.RECIPE_BLOCKED_PORT))
