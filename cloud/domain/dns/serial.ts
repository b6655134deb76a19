// Zone serials: each (site, zone) keeps the hash of the content its serial was given for. One
// upsert over all of a snapshot's zones bumps those whose content changed to max(old + 1, now in
// unix seconds) and leaves the rest, so a rebuild of unchanged data keeps its serials and two
// racks of a site building at once agree.
import type { DnsZone } from "../../../shared/dns/zone";
import { sha256Hex } from "../../auth/crypto";
import { soaData, type UnstampedZone } from "./zones";

export async function zoneHash(z: UnstampedZone): Promise<string> {
  return (await sha256Hex(JSON.stringify(z.records))).slice(0, 32);
}

/** The statement whose RETURNING rows are (zone, serial) for every zone in `hashes`. */
export function serialStatement(db: D1Database, siteId: number, hashes: { zone: string; hash: string }[], nowSeconds: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO dns_zone_serials (site_id, zone, hash, serial)
       SELECT ?1, json_extract(j.value, '$.zone'), json_extract(j.value, '$.hash'), ?3 FROM json_each(?2) j WHERE true
       ON CONFLICT (site_id, zone) DO UPDATE SET
         serial = CASE WHEN dns_zone_serials.hash = excluded.hash THEN dns_zone_serials.serial
                       ELSE max(dns_zone_serials.serial + 1, excluded.serial) % 4294967296 END,
         hash = excluded.hash
       RETURNING zone, serial`,
    )
    .bind(siteId, JSON.stringify(hashes), nowSeconds);
}

export function stamp(z: UnstampedZone, serial: number): DnsZone {
  const [soa, ...rest] = z.records;
  return { name: z.name, serial, records: [{ ...soa!, data: soaData(z, serial) }, ...rest] };
}

/** Serials for zones: hashes them, runs the upsert, stamps each SOA. */
export async function stampZones(db: D1Database, siteId: number, zones: UnstampedZone[]): Promise<DnsZone[]> {
  if (!zones.length) return [];
  const hashes = await Promise.all(zones.map(async (z) => ({ zone: z.name, hash: await zoneHash(z) })));
  const { results } = await serialStatement(db, siteId, hashes, Math.floor(Date.now() / 1000)).all<{ zone: string; serial: number }>();
  const serials = new Map(results.map((r) => [r.zone, r.serial]));
  return zones.map((z) => stamp(z, serials.get(z.name) || 1));
}
