// A tiny authoritative DNS responder for the test zone (zone.mjs), UDP + TCP,
// with a query counter that tests read over an HTTP-on-unix-socket control
// endpoint. No dependencies, so it runs before anything is installed.
//
//   node dns-server.mjs --control /tmp/x.sock [--host 127.0.0.53] [--port 53]
//   control: GET /counts            -> {"name": {"total": n, "A": n, ...}}
//            GET /count?name=x[&type=A] -> {"count": n}
//            POST /reset            -> 204 (clears all counters)
//
// Every answer has TTL 0: c-ares (Node >= 20) has a query cache, and a cached
// answer would never reach us, making counts depend on test order.

import dgram from 'node:dgram';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { DNS_PORT, DNS_SERVER, CARES_ONLY, HOSTS, lookupZone } from './zone.mjs';

const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, NAPTR: 35, SVCB: 64, HTTPS: 65, ANY: 255, CAA: 257 };
const TYPE_NAME = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k]));
const RCODE = { NOERROR: 0, FORMERR: 1, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

/** @param {string} ip @returns {Buffer} 16 bytes */
function ipv6Bytes(ip) {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** reverse-lookup name (in-addr.arpa / ip6.arpa) of an address */
function reverseName(ip) {
  if (net.isIPv4(ip)) return ip.split('.').reverse().join('.') + '.in-addr.arpa';
  const hex = ipv6Bytes(ip).toString('hex');
  return [...hex].reverse().join('.') + '.ip6.arpa';
}

/** PTR table: the first name that maps to an address owns its PTR record. */
function buildPtr(hostname) {
  const ptr = new Map();
  for (const table of [HOSTS, CARES_ONLY]) {
    for (const [name, addrs] of Object.entries(table)) {
      for (const a of addrs) if (!ptr.has(reverseName(a))) ptr.set(reverseName(a), name);
    }
  }
  if (hostname && !ptr.has(reverseName('127.0.0.1'))) ptr.set(reverseName('127.0.0.1'), hostname);
  return ptr;
}

/** @returns {{ name: string, end: number }} name as sent (case kept) */
function readQName(buf, off) {
  const labels = [];
  for (;;) {
    if (off >= buf.length) throw new Error('truncated name');
    const len = buf[off++];
    if (len === 0) break;
    if (len > 63) throw new Error('compressed/invalid label in question');
    labels.push(buf.toString('latin1', off, off + len));
    off += len;
  }
  return { name: labels.join('.'), end: off };
}

function encodeName(name) {
  const parts = name.split('.').filter(Boolean).map((l) => {
    const b = Buffer.from(l, 'latin1');
    return Buffer.concat([Buffer.from([b.length]), b]);
  });
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function rr(type, rdata) {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0); // pointer to the question name
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4); // class IN
  head.writeUInt32BE(0, 6); // TTL 0: never cached, see top of file
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

export function createDnsHandler({ hostname = os.hostname() } = {}) {
  const ptr = buildPtr(hostname);
  /** @type {Map<string, Record<string, number>>} */
  const counts = new Map();

  function count(name, type) {
    const c = counts.get(name) ?? { total: 0 };
    c.total += 1;
    c[type] = (c[type] ?? 0) + 1;
    counts.set(name, c);
  }

  /** @param {Buffer} q @returns {Buffer | null} response, or null to drop */
  function answer(q) {
    if (q.length < 12 || q[2] & 0x80) return null; // not a query
    const id = q.readUInt16BE(0);
    const opcode = (q[2] >> 3) & 0x0f;
    const rd = q[2] & 0x01;
    const reply = (rcode, question = Buffer.alloc(0), answers = []) => {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(id, 0);
      h[2] = 0x80 | (opcode << 3) | 0x04 | rd; // QR, AA
      h[3] = 0x80 | rcode; // RA (so stub resolvers don't complain)
      h.writeUInt16BE(question.length ? 1 : 0, 4);
      h.writeUInt16BE(answers.length, 6);
      return Buffer.concat([h, question, ...answers]);
    };
    if (opcode !== 0) return reply(RCODE.NOTIMP);
    if (q.readUInt16BE(4) !== 1) return reply(RCODE.FORMERR);
    let qn;
    try {
      qn = readQName(q, 12);
    } catch {
      return reply(RCODE.FORMERR);
    }
    if (qn.end + 4 > q.length) return reply(RCODE.FORMERR);
    const qtype = q.readUInt16BE(qn.end);
    const qclass = q.readUInt16BE(qn.end + 2);
    const question = q.subarray(12, qn.end + 4); // echoed byte-for-byte (0x20 case)
    const name = qn.name.toLowerCase().replace(/\.$/, '');
    count(name, TYPE_NAME[qtype] ?? `TYPE${qtype}`);
    if (qclass !== 1 && qclass !== 255) return reply(RCODE.REFUSED, question);

    if (name.endsWith('.arpa')) {
      const target = ptr.get(name);
      if (!target) return reply(RCODE.NXDOMAIN, question);
      const ans = qtype === TYPE.PTR || qtype === TYPE.ANY ? [rr(TYPE.PTR, encodeName(target))] : [];
      return reply(RCODE.NOERROR, question, ans);
    }
    const addrs = lookupZone(name, hostname);
    if (!addrs) return reply(RCODE.NXDOMAIN, question);
    const ans = [];
    for (const a of addrs) {
      if (net.isIPv4(a) && (qtype === TYPE.A || qtype === TYPE.ANY)) ans.push(rr(TYPE.A, Buffer.from(a.split('.').map(Number))));
      if (net.isIPv6(a) && (qtype === TYPE.AAAA || qtype === TYPE.ANY)) ans.push(rr(TYPE.AAAA, ipv6Bytes(a)));
    }
    return reply(RCODE.NOERROR, question, ans); // other types: NODATA
  }

  return { answer, counts };
}

function controlServer(counts) {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    const json = (body) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && url.pathname === '/counts') return json(Object.fromEntries(counts));
    if (req.method === 'GET' && url.pathname === '/count') {
      const c = counts.get((url.searchParams.get('name') ?? '').toLowerCase().replace(/\.$/, ''));
      const type = url.searchParams.get('type');
      return json({ count: (type ? c?.[type.toUpperCase()] : c?.total) ?? 0 });
    }
    if (req.method === 'POST' && url.pathname === '/reset') {
      counts.clear();
      res.statusCode = 204;
      return res.end();
    }
    res.statusCode = 404;
    res.end('unknown control request\n');
  });
}

