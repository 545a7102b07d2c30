// The application of the zero-code case (`node --import tethered/register connect.cjs <port>`):
// it never mentions tethered. Prints the connection's outcome as JSON.
const net = require('node:net')

const socket = net.connect(Number(process.argv[2]), '127.0.0.1')
socket.once('connect', () => {
  socket.end()
  process.stdout.write(JSON.stringify({ connected: true }))
})
socket.once('error', (err) => process.stdout.write(JSON.stringify({ connected: false, name: err.name, code: err.code })))
