// The benchmark workload: a deterministic, realistic allow list of a given size and a fixed set
// of queries against it. Same seed -> same rules and queries, so runs are comparable.
//
// Rule mix (by position, so every size has the same proportions):
//   50% exact hosts   `api.stripe12.com`, `hooks.acme7.io:443`, ...
//   30% wildcards     `*.github3.com:443` (most), `*.vercel4.app`, a few `api-?.x.dev:443` /
//                     `cdn[0-9].x.net:443`
//   20% networks      IPv4 CIDRs /16../32, some with a port; 1 in 10 IPv6 (`[2001:db8:..]/48`)
//
// Query mix: exact hosts (right port, wrong port, DNS-style port null), subdomains of wildcard
// domains, IPs inside and outside the networks, unknown and look-alike hosts, and a few
// localhost / upper-case / trailing-dot hosts. About half are allowed.

export interface Query {
  host: string
  port: number | null
}

/** mulberry32: a small deterministic PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const SUBS = ['api', 'www', 'auth', 'cdn', 'hooks', 'uploads', 'login', 'static', 'events', 'graphql']
const NAMES = ['stripe', 'github', 'acme', 'globex', 'initech', 'sentry', 'datadog', 'vercel', 'twilio', 'segment', 'okta', 'npmjs']
const TLDS = ['com', 'io', 'net', 'dev', 'app', 'cloud']
const DB_PORTS = [5432, 6379, 443, 3306, 9200]

type Net4 = { kind: 'v4'; base: number; len: number; port: number | null }
type Net6 = { kind: 'v6'; group: number; len: 48 | 128; port: number | null }

interface Spec {
  exact: { host: string; port: number | null }[]
  wild: { domain: string; shape: 'star' | 'qmark' | 'set'; port: number | null }[]
  nets: (Net4 | Net6)[]
}

export interface Workload {
  rules: string[]
  queries: Query[]
}

function ipv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

function mask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0
}

export function makeWorkload(ruleCount: number, queryCount = 1000, seed = 0x7e7e): Workload {
  const r = rng(seed + ruleCount)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  const int = (n: number): number => Math.floor(r() * n)
  const spec: Spec = { exact: [], wild: [], nets: [] }
  const rules: string[] = []

  for (let i = 0; i < ruleCount; i++) {
    const slot = i % 10
    const name = `${pick(NAMES)}${i}`
    const tld = pick(TLDS)
    if (slot < 5) {
      const host = `${pick(SUBS)}.${name}.${tld}`
      const port = r() < 0.5 ? 443 : r() < 0.2 ? 8443 : null
      spec.exact.push({ host, port })
      rules.push(port === null ? host : `${host}:${port}`)
    } else if (slot < 8) {
      const domain = `${name}.${tld}`
      const u = r()
      if (u < 0.05) {
        const shape = u < 0.025 ? 'qmark' : 'set'
        spec.wild.push({ domain, shape, port: 443 })
        rules.push(shape === 'qmark' ? `api-?.${domain}:443` : `cdn[0-9].${domain}:443`)
      } else if (u < 0.8) {
        spec.wild.push({ domain, shape: 'star', port: 443 })
        rules.push(`*.${domain}:443`)
      } else {
        spec.wild.push({ domain, shape: 'star', port: null })
        rules.push(`*.${domain}`)
      }
    } else if (r() < 0.1) {
      const group = 0x100 + int(0xfe00)
      const len = r() < 0.5 ? 48 : 128
      const port = r() < 0.3 ? 443 : null
      spec.nets.push({ kind: 'v6', group, len, port })
      const addr = len === 48 ? `[2001:db8:${group.toString(16)}::]/48` : `[2001:db8:${group.toString(16)}::${(1 + int(0xfff)).toString(16)}]`
      rules.push(port === null ? addr : `${addr}:${port}`)
    } else {
      // 10/8, 172.16/12, 100.64/10 or public space; never 0/8, 127/8 or multicast and above.
      const space = r()
      let base: number
      if (space < 0.4) base = (10 << 24) | int(1 << 24)
      else if (space < 0.6) base = (172 << 24) | ((16 + int(16)) << 16) | int(1 << 16)
      else if (space < 0.7) base = (100 << 24) | ((64 + int(64)) << 16) | int(1 << 16)
      else {
        let first = 1 + int(222)
        if (first === 127 || first === 10) first = 11
        base = (first << 24) | int(1 << 24)
      }
      const len = pick([16, 20, 24, 24, 28, 32])
      base = (base & mask(len)) >>> 0
      const port = r() < 0.3 ? pick(DB_PORTS) : null
      spec.nets.push({ kind: 'v4', base, len, port })
      const text = len === 32 ? ipv4(base) : `${ipv4(base)}/${len}`
      rules.push(port === null ? text : `${text}:${port}`)
    }
  }

  const queries: Query[] = []
  const portFor = (rulePort: number | null): number | null => {
    const u = r()
    if (rulePort !== null) return u < 0.6 ? rulePort : u < 0.8 ? null : 80
    return u < 0.5 ? 443 : u < 0.8 ? null : 8080
  }
  while (queries.length < queryCount) {
    const u = r()
    if (u < 0.22 && spec.exact.length) {
      const e = pick(spec.exact)
      queries.push({ host: e.host, port: portFor(e.port) })
    } else if (u < 0.44 && spec.wild.length) {
      const w = pick(spec.wild)
      const host =
        w.shape === 'qmark'
          ? `api-${int(10)}.${w.domain}`
          : w.shape === 'set'
            ? `cdn${int(10)}.${w.domain}`
            : r() < 0.7
              ? `${pick(SUBS)}.${w.domain}`
              : `${pick(SUBS)}-${int(100)}.eu.${w.domain}`
      queries.push({ host, port: portFor(w.port) })
    } else if (u < 0.58 && spec.nets.length) {
      const n = pick(spec.nets)
      if (n.kind === 'v4') {
        const ip = (n.base | (int(0x100000000) & ~mask(n.len))) >>> 0
        queries.push({ host: ipv4(ip), port: portFor(n.port) })
      } else {
        // Inside a /48; for a single-address rule, mostly a neighbour (blocked).
        const last = (1 + int(0xfff)).toString(16)
        queries.push({ host: `2001:db8:${n.group.toString(16)}::${last}`, port: portFor(n.port) })
      }
    } else if (u < 0.66) {
      if (r() < 0.85) {
        let first = 1 + int(222)
        if (first === 127) first = 128
        queries.push({ host: ipv4(((first << 24) | int(1 << 24)) >>> 0), port: pick([443, 80, null]) })
      } else {
        queries.push({ host: `2001:db8:ffff::${(1 + int(0xfff)).toString(16)}`, port: pick([443, null]) })
      }
    } else if (u < 0.96) {
      const kind = int(5)
      const name = `${pick(NAMES)}${int(100000)}`
      let host: string
      if (kind === 0 || !spec.wild.length || !spec.exact.length) host = `${pick(SUBS)}.${name}.${pick(TLDS)}`
      else if (kind === 1) host = pick(spec.wild).domain // the apex is not covered by `*.domain`
      else if (kind === 2) host = `${pick(spec.wild).domain}.evil.com` // suffix attack
      else if (kind === 3) host = `evil-${pick(spec.wild).domain}` // look-alike
      else host = `x.${pick(spec.exact).host}` // subdomain of an exact host
      queries.push({ host, port: pick([443, 443, 80, null]) })
    } else {
      const kind = int(4)
      if (kind === 0) queries.push({ host: 'localhost', port: pick([3000, null]) })
      else if (kind === 1) queries.push({ host: '127.0.0.1', port: 5432 })
      else if (spec.exact.length) {
        const e = pick(spec.exact)
        const host = kind === 2 ? e.host.toUpperCase() : `${e.host}.`
        queries.push({ host, port: e.port ?? 443 })
      }
    }
  }
  // Template literals build rope (cons) strings; hosts from a URL parser or a socket are flat.
  // A JSON round trip gives every query a flat string, as either matcher would see in practice.
  return { rules, queries: JSON.parse(JSON.stringify(queries)) as Query[] }
}
