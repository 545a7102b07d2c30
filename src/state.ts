// This thread's view of the global policy options that live in JS (callbacks cannot live in
// native memory). The policy itself is process-wide native state.
import { native } from './native'
import type { BlockInfo } from './report'

export interface GlobalOptions {
  readonly logOnly: boolean
  readonly failClosed: boolean
  readonly allowLocalhost: boolean
  readonly onBlocked: ((host: string, port: number | null, info: BlockInfo) => void) | null
  readonly locked: boolean
  readonly externalSubprocessPolicy: 'warn' | 'allow' | 'block'
  readonly allow: readonly string[]
}

export const state: { global: GlobalOptions | null } = { global: null }

/** In a thread that did not call activate() (a worker), mirror the process-wide policy. */
export function adoptGlobal(): void {
  const settings = native.globalSettings()
  if (!settings || state.global) return
  state.global = Object.freeze({
    logOnly: settings.logOnly,
    failClosed: settings.failClosed,
    allowLocalhost: settings.allowLocalhost,
    onBlocked: null,
    locked: settings.locked,
    externalSubprocessPolicy: settings.externalSubprocessPolicy as 'warn' | 'allow' | 'block',
    allow: Object.freeze([...settings.allow]),
  })
}
