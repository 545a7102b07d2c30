'use strict'
// Unlocking without the token: look-alike tokens, another thread, the native module directly,
// and changing the rules through the objects activate() was given.

/** The settings object the native setGlobalPolicy takes. */
function settings(locked) {
  return {
    allow: ['*'],
    allowLocalhost: true,
    externalSubprocessPolicy: 'allow',
    localHostname: '',
    logOnly: false,
    failClosed: false,
    locked,
  }
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const t = require(workerData.index)
const raw = require(workerData.native)
const attempt = (fn) => { try { fn(); return { ok: true } } catch (err) { return { threw: true, name: err && err.name, code: err && err.code } } }
parentPort.postMessage({
  deactivate: attempt(() => t.deactivate()),
  deactivateForged: attempt(() => t.deactivate({ lockToken: {} })),
  activateWide: attempt(() => t.activate({ allow: ['evil.test', '203.0.113.9'] })),
  activateRelock: attempt(() => t.activate({ allow: ['*.test'], locked: true, lockToken: {} })),
  nativeClear: attempt(() => { const r = raw.setGlobalPolicy(undefined, null, ${JSON.stringify(settings(false))}, null); if (r instanceof Error) throw r }),
  flagsAfter: (({ active, locked }) => ({ active, locked }))(raw.globalFlags()),
})
`

module.exports = {
  forgedTokens: {
    run(ctx) {
      ctx.lock(ctx.t)
      const token = ctx.token
      const forged = {
        emptyObject: {},
        structuredClone: structuredClone(token),
        objectCreate: Object.create(token),
        proxy: new Proxy(token, {}),
        assignCopy: Object.assign({}, token),
        symbolFor: Symbol.for('x'),
        json: JSON.stringify(token),
        nullToken: null,
        undefinedToken: undefined,
        tokenConstructor: token.constructor,
      }
      const results = {}
      for (const [name, lockToken] of Object.entries(forged)) {
        results[name] = {
          deactivate: ctx.attempt(() => ctx.t.deactivate({ lockToken })),
          activate: ctx.attempt(() => ctx.t.activate({ allow: ['evil.test', '203.0.113.9'], lockToken })),
        }
      }
      results.noOptions = { deactivate: ctx.attempt(() => ctx.t.deactivate()), activate: ctx.attempt(() => ctx.t.activate({ allow: ['*.test'] })) }
      return results
    },
  },

  // Workers do not share the main thread's JS: the lock token is held per isolate, so no token
  // object a worker can make or receive unlocks.
  workerDeactivate: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const { Worker } = require('node:worker_threads')
      const worker = new Worker(WORKER, { eval: true, workerData: { index: require.resolve(require('node:path').join(ctx.DIST, 'index.js')), native: ctx.NATIVE } })
      const result = await ctx.settleOnce((finish) => {
        worker.on('message', finish)
        worker.on('error', (err) => finish({ workerError: String(err) }))
      }, ctx.WORKER_MS)
      await worker.terminate()
      return result
    },
  },

  // The napi functions themselves, bypassing activate()'s checks.
  nativeSetGlobalPolicy: {
    run(ctx) {
      ctx.lock(ctx.t)
      const raw = require(ctx.NATIVE)
      const everything = raw.compilePolicy(['*.test', '203.0.113.0/24'], true)
      const results = {}
      const tokens = { undefinedToken: undefined, emptyObject: {}, clone: structuredClone(ctx.token), proxy: new Proxy(ctx.token, {}) }
      for (const [name, token] of Object.entries(tokens)) {
        results[name] = {
          unlocks: ctx.attempt(() => raw.unlocks(token)),
          clear: ctx.attempt(() => raw.setGlobalPolicy(token, null, settings(false), null)),
          replace: ctx.attempt(() => raw.setGlobalPolicy(token, everything, settings(false), null)),
          relock: ctx.attempt(() => raw.setGlobalPolicy(token, everything, settings(true), {})),
        }
      }
      // What the native state says afterwards (a refusal that was returned, not thrown, must
      // still have changed nothing).
      const flags = raw.globalFlags()
      results.flagsAfter = { active: flags.active, locked: flags.locked, logOnly: flags.logOnly }
      return results
    },
  },

  // activate() copies what it is given: later changes to the array or the options change nothing.
  mutateAllow: {
    run(ctx) {
      const allow = ['api.stripe.test']
      const options = { allow, locked: true, lockToken: ctx.token }
      ctx.t.activate(options)
      allow.push('evil.test', '203.0.113.9', '*.test')
      allow[0] = '*.test'
      options.allow = ['*.test']
      options.locked = false
      options.logOnly = true
      return { allow: allow.slice() }
    },
  },
}
