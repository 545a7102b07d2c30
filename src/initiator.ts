// The npm package that started a blocked connection: the nearest package.json above the first
// stack frame outside tethered and Node's internals. Computed only when something is blocked.
import { readFileSync } from 'node:fs'
import { dirname, join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface Initiator {
  readonly name: string
  readonly version: string | null
  /** The file of the first frame outside tethered. */
  readonly file: string
}

const ownDir = __dirname + sep
const packageCache = new Map<string, { name: string; version: string | null } | null>()

function framePath(line: string): string | null {
  const match = /\(?((?:file:\/\/)?\/[^():]+|[A-Za-z]:\\[^():]+):\d+:\d+\)?$/.exec(line.trim())
  if (!match) return null
  const path = match[1]!
  return path.startsWith('file://') ? fileURLToPath(path) : path
}

function nearestPackage(file: string): { name: string; version: string | null } | null {
  let dir = dirname(file)
  const visited: string[] = []
  for (;;) {
    const cached = packageCache.get(dir)
    if (cached !== undefined) {
      visited.forEach((d) => packageCache.set(d, cached))
      return cached
    }
    visited.push(dir)
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown }
      if (typeof pkg.name === 'string') {
        const found = { name: pkg.name, version: typeof pkg.version === 'string' ? pkg.version : null }
        visited.forEach((d) => packageCache.set(d, found))
        return found
      }
    } catch {
      // no (readable) package.json here: keep walking up
    }
    const parent = dirname(dir)
    if (parent === dir) {
      visited.forEach((d) => packageCache.set(d, null))
      return null
    }
    dir = parent
  }
}

/** Who is connecting, from the current stack; null when only tethered/Node frames are on it. */
export function findInitiator(): Initiator | null {
  const holder: { stack?: unknown } = {}
  const limit = Error.stackTraceLimit
  try {
    Error.stackTraceLimit = 64
    Error.captureStackTrace(holder, findInitiator)
  } finally {
    Error.stackTraceLimit = limit
  }
  if (typeof holder.stack !== 'string') return null
  for (const line of holder.stack.split('\n').slice(1)) {
    const file = framePath(line)
    if (file === null || file.startsWith(ownDir) || file.startsWith('node:')) continue
    const pkg = nearestPackage(file)
    return pkg ? { ...pkg, file } : null
  }
  return null
}
