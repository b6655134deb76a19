// Addresses of subnets (the ip_addresses table): what AUTO links get at deploy time, what
// operators give STATIC links, what users reserve for things that are not machines. The
// allocator picks the lowest free address in JS and lets the UNIQUE(subnet_id, ip) index be
// the judge: D1 runs one statement at a time, so of two writers that picked the same address
// exactly one succeeds and the other moves on to the next candidate. No address is ever held
// twice, however many deployments run at once.
import type { SubnetUtilisation } from "../../shared/subnets";
import { ApiError } from "../http/errors";
import { eventStatement } from "./events";

export const IP_KINDS = ["auto", "static", "dhcp", "sticky", "discovered", "user_reserved", "link_up"] as const;
export type AddressKind = (typeof IP_KINDS)[number];

// ---- Addresses of both families as bigints --------------------------------------------------

export interface Addr {
  family: 4 | 6;
  n: bigint;
}

function parseV4(s: string): bigint | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  let n = 0n;
  for (const p of m.slice(1)) {
    const v = Number(p);
    if (v > 255 || (p.length > 1 && p.startsWith("0"))) return null;
    n = (n << 8n) | BigInt(v);
  }
  return n;
}

function parseV6(s: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length > 45) return null;
  let text = s;
  let tail: bigint[] = [];
  // An IPv4-mapped tail (::ffff:10.0.0.1) counts as two groups.
  const dot = text.lastIndexOf(":");
  if (text.includes(".")) {
    const v4 = parseV4(text.slice(dot + 1));
    if (v4 === null) return null;
    tail = [v4 >> 16n, v4 & 0xffffn];
    text = text.slice(0, dot + 1);
    if (!text.endsWith("::")) text = text.slice(0, -1);
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if ([...head, ...rest].some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const given = head.length + rest.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return null;
  const all = [...head.map((g) => BigInt(`0x${g}`)), ...Array(8 - given).fill(0n), ...rest.map((g) => BigInt(`0x${g}`)), ...tail];
  return all.reduce((n, g) => (n << 16n) | g, 0n);
}

export function parseIp(s: string): Addr | null {
  const v4 = parseV4(s);
  if (v4 !== null) return { family: 4, n: v4 };
  const v6 = s.includes(":") ? parseV6(s) : null;
  return v6 === null ? null : { family: 6, n: v6 };
}

/** The one spelling of an address that goes into ip_addresses.ip (RFC 5952 for IPv6). */
export function formatIp(a: Addr): string {
  if (a.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((a.n >> s) & 255n)).join(".");
  const g = Array.from({ length: 8 }, (_, i) => Number((a.n >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best.at < 0) return hex.join(":");
  return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.len).join(":")}`;
}

/** An address as stored, or null when `s` is not one. */
export function canonicalIp(s: string): string | null {
  const a = parseIp(s);
  return a ? formatIp(a) : null;
}

export interface Net {
  family: 4 | 6;
  prefix: number;
  first: bigint;
  last: bigint;
}

export function parseNet(cidr: string): Net | null {
  const [ip, len] = cidr.split("/");
  const a = ip === undefined ? null : parseIp(ip);
  if (!a || !/^\d{1,3}$/.test(len ?? "")) return null;
  const bits = a.family === 4 ? 32 : 128;
  const prefix = Number(len);
  if (prefix > bits) return null;
  const host = (1n << BigInt(bits - prefix)) - 1n;
  return { family: a.family, prefix, first: a.n & ~host, last: (a.n & ~host) | host };
}

// ---- A subnet as the allocator sees it --------------------------------------------------------

interface Span {
  lo: bigint;
  hi: bigint;
  type: "dynamic" | "reserved";
}

export interface SubnetSpace {
  id: number;
  cidr: string;
  siteId: number | null;
  gateway: string | null;
  net: Net;
  ranges: Span[];
  /** The racks' own addresses in the subnet (from their hello): never handed out. */
  racks: bigint[];
}

export async function subnetSpace(db: D1Database, subnetId: number): Promise<SubnetSpace | null> {
  const [s, r, k] = await db.batch([
    db.prepare("SELECT id, cidr, site_id, gateway_ip FROM subnets WHERE id = ?").bind(subnetId),
    db.prepare("SELECT type, start_ip, end_ip FROM ip_ranges WHERE subnet_id = ? ORDER BY id").bind(subnetId),
    db
      .prepare("SELECT r.interfaces FROM racks r JOIN subnets s ON s.id = ?1 WHERE r.revoked_at IS NULL AND (r.site_id = s.site_id OR r.id = s.rack_id)")
      .bind(subnetId),
  ]);
  const row = s!.results[0] as { id: number; cidr: string; site_id: number | null; gateway_ip: string | null } | undefined;
  const net = row ? parseNet(row.cidr) : null;
  if (!row || !net) return null;
  const ranges = (r!.results as { type: "dynamic" | "reserved"; start_ip: string; end_ip: string }[]).flatMap((x) => {
    const lo = parseIp(x.start_ip);
    const hi = parseIp(x.end_ip);
    return lo && hi ? [{ lo: lo.n, hi: hi.n, type: x.type }] : [];
  });
  const racks = (k!.results as { interfaces: string }[])
    .flatMap((x) => rackAddresses(x.interfaces))
    .filter((n) => n.family === net.family && n.n >= net.first && n.n <= net.last);
  return {
    id: row.id,
    cidr: row.cidr,
    siteId: row.site_id,
    gateway: row.gateway_ip ? canonicalIp(row.gateway_ip) : null,
    net,
    ranges,
    racks: racks.map((a) => a.n),
  };
}

/** Addresses in a rack's hello ({name, mac, addresses: ["10.0.0.2/24", ...]}), prefixes dropped. */
export function rackAddresses(json: string): Addr[] {
  try {
    const list = JSON.parse(json) as { addresses?: unknown }[];
    return list
      .flatMap((i) => (Array.isArray(i?.addresses) ? i.addresses : []))
      .flatMap((a) => {
        const ip = typeof a === "string" ? parseIp(a.split("/")[0]!) : null;
        return ip ? [ip] : [];
      });
  } catch {
    return [];
  }
}

/** Addresses a subnet never hands out: its network and broadcast addresses (IPv4 up to /30; IPv6's subnet-router anycast). */
function structural(s: SubnetSpace): bigint[] {
  if (s.net.family === 4) return s.net.prefix <= 30 ? [s.net.first, s.net.last] : [];
  return s.net.prefix <= 126 ? [s.net.first] : [];
}

/** Why `ip` cannot be given to a STATIC link or reserved by hand in this subnet; null when it can (if free). */
export function staticProblem(s: SubnetSpace, ip: string): { code: string; message: string } | null {
  const a = parseIp(ip);
  if (!a) return { code: "invalid_address", message: `${ip} is not an IP address` };
  if (a.family !== s.net.family || a.n < s.net.first || a.n > s.net.last) return { code: "outside_subnet", message: `${ip} is not in the subnet ${s.cidr}` };
  if (structural(s).includes(a.n))
    return { code: "reserved_address", message: `${ip} is the ${a.n === s.net.first ? "network" : "broadcast"} address of ${s.cidr}` };
  if (s.gateway && formatIp(a) === s.gateway) return { code: "gateway_address", message: `${ip} is the gateway of ${s.cidr}` };
  if (s.racks.includes(a.n)) return { code: "rack_address", message: `${ip} is an address of the rack that serves ${s.cidr}` };
  const dyn = s.ranges.find((r) => r.type === "dynamic" && r.lo <= a.n && a.n <= r.hi);
  if (dyn) {
    return {
      code: "in_dynamic_range",
      message: `${ip} is in the dynamic range ${formatIp({ family: a.family, n: dyn.lo })}-${formatIp({ family: a.family, n: dyn.hi })} of ${s.cidr}, which the rack's DHCP hands out`,
    };
  }
  return null;
}

