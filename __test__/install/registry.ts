// A private npm registry for the install test: verdaccio (a devDependency) on 127.0.0.1, with
// no uplinks (it knows only what the test publishes and answers 404 for anything else), its
// storage in the test's temp dir, and one user whose token goes into an npmrc.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO } from './tools.js'

export interface Registry {
  url: string
  /** userconfig with `registry=` and the auth token for publishing. */
  npmrc: string
  close(): Promise<void>
}

/** Why the registry cannot run here (verdaccio not installed), or undefined. */
export function registryUnavailable(): string | undefined {
  try {
    createRequire(join(REPO, 'package.json')).resolve('verdaccio')
    return undefined
  } catch {
    return 'devDependency verdaccio is not installed'
  }
}

export async function startRegistry(dir: string): Promise<Registry> {
  mkdirSync(dir, { recursive: true })
  const config = join(dir, 'verdaccio.yaml')
  // JSON is YAML; absolute paths, since verdaccio resolves relative ones against the config.
  writeFileSync(
    config,
    JSON.stringify({
      storage: join(dir, 'storage'),
      auth: { htpasswd: { file: join(dir, 'htpasswd'), max_users: 10 } },
      uplinks: {},
      packages: { '**': { access: '$all', publish: '$authenticated', unpublish: '$authenticated' } },
      web: { enable: false },
      log: { type: 'stdout', format: 'pretty', level: 'warn' },
    }),
  )
  const child = spawn(process.execPath, [join(REPO, '__test__', 'install', 'verdaccio.cjs'), config], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`verdaccio did not start within 60 s:\n${output}`)), 60_000)
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk
      const m = /port=(\d+)/.exec(output)
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    child.stderr.on('data', (chunk: Buffer) => (output += chunk))
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`verdaccio exited (${code}) before listening:\n${output}`))
    })
  })
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  const close = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
  try {
    const url = `http://127.0.0.1:${port}/`
    const res = await fetch(`${url}-/user/org.couchdb.user:tester`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'tester', password: 'tester-password' }),
    })
    const body = (await res.json()) as { token?: string }
    if (!res.ok || !body.token) throw new Error(`cannot create the registry user: ${res.status} ${JSON.stringify(body)}`)
    const npmrc = join(dir, 'npmrc')
    writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${body.token}\n`)
    return { url, npmrc, close }
  } catch (err) {
    await close()
    throw err
  }
}
