#!/usr/bin/env node
// Test entry point (`npm test`): runs ava inside a private network + mount
// namespace so tests can use real hostnames and non-loopback addresses (see
// __test__/harness/zone.mjs) without touching the machine.
//
//   node scripts/run-tests.mjs [ava args...]
//
// Stages (one process each):
//   outer  – checks root/unshare/ip, writes hosts/resolv.conf into a temp dir,
//            re-execs itself under `unshare -n -m`, removes the temp dir after.
//   inner  – (TETHERED_NETNS_STAGE=<tmpdir>) bind-mounts the files, configures
//            lo, starts the DNS responder in-process, runs ava.
//   direct – TETHERED_NETNS=1 already set: just run ava.
// TETHERED_REQUIRE_NETNS=1 turns "cannot build the namespace" into a failure
// instead of a skip (for CI, where a silent skip would hide the network suite).

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const REPO = path.resolve(path.dirname(SELF), '..');
const HARNESS = path.join(REPO, '__test__', 'harness');
const STAGE = 'TETHERED_NETNS_STAGE';
const args = process.argv.slice(2);

const log = (msg) => process.stderr.write(`tethered tests: ${msg}\n`);

/** Absolute path of a tool; sbin dirs are added because non-login PATHs often lack them. */
function which(name) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const d of dirs) {
    const p = path.join(d || '.', name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

/** Run a setup command; any failure aborts with the command's own stderr. */
function run(cmd, ...argv) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) {
    throw new Error(`namespace setup failed: ${cmd} ${argv.join(' ')}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
  }
}

/** Spawn, forward termination signals, resolve with a shell-style exit code. */
function spawnForwarding(cmd, argv, env) {
  // cwd = repo root: ava takes its config from the package.json nearest to
  // cwd, and __test__/package.json would otherwise win when run from there.
  const child = spawn(cmd, argv, { stdio: 'inherit', env, cwd: REPO });
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const handlers = signals.map((sig) => {
    // ava's interrupt handler is idempotent, so a terminal ^C reaching it
    // twice (process group + this forward) is harmless.
    const h = () => child.kill(sig);
    process.on(sig, h);
    return [sig, h];
  });
  return new Promise((resolve) => {
    child.on('error', (err) => {
      log(`cannot start ${cmd}: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      for (const [sig, h] of handlers) process.off(sig, h);
      resolve(code ?? 128 + (os.constants.signals[signal] ?? 0));
    });
  });
}

/** ava's CLI from the repo's dependency tree (hoisted or not). */
function avaCli() {
  try {
    // 'ava' resolves to entrypoints/main.*; walk up to its package.json for "bin".
    let dir = path.dirname(createRequire(path.join(REPO, 'package.json')).resolve('ava'));
    for (; dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const pj = path.join(dir, 'package.json');
      if (!fs.existsSync(pj)) continue;
      const pkg = JSON.parse(fs.readFileSync(pj, 'utf8'));
      if (pkg.name !== 'ava') continue;
      const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.ava;
      return path.join(dir, bin);
    }
  } catch {}
  const fallback = path.join(REPO, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
  if (fs.existsSync(fallback)) return fallback;
  log('ava is not installed (run npm install first)');
  process.exit(1);
}

function runAva(env) {
  // Env that would send test traffic somewhere else or change resolver
  // behaviour behind the harness's back.
  for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY', 'NODE_USE_ENV_PROXY', 'LOCALDOMAIN', 'RES_OPTIONS', 'HOSTALIASES']) {
    delete env[k];
    delete env[k.toLowerCase()];
  }
  return spawnForwarding(process.execPath, [avaCli(), ...args], env);
}

/** Why the namespace cannot be built here, or undefined if it can. */
function whyNoNetns() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not running as root';
  for (const tool of ['unshare', 'ip', 'mount']) if (!which(tool)) return `\`${tool}\` not found`;
  // Root inside an unprivileged container may still lack CAP_SYS_ADMIN.
  const probe = spawnSync(which('unshare'), ['-n', '-m', 'true'], { encoding: 'utf8' });
  if (probe.status !== 0) return `unshare does not work here: ${(probe.stderr || probe.error?.message || '').trim()}`;
  return undefined;
}