/** The lowest addresses AUTO may take (at most `count`, in order), skipping `used` (canonical strings). */
export function freeCandidates(s: SubnetSpace, used: Set<string>, count: number, from?: bigint): bigint[] {
  const skip = new Set([...structural(s), ...s.racks]);
  const gw = s.gateway ? parseIp(s.gateway) : null;
  if (gw) skip.add(gw.n);
  const spans = [...s.ranges].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  const out: bigint[] = [];
  let n = from !== undefined && from > s.net.first ? from : s.net.first;
  while (n <= s.net.last && out.length < count) {
    const span = spans.find((r) => r.lo <= n && n <= r.hi);
    if (span) {
      n = span.hi + 1n;
      continue;
    }
    if (!skip.has(n) && !used.has(formatIp({ family: s.net.family, n }))) out.push(n);
    n++;
  }
  return out;
}

/** The lowest address AUTO may take, skipping `used`; null when the subnet is full. */
export function lowestFree(s: SubnetSpace, used: Set<string>, from?: bigint): bigint | null {
  return freeCandidates(s, used, 1, from)[0] ?? null;
}

/** Counts MAAS's subnet statistics and /api/v1's utilisation are made of. */
export interface Utilisation {
  total: number;
  usable: number;
  dynamic: number;
  reserved: number;
  used: Record<AddressKind, number>;
  usedTotal: number;
  free: number;
  /** Free addresses (outside ranges, not taken) as start/end runs, in order. */
  freeRanges: { start: string; end: string; size: number }[];
}

