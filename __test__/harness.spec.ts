// Proves the test harness itself (namespace, hosts file, DNS responder,
// counting servers) works; tethered is not involved here.

import test from 'ava';
import { X509Certificate } from 'node:crypto';
import dgram from 'node:dgram';
import dns from 'node:dns';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startDnsServer } from './harness/dns-server.mjs';
import {
  ALLOWED_V4,
  ALLOWED_V6,
  DNS_ONLY_V4,
  DNS_ONLY_V6,
  DNS_SERVER,
  LO_V4,
  LO_V6,
  countingHttp2Server,
  countingHttpServer,
  countingHttpsServer,
  countingTcpServer,
  countingUdpServer,
  dnsCount,
  netTest,
  testCert,
  uniqueName,
} from './harness/index.js';

function get(url: string, options: https.RequestOptions = {}): Promise<{ status: number; body: string }> {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    mod
      .get(url, options, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

// ------------------------------------------- runs everywhere (no namespace)

test('DNS responder answers A/AAAA/PTR/NXDOMAIN/NODATA and counts (unprivileged port)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tethered-dns-test-'));
  const server = await startDnsServer({ host: '127.0.0.1', port: 0, controlPath: path.join(dir, 'c.sock') });
  t.teardown(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const r = new dns.promises.Resolver();
  r.setServers([`127.0.0.1:${server.port}`]);

  t.deepEqual(await r.resolve4('cares-only.test'), [ALLOWED_V4]);
  t.deepEqual(await r.resolve4('CARES-only.test'), [ALLOWED_V4]); // names are case-insensitive
  t.deepEqual(await r.resolve6('dual.test'), [ALLOWED_V6]);
  t.deepEqual(await r.reverse(DNS_ONLY_V4), ['dns-only.test']); // not in any hosts file
  t.deepEqual(await r.reverse(DNS_ONLY_V6), ['dns-only.test']);
  await t.throwsAsync(r.resolve4('no-such-name.test'), { code: 'ENOTFOUND' });
  await t.throwsAsync(r.resolve4('v6.test'), { code: 'ENODATA' });
  t.deepEqual(server.counts.get('cares-only.test'), { total: 2, A: 2 });

  // The control endpoint, as the harness helpers use it.
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get({ socketPath: path.join(dir, 'c.sock'), path: '/count?name=dual.test&type=AAAA' }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c.toString()));
        res.on('end', () => resolve(b));
      })
      .on('error', reject);
  });
  t.deepEqual(JSON.parse(body), { count: 1 });
});

test('testCert() covers zone names, wildcards and addresses', (t) => {
  const cert = new X509Certificate(testCert().cert);
  t.is(cert.checkHost('api.stripe.test'), 'api.stripe.test');
  t.is(cert.checkHost('x.allowed.test'), '*.allowed.test');
  t.is(cert.checkIP(ALLOWED_V6), ALLOWED_V6);
});

// ------------------------------------------- inside the namespace only

netTest('the namespace has only lo, carrying the zone addresses', (t) => {
  const ifs = os.networkInterfaces();
  t.deepEqual(Object.keys(ifs), ['lo']);
  const addrs = (ifs.lo ?? []).map((i) => i.address);
  for (const a of [...LO_V4, ...LO_V6]) t.true(addrs.includes(a), a);
  t.deepEqual(dns.getServers(), [DNS_SERVER]);
});

netTest('getaddrinfo resolves hosts-file names (v4, v6, dual, hostname)', async (t) => {
  t.deepEqual(await dns.promises.lookup('api.stripe.test'), { address: ALLOWED_V4, family: 4 });
  t.deepEqual(await dns.promises.lookup('v6.test'), { address: ALLOWED_V6, family: 6 });
  const dual = (await dns.promises.lookup('dual.test', { all: true })).map((a) => a.address).sort();
  t.deepEqual(dual, [ALLOWED_V6, ALLOWED_V4].sort());
  t.is((await dns.promises.lookup(os.hostname(), { family: 4 })).address, '127.0.0.1');
  await t.throwsAsync(dns.promises.lookup('no-such-name.test'), { code: 'ENOTFOUND' });
});

