'use strict'

// Every route an attacker has from the exported Worker to Node's own class: the superclass,
// the prototype's constructor. Function.prototype when none leads there.
function reachableOriginal(Worker) {
  for (const candidate of [Object.getPrototypeOf(Worker), Worker.prototype && Worker.prototype.constructor]) {
    if (typeof candidate === 'function' && candidate !== Worker && candidate.name === 'Worker') return candidate
  }
  return Function.prototype
}
// Poisoning the IP -> hostname cache: a connect to an IP is allowed when the IP was resolved
// from an allowed name, so "api.stripe.test resolved to 203.0.113.9" would open the blocked
// address. Recording needs the capability that only the first-loaded copy of tethered holds.
const POISON = ['api.stripe.test', ['203.0.113.9']]

/** Connects to the blocked address by IP once the poison is in: must still be blocked. */
function afterPoison(ctx) {
  return ctx.tcp(ctx.BLOCKED_V4, ctx.targets.blockedTcp)
}

function workerCode(extra) {
  return `
const { parentPort, workerData } = require('node:worker_threads')
const out = {}
try {
  const raw = require(workerData.native)
  const capability = raw.claim()
  out.claimed = capability !== null && capability !== undefined
  if (out.claimed) raw.recorder(capability)(${JSON.stringify(POISON[0])}, ${JSON.stringify(POISON[1])})
} catch (err) { out.error = String(err && err.message) }
${extra}
parentPort.postMessage(out)
`
}

function runWorker(ctx, WorkerClass, code, options) {
  return ctx.settleOnce((finish) => {
    const worker = new WorkerClass(code, Object.assign({ eval: true, workerData: { native: ctx.NATIVE } }, options))
    worker.on('message', (message) => {
      worker.terminate()
      finish(message)
    })
    worker.on('error', (err) => finish({ workerError: String(err) }))
  }, ctx.WORKER_MS)
}