/** The subnet's addresses held now (rows with an address), canonical. */
async function usedAddresses(db: D1Database, subnetId: number): Promise<Map<string, AddressKind>> {
  const { results } = await db
    .prepare("SELECT ip, kind FROM ip_addresses WHERE subnet_id = ? AND ip IS NOT NULL")
    .bind(subnetId)
    .all<{ ip: string; kind: AddressKind }>();
  return new Map(results.map((r) => [canonicalIp(r.ip) ?? r.ip, r.kind]));
}

/** Runs past this many addresses are not listed one by one (an IPv6 /64 is 2^64 addresses). */
const MAX_RUNS = 4096;

// Math.min and Math.max take no bigints.
const bigMin = (a: bigint, b: bigint) => (a < b ? a : b);
const bigMax = (a: bigint, b: bigint) => (a > b ? a : b);

export async function utilisation(db: D1Database, s: SubnetSpace): Promise<Utilisation> {
  return countUtilisation(s, await usedAddresses(db, s.id));
}

/** Every subnet's space, built from four queries whatever their number (a page of 1,000 subnets makes no request per subnet). */
export async function allSubnetSpaces(db: D1Database): Promise<Map<number, { space: SubnetSpace; held: Map<string, AddressKind> }>> {
  const [s, r, k, a] = await db.batch([
    db.prepare("SELECT id, cidr, site_id, gateway_ip, rack_id FROM subnets"),
    db.prepare("SELECT subnet_id, type, start_ip, end_ip FROM ip_ranges ORDER BY id"),
    db.prepare("SELECT id, site_id, interfaces FROM racks WHERE revoked_at IS NULL"),
    db.prepare("SELECT subnet_id, ip, kind FROM ip_addresses WHERE subnet_id IS NOT NULL AND ip IS NOT NULL"),
  ]);
  const out = new Map<number, { space: SubnetSpace; held: Map<string, AddressKind> }>();
  const racks = (k!.results as { id: string; site_id: number; interfaces: string }[]).map((x) => ({ ...x, addrs: rackAddresses(x.interfaces) }));
  const bySite = new Map<number, Addr[]>();
  for (const x of racks) bySite.set(x.site_id, [...(bySite.get(x.site_id) ?? []), ...x.addrs]);
  for (const row of s!.results as { id: number; cidr: string; site_id: number | null; gateway_ip: string | null; rack_id: string | null }[]) {
    const net = parseNet(row.cidr);
    if (!net) continue;
    const own = row.rack_id ? racks.filter((x) => x.id === row.rack_id && x.site_id !== row.site_id).flatMap((x) => x.addrs) : [];
    const rackAddrs = [...(row.site_id === null ? [] : (bySite.get(row.site_id) ?? [])), ...own].filter(
      (n) => n.family === net.family && n.n >= net.first && n.n <= net.last,
    );
    const space: SubnetSpace = {
      id: row.id,
      cidr: row.cidr,
      siteId: row.site_id,
      gateway: row.gateway_ip ? canonicalIp(row.gateway_ip) : null,
      net,
      ranges: [],
      racks: rackAddrs.map((x) => x.n),
    };
    out.set(row.id, { space, held: new Map() });
  }
  for (const x of r!.results as { subnet_id: number; type: "dynamic" | "reserved"; start_ip: string; end_ip: string }[]) {
    const lo = parseIp(x.start_ip);
    const hi = parseIp(x.end_ip);
    if (lo && hi) out.get(x.subnet_id)?.space.ranges.push({ lo: lo.n, hi: hi.n, type: x.type });
  }
  for (const x of a!.results as { subnet_id: number; ip: string; kind: AddressKind }[]) out.get(x.subnet_id)?.held.set(canonicalIp(x.ip) ?? x.ip, x.kind);
  return out;
}

