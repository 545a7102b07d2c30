// The scope stack of the current async context, on AsyncLocalStorage. Each frame holds the
// native chain of compiled scope policies (outermost first) and what JS needs to report a block.
import { AsyncLocalStorage } from 'node:async_hooks'
import type { ScopeChain } from './native'
import type { BlockInfo } from './report'

export interface ScopeEntry {
  /** The rules as given, for the payload of workers and child processes. */
  readonly allow: readonly string[]
  readonly allowLocalhost: boolean
  readonly label: string
  readonly logOnly: boolean
  readonly failClosed: boolean
  readonly onBlocked: ((host: string, port: number | null, info: BlockInfo) => void) | null
}

export interface ScopeFrame {
  readonly chain: ScopeChain
  readonly entries: readonly ScopeEntry[]
}

export const scopeStorage = new AsyncLocalStorage<ScopeFrame>()

export function currentFrame(): ScopeFrame | undefined {
  return scopeStorage.getStore()
}
