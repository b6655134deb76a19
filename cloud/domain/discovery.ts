// Addresses a rack saw in use on its networks: DHCP leases its server bound and neighbours in
// its kernel's table. Each becomes a `discovered` row of ip_addresses, so the allocator (which
// steps over every row) never hands a live address to a deployment, and the subnet lists it.
// An address that already has a row of any kind keeps it: links, reservations and sticky
// addresses are what the operator decided and are never touched from here.
import { z } from "zod";
import { canonicalIp, parseIp, parseNet, staticProblem, subnetSpace, type Net } from "./addresses";
import { recordEvent } from "./events";

/** What one batch of rack events may write, at most: bounds the D1 batch. */
export const MAX_OBSERVATIONS = 1024;

const Observation = z.strictObject({
  ip: z.string().min(2).max(45),
  mac: z
    .string()
    .max(17)
    .transform((m) => m.toLowerCase())
    .pipe(z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/)),
  /** ms since epoch: when the rack saw it. */
  seenAt: z.number().int().nonnegative().max(8_640_000_000_000_000),
  /** A lease is the MAC's one current address in its subnet; a neighbour is one of several. */
  source: z.enum(["dhcp", "arp"]),
});
export type Observation = z.input<typeof Observation>;

export interface DiscoveryOutcome {
  /** Rows written (new, or a discovered row that changed hands). */
  recorded: number;
  /** Well-formed observations outside every subnet of the rack's site, or of an address never handed out. */
  ignored: number;
  /** Observations refused by validation. */
  refused: number;
}

// The broadcast MAC and all-zero MACs are never a host: a neighbour entry with one is noise.
const NOT_A_HOST = new Set(["ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"]);

/**
 * Records what rack `rackId` observed. Only subnets of the rack's site (or bound to the rack)
 * count: a rack cannot write addresses into another site's subnets. Never throws on bad input:
 * a bad observation is logged and dropped, the others are recorded.
 */
