// A pure-JS allow-list matcher, written for the benchmark as the obvious thing a JS library
// would do: a Map for exact hosts, one RegExp per wildcard rule (translated from fnmatch), and a
// linear scan of CIDR networks with bit masks. It is a fair reference, not a strawman: it does
// the same normalization and localhost check as tethered and skips no work the answer needs.
//
// Scope: the rule syntax of tethered (exact hosts, `host:port`, fnmatch wildcards, IPv4/IPv6
// addresses and CIDRs, bracketed IPv6) and ASCII hosts. It does not reproduce tethered's
// Unicode folding, Python whitespace set, IPv6 zone ids or netmask-style prefixes; the
// benchmark workload avoids those, and the benchmark checks that both matchers agree on every
// query before it times anything.

/** Port as seen by a rule: null = every port. */
type RulePort = number | null

interface ExactEntry {
  anyPort: boolean
  ports: Set<number>
}

interface WildRule {
  re: RegExp
  port: RulePort
}

interface V4Net {
  net: number
  mask: number
  port: RulePort
}

/** IPv6 addresses as four 32-bit words, most significant first. */
type V6Words = [number, number, number, number]

interface V6Net {
  net: V6Words
  mask: V6Words
  port: RulePort
}

// --- IP parsing -----------------------------------------------------------------------------

/** Strict dotted quad (no leading zeros, no shorthand) as an unsigned 32-bit number. */
export function parseV4(s: string): number | null {
  let value = 0
  let octet = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return null
      value = value * 256 + octet
      octet = 0
      digits = 0
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return null // leading zero
      octet = octet * 10 + (c - 48)
      if (++digits > 3 || octet > 255) return null
    } else {
      return null
    }
  }
  if (dots !== 3 || digits === 0) return null
  return value * 256 + octet
}

function parseHextet(s: string): number | null {
  if (s.length === 0 || s.length > 4) return null
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    let d: number
    if (c >= 48 && c <= 57) d = c - 48
    else if (c >= 97 && c <= 102) d = c - 87
    else if (c >= 65 && c <= 70) d = c - 55
    else return null
    n = n * 16 + d
  }
  return n
}

/** IPv6 text (with `::` and an optional dotted-quad tail) as four 32-bit words. */
export function parseV6(s: string): V6Words | null {
  if (s.indexOf(':') < 0) return null
  let head = s
  let tail: number[] = []
  const lastColon = s.lastIndexOf(':')
  if (s.indexOf('.', lastColon) >= 0) {
    const v4 = parseV4(s.slice(lastColon + 1))
    if (v4 === null) return null
    tail = [v4 >>> 16, v4 & 0xffff]
    head = s.slice(0, lastColon + 1) + '0' // placeholder hextet, replaced below
  }
  const double = head.indexOf('::')
  if (double >= 0 && head.indexOf('::', double + 1) >= 0) return null
  const groups: number[] = []
  const readGroups = (text: string): boolean => {
    if (text === '') return true
    for (const g of text.split(':')) {
      const v = parseHextet(g)
      if (v === null) return false
      groups.push(v)
    }
    return true
  }
  let hextets: number[]
  if (double >= 0) {
    if (!readGroups(head.slice(0, double))) return null
    const left = groups.length
    if (!readGroups(head.slice(double + 2))) return null
    const right = groups.splice(left)
    if (tail.length) right.pop()
    const used = left + right.length + tail.length
    if (used > 7) return null
    hextets = [...groups, ...new Array<number>(8 - used).fill(0), ...right, ...tail]
  } else {
    if (!readGroups(head)) return null
    if (tail.length) groups.pop()
    hextets = [...groups, ...tail]
    if (hextets.length !== 8) return null
  }
  return [
    ((hextets[0]! << 16) | hextets[1]!) >>> 0,
    ((hextets[2]! << 16) | hextets[3]!) >>> 0,
    ((hextets[4]! << 16) | hextets[5]!) >>> 0,
    ((hextets[6]! << 16) | hextets[7]!) >>> 0,
  ]
}

