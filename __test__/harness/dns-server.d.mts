// Types for dns-server.mjs (plain JS: it is started by scripts/run-tests.mjs).
export interface DnsServer {
  /** lowercase qname -> { total, A, AAAA, PTR, ... } */
  readonly counts: Map<string, Record<string, number>>;
  /** UDP and TCP port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}
export declare function startDnsServer(opts: { host?: string; port?: number; controlPath: string; hostname?: string }): Promise<DnsServer>;
export declare function createDnsHandler(opts?: { hostname?: string }): {
  answer(query: Buffer): Buffer | null;
  counts: Map<string, Record<string, number>>;
};