/** The counts of `utilisation` from a subnet's space and held addresses; `runs: false` skips listing the free runs. */
export function countUtilisation(s: SubnetSpace, held: Map<string, AddressKind>, opts: { runs?: boolean } = {}): Utilisation {
  const total = s.net.last - s.net.first + 1n;
  const skip = new Set([...structural(s), ...s.racks]);
  const gw = s.gateway ? parseIp(s.gateway) : null;
  if (gw && gw.n >= s.net.first && gw.n <= s.net.last) skip.add(gw.n);
  const clip = (r: Span) => ({ lo: bigMax(r.lo, s.net.first), hi: bigMin(r.hi, s.net.last), type: r.type });
  const spans = s.ranges.map(clip).filter((r) => r.lo <= r.hi);
  const size = (t: Span["type"]) => spans.filter((r) => r.type === t).reduce((a, r) => a + (r.hi - r.lo + 1n), 0n);
  const inSpan = (n: bigint) => spans.some((r) => r.lo <= n && n <= r.hi);
  const used = Object.fromEntries(IP_KINDS.map((k) => [k, 0])) as Record<AddressKind, number>;
  let heldOutside = 0n;
  for (const [ip, kind] of held) {
    used[kind]++;
    const a = parseIp(ip);
    if (a && !inSpan(a.n) && !skip.has(a.n)) heldOutside++;
  }
  let skipOutside = 0n;
  for (const n of skip) if (!inSpan(n)) skipOutside++;
  const usable = total - BigInt(structural(s).length);
  const free = total - size("dynamic") - size("reserved") - skipOutside - heldOutside;
  const freeRanges: Utilisation["freeRanges"] = [];
  if (opts.runs !== false) freeRuns(s, spans, skip, held, freeRanges);
  const num = (n: bigint) => (n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n));
  return {
    total: num(total),
    usable: num(usable),
    dynamic: num(size("dynamic")),
    reserved: num(size("reserved")),
    used,
    usedTotal: held.size,
    free: num(free < 0n ? 0n : free),
    freeRanges,
  };
}

/** Free runs: walk the sorted obstacles (ranges, skipped and held addresses) once. */
function freeRuns(s: SubnetSpace, spans: Span[], skip: Set<bigint>, held: Map<string, AddressKind>, freeRanges: Utilisation["freeRanges"]): void {
  const fam = s.net.family;
  const obstacles: [bigint, bigint][] = [...spans.map((r): [bigint, bigint] => [r.lo, r.hi]), ...[...skip].map((n): [bigint, bigint] => [n, n])];
  for (const ip of held.keys()) {
    const a = parseIp(ip);
    if (a && a.n >= s.net.first && a.n <= s.net.last) obstacles.push([a.n, a.n]);
  }
  obstacles.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let at = s.net.first;
  const emit = (lo: bigint, hi: bigint) => {
    if (lo <= hi && freeRanges.length < MAX_RUNS)
      freeRanges.push({ start: formatIp({ family: fam, n: lo }), end: formatIp({ family: fam, n: hi }), size: Number(hi - lo + 1n) });
  };
  for (const [lo, hi] of obstacles) {
    if (lo > at) emit(at, lo - 1n);
    if (hi + 1n > at) at = hi + 1n;
  }
  emit(at, s.net.last);
}

// ---- Taking an address ------------------------------------------------------------------------

