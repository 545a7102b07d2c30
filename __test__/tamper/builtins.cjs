'use strict'
// Polluted built-ins: methods a JS allow-list decision would use, replaced after the lock so
// that they lie for the blocked destinations (and behave normally otherwise, so the rest of the
// process keeps working). The decision is native and the shims use captured primordials, so
// none of these may change a verdict.
const ReflectApply = Reflect.apply
const StringIncludes = String.prototype.includes

const BLOCKED_MARKS = ['evil', '203.0.113.9', 'blocked.test']

/** True for a string naming one of the blocked destinations. */
function blockedish(value) {
  if (typeof value !== 'string') return false
  for (let i = 0; i < BLOCKED_MARKS.length; i++) if (ReflectApply(StringIncludes, value, [BLOCKED_MARKS[i]])) return true
  return false
}

function anyBlockedish(self, args) {
  if (blockedish(self)) return true
  for (let i = 0; i < args.length; i++) if (blockedish(args[i])) return true
  return false
}

/** Replaces proto[name] with `lie(original, self, args)` when a blocked destination is involved. */
function pollute(proto, name, lie) {
  const original = proto[name]
  proto[name] = function (...args) {
    return anyBlockedish(this, args) ? lie(original, this, args) : ReflectApply(original, this, args)
  }
}

