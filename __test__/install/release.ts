// Publishes this checkout to the test registry the way the release job does (see
// .github/workflows/ci.yml, job publish): the root package's packed files plus the
// linux-x64-gnu platform package with the built binary; `napi pre-publish` publishes the
// platform package and writes the root's optionalDependencies; then `npm publish`.
// Everything happens on a staged copy: the checkout is not modified.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { REPO, mustRun, npmCli, npmEnv } from './tools.js'

export const PLATFORM = 'linux-x64-gnu'
export const TARGET = 'x86_64-unknown-linux-gnu'
export const BINARY = `tethered.${PLATFORM}.node`

type Manifest = Record<string, unknown> & { version: string; optionalDependencies?: Record<string, string> }

/** The files `npm pack` would put in the root package (what users get). */
export async function rootPackList(work: string): Promise<string[]> {
  const { stdout } = await mustRun(process.execPath, [npmCli(), 'pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: REPO,
    env: npmEnv(work, join(work, 'no-npmrc')),
  })
  return (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path)
}

/** A manifest copy that can only be published where the test says (publishConfig could name a real registry). */
function stageManifest(from: string, to: string): Manifest {
  const manifest = JSON.parse(readFileSync(from, 'utf8')) as Manifest
  delete manifest.publishConfig
  mkdirSync(dirname(to), { recursive: true })
  writeFileSync(to, `${JSON.stringify(manifest, null, 2)}\n`)
  return manifest
}

/** Publishes both packages; returns the root manifest as published. */
export async function publishRelease(work: string, npmrc: string): Promise<Manifest> {
  const stage = join(work, 'release')
  for (const file of await rootPackList(work)) {
    if (file === 'package.json') continue
    mkdirSync(dirname(join(stage, file)), { recursive: true })
    copyFileSync(join(REPO, file), join(stage, file))
  }
  stageManifest(join(REPO, 'package.json'), join(stage, 'package.json'))
  stageManifest(join(REPO, 'npm', PLATFORM, 'package.json'), join(stage, 'npm', PLATFORM, 'package.json'))
  // What `napi artifacts` does with the CI build artifact.
  copyFileSync(join(REPO, BINARY), join(stage, 'npm', PLATFORM, BINARY))
  // Only the target this machine builds (the release job has all of them).
  writeFileSync(join(stage, 'napi.local.json'), JSON.stringify({ binaryName: 'tethered', packageName: 'tethered', targets: [TARGET] }))

  const env = npmEnv(work, npmrc)
  const napi = join(REPO, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
  await mustRun(process.execPath, [napi, 'pre-publish', '-t', 'npm', '--no-gh-release', '-c', 'napi.local.json'], { cwd: stage, env })
  // --ignore-scripts: the repo's prepublishOnly guard wants all eight platform packages.
  await mustRun(process.execPath, [npmCli(), 'publish', '--ignore-scripts'], { cwd: stage, env })
  return JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8')) as Manifest
}
