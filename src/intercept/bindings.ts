// Access to Node's internal bindings, the layer every socket and lookup finally goes through.
// Under `node --permission` `process.binding` is refused: then only the JS layer is installed
// and the caller warns once.
import { log } from '../logger'
import { lockIfLocked, registerPatch } from '../protect'

type Binding = Record<string, unknown>

let warned = false

export function binding(name: string): Binding | null {
  try {
    // process.binding is deprecated for applications, but it returns the very objects
    // Node's own lib uses (internalBinding), which is what enforcement has to patch.
    return (process as unknown as { binding(name: string): Binding }).binding(name)
  } catch (err) {
    if (!warned) {
      warned = true
      log(
        'warn',
        `tethered: Node's internal bindings are not reachable (${(err as Error).message.split('\n')[0]}); ` +
          'the binding-level layer is missing: only the JS-level shims are installed, so sockets made without net/dgram/dns are NOT checked',
      )
    }
    return null
  }
}

/** Node's errno for "permission denied", returned by a binding call we refuse. */
export function uvEacces(): number {
  const uv = binding('uv')
  const code = uv?.UV_EACCES
  return typeof code === 'number' ? code : -13
}

/** Replaces `target[key]` with `wrap(original)`; returns false if it is not a function. */
export function patchMethod(target: object, key: string, wrap: (original: (...args: unknown[]) => unknown) => (...args: unknown[]) => unknown): boolean {
  const holder = target as Record<string, unknown>
  const original = holder[key]
  if (typeof original !== 'function') return false
  const wrapped = wrap(original as (...args: unknown[]) => unknown)
  Object.defineProperty(wrapped, 'name', { value: (original as { name: string }).name, configurable: true })
  Object.defineProperty(wrapped, 'length', { value: (original as { length: number }).length, configurable: true })
  holder[key] = wrapped
  registerPatch(holder, key, wrapped)
  lockIfLocked(holder, key)
  return true
}
