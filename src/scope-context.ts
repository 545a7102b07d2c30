// The scope stack of the current async context, on AsyncLocalStorage. Each frame holds the
// native chain of compiled scope policies (outermost first) and what JS needs to report a block.
import { AsyncLocalStorage } from 'node:async_hooks'
import { ReflectApply } from './primordials'
import type { ChainCheck, ScopeChain } from './native'
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
  /** The chain's fast native check. */
  readonly check: ChainCheck
  readonly entries: readonly ScopeEntry[]
}

const scopeStorage = new AsyncLocalStorage<ScopeFrame>()

// Captured at load: replacing AsyncLocalStorage.prototype.getStore/run later must not let code
// step out of its scope.
const getStore = AsyncLocalStorage.prototype.getStore
const run = AsyncLocalStorage.prototype.run
const enterWith = AsyncLocalStorage.prototype.enterWith

export function currentFrame(): ScopeFrame | undefined {
  return ReflectApply(getStore, scopeStorage, []) as ScopeFrame | undefined
}

/** `scopeStorage.run(frame, fn, ...args)` with the captured method. */
export function runInFrame<R>(frame: ScopeFrame, fn: (...args: never[]) => R, ...args: unknown[]): R {
  const callArgs: unknown[] = [frame, fn]
  for (let i = 0; i < args.length; i++) callArgs[i + 2] = args[i]
  return ReflectApply(run, scopeStorage, callArgs) as R
}

/** `scopeStorage.enterWith(frame)` with the captured method. */
export function enterFrame(frame: ScopeFrame): void {
  ReflectApply(enterWith, scopeStorage, [frame])
}
