// What a site's racks serve: the rows zones are derived from, read in the snapshot's batch, and
// the DnsConfig made of them (zones stamped with serials, upstream resolvers).
import type { DnsConfig } from "../../../shared/dns/zone";
import { canonicalIp, formatIp, parseNet, rackAddresses } from "../addresses";
import { decodeSetting } from "../settings";
import { labelProblem } from "./names";
import { stampZones } from "./serial";
import { buildZones, type UnstampedZone, type ZoneInput } from "./zones";

/** The statements whose results `siteZones` takes, in order; ?1 is the site id. */
export function dnsStatements(db: D1Database, siteId: number): D1PreparedStatement[] {
  return [
    db.prepare("SELECT id, name, authoritative, ttl, is_default FROM domains ORDER BY id"),
    db
      .prepare(
        `SELECT m.hostname, m.domain, a.ip FROM machines m JOIN interfaces i ON i.machine_id = m.id JOIN ip_addresses a ON a.interface_id = i.id
         WHERE m.site_id = ?1 AND a.ip IS NOT NULL AND a.kind IN ('static', 'auto', 'sticky') ORDER BY m.id, a.id`,
      )
      .bind(siteId),
    // A device's addresses are the reservations for its MACs (cloud/maas/devices.ts).
    db
      .prepare(
        `SELECT d.hostname, d.domain, a.ip FROM devices d, json_each(d.macs) mac JOIN ip_addresses a ON a.mac = mac.value
         WHERE d.site_id = ?1 AND a.kind = 'user_reserved' AND a.ip IS NOT NULL ORDER BY d.id, a.id`,
      )
      .bind(siteId),
    db.prepare("SELECT id, name, domain_id, address_ttl, addresses FROM dns_resources ORDER BY id"),
    db.prepare("SELECT resource_id, rrtype, rrdata, ttl FROM dns_records ORDER BY id"),
    db.prepare("SELECT id, hostname, interfaces FROM racks WHERE site_id = ?1 AND revoked_at IS NULL ORDER BY id").bind(siteId),
    db.prepare("SELECT name, value FROM settings WHERE name IN ('default_dns_ttl', 'upstream_dns')"),
  ];
}

type Rows = { results?: unknown[] } | undefined;

/** A rack's name server label: the first label of its hostname, made a valid label if it is not one. */
export function rackLabel(hostname: string, id: string): string {
  const first = (hostname.split(".")[0] ?? "").toLowerCase();
  if (!labelProblem(first)) return first;
  const fixed = first
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);
  return fixed && !labelProblem(fixed)
    ? fixed
    : `rack-${id
        .toLowerCase()
        .replace(/[^a-z0-9]/g, "")
        .slice(0, 12)}`;
}

/** The zones' inputs from the statements' results and the site's subnets (cidr, managed). */
export function zoneInput(results: Rows[], subnets: { cidr: string; managed: boolean }[]): { input: ZoneInput; upstream: string[] } {
  const [domains, machines, devices, resources, records, racks, settings] = results.map((r) => (r?.results ?? []) as Record<string, unknown>[]);
  const stored = new Map((settings ?? []).map((s) => [s["name"] as string, s["value"] as string]));
  const defaultTtl = decodeSetting("default_dns_ttl", stored.get("default_dns_ttl")) as number;
  const upstreamText = decodeSetting("upstream_dns", stored.get("upstream_dns")) as string;
  const doms = (domains ?? []).map((d) => ({
    id: d["id"] as number,
    name: d["name"] as string,
    authoritative: !!d["authoritative"],
    ttl: d["ttl"] as number | null,
    isDefault: !!d["is_default"],
  }));
  const defaultDomain = doms.find((d) => d.isDefault)?.name ?? "maas";
  const nets = subnets.map((s) => parseNet(s.cidr)).filter((n) => n !== null);
  const servers = new Map<string, Set<string>>();
  for (const r of racks ?? []) {
    const name = `${rackLabel(r["hostname"] as string, r["id"] as string)}.${defaultDomain}`;
    const ips = servers.get(name) ?? new Set<string>();
    // Glue only for addresses on the site's subnets: a rack's other interfaces are not where machines reach it.
    for (const a of rackAddresses(r["interfaces"] as string))
      if (nets.some((n) => n.family === a.family && a.n >= n.first && a.n <= n.last)) ips.add(formatIp(a));
    servers.set(name, ips);
  }
  const upstream = upstreamText
    .split(/[\s,]+/)
    .map((s) => (s ? canonicalIp(s) : null))
    .filter((s) => s !== null)
    .slice(0, 8);
  const input: ZoneInput = {
    domains: doms,
    defaultTtl,
    servers: [...servers].map(([name, ips]) => ({ name, ips: [...ips] })),
    hosts: [...(machines ?? []), ...(devices ?? [])].map((h) => ({ hostname: h["hostname"] as string, domain: h["domain"] as string, ip: h["ip"] as string })),
    resources: (resources ?? []).map((r) => ({
      id: r["id"] as number,
      name: r["name"] as string,
      domainId: r["domain_id"] as number,
      addressTtl: r["address_ttl"] as number | null,
      addresses: JSON.parse(r["addresses"] as string) as string[],
    })),
    records: (records ?? []).map((r) => ({
      resourceId: r["resource_id"] as number,
      rrtype: r["rrtype"] as string,
      rrdata: r["rrdata"] as string,
      ttl: r["ttl"] as number | null,
    })),
    subnets: subnets.filter((s) => s.managed).map((s) => s.cidr),
  };
  return { input, upstream };
}

export async function siteDns(db: D1Database, siteId: number, results: Rows[], subnets: { cidr: string; managed: boolean }[]): Promise<DnsConfig> {
  const { input, upstream } = zoneInput(results, subnets);
  const zones: UnstampedZone[] = buildZones(input);
  return { zones: await stampZones(db, siteId, zones), upstream };
}

/** A site's DNS read on its own (the zone API): the same statements, one batch. */
export async function loadSiteDns(db: D1Database, siteId: number): Promise<DnsConfig> {
  const [subnets, ...rest] = await db.batch([
    db.prepare("SELECT cidr, managed FROM subnets WHERE site_id = ?1 ORDER BY id").bind(siteId),
    ...dnsStatements(db, siteId),
  ]);
  const nets = ((subnets?.results ?? []) as { cidr: string; managed: number }[]).map((s) => ({ cidr: s.cidr, managed: !!s.managed }));
  return siteDns(db, siteId, rest, nets);
}
