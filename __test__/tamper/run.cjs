'use strict'
// Entry of a tamper child: `node run.cjs <group> <attack> [args...]`. An attack is
// { before?(ctx), run(ctx), after?(ctx), noLoad?, probes? }: `before` runs before tethered is
// loaded, `run` locks (usually) and attacks, then the blocked destinations and the allowed one
// are probed, then `after` may look at the aftermath. One JSON line on stdout is the report.
const child = require('./child.cjs')

const [group, name, ...args] = process.argv.slice(2)
const attack = require(`./${group}.cjs`)[name]

async function main() {
  if (!attack) throw new Error(`no attack ${group}/${name}`)
  const ctx = Object.assign({}, child, { args, t: null })
  if (attack.before) await attack.before(ctx)
  if (!attack.noLoad) ctx.t = child.load()
  const details = await attack.run(ctx)
  const probes = attack.probes === false ? null : await child.probeBlocked()
  const allowed = attack.probes === false ? null : await child.probeAllowed()
  const aftermath = attack.after ? await attack.after(ctx) : null
  child.report({ details, probes, allowed, aftermath })
}

main().then(
  () => child.exit(0),
  (err) => {
    child.report({ crashed: String((err && err.stack) || err) })
    child.exit(1)
  },
)
