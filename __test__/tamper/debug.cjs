'use strict'

// Every route an attacker has from the exported Worker to Node's own class: the superclass,
// the prototype's constructor. Function.prototype when none leads there.
function reachableOriginal(Worker) {
  for (const candidate of [Object.getPrototypeOf(Worker), Worker.prototype && Worker.prototype.constructor]) {
    if (typeof candidate === 'function' && candidate !== Worker && candidate.name === 'Worker') return candidate
  }
  return Function.prototype
}
// The doors around the shims: the debugger (whose Runtime.getProperties reads the closures that
// hold the original functions), SIGUSR1 (which opens it), node:ffi and native code.
const fs = require('node:fs')
const path = require('node:path')
const os = require('node:os')

/** Is anything listening on the default inspector port (loopback, allowed by the policy)? */
function inspectorPort(ctx) {
  return ctx.tcp('127.0.0.1', 9229)
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

module.exports = {
  inspector: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const results = {
        session: ctx.attempt(() => new (require('node:inspector').Session)()),
        sessionPlain: ctx.attempt(() => new (require('inspector').Session)()),
        open: ctx.attempt(() => require('node:inspector').open(0)),
        url: ctx.attempt(() => require('node:inspector').url()),
        waitForDebugger: ctx.attempt(() => require('node:inspector').waitForDebugger()),
        promisesSession: ctx.attempt(() => new (require('node:inspector/promises').Session)()),
        getBuiltinModule: ctx.attempt(() => new (process.getBuiltinModule('node:inspector').Session)()),
        esmNamed: await ctx.attemptAsync(async () => new (await import('node:inspector')).Session()),
        esmDefault: await ctx.attemptAsync(async () => new (await import('node:inspector')).default.Session()),
        esmPromises: await ctx.attemptAsync(async () => new (await import('node:inspector/promises')).Session()),
        binding: ctx.attempt(() => process.binding('inspector')),
        bindingStringObject: ctx.attempt(() => process.binding(new String('inspector'))),
        bindingToString: ctx.attempt(() => process.binding({ toString: () => 'inspector' })),
      }
      await sleep(200)
      results.port9229 = await inspectorPort(ctx)
      return results
    },
  },

  // SIGUSR1 starts the inspector unless a JS listener handles the signal; tethered keeps one.
  sigusr1: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const results = {}
      const attempts = {
        kill: () => process.kill(process.pid, 'SIGUSR1'),
        debugProcess: () => process._debugProcess(process.pid),
        removeAllThenKill: () => {
          process.removeAllListeners('SIGUSR1')
          process.kill(process.pid, 'SIGUSR1')
        },
        offEachThenKill: () => {
          for (const l of process.listeners('SIGUSR1')) process.off('SIGUSR1', l)
          process.kill(process.pid, 'SIGUSR1')
        },
      }
      for (const [name, fn] of Object.entries(attempts)) {
        const outcome = ctx.attempt(fn)
        await sleep(200)
        results[name] = { outcome, listeners: process.listenerCount('SIGUSR1') }
      }
      results.port9229 = await inspectorPort(ctx)
      return results
    },
  },

  // Removing the listener through EventEmitter.prototype (not the guarded process methods): the
  // signal must still not open the debugger (it may end the process instead).
  sigusr1Prototype: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const EventEmitter = require('node:events')
      for (const l of process.listeners('SIGUSR1')) EventEmitter.prototype.removeListener.call(process, 'SIGUSR1', l)
      const listeners = process.listenerCount('SIGUSR1')
      ctx.report({ progress: 'removed', listeners })
      process.kill(process.pid, 'SIGUSR1')
      await sleep(500)
      return { listeners, port9229: await inspectorPort(ctx) }
    },
  },

  // Every listener of every event at once, Node's own signal bookkeeping included.
  sigusr1Everything: {
    async run(ctx) {
      ctx.lock(ctx.t)
      process.removeAllListeners()
      const listeners = process.listenerCount('SIGUSR1')
      ctx.report({ progress: 'removed', listeners })
      process.kill(process.pid, 'SIGUSR1')
      await sleep(500)
      return { listeners, port9229: await inspectorPort(ctx) }
    },
  },

  // Control: without tethered, SIGUSR1 opens the inspector (so the port check can fail).
  sigusr1Unprotected: {
    noLoad: true,
    probes: false,
    async run(ctx) {
      process.kill(process.pid, 'SIGUSR1')
      await sleep(500)
      return { port9229: await inspectorPort(ctx) }
    },
  },

  // node:ffi (Node 26) loads without a flag and calls libc directly.
  ffi: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const results = {}
      let ffi
      results.require = ctx.attempt(() => {
        ffi = require('node:ffi')
        return ffi
      })
      if (ffi) {
        const functions = Object.keys(ffi).filter((k) => typeof ffi[k] === 'function')
        results.functions = functions.length
        results.usable = functions.filter((k) => {
          const r = ctx.attempt(() => ffi[k]('libc.so.6', {}))
          return r.code !== 'ERR_TETHERED_LOCKED'
        })
        results.dlopen = ctx.attempt(() => ffi.dlopen('libc.so.6', { getpid: { result: 'i32', parameters: [] } }))
        results.dynamicLibrary = ctx.attempt(() => new ffi.DynamicLibrary('libc.so.6'))
        results.getBuiltinModule = ctx.attempt(() => process.getBuiltinModule('node:ffi').dlopen('libc.so.6', {}))
        results.esm = await ctx.attemptAsync(async () => (await import('node:ffi')).dlopen('libc.so.6', {}))
        results.replace = ctx.attempt(() => {
          ffi.dlopen = function dlopen() {
            return 'evil'
          }
        })
        results.stillStub = ffi.dlopen.name === 'disabled'
      }
      return results
    },
  },

  // denyNativeAddons: no new native code, by any loader.
  dlopen: {
    async run(ctx) {
      ctx.lock(ctx.t, { denyNativeAddons: true })
      // A copy of tethered's own addon: a valid Node-API module at a path never loaded before.
      const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tamper-')), 'addon.node')
      fs.copyFileSync(ctx.NATIVE, copy)
      const Module = require('node:module')
      const results = {
        dlopen: ctx.attempt(() => process.dlopen({ exports: {} }, copy)),
        require: ctx.attempt(() => require(copy)),
        extension: ctx.attempt(() => Module._extensions['.node']({ exports: {} }, copy)),
        createRequire: ctx.attempt(() => Module.createRequire(copy)(copy)),
        replace: ctx.attempt(() => {
          process.dlopen = function dlopen() {}
        }),
      }
      let sqlite = null
      try {
        sqlite = require('node:sqlite')
      } catch {}
      if (sqlite) {
        results.sqliteLoadExtension = ctx.attempt(() => new sqlite.DatabaseSync(':memory:', { allowExtension: true }).loadExtension(copy))
        if (sqlite.Database) {
          results.sqliteAsyncLoadExtension = await ctx.attemptAsync(async () =>
            new sqlite.Database(':memory:', { allowExtension: true }).loadExtension(copy),
          )
        }
      }
      fs.rmSync(path.dirname(copy), { recursive: true, force: true })
      return results
    },
  },

  // A worker made with the original Worker class (the wrapper's superclass) runs no tethered:
  // its node:inspector can attach to the MAIN thread (connectToMainThread) and evaluate there.
  rawWorkerInspector: {
    async run(ctx) {
      ctx.lock(ctx.t)
      globalThis.tamperSecret = 'main-thread'
      const { Worker } = require('node:worker_threads')
      const Original = reachableOriginal(Worker)
      const code = `
const { parentPort } = require('node:worker_threads')
try {
  const session = new (require('node:inspector').Session)()
  session.connectToMainThread()
  session.post('Runtime.evaluate', { expression: 'globalThis.tamperSecret' }, (err, r) =>
    parentPort.postMessage(err ? { error: err.message } : { evaluated: r.result.value }))
} catch (err) { parentPort.postMessage({ error: String(err && err.message) }) }
`
      const viaWrapped = await ctx.settleOnce((finish) => {
        const w = new Worker(code, { eval: true })
        w.on('message', (m) => {
          w.terminate()
          finish(m)
        })
        w.on('error', (err) => finish({ workerError: String(err) }))
      }, ctx.WORKER_MS)
      const viaOriginal =
        Original === Function.prototype
          ? { error: 'no superclass' }
          : await ctx.settleOnce((finish) => {
              const w = new Original(code, { eval: true })
              w.on('message', (m) => {
                w.terminate()
                finish(m)
              })
              w.on('error', (err) => finish({ workerError: String(err) }))
            }, ctx.WORKER_MS)
      return { viaWrapped, viaOriginal }
    },
  },
}
