'use strict'
// Going around the patched properties instead of replacing them: shadowing them on a subclass
// prototype (tls), subclasses, raw binding handles, and resolvers that lie.

/** A raw TCP handle connected by hand, as net would; resolves with [returned errno, status]. */
function rawTcpConnect(ctx, connect, ip, port) {
  const { TCP, TCPConnectWrap, constants } = process.binding('tcp_wrap')
  return ctx.settleOnce((finish) => {
    const handle = new TCP(constants.SOCKET)
    const req = new TCPConnectWrap()
    req.oncomplete = (status) => {
      handle.close()
      finish({ rc: 0, status })
    }
    const rc = connect.call(handle, req, ip, port)
    if (rc !== 0) {
      handle.close()
      finish({ rc })
    }
  })
}

/** A raw UDP handle sending by hand; resolves with the returned errno (and status if sent). */
function rawUdpSend(ctx, send, ip, port) {
  const { UDP, SendWrap } = process.binding('udp_wrap')
  return ctx.settleOnce((finish) => {
    const handle = new UDP()
    const req = new SendWrap()
    req.oncomplete = (status) => {
      handle.close()
      finish({ rc: 0, status })
    }
    const rc = send.call(handle, req, [Buffer.from('tamper')], 1, port, ip, true)
    if (rc !== 0) {
      handle.close()
      finish({ rc })
    }
  })
}

module.exports = {
  // tls.TLSSocket inherits net.Socket's connect: assigning it on TLSSocket.prototype shadows the
  // locked accessor there (by design: Node relies on per-object copies). The replacement has
  // no original to call, so TLS connections still end in the checked layers.
  tlsShadow: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const { net, tls } = ctx
      const proto = tls.TLSSocket.prototype
      const viaNet = net.Socket.prototype.connect
      proto.connect = function connect(...args) {
        // Everything an attacker can reach: the wrapper, with an IP literal or a lying lookup.
        const [options] = args
        if (options && typeof options === 'object') {
          options.lookup = (_host, _opts, cb) => cb(null, ctx.BLOCKED_V4, 4)
        }
        return viaNet.apply(this, args)
      }
      Object.setPrototypeOf(proto, Object.create(net.Socket.prototype))
      return {
        shadowed: Object.prototype.hasOwnProperty.call(proto, 'connect'),
        tlsIp: await ctx.tcp(ctx.BLOCKED_V4, ctx.targets.blockedTcp, tls),
        tlsName: await ctx.tcp('evil.test', ctx.targets.blockedTcp, tls),
        tlsAllowedName: await ctx.tcp('api.stripe.test', ctx.targets.blockedTcp, tls),
      }
    },
  },

  subclasses: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const { net, dgram } = ctx
      const { TCP } = process.binding('tcp_wrap')
      class EvilSocket extends net.Socket {
        connect(...args) {
          return super.connect(...args)
        }
      }
      class EvilTCP extends TCP {
        connect(req, ip, port) {
          return super.connect(req, ip, port)
        }
      }
      class EvilDgram extends dgram.Socket {
        send(...args) {
          return super.send(...args)
        }
      }
      const socketResult = await ctx.settleOnce((finish) => {
        const s = new EvilSocket()
        s.on('connect', () => finish('ok'))
        s.on('error', (err) => finish(ctx.classify(err)))
        s.connect(ctx.targets.blockedTcp, ctx.BLOCKED_V4)
      })
      const tcpResult = await rawTcpConnect(ctx, EvilTCP.prototype.connect, ctx.BLOCKED_V4, ctx.targets.blockedTcp)
      const dgramResult = await ctx.settleOnce((finish) => {
        const s = new EvilDgram({ type: 'udp4' })
        s.on('error', (err) => finish(ctx.classify(err)))
        s.send(Buffer.from('x'), ctx.targets.blockedUdp, ctx.BLOCKED_V4, (err) => {
          s.close()
          finish(ctx.classify(err))
        })
      })
      return { socketResult, tcpResult, dgramResult }
    },
  },

  // Handles made without net/dgram, through the binding prototypes (wrapper references taken
  // after the lock are the only ones there are).
  rawHandles: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const { TCP } = process.binding('tcp_wrap')
      const { UDP } = process.binding('udp_wrap')
      return {
        tcp: await rawTcpConnect(ctx, TCP.prototype.connect, ctx.BLOCKED_V4, ctx.targets.blockedTcp),
        tcpMapped6: await rawTcpConnect(ctx, TCP.prototype.connect6, `::ffff:${ctx.BLOCKED_V4}`, ctx.targets.blockedTcp),
        udp: await rawUdpSend(ctx, UDP.prototype.send, ctx.BLOCKED_V4, ctx.targets.blockedUdp),
        eacces: process.binding('uv').UV_EACCES,
      }
    },
  },

  // A lookup function is not a resolver: an allowed name "resolving" to a blocked address, from
  // a connect option, a replaced dns.lookup or a replaced net.isIP, is judged by the address.
  lyingResolvers: {
    async run(ctx) {
      ctx.lock(ctx.t)
      const { net, dns } = ctx
      const liar = (_host, options, cb) => {
        const callback = typeof options === 'function' ? options : cb
        if (options && options.all) callback(null, [{ address: ctx.BLOCKED_V4, family: 4 }])
        else callback(null, ctx.BLOCKED_V4, 4)
      }
      const viaOption = await ctx.settleOnce((finish) => {
        const s = net.connect({ host: 'api.stripe.test', port: ctx.targets.blockedTcp, lookup: liar })
        s.on('connect', () => finish('ok'))
        s.on('error', (err) => finish(ctx.classify(err)))
      })
      const [lookup, isIP] = [dns.lookup, net.isIP]
      dns.lookup = liar
      net.isIP = () => 0
      const viaDnsLookup = await ctx.tcp('api.stripe.test', ctx.targets.blockedTcp)
      net.isIP = () => 4
      const viaIsIp = await ctx.tcp('evil.test', ctx.targets.blockedTcp)
      // Put them back: the probes that follow use dns.lookup and must really resolve.
      dns.lookup = lookup
      net.isIP = isIP
      return { viaOption, viaDnsLookup, viaIsIp }
    },
  },
}
