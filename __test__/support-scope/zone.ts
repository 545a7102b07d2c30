// Servers and names for the scope tests: counting echo servers closed at teardown, and fresh
// DNS-only names under the responder's wildcards, so query counts for them are exact.
import type { ExecutionContext } from 'ava'
import { type CountingServer, countingTcpServer } from '../harness/index.js'

/** One counting TCP echo server per address (random ports), closed when the test ends. */
export async function serve(t: ExecutionContext, ...hosts: string[]): Promise<CountingServer[]> {
  const servers = await Promise.all(hosts.map((host) => countingTcpServer(host)))
  t.teardown(() => Promise.all(servers.map((s) => s.close())))
  return servers
}

let counter = 0

/**
 * `<unique>.<middle>.<suffix>`: a name nobody else queries. With suffix `allowed.test` it
 * resolves to ALLOWED_V4, with `blocked.test` to BLOCKED_V4 (DNS responder only, not hosts).
 */
export function freshName(middle: string, suffix: 'allowed.test' | 'blocked.test'): string {
  const unique = `u${process.pid}x${++counter}${Math.random().toString(36).slice(2, 7)}`
  return `${unique}.${middle}.${suffix}`
}
