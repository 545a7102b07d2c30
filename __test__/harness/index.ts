// Helpers for tests that need the hermetic network namespace built by
// scripts/run-tests.mjs. Import as `./harness/index.js` from __test__/*.spec.ts.

import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test, { type Implementation } from 'ava';
import { ALLOWED_V4, ALLOWED_V6, CARES_ONLY, HOSTS, LO_V4, LO_V6, WILDCARDS } from './zone.mjs';

export * from './zone.mjs';

/** True inside the namespace: zone names resolve, zone addresses are on lo. */
export const inNetns: boolean = process.env.TETHERED_NETNS === '1';

// ---------------------------------------------------------------- tests

type Declare = <Args extends unknown[]>(title: string, implementation: Implementation<Args>, ...args: Args) => void;
export type NetTestFn = Declare & { serial: Declare; failing: Declare; only: Declare; skip: Declare };

export const SKIP_PREFIX = '[needs root netns]';

// Outside the namespace a network test becomes test.skip, which ava lists as
// skipped ("- [needs root netns] title") and counts in the summary, so a
// skipped network suite cannot pass unnoticed.
function declare(run: Declare): Declare {
  return (title, implementation, ...args) =>
    inNetns ? run(title, implementation, ...args) : test.skip(`${SKIP_PREFIX} ${title}`, implementation, ...args);
}

/** `test` for tests that need the namespace; `.serial`, `.failing`, `.only`, `.skip` as in ava. */
export const netTest: NetTestFn = Object.assign(declare(test), {
  serial: declare(test.serial),
  failing: declare(test.failing),
  only: declare(test.only),
  skip: ((title, implementation, ...args) => test.skip(title, implementation, ...args)) as Declare,
});

// ---------------------------------------------------------------- DNS responder

