'use strict'
// Tamper detection: when a shim is replaced after all, every connection and lookup in every
// thread is blocked, allowed destinations included, and one alert goes straight to fd 2.
//
// The locked accessors leave no way to replace a shim, so this attempt prepares one BEFORE the
// lock (as other code loaded earlier could): the shim is made non-configurable but writable,
// which the lock cannot turn into an accessor. It is replaced after the lock, once every JS way
// of writing to stderr has been silenced.

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const net = require('node:net')
const socket = net.connect({ host: 'api.stripe.test', port: workerData.port })
socket.on('connect', () => { socket.destroy(); parentPort.postMessage('ok') })
socket.on('error', (err) => parentPort.postMessage(err.code === 'ERR_TETHERED_EGRESS_BLOCKED' ? 'blocked' : 'error:' + err.code))
`

module.exports = {
  replaceShim: {
    run(ctx) {
      const { net } = ctx
      ctx.t.activate({ allow: ['api.stripe.test'] }) // unlocked: installs the shims
      const wrapper = net.Socket.prototype.connect
      Object.defineProperty(net.Socket.prototype, 'connect', { value: wrapper, writable: true, configurable: false })
      ctx.lock(ctx.t)
      const fs = require('node:fs')
      for (const level of ['log', 'warn', 'error', 'info', 'debug', 'trace']) console[level] = () => {}
      process.stderr.write = () => true
      process._rawDebug = () => {}
      fs.writeSync = () => 0
      fs.write = () => {}
      // An APM-style re-wrap: any function there could skip the check.
      net.Socket.prototype.connect = function connect(...args) {
        return Reflect.apply(wrapper, this, args)
      }
      return { replaced: net.Socket.prototype.connect !== wrapper }
    },
    // Every thread: a worker started after the detection (with its own shims) is blocked too.
    after(ctx) {
      const { Worker } = require('node:worker_threads')
      return ctx.settleOnce((finish) => {
        const worker = new Worker(WORKER, { eval: true, workerData: { port: ctx.targets.allowedTcp } })
        worker.on('message', (message) => {
          worker.terminate()
          finish({ worker: message })
        })
        worker.on('error', (err) => finish({ workerError: String(err) }))
      }, ctx.WORKER_MS)
    },
  },
}
