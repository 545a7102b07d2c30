// Shared by the subprocess examples: a Node child process that fetches URLs and prints what
// happened. It does not import tethered; it recognizes a block by the error code.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const CHILD = `
for (const arg of process.argv.slice(1)) {
  const [name, url] = arg.split('=')
  try {
    const res = await fetch(url)
    console.log('  child: ' + name + ' allowed (HTTP ' + res.status + ')')
  } catch (err) {
    if (err.cause?.code !== 'ERR_TETHERED_EGRESS_BLOCKED') throw err
    console.log('  child: ' + name + ' blocked — ' + err.cause.message)
  }
}`

/** Runs the child with node (asynchronously) on `{ name: url }` and prints its output. */
export async function runFetchingChild(targets) {
  const args = ['--input-type=module', '-e', CHILD, ...Object.entries(targets).map(([name, url]) => `${name}=${url}`)]
  const { stdout } = await promisify(execFile)(process.execPath, args)
  process.stdout.write(stdout)
}
