// The bench's zones, shaped as the region hands them to a rack (shared/dns/zone.ts): a forward
// zone `maas` of 10,000 machines and one reverse /24 zone per 250 of them, so every server loads
// the same records (ours from the DnsConfig, bind9/Knot/NSD from master files rendered from it).
import type { DnsConfig, DnsRecord, DnsZone } from "../shared/dns/zone";

export const DOMAIN = "maas";
export const MACHINES = 10_000;
/** The site's subnet: machines get 10.70.0.1 upwards, 250 to a /24 (no .0 or .255). */
export const SITE_CIDR = "10.70.0.0/16";
const PER_24 = 250;
const TTL = 30;
const SERIAL = 2026070101;

export const hostname = (i: number) => `node-${String(i).padStart(5, "0")}`;

export function address(i: number): [number, number, number, number] {
  return [10, 70, Math.floor((i - 1) / PER_24), ((i - 1) % PER_24) + 1];
}

/** SOA and NS as MAAS's bind9 config has them: the region's own name as the nameserver, with glue. */
function apex(name: string): DnsRecord[] {
  return [
    { name, type: "SOA", ttl: TTL, data: `ns.${DOMAIN} nobody.example.com ${SERIAL} 600 1800 604800 ${TTL}` },
    { name, type: "NS", ttl: TTL, data: `ns.${DOMAIN}` },
  ];
}

export function benchDnsConfig(): DnsConfig {
  const forward: DnsZone = { name: DOMAIN, serial: SERIAL, records: [...apex(DOMAIN), { name: `ns.${DOMAIN}`, type: "A", ttl: TTL, data: "10.70.255.1" }] };
  const reverse = new Map<number, DnsZone>();
  for (let i = 1; i <= MACHINES; i++) {
    const a = address(i);
    const fqdn = `${hostname(i)}.${DOMAIN}`;
    forward.records.push({ name: fqdn, type: "A", ttl: TTL, data: a.join(".") });
    const zoneName = `${a[2]}.${a[1]}.${a[0]}.in-addr.arpa`;
    let z = reverse.get(a[2]);
    if (!z) {
      z = { name: zoneName, serial: SERIAL, records: apex(zoneName) };
      reverse.set(a[2], z);
    }
    z.records.push({ name: `${a[3]}.${zoneName}`, type: "PTR", ttl: TTL, data: fqdn });
  }
  return { zones: [forward, ...reverse.values()], upstream: [] };
}

/** A deterministic PRNG (mulberry32): every run and every server gets the same query file. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export const QUERY_MIX = { a: 0.8, ptr: 0.1, nxdomain: 0.1 } as const;

/**
 * dnsperf's input: names and types, one a line, drawn at random over the whole zone so no server
 * gets to answer from a hot handful of names. NXDOMAIN names sit inside `maas`, so they are
 * authoritative negative answers (with the SOA), not refusals.
 */
export function queryFile(lines = 200_000): string {
  const r = rng(17);
  const out: string[] = [];
  for (let n = 0; n < lines; n++) {
    const x = r();
    const i = 1 + Math.floor(r() * MACHINES);
    if (x < QUERY_MIX.a) out.push(`${hostname(i)}.${DOMAIN} A`);
    else if (x < QUERY_MIX.a + QUERY_MIX.ptr) {
      const a = address(i);
      out.push(`${a[3]}.${a[2]}.${a[1]}.${a[0]}.in-addr.arpa PTR`);
    } else out.push(`absent-${String(i).padStart(5, "0")}.${DOMAIN} A`);
  }
  return `${out.join("\n")}\n`;
}