/**
 * Start UDP + TCP listeners and the control socket.
 * @param {{ host?: string, port?: number, controlPath: string, hostname?: string }} opts
 * @returns {Promise<{ counts: Map<string, Record<string, number>>, port: number, close(): Promise<void> }>}
 */
export async function startDnsServer({ host = DNS_SERVER, port = DNS_PORT, controlPath, hostname }) {
  const { answer, counts } = createDnsHandler({ hostname });
  const log = process.env.TETHERED_DNS_LOG === '1';

  const udp = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  udp.on('message', (msg, rinfo) => {
    const out = answer(msg);
    if (log) console.error(`[dns] udp ${rinfo.address} ${out ? 'answered' : 'dropped'} ${msg.length}B`);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });

  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('error', () => {}); // a client going away is not our problem
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const out = answer(msg);
        if (!out) return sock.destroy();
        const len = Buffer.alloc(2);
        len.writeUInt16BE(out.length);
        sock.write(Buffer.concat([len, out]));
      }
    });
  });
  const tcpSockets = new Set();
  tcp.on('connection', (s) => {
    tcpSockets.add(s);
    s.on('close', () => tcpSockets.delete(s));
  });

  const control = controlServer(counts);
  fs.rmSync(controlPath, { force: true }); // stale socket from a killed run

  await new Promise((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, host, () => resolve(undefined));
  });
  // port 0 (tests): TCP takes whatever port UDP got, so one number serves both.
  const boundPort = udp.address().port;
  await new Promise((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(boundPort, host, () => resolve(undefined));
  });
  await new Promise((resolve, reject) => {
    control.once('error', reject);
    control.listen(controlPath, () => resolve(undefined));
  });

  return {
    counts,
    port: boundPort,
    async close() {
      for (const s of tcpSockets) s.destroy();
      control.closeAllConnections();
      await Promise.all([
        new Promise((r) => udp.close(() => r(undefined))),
        new Promise((r) => tcp.close(() => r(undefined))),
        new Promise((r) => control.close(() => r(undefined))),
      ]);
    },
  };
}

// Standalone mode.
if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  const arg = (flag, dflt) => {
    const i = process.argv.indexOf(flag);
    return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
  };
  const controlPath = arg('--control');
  if (!controlPath) {
    console.error('usage: node dns-server.mjs --control /path.sock [--host 127.0.0.53] [--port 53]');
    process.exit(2);
  }
  const server = await startDnsServer({ controlPath, host: arg('--host', DNS_SERVER), port: Number(arg('--port', DNS_PORT)) });
  const stop = () => server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  console.log('ready');
}
