// What NAPI_RS_NATIVE_LIBRARY_PATH points at in the test: napi-rs' generated loader would
// require() this file instead of the real library. tethered's loader must never load it; if it
// does, it writes the file named by EVIL_MARKER.
require('node:fs').writeFileSync(process.env.EVIL_MARKER, 'loaded')
module.exports = {}