export async function recordDiscoveries(db: D1Database, rackId: string, input: unknown[], now = Date.now()): Promise<DiscoveryOutcome> {
  const out: DiscoveryOutcome = { recorded: 0, ignored: 0, refused: 0 };
  const good: z.output<typeof Observation>[] = [];
  for (const raw of input.slice(0, MAX_OBSERVATIONS)) {
    const r = Observation.safeParse(raw);
    const ip = r.success ? canonicalIp(r.data.ip) : null;
    if (!r.success || !ip || NOT_A_HOST.has(r.data.mac)) {
      out.refused++;
      continue;
    }
    good.push({ ...r.data, ip });
  }
  out.refused += Math.max(0, input.length - MAX_OBSERVATIONS);
  if (out.refused) console.warn(`discovery: dropped ${out.refused} bad observation(s) from rack ${rackId}`);
  if (!good.length) return out;

  const rack = await db.prepare("SELECT site_id FROM racks WHERE id = ?").bind(rackId).first<{ site_id: number | null }>();
  if (!rack) return { ...out, ignored: good.length };
  const { results: subnets } = await db
    .prepare("SELECT id, cidr FROM subnets WHERE site_id = ?1 OR rack_id = ?2")
    .bind(rack.site_id, rackId)
    .all<{ id: number; cidr: string }>();
  const nets = subnets.flatMap((s) => {
    const net = parseNet(s.cidr);
    return net ? [{ id: s.id, net }] : [];
  });

  // The last word per address wins within a batch: one row per (subnet, ip) is all there is.
  const latest = new Map<string, { subnetId: number; o: z.output<typeof Observation> }>();
  for (const o of good) {
    const subnetId = containing(nets, o.ip);
    if (subnetId === null) {
      out.ignored++;
      continue;
    }
    const key = `${subnetId}|${o.ip}`;
    const had = latest.get(key);
    if (!had || had.o.seenAt <= o.seenAt) latest.set(key, { subnetId, o });
  }

  const spaces = new Map<number, Awaited<ReturnType<typeof subnetSpace>>>();
  const stmts: D1PreparedStatement[] = [];
  const upserts = new Set<number>();
  for (const { subnetId, o } of latest.values()) {
    if (!spaces.has(subnetId)) spaces.set(subnetId, await subnetSpace(db, subnetId));
    const space = spaces.get(subnetId);
    // The gateway, the rack itself and the network's own addresses are never allocated: a row
    // for them would only count them twice.
    const problem = space ? staticProblem(space, o.ip) : { code: "gone" };
    if (problem && problem.code !== "in_dynamic_range") {
      out.ignored++;
      continue;
    }
    const seen = Math.min(o.seenAt, now);
    const comment = `seen by rack ${rackId} (${o.source === "dhcp" ? "DHCP lease" : "neighbour"})`;
    if (o.source === "dhcp")
      // A new lease is where the MAC is now: its older discovered addresses in the subnet are stale.
      stmts.push(db.prepare("DELETE FROM ip_addresses WHERE kind = 'discovered' AND subnet_id = ? AND mac = ? AND ip != ?").bind(subnetId, o.mac, o.ip));
    upserts.add(stmts.length);
    stmts.push(
      db
        .prepare(
          `INSERT INTO ip_addresses (subnet_id, ip, kind, mac, comment, created_at) VALUES (?1, ?2, 'discovered', ?3, ?4, ?5)
           ON CONFLICT (subnet_id, ip) DO UPDATE SET mac = excluded.mac, comment = excluded.comment, created_at = excluded.created_at
           WHERE ip_addresses.kind = 'discovered' AND ip_addresses.mac IS NOT excluded.mac`,
        )
        .bind(subnetId, o.ip, o.mac, comment, seen),
    );
  }
  if (!stmts.length) return out;
  const results = await db.batch(stmts);
  // Only the upserts count: a DELETE's changes are not new knowledge.
  out.recorded = results.reduce((n, r, i) => n + (upserts.has(i) ? (r.meta.changes ?? 0) : 0), 0);
  return out;
}

/** The most specific subnet holding `ip`, or null. */
function containing(nets: { id: number; net: Net }[], ip: string): number | null {
  const a = parseIp(ip);
  if (!a) return null;
  let best: { id: number; prefix: number } | null = null;
  for (const { id, net } of nets) {
    if (net.family !== a.family || a.n < net.first || a.n > net.last) continue;
    if (!best || net.prefix > best.prefix) best = { id, prefix: net.prefix };
  }
  return best?.id ?? null;
}

/**
 * Forgets discovered addresses on subnets of `sites` (null: every subnet, those on no site
 * too), all of them or those of one IP and MAC; audited per call. A rack that still sees a host
 * reports it again. Answers how many rows went.
 */
export async function clearDiscovered(db: D1Database, actor: string, sites: number[] | null, only?: { ip: string; mac: string }): Promise<number> {
  const where: string[] = ["kind = 'discovered'"];
  const args: unknown[] = [];
  if (sites !== null) {
    if (!sites.length) return 0;
    where.push(`subnet_id IN (SELECT id FROM subnets WHERE site_id IN (${sites.map(() => "?").join(",")}))`);
    args.push(...sites);
  }
  if (only) {
    where.push("ip = ? AND mac = ?");
    args.push(only.ip, only.mac);
  }
  const r = await db
    .prepare(`DELETE FROM ip_addresses WHERE ${where.join(" AND ")}`)
    .bind(...args)
    .run();
  const n = r.meta.changes ?? 0;
  if (n > 0) {
    await recordEvent(db, {
      type: "discovery.cleared",
      level: "AUDIT",
      actor,
      description: only ? `discovery of ${only.ip} (${only.mac}) cleared` : `${n} discovered address${n === 1 ? "" : "es"} cleared`,
    });
  }
  return n;
}