module.exports = {
  // The raw napi functions, without the capability (forged, null, or claimed again).
  nativeNoCapability: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const raw = require(ctx.NATIVE)
      const forged = {
        claimedAgain: raw.claim(),
        emptyObject: {},
        fromPrototype: raw.Capability ? Object.create(raw.Capability.prototype) : {},
        nullCapability: null,
      }
      const results = {
        claimAgain: forged.claimedAgain === null || forged.claimedAgain === undefined ? 'null' : 'capability',
        construct: ctx.attempt(() => new raw.Capability()),
      }
      for (const [name, capability] of Object.entries(forged)) {
        results[name] = {
          // Minting a recording function needs the capability, so both attempts must throw.
          record: ctx.attempt(() => raw.recorder(capability)(POISON[0], POISON[1])),
          recorder: ctx.attempt(() => raw.recorder(capability)),
        }
      }
      // A second instance of the module (require cache cleared) is a new exports object of the
      // same library: its claim() must not mint a second capability either.
      delete require.cache[ctx.NATIVE]
      const again = require(ctx.NATIVE)
      const second = again.claim()
      results.secondInstance = { fresh: again !== raw, claimed: second !== null && second !== undefined }
      if (results.secondInstance.claimed) results.secondInstance.record = ctx.attempt(() => again.recorder(second)(POISON[0], POISON[1]))
      results.afterPoison = await afterPoison(ctx)
      return results
    },
  },

  // The capability holder records answers from the `oncomplete` it installs on the request.
  // That function is a property of a request object the caller made, so the caller can call it
  // with an answer of its choosing.
  oncompleteGetaddrinfo: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const cares = process.binding('cares_wrap')
      const req = new cares.GetAddrInfoReqWrap()
      req.oncomplete = () => {}
      cares.getaddrinfo(req, POISON[0], 4, 0, 0)
      const installed = req.oncomplete
      const called = ctx.attempt(() => installed(0, POISON[1]))
      return { called, afterPoison: await afterPoison(ctx) }
    },
  },

  oncompleteQuery: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const cares = process.binding('cares_wrap')
      const channel = new ctx.dns.Resolver()._handle
      const req = new cares.QueryReqWrap()
      req.oncomplete = () => {}
      channel.queryA(req, POISON[0])
      const installed = req.oncomplete
      const called = ctx.attempt(() => installed(0, POISON[1], []))
      return { called, afterPoison: await afterPoison(ctx) }
    },
  },

  // The same through Node's own dns.lookup: an accessor on the request prototype sees the
  // function tethered installs.
  oncompleteSetter: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const { GetAddrInfoReqWrap } = process.binding('cares_wrap')
      let installed = null
      Object.defineProperty(GetAddrInfoReqWrap.prototype, 'oncomplete', {
        configurable: true,
        get() {
          return this._oncomplete
        },
        set(fn) {
          installed = fn
          this._oncomplete = fn
        },
      })
      await ctx.settleOnce((finish) => ctx.dns.lookup(POISON[0], () => finish()))
      delete GetAddrInfoReqWrap.prototype.oncomplete
      const called = installed ? ctx.attempt(() => installed(0, POISON[1])) : null
      return { called, afterPoison: await afterPoison(ctx) }
    },
  },

  // Node hands request objects to JS, tethered's private ones included: an async_hooks `init`
  // hook and process._getActiveRequests() collect them; a `before` hook (which runs in the
  // request's own async context, just before Node completes it) calls their oncomplete with a
  // forged answer, and so does the lookup's callback on executionAsyncResource() (the request
  // being completed). The async_wrap binding would let code enter any async context.
  asyncHooks: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const asyncHooks = require('node:async_hooks')
      const seen = []
      const forged = new Set()
      let forgedCalls = 0
      let forgedThrew = 0
      let initSeen = 0
      const forge = () => {
        for (const resource of seen) {
          if (forged.has(resource) || typeof resource.oncomplete !== 'function') continue
          forged.add(resource)
          forgedCalls++
          try {
            resource.oncomplete(0, POISON[1], [])
          } catch {
            forgedThrew++ // a throw inside an async hook would end the process
          }
        }
      }
      const active = () => {
        for (const request of process._getActiveRequests()) if (!seen.includes(request)) seen.push(request)
      }
      const hook = asyncHooks.createHook({
        init(_id, type, _trigger, resource) {
          if (type === 'GETADDRINFOREQWRAP' || type === 'QUERYWRAP') {
            initSeen++
            seen.push(resource)
          }
        },
        before: forge,
      })
      hook.enable()
      await ctx.settleOnce((finish) => {
        ctx.dns.lookup(POISON[0], () => {
          const current = asyncHooks.executionAsyncResource()
          if (current && typeof current.oncomplete === 'function' && !forged.has(current)) {
            forged.add(current) // once: Node's own request calls this callback again
            forgedCalls++
            current.oncomplete(0, POISON[1])
          }
          finish()
        })
        active() // the requests in flight
      })
      await ctx.settleOnce((finish) => {
        new ctx.dns.Resolver().resolve4(POISON[0], () => finish())
        active()
      })
      forged.clear()
      forge()
      hook.disable()
      return {
        requestsSeen: seen.length,
        initSeen,
        forgedCalls,
        forgedThrew,
        // tethered's private request class is RecordingReq; code must only ever see Node's.
        privateSeen: seen.filter((r) => r.constructor && r.constructor.name === 'RecordingReq').map((r) => r.constructor.name),
        asyncWrapBinding: ctx.attempt(() => process.binding('async_wrap')),
        afterPoison: await afterPoison(ctx),
      }
    },
  },

  // `await` of a lookup's promise goes through Promise.prototype.then once the promise's
  // constructor is not %Promise%: the awaited answer can be swapped before it is recorded.
  promiseThen: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const then = Promise.prototype.then
      Promise.prototype.constructor = Object
      Promise.prototype.then = function (onFulfilled, onRejected) {
        const swap = (value) =>
          onFulfilled(value && value.address === '198.51.100.7' ? { address: POISON[1][0], family: 4 } : value)
        return Reflect.apply(then, this, [typeof onFulfilled === 'function' ? swap : onFulfilled, onRejected])
      }
      let answer
      try {
        answer = await ctx.dns.promises.lookup(POISON[0])
      } catch (err) {
        answer = { error: err.code }
      }
      Promise.prototype.then = then
      Promise.prototype.constructor = Promise
      return { answer, afterPoison: await afterPoison(ctx) }
    },
  },

  // If tethered looked the raw module's functions up when calling them, replacing recorder
  // would receive the capability as its argument (it takes them once, when it loads).
  rawMethodSteal: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const raw = require(ctx.NATIVE)
      const real = raw.recorder
      let stolen = null
      const replaced = ctx.attempt(() => {
        raw.recorder = function (capability) {
          stolen = capability
          return Reflect.apply(real, this, [capability])
        }
      })
      await ctx.settleOnce((finish) => ctx.dns.lookup(POISON[0], () => finish()))
      const record = stolen ? ctx.attempt(() => real(stolen)(POISON[0], POISON[1])) : null
      return { replaced, stolen: stolen !== null, record, afterPoison: await afterPoison(ctx) }
    },
  },

  // dns/promises loaded before tethered (ordinary load order) holds the original bindings, so
  // its JS-level shim is the only check; that shim asks the native module whether the name is
  // an IP. A lying isIp must not skip the check.
  rawIsIp: {
    before() {
      require('node:dns/promises')
    },
    async run(ctx) {
      ctx.lock(ctx.t)
      const raw = require(ctx.NATIVE)
      const replaced = ctx.attempt(() => {
        raw.isIp = () => true
      })
      const viaPromises = await ctx.attemptAsync(() => ctx.dns.promises.lookup(ctx.targets.gaiName))
      return { replaced, viaPromises }
    },
  },

  // A worker made through the (wrapped) Worker class runs tethered first: it holds that
  // isolate's capability, so the attacker's claim() gets nothing.
  workerClaim: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const { Worker, SHARE_ENV } = require('node:worker_threads')
      return {
        plain: await runWorker(ctx, Worker, workerCode('')),
        noExecArgvNoEnv: await runWorker(ctx, Worker, workerCode(''), { execArgv: [], env: {} }),
        shareEnv: await runWorker(ctx, Worker, workerCode(''), { env: SHARE_ENV }),
        afterPoison: await afterPoison(ctx),
      }
    },
  },

  // The original Worker class is the wrapper's superclass: a worker made with it runs no
  // tethered, so its isolate's capability is still unclaimed.
  rawWorkerClaim: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const { Worker } = require('node:worker_threads')
      const Original = reachableOriginal(Worker)
      return {
        original: Original !== Function.prototype ? Original.name : null,
        worker: Original !== Function.prototype ? await runWorker(ctx, Original, workerCode('')) : 'no original reachable',
        afterPoison: await afterPoison(ctx),
      }
    },
  },
}