export const isUnique = (e: unknown) => /UNIQUE constraint failed/i.test(String((e as Error)?.message ?? e));

export const subnetFull = (s: Pick<SubnetSpace, "cidr" | "id">, what: string) =>
  new ApiError(409, "subnet_full", `no free address left in ${s.cidr} for ${what}: widen the subnet or shrink its dynamic and reserved ranges`, {
    subnet_id: s.id,
    cidr: s.cidr,
  });

export const addressInUse = (ip: string, s: Pick<SubnetSpace, "cidr">) => new ApiError(409, "address_in_use", `${ip} is already in use in ${s.cidr}`, { ip });

/** After this many lost races in a row the allocator reads the subnet again rather than stepping one by one. */
const REREAD_AFTER = 8;
const MAX_ATTEMPTS = 4096;

/**
 * Takes the lowest free address of `s` with `write(ip)`: a write that stores `ip` and returns
 * what it made, or null when it found nothing left to do (someone else settled it), or throws
 * UNIQUE when another writer holds `ip` by now; then the next candidate is tried.
 */
export async function takeLowest<T>(db: D1Database, s: SubnetSpace, what: string, write: (ip: string) => Promise<T | null>): Promise<T | null> {
  let used = new Set((await usedAddresses(db, s.id)).keys());
  let from: bigint | undefined;
  let lost = 0;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const n = lowestFree(s, used, from);
    if (n === null) {
      // Addresses skipped since the last read may have been given back: one fresh look before giving up.
      if (from === undefined) throw subnetFull(s, what);
      used = new Set((await usedAddresses(db, s.id)).keys());
      from = undefined;
      continue;
    }
    const ip = formatIp({ family: s.net.family, n });
    try {
      return await write(ip);
    } catch (e) {
      if (!isUnique(e)) throw e;
      used.add(ip);
      from = n + 1n;
      if (++lost % REREAD_AFTER === 0) {
        used = new Set((await usedAddresses(db, s.id)).keys());
        from = undefined;
      }
    }
  }
  throw new ApiError(503, "allocation_contended", `could not settle an address in ${s.cidr} for ${what}: too many concurrent allocations, try again`);
}

/** How many free candidates one allocation statement chooses among. */
const WINDOW = 256;

/**
 * Gives the AUTO link `linkId` the lowest free address of its subnet unless it has one; returns
 * its address. The candidates (the lowest free addresses as last read) go to SQLite in one
 * UPDATE that takes the first of them no row holds at that moment: D1 runs it as one step, so
 * concurrent deployments do not collide on the same candidate and retry one by one (100 on a
 * /24 cost about 100 statements, not 100²). The UNIQUE index stays the final word.
 */
export async function allocateAutoLink(db: D1Database, link: { id: number; subnetId: number; what: string }): Promise<string> {
  const s = await subnetSpace(db, link.subnetId);
  if (!s) throw new ApiError(409, "no_subnet", `the subnet of ${link.what} is gone`);
  const firstFree = `(SELECT c.value FROM json_each(?3) c WHERE NOT EXISTS (SELECT 1 FROM ip_addresses x WHERE x.subnet_id = ?2 AND x.ip = c.value) ORDER BY c.key LIMIT 1)`;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const candidates = freeCandidates(s, new Set((await usedAddresses(db, s.id)).keys()), WINDOW).map((n) => formatIp({ family: s.net.family, n }));
    if (candidates.length === 0) throw subnetFull(s, link.what);
    try {
      const r = await db
        .prepare(`UPDATE ip_addresses SET ip = ${firstFree} WHERE id = ?1 AND ip IS NULL AND subnet_id = ?2 AND ${firstFree} IS NOT NULL RETURNING ip`)
        .bind(link.id, s.id, JSON.stringify(candidates))
        .first<{ ip: string }>();
      if (r) return r.ip;
    } catch (e) {
      if (!isUnique(e)) throw e;
      continue;
    }
    // Nothing written: the link got an address meanwhile, or every candidate was taken since the read.
    const row = await db.prepare("SELECT ip, subnet_id FROM ip_addresses WHERE id = ?").bind(link.id).first<{ ip: string | null; subnet_id: number | null }>();
    if (!row || row.subnet_id !== s.id)
      throw new ApiError(409, "concurrent_change", `the link of ${link.what} changed while its address was allocated; try again`);
    if (row.ip) return row.ip;
  }
  throw new ApiError(503, "allocation_contended", `could not settle an address in ${s.cidr} for ${link.what}: too many concurrent allocations, try again`);
}

