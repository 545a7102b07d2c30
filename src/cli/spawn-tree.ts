// Runs a command with tethered preloaded into every Node process of its tree, forwarding
// signals and passing the command's exit status through.
import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { withPreload } from '../subprocess'
import { UsageError } from './usage-error'

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const

/** Exit code of the command; 128 + n when a signal ended it, as a shell reports it. */
export function runTree(command: string[], extraEnv: Record<string, string>): Promise<number> {
  if (command.length === 0) throw new UsageError('missing the command to run: tethered <subcommand> [options] -- COMMAND [ARGS...]')
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv }
  delete env.TETHERED_CHILD_POLICY // the tree starts from this command's options, not an outer payload
  env.NODE_OPTIONS = withPreload(process.env.NODE_OPTIONS)
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env })
    const forward = (signal: NodeJS.Signals) => child.kill(signal)
    for (const signal of FORWARDED) process.on(signal, forward)
    child.on('error', (err: NodeJS.ErrnoException) => {
      for (const signal of FORWARDED) process.off(signal, forward)
      reject(new UsageError(`cannot run ${JSON.stringify(command[0])}: ${err.code === 'ENOENT' ? 'command not found' : err.message}`))
    })
    child.on('exit', (code, signal) => {
      for (const signal of FORWARDED) process.off(signal, forward)
      if (signal) {
        const number = (constants.signals as Record<string, number>)[signal] ?? 0
        resolve(128 + number)
        return
      }
      resolve(code ?? 1)
    })
  })
}
