// The Policy class: the upstream conformance vectors through the full JS -> Rust path, and the
// input validation of the constructor and of allows().
import test from 'ava'
import { readFileSync } from 'node:fs'
import { InvalidRuleError, Policy } from '../dist/index.mjs'

interface MatchCase {
  allow: string[]
  allow_localhost: boolean
  host: string
  port: number | null
  resolved_from: string | null
  expected: boolean
  source: string
}
interface InvalidCase {
  rule: string
  error: string
  message?: string
  source: string
}
const vectors = JSON.parse(readFileSync(new URL('./fixtures/vectors.json', import.meta.url), 'utf8')) as {
  match: MatchCase[]
  invalid_rules: InvalidCase[]
}

test('fixture is the full conformance set', (t) => {
  t.true(vectors.match.length >= 191)
  t.true(vectors.invalid_rules.length >= 27)
})

vectors.match.forEach((c, i) => {
  const where = `${c.host}${c.port === null ? '' : `:${c.port}`}${c.resolved_from ? ` (from ${c.resolved_from})` : ''}`
  test(`match #${i}: ${JSON.stringify(c.allow).slice(0, 60)} ${where} -> ${c.expected}`, (t) => {
    const policy = new Policy(c.allow, { allowLocalhost: c.allow_localhost })
    t.is(policy.allows(c.host, c.port, c.resolved_from), c.expected, c.source)
  })
})

vectors.invalid_rules.forEach((c, i) => {
  test(`invalid rule #${i}: ${JSON.stringify(c.rule)}`, (t) => {
    const err = t.throws(() => new Policy(['ok.test', c.rule]), { instanceOf: InvalidRuleError })
    t.is(err?.code, 'ERR_TETHERED_INVALID_RULE')
    t.is(err?.index, 1)
    t.is(err?.rule, c.rule)
    t.true(err instanceof TypeError)
    if (c.message) t.true(err?.message.includes(c.message), err?.message)
  })
})

test('rules upstream silently mangles are rejected with a fix in the message', (t) => {
  for (const rule of ['[*]', '[::1]garbage', '[2001:db8::]/32:abc', '[ab]pi.com', 'host:', '[abc', 'api[12.example.com', '0.0.0.0/0']) {
    const err = t.throws(() => new Policy([rule]), { instanceOf: InvalidRuleError }, rule)
    t.true(err?.message.includes(`'${rule}'`), `message quotes the rule: ${err?.message}`)
    t.regex(err?.message ?? '', /(write|use|close|leave)/i)
  }
})

test('constructor validates its arguments', (t) => {
  t.throws(() => new Policy('a.test' as unknown as string[]), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new Policy(['a.test', 5 as unknown as string]), { instanceOf: TypeError, message: /allow\[1\]/ })
  t.throws(() => new Policy(['a.test'], { allowLocalhost: 1 as unknown as boolean }), { message: /allowLocalhost/ })
  t.throws(() => new Policy(['a.test'], 'x' as never), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => new Policy(['']), { code: 'ERR_TETHERED_INVALID_RULE' })
  t.throws(() => new Policy(['https://api.stripe.com']), { code: 'ERR_TETHERED_INVALID_RULE', message: /looks like a URL/ })
  t.throws(() => new Policy(['a.test:65536']), { code: 'ERR_TETHERED_INVALID_RULE', message: /out of valid range/ })
  t.throws(() => new Policy(['*.*']), { code: 'ERR_TETHERED_INVALID_RULE', message: /matches ALL/ })
})

test('allows() validates host, port and resolvedFrom', (t) => {
  const p = new Policy(['*.stripe.com:443'])
  t.throws(() => p.allows(42 as unknown as string), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(() => p.allows('a', 65536), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => p.allows('a', -1), { instanceOf: RangeError })
  t.throws(() => p.allows('a', 1.5), { instanceOf: RangeError })
  t.throws(() => p.allows('a', '443' as unknown as number), { instanceOf: TypeError })
  t.throws(() => p.allows('api.stripe.com', 443, 'x.stripe.com'), { code: 'ERR_INVALID_ARG_VALUE' })
  t.true(p.allows('api.stripe.com', undefined))
  t.true(p.allows('198.51.100.1', 443, 'api.stripe.com'))
  t.false(p.allows('198.51.100.1', 443, 'evil.test'))
})

test('the allow array is copied at construction', (t) => {
  const rules = ['a.test']
  const p = new Policy(rules)
  rules.push('b.test')
  t.false(p.allows('b.test'))
  t.is(p.ruleCount, 1)
})

test('a policy survives many rules and mixed syntax', (t) => {
  const rules = Array.from({ length: 10_000 }, (_, i) => (i % 3 === 0 ? `host${i}.example.com` : i % 3 === 1 ? `*.svc${i}.example.com:443` : `10.${(i >> 8) & 255}.${i & 255}.0/24`))
  const p = new Policy(rules)
  t.true(p.allows('host9999.example.com', 80))
  t.true(p.allows('a.b.svc9997.example.com', 443))
  t.false(p.allows('a.b.svc9997.example.com', 80))
  t.true(p.allows('10.39.14.7', 5432))
  t.false(p.allows('evil.test', 443))
})
