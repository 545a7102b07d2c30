// Run in a project where the platform package was not installed: what require() and import()
// of tethered throw. Prints one JSON object.
const summary = (err) => ({ threw: true, code: err && err.code, message: String(err && err.message) })

const out = {}
try {
  require('tethered')
  out.require = { threw: false }
} catch (err) {
  out.require = summary(err)
}
import('tethered').then(
  () => (out.import = { threw: false }),
  (err) => (out.import = summary(err)),
).then(() => process.stdout.write(JSON.stringify(out)))