/**
 * Deploy: every AUTO link of the machine without an address gets one. All or none: when a
 * subnet is full the addresses taken by this call are given back before the error goes up.
 * Returns the link ids it gave addresses to (for a caller that must undo them).
 */
export async function allocateMachineAddresses(db: D1Database, machineId: number): Promise<number[]> {
  const { results } = await db
    .prepare(
      `SELECT a.id, a.subnet_id, i.name FROM ip_addresses a JOIN interfaces i ON i.id = a.interface_id
       WHERE i.machine_id = ? AND a.kind = 'auto' AND a.ip IS NULL AND a.subnet_id IS NOT NULL ORDER BY a.id`,
    )
    .bind(machineId)
    .all<{ id: number; subnet_id: number; name: string }>();
  const taken: number[] = [];
  try {
    for (const l of results) {
      await allocateAutoLink(db, { id: l.id, subnetId: l.subnet_id, what: `${l.name} (AUTO link ${l.id})` });
      taken.push(l.id);
    }
  } catch (e) {
    await undoAllocations(db, taken);
    throw e;
  }
  return taken;
}

export async function undoAllocations(db: D1Database, linkIds: number[]): Promise<void> {
  if (linkIds.length === 0) return;
  await db.prepare("UPDATE ip_addresses SET ip = NULL WHERE kind = 'auto' AND id IN (SELECT value FROM json_each(?))").bind(JSON.stringify(linkIds)).run();
}

/**
 * The statement that gives a machine's AUTO addresses back (release, an aborted deployment);
 * STATIC, DHCP and reservations stay. `guard` makes it run only when the same batch's status
 * change did (the machine row carries that change's nonce).
 */
