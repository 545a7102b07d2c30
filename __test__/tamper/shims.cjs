'use strict'
// Attacks on the patched properties themselves: every way JS has to replace, remove or shadow
// a property, tried on each property tethered patches (argv[0] names it). A reference taken
// after the lock is the wrapper, so "restoring" it changes nothing; a reference taken BEFORE
// activate() (an original) is outside the threat model: code that runs before tethered is
// trusted, like a preload.

/** id -> [holder, key], resolved in the child after the lock. */
const TARGETS = {
  'net.Socket.prototype.connect': () => [require('node:net').Socket.prototype, 'connect'],
  'TCP.prototype.connect': () => [process.binding('tcp_wrap').TCP.prototype, 'connect'],
  'TCP.prototype.connect6': () => [process.binding('tcp_wrap').TCP.prototype, 'connect6'],
  'cares_wrap.getaddrinfo': () => [process.binding('cares_wrap'), 'getaddrinfo'],
  'cares_wrap.getnameinfo': () => [process.binding('cares_wrap'), 'getnameinfo'],
  'ChannelWrap.prototype.queryA': () => [process.binding('cares_wrap').ChannelWrap.prototype, 'queryA'],
  'ChannelWrap.prototype.getHostByAddr': () => [process.binding('cares_wrap').ChannelWrap.prototype, 'getHostByAddr'],
  'dns.promises.lookup': () => [require('node:dns').promises, 'lookup'],
  'dns.promises.reverse': () => [require('node:dns').promises, 'reverse'],
  'dgram.Socket.prototype.send': () => [require('node:dgram').Socket.prototype, 'send'],
  'dgram.Socket.prototype.connect': () => [require('node:dgram').Socket.prototype, 'connect'],
  'UDP.prototype.send': () => [process.binding('udp_wrap').UDP.prototype, 'send'],
  'UDP.prototype.send6': () => [process.binding('udp_wrap').UDP.prototype, 'send6'],
  'UDP.prototype.connect': () => [process.binding('udp_wrap').UDP.prototype, 'connect'],
  'UDP.prototype.connect6': () => [process.binding('udp_wrap').UDP.prototype, 'connect6'],
  'http.Agent.prototype.addRequest': () => [require('node:http').Agent.prototype, 'addRequest'],
  'worker_threads.Worker': () => [require('node:worker_threads'), 'Worker'],
  'ChildProcess.prototype.spawn': () => [require('node:child_process').ChildProcess.prototype, 'spawn'],
  'spawn_sync.spawn': () => [process.binding('spawn_sync'), 'spawn'],
  'process.execve': () => [process, 'execve'],
  'process.binding': () => [process, 'binding'],
  'process.dlopen': () => [process, 'dlopen'],
  'process.removeListener': () => [process, 'removeListener'],
  'process.off': () => [process, 'off'],
  'process.removeAllListeners': () => [process, 'removeAllListeners'],
}

// Sloppy-mode assignment (this file is strict): a failed write is silent instead of a TypeError.
const sloppyAssign = new Function('o', 'k', 'v', 'o[k] = v')

function techniques(holder, key, wrapper, evil) {
  return {
    assign: () => {
      holder[key] = evil
    },
    assignSloppy: () => sloppyAssign(holder, key, evil),
    assignObject: () => Object.assign(holder, { [key]: evil }),
    delete: () => delete holder[key],
    reflectDelete: () => Reflect.deleteProperty(holder, key),
    reflectSet: () => Reflect.set(holder, key, evil),
    defineValue: () => Object.defineProperty(holder, key, { value: evil, writable: true, configurable: true, enumerable: true }),
    defineValueOnly: () => Object.defineProperty(holder, key, { value: evil }),
    defineAccessor: () => Object.defineProperty(holder, key, { get: () => evil, configurable: true }),
    defineProperties: () => Object.defineProperties(holder, { [key]: { value: evil } }),
    reflectDefine: () => Reflect.defineProperty(holder, key, { value: evil }),
    // The accessor's own setter, called on the holder itself.
    ownSetter: () => Object.getOwnPropertyDescriptor(holder, key).set.call(holder, evil),
    // A prototype that has its own `key`: the holder's own property still wins.
    setPrototypeOf: () =>
      Object.setPrototypeOf(holder, Object.create(Object.getPrototypeOf(holder), { [key]: { value: evil, writable: true, configurable: true } })),
    // "Restoring" a reference captured after the lock: that reference is the wrapper.
    restoreSaved: () => {
      holder[key] = wrapper
    },
  }
}

function attackTarget(ctx, id) {
  const [holder, key] = TARGETS[id]()
  if (!(key in holder)) return { missing: true }
  const wrapper = holder[key]
  const descriptor = Object.getOwnPropertyDescriptor(holder, key)
  const evil = function evil() {
    return 'evil'
  }
  const results = {}
  for (const [name, fn] of Object.entries(techniques(holder, key, wrapper, evil))) {
    const outcome = ctx.attempt(fn)
    results[name] = { outcome, intact: holder[key] === wrapper }
  }
  return {
    descriptor: descriptor && { configurable: descriptor.configurable, accessor: typeof descriptor.get === 'function' },
    results,
    intact: holder[key] === wrapper && typeof wrapper === 'function',
  }
}

module.exports = {
  TARGET_IDS: Object.keys(TARGETS),
  target: {
    run(ctx) {
      // denyNativeAddons so that process.dlopen is one of the patched properties too.
      ctx.lock(ctx.t, { denyNativeAddons: true })
      return attackTarget(ctx, ctx.args[0])
    },
  },
}