function control(method: 'GET' | 'POST', urlPath: string): Promise<string> {
  const socketPath = process.env.TETHERED_DNS_CONTROL;
  if (!socketPath) {
    return Promise.reject(new Error('TETHERED_DNS_CONTROL is not set: DNS counts exist only inside the test namespace (use netTest)'));
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: urlPath, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode && res.statusCode < 300 ? resolve(body) : reject(new Error(`DNS control ${urlPath}: ${res.statusCode} ${body}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Queries the DNS responder has received for `name` (case-insensitive, any
 * transport), optionally only of one type ('A', 'AAAA', 'PTR', 'ANY', ...).
 * Counts are global to the whole run: compare before/after values and prefer
 * uniqueName() since other test files run in parallel.
 */
export async function dnsCount(name: string, type?: string): Promise<number> {
  const q = new URLSearchParams({ name, ...(type ? { type } : {}) });
  return (JSON.parse(await control('GET', `/count?${q}`)) as { count: number }).count;
}

/** Every counter: { name: { total, A, AAAA, ... } }. */
export async function dnsCounts(): Promise<Record<string, Record<string, number>>> {
  return JSON.parse(await control('GET', '/counts')) as Record<string, Record<string, number>>;
}

/** Clear all counters. Affects parallel test files too: only use from serial tests. */
export async function dnsReset(): Promise<void> {
  await control('POST', '/reset');
}

let nameCounter = 0;
/**
 * A fresh name that only the DNS responder knows (not in /etc/hosts):
 * `<unique>.allowed.test` → ALLOWED_V4, `<unique>.blocked.test` → BLOCKED_V4.
 */
export function uniqueName(suffix: 'allowed.test' | 'blocked.test' = 'allowed.test'): string {
  return `t${process.pid}-${++nameCounter}-${Math.random().toString(36).slice(2, 8)}.${suffix}`;
}

/** `scheme://host:port`, bracketing IPv6 literals. */
export function origin(scheme: string, host: string, port: number): string {
  return `${scheme}://${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

// ---------------------------------------------------------------- TLS material

export interface TestCert {
  key: string;
  cert: string;
  /** Pass as `ca` to clients: the cert is self-signed. */
  ca: string;
}

let certCache: TestCert | undefined;

/** Self-signed cert for every zone name and address (made once per process with the openssl CLI). */
export function testCert(): TestCert {
  if (certCache) return certCache;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tethered-cert-'));
  try {
    const names = [...Object.keys(HOSTS), ...Object.keys(CARES_ONLY), ...Object.keys(WILDCARDS).map((s) => `*.${s}`)];
    const ips = [...LO_V4, ...LO_V6, '127.0.0.1', '::1'];
    const san = [...names.map((n) => `DNS:${n}`), ...ips.map((i) => `IP:${i}`)].join(',');
    const [keyFile, certFile] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '7',
        '-subj', '/CN=tethered-test', '-addext', `subjectAltName=${san}`, '-keyout', keyFile, '-out', certFile],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const cert = fs.readFileSync(certFile, 'utf8');
    certCache = { key: fs.readFileSync(keyFile, 'utf8'), cert, ca: cert };
    return certCache;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- counting servers

export interface CountingServer {
  readonly host: string;
  readonly port: number;
  /** TCP connections accepted. */
  connections: number;
  /** HTTP requests (HTTP/1 requests or HTTP/2 streams) received. */
  requests: number;
  /** UDP datagrams received. */
  messages: number;
  close(): Promise<void>;
}

/** Awaits a counting server and closes it when the test ends. */
export async function closeAfter(t: { teardown(fn: () => Promise<void>): void }, start: Promise<CountingServer>): Promise<CountingServer> {
  const s = await start;
  t.teardown(() => s.close());
  return s;
}

type Counters = Pick<CountingServer, 'connections' | 'requests' | 'messages'>;

/** Listen on host:port, count and track accepted sockets so close() never hangs on keep-alive. */
async function serve(server: net.Server, host: string, port: number, counters: Counters, beforeClose?: () => void): Promise<CountingServer> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    counters.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const { port: bound } = server.address() as net.AddressInfo;
  return Object.assign(counters, {
    host,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        beforeClose?.();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  });
}

const fresh = (): Counters => ({ connections: 0, requests: 0, messages: 0 });

function answerOk(_req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
  res.end('ok');
}

/** TCP server that echoes what it receives. */
export function countingTcpServer(host: string = ALLOWED_V4, port = 0): Promise<CountingServer> {
  const c = fresh();
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  return serve(server, host, port, c);
}

/** HTTP/1.1 server answering every request with 200 "ok" (keep-alive). */
export function countingHttpServer(host: string = ALLOWED_V4, port = 0): Promise<CountingServer> {
  const c = fresh();
  const server = http.createServer({ keepAlive: true }, (req, res) => {
    c.requests++;
    answerOk(req, res);
  });
  return serve(server, host, port, c);
}

/** HTTPS server like countingHttpServer, using testCert(). */
export function countingHttpsServer(host: string = ALLOWED_V4, port = 0): Promise<CountingServer> {
  const c = fresh();
  const { key, cert } = testCert();
  const server = https.createServer({ key, cert, keepAlive: true }, (req, res) => {
    c.requests++;
    answerOk(req, res);
  });
  return serve(server, host, port, c);
}

/**
 * HTTP/2 server answering 200 "ok" on every stream: cleartext h2c by default,
 * or TLS with testCert() (ALPN h2, HTTP/1.1 fallback allowed) when `tls`.
 */
export function countingHttp2Server(host: string = ALLOWED_V4, port = 0, opts: { tls?: boolean } = {}): Promise<CountingServer> {
  const c = fresh();
  // The compat 'request' API covers h2 streams and the HTTP/1.1 fallback alike.
  const onRequest = (_req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void => {
    c.requests++;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  };
  const server = opts.tls ? http2.createSecureServer({ ...testCert(), allowHTTP1: true }, onRequest) : http2.createServer(onRequest);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  return serve(server, host, port, c, () => {
    for (const s of sessions) s.destroy();
  });
}

/** UDP socket that counts datagrams and echoes each back to its sender. */
export async function countingUdpServer(type: 'udp4' | 'udp6', host: string = type === 'udp6' ? ALLOWED_V6 : ALLOWED_V4, port = 0): Promise<CountingServer> {
  const c = fresh();
  const sock = dgram.createSocket(type);
  sock.on('message', (msg, rinfo) => {
    c.messages++;
    sock.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, host, () => resolve());
  });
  return Object.assign(c, {
    host,
    port: sock.address().port,
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  });
}