async function outer() {
  const why = whyNoNetns();
  if (why) {
    if (process.env.TETHERED_REQUIRE_NETNS === '1') {
      log(`cannot build the network namespace (${why}) and TETHERED_REQUIRE_NETNS=1`);
      return 1;
    }
    log('NOT running the network suite inside a namespace (needs root + unshare + ip); network tests will be skipped');
    log(`(reason: ${why})`);
    const env = { ...process.env };
    delete env.TETHERED_NETNS;
    delete env.TETHERED_DNS_CONTROL;
    return runAva(env);
  }

  const zone = await import(pathToFileURL(path.join(HARNESS, 'zone.mjs')).href);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tethered-netns-'));
  try {
    fs.writeFileSync(path.join(tmp, 'hosts'), zone.hostsFileText(os.hostname()));
    fs.writeFileSync(path.join(tmp, 'resolv.conf'), zone.RESOLV_CONF);
    // nss modules such as resolve/mdns/myhostname would answer from outside
    // the namespace (D-Bus, avahi socket); only files + dns are allowed.
    if (fs.existsSync('/etc/nsswitch.conf')) {
      const lines = fs.readFileSync('/etc/nsswitch.conf', 'utf8').split('\n').filter((l) => !/^\s*hosts\s*:/.test(l));
      fs.writeFileSync(path.join(tmp, 'nsswitch.conf'), [...lines, 'hosts: files dns', ''].join('\n'));
    }
    fs.mkdirSync(path.join(tmp, 'empty'));
    const env = { ...process.env, [STAGE]: tmp };
    return await spawnForwarding(which('unshare'), ['-n', '-m', '--propagation', 'private', process.execPath, SELF, ...args], env);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function inner(tmp) {
  const zone = await import(pathToFileURL(path.join(HARNESS, 'zone.mjs')).href);
  const { startDnsServer } = await import(pathToFileURL(path.join(HARNESS, 'dns-server.mjs')).href);
  const [mount, ip] = [which('mount'), which('ip')];

  run(mount, '--bind', path.join(tmp, 'hosts'), '/etc/hosts');
  run(mount, '--bind', path.join(tmp, 'resolv.conf'), '/etc/resolv.conf');
  if (fs.existsSync(path.join(tmp, 'nsswitch.conf'))) run(mount, '--bind', path.join(tmp, 'nsswitch.conf'), '/etc/nsswitch.conf');
  // nscd would answer getaddrinfo from the host's view of the world.
  const nscdDirs = new Set(['/run/nscd', '/var/run/nscd'].filter((d) => fs.existsSync(d)).map((d) => fs.realpathSync(d)));
  for (const d of nscdDirs) run(mount, '--bind', path.join(tmp, 'empty'), d);

  run(ip, 'link', 'set', 'lo', 'up');
  // A fresh netns may inherit disable_ipv6=1 (net.ipv6.conf.default); these
  // /proc/sys/net files belong to the netns of the writer, i.e. ours.
  for (const dev of ['all', 'default', 'lo']) {
    const f = `/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`;
    if (fs.existsSync(f) && fs.readFileSync(f, 'utf8').trim() !== '0') fs.writeFileSync(f, '0');
  }
  for (const a of zone.LO_V4) run(ip, 'addr', 'add', `${a}/32`, 'dev', 'lo');
  // nodad: never "tentative" (bind() would fail with EADDRNOTAVAIL during
  // DAD); lo normally skips DAD anyway, this makes it explicit.
  for (const a of zone.LO_V6) run(ip, '-6', 'addr', 'add', `${a}/128`, 'dev', 'lo', 'nodad');

  const controlPath = path.join(tmp, 'dns-control.sock');
  const dns = await startDnsServer({ controlPath, host: zone.DNS_SERVER, port: zone.DNS_PORT });
  try {
    const env = { ...process.env, TETHERED_NETNS: '1', TETHERED_DNS_CONTROL: controlPath };
    delete env[STAGE];
    return await runAva(env);
  } finally {
    await dns.close();
  }
}

let code;
try {
  if (process.env.TETHERED_NETNS === '1') code = await runAva({ ...process.env });
  else if (process.env[STAGE]) code = await inner(process.env[STAGE]);
  else code = await outer();
} catch (err) {
  log(err instanceof Error ? err.message : String(err));
  code = 1;
}
process.exit(code);
