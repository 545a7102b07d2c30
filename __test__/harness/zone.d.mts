// Types for zone.mjs (kept as plain JS so scripts/run-tests.mjs can load it
// without a TypeScript loader).
export declare const ALLOWED_V4: '198.51.100.7';
export declare const OTHER_V4: '198.51.100.8';
export declare const BLOCKED_V4: '203.0.113.9';
export declare const BLOCKED_V4_B: '203.0.113.10';
export declare const ALLOWED_V6: '2001:db8::7';
export declare const BLOCKED_V6: '2001:db8::9';
export declare const DNS_ONLY_V4: '198.51.100.77';
export declare const DNS_ONLY_V6: '2001:db8::77';
export declare const DNS_SERVER: '127.0.0.53';
export declare const DNS_PORT: 53;
export declare const LO_V4: readonly string[];
export declare const LO_V6: readonly string[];
export declare const HOSTS: Readonly<Record<string, readonly string[]>>;
export declare const CARES_ONLY: Readonly<Record<string, readonly string[]>>;
export declare const WILDCARDS: Readonly<Record<string, readonly string[]>>;
export declare function lookupZone(name: string, hostname?: string): readonly string[] | undefined;
export declare function hostsFileText(hostname: string): string;
export declare const RESOLV_CONF: string;