function v4Mask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0
}

function v6Mask(len: number): V6Words {
  const words: V6Words = [0, 0, 0, 0]
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, len - 32 * i))
    words[i] = v4Mask(bits)
  }
  return words
}

function formatV4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`
}

/** `::ffff:a.b.c.d` -> a.b.c.d as a number, else null. */
function mappedV4(w: V6Words): number | null {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff ? w[3] : null
}

// --- fnmatch -> RegExp ----------------------------------------------------------------------

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/-]/g

/** Python's `fnmatch.translate`, for the common cases: `*`, `?`, `[seq]`, `[!seq]`. */
export function fnmatchToRegExp(pattern: string): RegExp {
  let out = ''
  for (let i = 0; i < pattern.length; ) {
    const c = pattern[i++]!
    if (c === '*') {
      if (!out.endsWith('.*')) out += '.*'
    } else if (c === '?') {
      out += '.'
    } else if (c === '[') {
      let j = i
      if (pattern[j] === '!') j++
      if (pattern[j] === ']') j++
      while (j < pattern.length && pattern[j] !== ']') j++
      if (j >= pattern.length) {
        out += '\\['
        continue
      }
      let body = pattern.slice(i, j).replace(/[\\\]]/g, '\\$&')
      i = j + 1
      if (body[0] === '!') body = '^' + body.slice(1)
      else if (body[0] === '^') body = '\\' + body
      out += `[${body}]`
    } else {
      out += c.replace(REGEX_SPECIAL, '\\$&')
    }
  }
  return new RegExp(`^(?:${out})$`, 's')
}

// --- rules ----------------------------------------------------------------------------------

const PORT_SUFFIX = /^(.*):(\d+)$/

function parsePort(digits: string, rule: string): number {
  const port = Number(digits)
  if (port > 65535) throw new Error(`allow rule ${JSON.stringify(rule)}: port out of range`)
  return port
}

export class JsMatcher {
  readonly #exact = new Map<string, ExactEntry>()
  readonly #wild: WildRule[] = []
  readonly #v4: V4Net[] = []
  readonly #v6: V6Net[] = []
  readonly #allowLocalhost: boolean

  constructor(rules: readonly string[], options: { allowLocalhost?: boolean } = {}) {
    this.#allowLocalhost = options.allowLocalhost ?? true
    for (const raw of rules) this.#add(raw)
  }

  #add(raw: string): void {
    let rule = raw.trim().toLowerCase()
    if (rule === '' || rule.includes('://')) throw new Error(`bad allow rule ${JSON.stringify(raw)}`)
    if (rule.endsWith('.')) rule = rule.slice(0, -1)
    let host = rule
    let port: RulePort = null
    if (rule.startsWith('[')) {
      // [v6], [v6]:port, [v6]/len, [v6]/len:port
      const m = /^\[([^\]]+)\](\/\d+)?(?::(\d+))?$/.exec(rule)
      if (!m) throw new Error(`bad allow rule ${JSON.stringify(raw)}`)
      if (m[3] !== undefined) port = parsePort(m[3], raw)
      if (!this.#addNetwork(m[1]! + (m[2] ?? ''), port)) throw new Error(`bad allow rule ${JSON.stringify(raw)}`)
      return
    }
    const m = PORT_SUFFIX.exec(rule)
    if (m && !m[1]!.includes(':')) {
      host = m[1]!
      port = parsePort(m[2]!, raw)
    }
    if (this.#addNetwork(host, port)) return
    if (/[*?[]/.test(host)) {
      this.#wild.push({ re: fnmatchToRegExp(host), port })
      return
    }
    let entry = this.#exact.get(host)
    if (!entry) {
      entry = { anyPort: false, ports: new Set() }
      this.#exact.set(host, entry)
    }
    if (port === null) entry.anyPort = true
    else entry.ports.add(port)
  }

  /** Adds `addr` or `addr/len` as a network; false when it is not one. */
  #addNetwork(text: string, port: RulePort): boolean {
    const slash = text.indexOf('/')
    const addr = slash < 0 ? text : text.slice(0, slash)
    const lenText = slash < 0 ? null : text.slice(slash + 1)
    if (lenText !== null && !/^\d+$/.test(lenText)) return false
    const v4 = parseV4(addr)
    if (v4 !== null) {
      const len = lenText === null ? 32 : Number(lenText)
      if (len > 32) return false
      const mask = v4Mask(len)
      this.#v4.push({ net: (v4 & mask) >>> 0, mask, port })
      return true
    }
    const v6 = parseV6(addr)
    if (v6 !== null) {
      const len = lenText === null ? 128 : Number(lenText)
      if (len > 128) return false
      const mask = v6Mask(len)
      const net: V6Words = [0, 0, 0, 0]
      for (let i = 0; i < 4; i++) net[i] = (v6[i]! & mask[i]!) >>> 0
      this.#v6.push({ net, mask, port })
      return true
    }
    return false
  }

  /** Would a connection to `host:port` be allowed? `port` null/undefined = a DNS lookup. */
  allows(host: string, port?: number | null): boolean {
    const p = port ?? null
    let h = host.trim().toLowerCase()
    for (let i = 0; i < h.length; i++) {
      const c = h.charCodeAt(i)
      if (c <= 0x20 || c === 0x7f) return false
    }
    const v4 = parseV4(h)
    const v6 = v4 === null && h.includes(':') ? parseV6(h) : null
    if (v4 === null && v6 === null && h.endsWith('.')) h = h.slice(0, -1)
    if (v4 !== null) {
      if (this.#allowLocalhost && (v4 >>> 24 === 127 || v4 === 0)) return true
      return this.#v4Allows(v4, p) || this.#wildAllows(h, p)
    }
    if (v6 !== null) {
      const mapped = mappedV4(v6)
      if (this.#allowLocalhost) {
        const zeroHigh = v6[0] === 0 && v6[1] === 0 && v6[2] === 0
        if (zeroHigh && (v6[3] === 0 || v6[3] === 1)) return true
        if (mapped !== null && (mapped >>> 24 === 127 || mapped === 0)) return true
      }
      if (this.#v6Allows(v6, p)) return true
      if (mapped !== null && this.#v4Allows(mapped, p)) return true
      // Wildcards see the IP's canonical text; the workload only uses canonical IPv6 text.
      if (this.#wildAllows(h, p)) return true
      return mapped !== null && this.#wildAllows(formatV4(mapped), p)
    }
    if (this.#allowLocalhost && h === 'localhost') return true
    const entry = this.#exact.get(h)
    if (entry && (p === null || entry.anyPort || entry.ports.has(p))) return true
    return this.#wildAllows(h, p)
  }

  #wildAllows(h: string, p: number | null): boolean {
    for (const rule of this.#wild) {
      if ((p === null || rule.port === null || rule.port === p) && rule.re.test(h)) return true
    }
    return false
  }

  #v4Allows(ip: number, p: number | null): boolean {
    for (const n of this.#v4) {
      if ((ip & n.mask) >>> 0 === n.net && (p === null || n.port === null || n.port === p)) return true
    }
    return false
  }

  #v6Allows(ip: V6Words, p: number | null): boolean {
    for (const n of this.#v6) {
      if (
        (ip[0] & n.mask[0]) >>> 0 === n.net[0] &&
        (ip[1] & n.mask[1]) >>> 0 === n.net[1] &&
        (ip[2] & n.mask[2]) >>> 0 === n.net[2] &&
        (ip[3] & n.mask[3]) >>> 0 === n.net[3] &&
        (p === null || n.port === null || n.port === p)
      ) {
        return true
      }
    }
    return false
  }
}
