// The zones a site's racks serve, derived from rows the caller loaded: pure, so the snapshot
// build and the zone-file export agree and tests need no database. Serials are stamped later
// (./serial.ts): a zone's content is hashed without one.
import type { DnsRecord, RrType } from "../../../shared/dns/zone";
import { parseIp } from "../addresses";
import { fqdnOf } from "./names";
import { ptrOwner, reverseZones } from "./reverse";
import { parseRrdata } from "./rrdata";

export interface ZoneDomain {
  id: number;
  name: string;
  authoritative: boolean;
  ttl: number | null;
}

export interface ZoneInput {
  domains: ZoneDomain[];
  /** The `default_dns_ttl` setting: the TTL of a domain without its own, and the SOA minimum. */
  defaultTtl: number;
  /** The site's name servers (one per rack), fully qualified, with their addresses for glue. */
  servers: { name: string; ips: string[] }[];
  /** Machines' and devices' addresses: hostname.domain → ip. */
  hosts: { hostname: string; domain: string; ip: string }[];
  resources: { id: number; name: string; domainId: number; addressTtl: number | null; addresses: string[] }[];
  records: { resourceId: number; rrtype: string; rrdata: string; ttl: number | null }[];
  /** The site's managed subnets: each gets its reverse zones. */
  subnets: string[];
}

/** A zone before its serial: records with the SOA first (serial 0), then the apex NS. */
export interface UnstampedZone {
  name: string;
  /** Kept beside the records so the serial can be stamped without re-parsing the SOA. */
  soa: { mname: string; rname: string; minimum: number };
  records: DnsRecord[];
}

// As MAAS's bind zones: a secondary would refresh every 10 minutes, retry every 30, give up after a week.
const REFRESH = 600;
const RETRY = 1800;
const EXPIRE = 604800;

export function soaData(z: UnstampedZone, serial: number): string {
  return `${z.soa.mname} ${z.soa.rname} ${serial} ${REFRESH} ${RETRY} ${EXPIRE} ${z.soa.minimum}`;
}

/** The zone (of `zones`, longest first) whose apex is `name` or an ancestor of it. */
function zoneFor(name: string, zones: string[]): string | null {
  for (const z of zones) if (name === z || name.endsWith(`.${z}`)) return z;
  return null;
}

const byLength = (a: string, b: string) => b.length - a.length || a.localeCompare(b);

export function buildZones(input: ZoneInput): UnstampedZone[] {
  const auth = input.domains.filter((d) => d.authoritative);
  const ttlOf = new Map(input.domains.map((d) => [d.name, d.ttl ?? input.defaultTtl]));
  const domainById = new Map(input.domains.map((d) => [d.id, d]));
  const forward = auth.map((d) => d.name).sort(byLength);
  const reverse = [...new Set(input.subnets.flatMap(reverseZones))].sort(byLength);
  const all = [...forward, ...reverse].sort(byLength);
  const content = new Map<string, Map<string, DnsRecord>>(all.map((z) => [z, new Map()]));

  const add = (name: string, type: RrType, data: string, ttl: number, within = all) => {
    const z = zoneFor(name, within);
    if (!z) return;
    // One record per (name, type, data): the first one's TTL stands.
    const key = `${name} ${type} ${data}`;
    const records = content.get(z)!;
    if (!records.has(key)) records.set(key, { name, type, ttl, data });
  };

  const ptrs = new Set<string>();
  const ptr = (ip: string, fqdn: string, ttl: number) => {
    const owner = ptrOwner(ip);
    // The first name given an address owns its PTR: a machine's before an operator's.
    if (!owner || ptrs.has(owner)) return;
    ptrs.add(owner);
    add(owner, "PTR", fqdn, ttl, reverse);
  };
  const address = (fqdn: string, ip: string, ttl: number) => {
    const a = parseIp(ip);
    if (!a) return;
    add(fqdn, a.family === 4 ? "A" : "AAAA", ip, ttl, forward);
  };

  const authNames = new Set(auth.map((d) => d.name));
  for (const h of input.hosts) {
    const fqdn = `${h.hostname}.${h.domain}`;
    const ttl = ttlOf.get(h.domain) ?? input.defaultTtl;
    if (authNames.has(h.domain)) address(fqdn, h.ip, ttl);
    ptr(h.ip, fqdn, ttl);
  }
  const resources = new Map<number, { fqdn: string; ttl: number; domain: string; authoritative: boolean }>();
  for (const r of input.resources) {
    const d = domainById.get(r.domainId);
    if (!d) continue;
    const fqdn = fqdnOf(r.name, d.name);
    const ttl = d.ttl ?? input.defaultTtl;
    resources.set(r.id, { fqdn, ttl, domain: d.name, authoritative: d.authoritative });
    for (const ip of r.addresses) {
      if (d.authoritative) address(fqdn, ip, r.addressTtl ?? ttl);
      ptr(ip, fqdn, r.addressTtl ?? ttl);
    }
  }
  for (const rec of input.records) {
    const r = resources.get(rec.resourceId);
    if (!r?.authoritative) continue;
    const p = parseRrdata(rec.rrtype, rec.rrdata, r.domain);
    if (p.ok) add(r.fqdn, rec.rrtype as RrType, p.data, rec.ttl ?? r.ttl, forward);
  }
  for (const s of input.servers) for (const ip of s.ips) address(s.name, ip, ttlOf.get(zoneFor(s.name, forward) ?? "") ?? input.defaultTtl);

  const nsNames = input.servers.map((s) => s.name).sort();
  const mname = nsNames[0] ?? "localhost";
  return all.map((name) => {
    const ttl = ttlOf.get(name) ?? input.defaultTtl;
    const body = content.get(name)!;
    // A zone inside another is delegated from it to the same servers, so a resolver walking down finds it.
    for (const child of all) {
      if (
        child !== name &&
        zoneFor(
          child,
          all.filter((z) => z !== child),
        ) === name
      )
        for (const ns of nsNames) body.set(`${child} NS ${ns}`, { name: child, type: "NS", ttl, data: ns });
    }
    const records = dropCnameConflicts([...body.values()], name).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : a.type < b.type ? -1 : a.type > b.type ? 1 : a.data < b.data ? -1 : a.data > b.data ? 1 : 0,
    );
    const zone: UnstampedZone = { name, soa: { mname, rname: `nobody.${name}`, minimum: input.defaultTtl }, records: [] };
    zone.records = [
      { name, type: "SOA", ttl, data: soaData(zone, 0) },
      ...nsNames.map((ns) => ({ name, type: "NS" as const, ttl, data: ns })),
      ...records.filter((r) => !(r.name === name && r.type === "NS" && nsNames.includes(r.data))),
    ];
    return zone;
  });
}

/**
 * A CNAME cannot share its name with other data (RFC 1034 §3.6.2). Writes refuse it, but a
 * machine renamed onto an operator's CNAME would make one: the machine's records win.
 */
function dropCnameConflicts(records: DnsRecord[], apex: string): DnsRecord[] {
  const others = new Set([apex, ...records.filter((r) => r.type !== "CNAME").map((r) => r.name)]);
  const cnames = new Set<string>();
  return records.filter((r) => {
    if (r.type !== "CNAME") return true;
    if (others.has(r.name) || cnames.has(r.name)) return false;
    cnames.add(r.name);
    return true;
  });
}