netTest('c-ares queries reach the responder exactly once per resolve', async (t) => {
  const name = uniqueName();
  t.deepEqual(await dns.promises.resolve4(name), [ALLOWED_V4]);
  t.is(await dnsCount(name), 1);
  t.is(await dnsCount(name, 'A'), 1);

  // The fixed c-ares-only name; other test files may query it concurrently, hence >=.
  const before = await dnsCount('cares-only.test');
  t.deepEqual(await dns.promises.resolve4('cares-only.test'), [ALLOWED_V4]);
  t.true((await dnsCount('cares-only.test')) >= before + 1);

  const resolver = new dns.Resolver();
  const evil = await new Promise<string[]>((resolve, reject) =>
    resolver.resolve4('evil-cares.test', (err, a) => (err ? reject(err) : resolve(a))),
  );
  t.deepEqual(evil, ['203.0.113.9']);
});

netTest('getaddrinfo falls back to the responder for names not in /etc/hosts', async (t) => {
  const name = uniqueName('blocked.test');
  t.deepEqual(await dns.promises.lookup(name, { family: 4 }), { address: '203.0.113.9', family: 4 });
  t.is(await dnsCount(name, 'A'), 1);
});

netTest('dns.reverse: hosts-file addresses from /etc/hosts, DNS-only ones from the responder', async (t) => {
  const ptr = '77.100.51.198.in-addr.arpa';
  const before = await dnsCount(ptr, 'PTR');
  t.deepEqual(await dns.promises.reverse(DNS_ONLY_V4), ['dns-only.test']);
  t.true((await dnsCount(ptr, 'PTR')) >= before + 1);
  t.deepEqual(await dns.promises.reverse(DNS_ONLY_V6), ['dns-only.test']);

  // c-ares looks in /etc/hosts first ("hosts: files dns") and never asks the
  // responder; Node then reports only the hostent *aliases* (every name for
  // the address except the first).
  const beforeHosts = await dnsCount('7.100.51.198.in-addr.arpa');
  t.deepEqual(await dns.promises.reverse(ALLOWED_V4), ['a.test', 'dual.test']);
  t.is(await dnsCount('7.100.51.198.in-addr.arpa'), beforeHosts);
});

netTest('TCP server on a zone address accepts and counts', async (t) => {
  const srv = await countingTcpServer(ALLOWED_V4);
  t.teardown(() => srv.close());
  const echoed = await new Promise<string>((resolve, reject) => {
    const s = net.connect(srv.port, 'api.stripe.test', () => s.write('ping'));
    s.on('data', (d) => {
      resolve(d.toString());
      s.destroy();
    });
    s.on('error', reject);
  });
  t.is(echoed, 'ping');
  t.is(srv.connections, 1);
});

netTest('HTTP keep-alive: two requests, one connection', async (t) => {
  const srv = await countingHttpServer(ALLOWED_V4);
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(async () => {
    agent.destroy();
    await srv.close();
  });
  for (let i = 0; i < 2; i++) t.deepEqual(await get(`http://a.test:${srv.port}/`, { agent }), { status: 200, body: 'ok' });
  t.is(srv.requests, 2);
  t.is(srv.connections, 1);
});

netTest('HTTPS with the test-time cert and `ca`', async (t) => {
  const srv = await countingHttpsServer(ALLOWED_V4);
  t.teardown(() => srv.close());
  const res = await get(`https://api.stripe.test:${srv.port}/`, { ca: testCert().ca, agent: false });
  t.deepEqual(res, { status: 200, body: 'ok' });
  t.is(srv.requests, 1);
  t.is(srv.connections, 1);
});

netTest('HTTP/2 (h2c and TLS) servers answer and count streams', async (t) => {
  for (const tls of [false, true]) {
    const srv = await countingHttp2Server(ALLOWED_V6, 0, { tls });
    t.teardown(() => srv.close());
    const session = http2.connect(`${tls ? 'https' : 'http'}://v6.test:${srv.port}`, tls ? { ca: testCert().ca } : {});
    const status = await new Promise<number>((resolve, reject) => {
      session.on('error', reject);
      const req = session.request({ ':path': '/' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.resume();
      req.end();
    });
    session.close();
    t.is(status, 200);
    t.is(srv.requests, 1);
  }
});

netTest('UDP on the IPv6 zone address receives and echoes a datagram', async (t) => {
  const srv = await countingUdpServer('udp6', ALLOWED_V6);
  const client = dgram.createSocket('udp6');
  t.teardown(async () => {
    client.close();
    await srv.close();
  });
  const echo = new Promise<string>((resolve) => client.once('message', (m) => resolve(m.toString())));
  client.send('hello', srv.port, ALLOWED_V6);
  t.is(await echo, 'hello');
  t.is(srv.messages, 1);
});
