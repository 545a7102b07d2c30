// Installs every shim once per thread, in the order NODE-INTERNALS.md §9 requires: bindings
// first, then dns.promises (whose module captures the bindings when it loads), then the JS
// layer, then the ESM named exports are re-synced.
import { syncBuiltinESMExports } from 'node:module'
import { installDgram } from './dgram'
import { installDns } from './dns'
import { installNet } from './net'
import { installRequestShims } from './request'
import { installSubprocess } from '../subprocess'
import { installWorkers } from '../workers'

let installed = false

export function installShims(): void {
  if (installed) return
  installed = true
  // Without the binding layer (node --permission) bindings.ts has already warned once.
  installDns()
  installNet()
  installDgram()
  installRequestShims()
  installWorkers()
  installSubprocess()
  syncBuiltinESMExports()
}