export function releaseAutoStatement(db: D1Database, machineId: number, guard: { nonce: string }): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE ip_addresses SET ip = NULL WHERE kind = 'auto' AND ip IS NOT NULL
       AND interface_id IN (SELECT id FROM interfaces WHERE machine_id = ?1)
       AND EXISTS (SELECT 1 FROM machines WHERE id = ?1 AND op_nonce = ?2)`,
    )
    .bind(machineId, guard.nonce);
}

// ---- Reservations (addresses for things that are not machines) --------------------------------

export interface AddressRow {
  id: number;
  subnet_id: number | null;
  ip: string | null;
  kind: AddressKind;
  interface_id: number | null;
  machine_id: number | null;
  owner_id: number | null;
  mac: string | null;
  comment: string;
  created_at: number;
}

export const ADDRESS_COLS = "id, subnet_id, ip, kind, interface_id, machine_id, owner_id, mac, comment, created_at";

const reservationEvent = (db: D1Database, actor: string, s: SubnetSpace, what: "reserved" | "released", ip: string, comment = "") =>
  eventStatement(db, { type: `ipaddress.${what}`, actor, siteId: s.siteId, description: `${ip} in ${s.cidr} ${what}${comment ? ` (${comment})` : ""}` });

/** Reserves `ip` (checked as a STATIC address), or the lowest free address when none is given. */
export async function reserveAddress(
  db: D1Database,
  actor: { username: string; userId: number },
  s: SubnetSpace,
  input: { ip?: string | undefined; comment: string; mac?: string | undefined },
): Promise<AddressRow> {
  const mac = input.mac?.toLowerCase().replaceAll("-", ":");
  if (mac !== undefined) {
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac))
      throw new ApiError(400, "invalid_mac", `${input.mac} is not a MAC address`, [{ path: "mac", message: "Enter a valid MAC address." }]);
    const machine = await db
      .prepare("SELECT m.hostname FROM interfaces i JOIN machines m ON m.id = i.machine_id WHERE i.mac = ?")
      .bind(mac)
      .first<{ hostname: string }>();
    if (machine) throw new ApiError(409, "machine_mac", `${mac} is an interface of ${machine.hostname}: give that interface a STATIC link instead`, { mac });
    const had = await db
      .prepare("SELECT ip FROM ip_addresses WHERE kind = 'user_reserved' AND mac = ? AND subnet_id = ?")
      .bind(mac, s.id)
      .first<{ ip: string }>();
    if (had) throw new ApiError(409, "mac_has_address", `${mac} already has the address ${had.ip} in ${s.cidr}`, { mac, ip: had.ip });
  }
  const insert = (ip: string) => [
    db
      .prepare(`INSERT INTO ip_addresses (subnet_id, ip, kind, owner_id, mac, comment) VALUES (?, ?, 'user_reserved', ?, ?, ?) RETURNING ${ADDRESS_COLS}`)
      .bind(s.id, ip, actor.userId, mac ?? null, input.comment),
    reservationEvent(db, actor.username, s, "reserved", ip, input.comment),
  ];
  if (input.ip !== undefined) {
    const problem = staticProblem(s, input.ip);
    if (problem) throw new ApiError(400, problem.code, problem.message, { ip: input.ip });
    const ip = canonicalIp(input.ip)!;
    try {
      const [row] = await db.batch(insert(ip));
      return row!.results[0] as AddressRow;
    } catch (e) {
      if (isUnique(e)) throw addressInUse(ip, s);
      throw e;
    }
  }
  const made = await takeLowest(db, s, "a reservation", async (ip) => {
    const [row] = await db.batch(insert(ip));
    return row!.results[0] as AddressRow;
  });
  return made!;
}

/** Deletes a reservation, or with `discovered` an address the rack saw (links are unlinked, AUTO addresses released with their machine). */
export async function releaseReservation(db: D1Database, actor: string, row: AddressRow, s: SubnetSpace, opts: { discovered?: boolean } = {}): Promise<void> {
  await db.batch([
    db.prepare("DELETE FROM ip_addresses WHERE id = ? AND kind = ?").bind(row.id, opts.discovered ? "discovered" : "user_reserved"),
    reservationEvent(db, actor, s, "released", row.ip ?? "?"),
  ]);
}

/** A row with who holds it, as both APIs list addresses. */
export interface AddressListing extends AddressRow {
  cidr: string | null;
  interface_name: string | null;
  system_id: string | null;
  hostname: string | null;
  domain: string | null;
  owner: string | null;
}

const LISTING = `SELECT a.id, a.subnet_id, a.ip, a.kind, a.interface_id, coalesce(a.machine_id, i.machine_id) AS machine_id, a.owner_id, coalesce(i.mac, a.mac) AS mac,
  a.comment, a.created_at, s.cidr, i.name AS interface_name, m.system_id, m.hostname, m.domain, u.username AS owner
  FROM ip_addresses a LEFT JOIN subnets s ON s.id = a.subnet_id LEFT JOIN interfaces i ON i.id = a.interface_id
  LEFT JOIN machines m ON m.id = coalesce(a.machine_id, i.machine_id) LEFT JOIN users u ON u.id = a.owner_id`;

/** Rows selected by `where` (columns of `a`, the ip_addresses row), held addresses first in address order. */
export async function listAddresses(db: D1Database, where: string, ...args: (string | number)[]): Promise<AddressListing[]> {
  const { results } = await db
    .prepare(`${LISTING} WHERE ${where} ORDER BY a.id`)
    .bind(...args)
    .all<AddressListing>();
  const key = (r: AddressListing) => (r.ip ? parseIp(r.ip) : null);
  return results.sort((x, y) => {
    const a = key(x);
    const b = key(y);
    if (!a || !b) return a ? -1 : b ? 1 : x.id - y.id;
    return a.family !== b.family ? a.family - b.family : a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
  });
}

/** A subnet's utilisation as the API answers it (GET /subnets and /subnets/:id/utilisation). */
export function utilisationJson(u: Utilisation): SubnetUtilisation {
  return { total: u.total, usable: u.usable, dynamic: u.dynamic, reserved: u.reserved, used: u.usedTotal, used_by_kind: u.used, free: u.free };
}