module.exports = {
  arrayMethods: {
    run(ctx) {
      ctx.lock(ctx.t)
      pollute(Array.prototype, 'includes', () => true)
      pollute(Array.prototype, 'indexOf', () => 0)
      pollute(Array.prototype, 'lastIndexOf', () => 0)
      pollute(Array.prototype, 'some', () => true)
      pollute(Array.prototype, 'every', () => true)
      pollute(Array.prototype, 'find', (original, self) => self[0])
      pollute(Array.prototype, 'findIndex', () => 0)
      pollute(Array.prototype, 'filter', (original, self) => ReflectApply(Array.prototype.slice, self, []))
      pollute(Array.prototype, 'push', (original, self) => self.length) // drops "blocked" entries
      pollute(Array.prototype, 'join', () => 'api.stripe.test')
      return {}
    },
  },

  stringMethods: {
    run(ctx) {
      ctx.lock(ctx.t)
      pollute(String.prototype, 'startsWith', () => true)
      pollute(String.prototype, 'endsWith', () => true)
      pollute(String.prototype, 'includes', () => true)
      pollute(String.prototype, 'indexOf', () => 0)
      pollute(String.prototype, 'toLowerCase', () => 'api.stripe.test')
      pollute(String.prototype, 'toUpperCase', () => 'API.STRIPE.TEST')
      pollute(String.prototype, 'trim', () => 'api.stripe.test')
      pollute(String.prototype, 'normalize', () => 'api.stripe.test')
      pollute(String.prototype, 'split', () => ['api', 'stripe', 'test'])
      pollute(String.prototype, 'replace', () => 'api.stripe.test')
      pollute(String.prototype, 'match', () => ['api.stripe.test'])
      pollute(RegExp.prototype, 'test', () => true)
      pollute(RegExp.prototype, 'exec', () => ['api.stripe.test'])
      return {}
    },
  },

  collections: {
    run(ctx) {
      ctx.lock(ctx.t)
      pollute(Set.prototype, 'has', () => true)
      pollute(Map.prototype, 'has', () => true)
      pollute(Map.prototype, 'get', () => 'api.stripe.test') // an IP -> hostname cache in JS would lie
      pollute(WeakMap.prototype, 'get', () => undefined)
      pollute(Object, 'hasOwn', () => true)
      pollute(Object.prototype, 'hasOwnProperty', () => true)
      return {}
    },
  },

  // A `check.call(...)`, `fn.apply(...)` or `Reflect.apply(...)` in a shim would return what the
  // attacker wants ("no error": allowed) without running the check.
  functionMethods: {
    run(ctx) {
      ctx.lock(ctx.t)
      const call = Function.prototype.call
      const apply = Function.prototype.apply
      const bind = Function.prototype.bind
      const reflectApply = Reflect.apply
      const argsOf = (list) => (list && typeof list.length === 'number' ? list : [])
      Function.prototype.call = function (self, ...args) {
        return anyBlockedish(undefined, args) ? null : reflectApply(this, self, args)
      }
      Function.prototype.apply = function (self, args) {
        return anyBlockedish(undefined, argsOf(args)) ? null : reflectApply(this, self, argsOf(args))
      }
      Function.prototype.bind = function (self, ...bound) {
        const fn = this
        return anyBlockedish(undefined, bound) ? () => null : reflectApply(bind, fn, [self, ...bound])
      }
      Reflect.apply = function (fn, self, args) {
        return anyBlockedish(undefined, argsOf(args)) ? null : reflectApply(fn, self, args)
      }
      Reflect.construct = new Proxy(Reflect.construct, {})
      return { replaced: Function.prototype.call !== call && Function.prototype.apply !== apply }
    },
  },

  // Options are plain objects: inherited properties could add a lookup, a path or a family.
  objectPrototype: {
    run(ctx) {
      ctx.lock(ctx.t)
      const liar = (_host, options, cb) => {
        const callback = typeof options === 'function' ? options : cb
        // Inherited by every object, it is also found as an event listener ('lookup' events).
        if (typeof callback !== 'function') return
        if (options && options.all) callback(null, [{ address: ctx.BLOCKED_V4, family: 4 }])
        else callback(null, ctx.BLOCKED_V4, 4)
      }
      Object.prototype.lookup = liar
      Object.prototype.hints = 0
      Object.prototype.verbatim = true
      Object.prototype.allowHalfOpen = true
      return { viaAllowedName: null }
    },
    async after(ctx) {
      // The lying lookup reached through every options object: an allowed name must not lead to
      // the blocked address.
      const result = await ctx.tcp('api.stripe.test', ctx.targets.blockedTcp)
      delete Object.prototype.lookup
      return { viaAllowedName: result }
    },
  },

  // Destructuring (`const [req, host] = args`) runs the array iterator protocol; a replaced
  // iterator that hides the address from the shim must not let the connection through.
  arrayIterator: {
    run(ctx) {
      ctx.lock(ctx.t)
      const values = Array.prototype[Symbol.iterator]
      Array.prototype[Symbol.iterator] = function () {
        let hide = false
        for (let i = 0; i < this.length; i++) if (blockedish(this[i])) hide = true
        return ReflectApply(values, hide ? [] : this, [])
      }
      return {}
    },
  },

  arrayIteratorNext: {
    run(ctx) {
      ctx.lock(ctx.t)
      const ArrayIteratorPrototype = Object.getPrototypeOf([][Symbol.iterator]())
      const next = ArrayIteratorPrototype.next
      ArrayIteratorPrototype.next = function () {
        const step = ReflectApply(next, this, [])
        return blockedish(step.value) ? { value: undefined, done: false } : step
      }
      return {}
    },
  },

  // Scopes narrow the global policy inside a call; the scope of the current async context is
  // read from AsyncLocalStorage, whose methods are shared built-ins too.
  asyncLocalStorage: {
    async run(ctx) {
      const { AsyncLocalStorage } = require('node:async_hooks')
      ctx.t.activate({ allow: ['api.stripe.test', 'other.test'], locked: true, lockToken: ctx.token })
      const inScope = (fn) => ctx.t.scope({ allow: ['api.stripe.test'] }, fn)
      const before = await inScope(() => ctx.tcp('other.test', ctx.targets.blockedTcp))
      AsyncLocalStorage.prototype.getStore = () => undefined
      const after = await inScope(() => ctx.tcp('other.test', ctx.targets.blockedTcp))
      return { before, after }
    },
  },
}
