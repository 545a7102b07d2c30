// How launches are classified (Node launches inherit the policy; everything else is external),
// and the raw process_wrap binding getting the policy too.
import test from 'ava'
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { classify } from '../dist/subprocess.js'

test('node, npm and npx are Node launches; other programs are external', (t) => {
  t.is(classify(process.execPath, [process.execPath, '-e', '1']), 'node')
  t.is(classify('node', ['node', 'app.js']), 'node')
  t.is(classify('/usr/local/bin/npm', ['npm', 'test']), 'node')
  t.is(classify('curl', ['curl', 'https://example.invalid']), 'external')
  t.is(classify('true', ['true']), 'external')
})

test('shell command lines: every program they start must be Node', (t) => {
  const sh = (command: string) => classify('/bin/sh', ['/bin/sh', '-c', command])
  t.is(sh('node app.js'), 'node')
  t.is(sh('FOO=1 node app.js'), 'node')
  t.is(sh('cd /tmp && echo hi && node x.js'), 'node')
  t.is(sh('exec node x.js'), 'node')
  t.is(sh('node x.js && curl https://example.invalid'), 'external')
  t.is(sh('true'), 'external')
  t.is(sh('echo hi'), 'external')
})

test('shell command lines that strip the inherited policy are told apart', (t) => {
  const sh = (command: string) => classify('/bin/sh', ['/bin/sh', '-c', command])
  t.is(sh('env -u NODE_OPTIONS node x.js'), 'stripping')
  t.is(sh('NODE_OPTIONS= node x.js'), 'stripping')
  t.is(sh('unset NODE_OPTIONS; node x.js'), 'stripping')
  t.is(sh('env -i node x.js'), 'stripping')
})

test('a bin shim on PATH whose shebang runs node is a Node launch (npm scripts)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tethered-bin-'))
  writeFileSync(join(dir, 'my-tool'), '#!/usr/bin/env node\nconsole.log(1)\n')
  writeFileSync(join(dir, 'my-script'), '#!/bin/sh\necho 1\n')
  chmodSync(join(dir, 'my-tool'), 0o755)
  chmodSync(join(dir, 'my-script'), 0o755)
  t.is(classify('/bin/sh', ['/bin/sh', '-c', 'my-tool --flag'], dir), 'node')
  t.is(classify('/bin/sh', ['/bin/sh', '-c', 'my-script'], dir), 'external')
  t.is(classify(join(dir, 'my-tool'), [join(dir, 'my-tool')], dir), 'node')
})
