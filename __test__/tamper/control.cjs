'use strict'
// Controls: without tethered every probe reaches its destination (so the probes can fail), and
// the plain locked policy blocks them while the allowed destination works.
module.exports = {
  unprotected: { noLoad: true, run: () => ({}) },
  locked: {
    run(ctx) {
      ctx.lock(ctx.t)
      return {}
    },
  },
}
