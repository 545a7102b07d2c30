'use strict'
// Attacks on tethered's module objects: its internal modules reached by path, a second copy
// loaded after clearing require.cache, the ESM entry next to the CommonJS one, the frozen
// exports and error classes.
const path = require('node:path')

function internal(ctx, file) {
  return require(path.join(ctx.DIST, file))
}

/** Assigns `value` to `exports[key]` and reports whether it took. */
function replaceExport(ctx, exports, key, value) {
  const before = exports[key]
  const outcome = ctx.attempt(() => {
    exports[key] = value
  })
  const defined = ctx.attempt(() => Object.defineProperty(exports, key, { value }))
  return { outcome, defined, took: exports[key] !== before }
}

/** Every way back in a copy of tethered (or the ESM entry) tries; each must throw TetheredLocked. */
function tryCopy(ctx, copy) {
  const wide = ['evil.test', '203.0.113.9', '*.test']
  return {
    deactivate: ctx.attempt(() => copy.deactivate()),
    deactivateForged: ctx.attempt(() => copy.deactivate({ lockToken: {} })),
    activateWide: ctx.attempt(() => copy.activate({ allow: wide })),
    activateLogOnly: ctx.attempt(() => copy.activate({ allow: ['api.stripe.test'], logOnly: true })),
    activateRelock: ctx.attempt(() => copy.activate({ allow: wide, locked: true, lockToken: {} })),
  }
}

module.exports = {
  // decide.check, the native binding object, the captured primordials, the integrity check:
  // each is read from its module's exports object at call time.
  internalExports: {
    run(ctx) {
      ctx.lock(ctx.t)
      const allow = () => null
      const fakeNative = new Proxy({}, { get: () => () => 0 })
      return {
        check: replaceExport(ctx, internal(ctx, 'decide.js'), 'check', allow),
        native: replaceExport(ctx, internal(ctx, 'native.js'), 'native', fakeNative),
        reflectApply: replaceExport(ctx, internal(ctx, 'primordials.js'), 'ReflectApply', (fn, self, args) =>
          typeof args[1] === 'string' && args[1] === ctx.BLOCKED_V4 ? 0 : Reflect.apply(fn, self, args),
        ),
        verifyIntegrity: replaceExport(ctx, internal(ctx, 'integrity.js'), 'verifyIntegrity', () => true),
        patchesIntact: replaceExport(ctx, internal(ctx, 'protect.js'), 'patchesIntact', () => true),
        currentFrame: replaceExport(ctx, internal(ctx, 'scope-context.js'), 'currentFrame', () => undefined),
        binding: replaceExport(ctx, internal(ctx, 'intercept/bindings.js'), 'binding', () => null),
      }
    },
  },

  // The lock token is what unlocks; JS must not keep it anywhere another module can read.
  stateToken: {
    run(ctx) {
      ctx.lock(ctx.t)
      const { state } = internal(ctx, 'state.js')
      const found = state && state.global ? state.global.lockToken : null
      const result = { tokenFound: found === ctx.token }
      if (found) result.deactivate = ctx.attempt(() => ctx.t.deactivate({ lockToken: found }))
      return result
    },
  },

  // A second copy of tethered: new module objects, same native library (and lock).
  requireCacheCopy: {
    run(ctx) {
      ctx.lock(ctx.t)
      for (const key of Object.keys(require.cache)) delete require.cache[key]
      const copy = ctx.load()
      return Object.assign({ isCopy: copy !== ctx.t && copy.activate !== ctx.t.activate }, tryCopy(ctx, copy), {
        register: ctx.attempt(() => require(path.join(ctx.DIST, 'register.js'))),
      })
    },
  },

  // Locked through require, attacked through import: one module instance, one lock.
  cjsThenEsm: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const esm = await import(path.join(ctx.DIST, 'index.mjs'))
      return Object.assign({ same: esm.activate === ctx.t.activate && esm.TetheredLocked === ctx.t.TetheredLocked }, tryCopy(ctx, esm))
    },
  },

  // Locked through import, attacked through require.
  esmThenCjs: {
    noLoad: true,
    async run(ctx) {
      const esm = await import(path.join(ctx.DIST, 'index.mjs'))
      ctx.lock(esm)
      ctx.t = ctx.load()
      return Object.assign({ same: esm.activate === ctx.t.activate }, tryCopy(ctx, ctx.t))
    },
  },

  // Swapping an export or an error class (e.g. so `instanceof EgressBlocked` lies).
  frozenExports: {
    run(ctx) {
      ctx.lock(ctx.t)
      const t = ctx.t
      const evil = function evil() {}
      const attempts = {
        deactivate: replaceExport(ctx, t, 'deactivate', evil),
        activate: replaceExport(ctx, t, 'activate', evil),
        EgressBlocked: replaceExport(ctx, t, 'EgressBlocked', evil),
        TetheredLocked: replaceExport(ctx, t, 'TetheredLocked', evil),
        hasInstance: replaceExport(ctx, t.EgressBlocked, Symbol.hasInstance, () => false),
        protoCode: replaceExport(ctx, t.EgressBlocked.prototype, 'name', 'NotBlocked'),
        lockedProto: replaceExport(ctx, t.TetheredLocked.prototype, 'constructor', evil),
        setPrototypeOf: ctx.attempt(() => Object.setPrototypeOf(t.TetheredLocked.prototype, Object.prototype)),
      }
      let instance = false
      try {
        t.deactivate()
      } catch (err) {
        instance = err instanceof t.TetheredLocked && err.code === 'ERR_TETHERED_LOCKED'
      }
      return { attempts, lockedStillThrown: instance }
    },
  },
}
