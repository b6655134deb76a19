// Fabrics, VLANs, spaces, subnets and IP ranges: what each site's rack serves DHCP on. The
// native API and the MAAS facade both write them through here; telling the racks of a change
// (tunnel/commands.ts) stays with the caller, after the write.
import { inCidr, ipToInt, parseCidr } from "../../shared/net";
import type { VlanJson } from "../../shared/subnets";
import { eventStatement, eventStatementIf } from "./events";
import { type NamedInput, type NamedRow, namedRows } from "./named";

const fabricRows = namedRows("fabrics");

export const fabrics = {
  ...fabricRows,
  /** MAAS fabrics always have an untagged VLAN; /api/v1 makes a bare fabric. */
  create: (db: D1Database, actor: string, input: NamedInput, opts: { untaggedVlan?: boolean } = {}): Promise<NamedRow> =>
    fabricRows.createWith(
      db,
      actor,
      input,
      opts.untaggedVlan ? [db.prepare("INSERT INTO vlans (fabric_id, vid, name) SELECT id, 0, 'untagged' FROM fabrics WHERE name = ?").bind(input.name)] : [],
    ),
};

export const spaces = namedRows("spaces");

export interface VlanRecord {
  id: number;
  fabric_id: number;
  vid: number;
  name: string;
  mtu: number;
  dhcp_on: number;
  space_id: number | null;
}

export interface VlanInput {
  vid: number;
  name: string;
  mtu: number;
  dhcpOn: boolean;
  spaceId: number | null;
}

const VLAN_COLS = "id, fabric_id, vid, name, mtu, dhcp_on, space_id";

const vlanEvent = (db: D1Database, actor: string, what: string, fabric: string, vid: number) =>
  eventStatement(db, { type: `vlan.${what}`, actor, description: `VLAN ${vid} on fabric ${fabric} ${what}` });

export async function createVlan(db: D1Database, actor: string, fabric: { id: number; name: string }, v: VlanInput): Promise<VlanRecord> {
  const [ins] = await db.batch([
    db
      .prepare(`INSERT INTO vlans (fabric_id, vid, name, mtu, dhcp_on, space_id) VALUES (?, ?, ?, ?, ?, ?) RETURNING ${VLAN_COLS}`)
      .bind(fabric.id, v.vid, v.name, v.mtu, v.dhcpOn ? 1 : 0, v.spaceId),
    vlanEvent(db, actor, "created", fabric.name, v.vid),
  ]);
  return ins!.results[0] as VlanRecord;
}

/** Fields left out keep their value; `spaceId: null` takes the VLAN out of its space. */
export async function updateVlan(db: D1Database, actor: string, vlan: VlanRecord & { fabric: string }, patch: Partial<VlanInput>): Promise<void> {
  await db.batch([
    db
      .prepare("UPDATE vlans SET vid = ?, name = ?, mtu = ?, dhcp_on = ?, space_id = ? WHERE id = ?")
      .bind(
        patch.vid ?? vlan.vid,
        patch.name ?? vlan.name,
        patch.mtu ?? vlan.mtu,
        (patch.dhcpOn ?? !!vlan.dhcp_on) ? 1 : 0,
        patch.spaceId === undefined ? vlan.space_id : patch.spaceId,
        vlan.id,
      ),
    vlanEvent(db, actor, "updated", vlan.fabric, patch.vid ?? vlan.vid),
  ]);
}

export async function deleteVlan(db: D1Database, actor: string, vlan: { id: number; vid: number; fabric: string }): Promise<void> {
  await db.batch([db.prepare("DELETE FROM vlans WHERE id = ?").bind(vlan.id), vlanEvent(db, actor, "deleted", vlan.fabric, vlan.vid)]);
}

/** A VLAN row with its fabric's name, as /api/v1 reads it. */
export type VlanWithFabric = VlanRecord & { fabric: string };

export const VLAN_WITH_FABRIC =
  "SELECT v.id, v.fabric_id, v.vid, v.name, v.mtu, v.dhcp_on, v.space_id, f.name AS fabric FROM vlans v JOIN fabrics f ON f.id = v.fabric_id";

/** The one place SQLite's 0/1 `dhcp_on` becomes the API's boolean. */
export function vlanJson(v: VlanWithFabric): VlanJson {
  return { id: v.id, fabric: v.fabric, vid: v.vid, name: v.name, mtu: v.mtu, dhcp_on: !!v.dhcp_on };
}

export async function vlanById(db: D1Database, id: number): Promise<VlanWithFabric | null> {
  return db.prepare(`${VLAN_WITH_FABRIC} WHERE v.id = ?`).bind(id).first<VlanWithFabric>();
}

/**
 * Deletes a VLAN no subnet is on. The check is a guard inside the batch, so a subnet put on
 * the VLAN meanwhile still stops it. Not deleted: the CIDRs of the subnets on it (none: it was gone).
 */
export async function deleteUnusedVlan(
  db: D1Database,
  actor: string,
  vlan: { id: number; vid: number; fabric: string },
): Promise<{ deleted: boolean; subnets: string[] }> {
  const unused = "NOT EXISTS (SELECT 1 FROM subnets WHERE vlan_id = ?)";
  const [, del] = await db.batch([
    eventStatementIf(db, { type: "vlan.deleted", actor, description: `VLAN ${vlan.vid} on fabric ${vlan.fabric} deleted` }, unused, vlan.id),
    db.prepare(`DELETE FROM vlans WHERE id = ? AND ${unused}`).bind(vlan.id, vlan.id),
  ]);
  if (del!.meta.changes > 0) return { deleted: true, subnets: [] };
  const { results } = await db.prepare("SELECT cidr FROM subnets WHERE vlan_id = ? ORDER BY id").bind(vlan.id).all<{ cidr: string }>();
  return { deleted: false, subnets: results.map((r) => r.cidr) };
}

/** What the writers need to know of a subnet row: events name its CIDR, on its site. */
export interface SubnetRecord {
  id: number;
  cidr: string;
  site_id: number | null;
}

export interface SubnetInput {
  cidr: string;
  name: string;
  vlanId: number | null;
  siteId: number | null;
  gatewayIp: string | null;
  dnsServers: string[];
  managed: boolean;
}

/** Whether `ip` is an address of the subnet `cidr` (both already valid). */
export function inSubnet(cidr: string, ip: string): boolean {
  return inCidr(parseCidr(cidr)!, ipToInt(ip)!);
}

const subnetEvent = (db: D1Database, actor: string, what: string, cidr: string, siteId: number | null) =>
  eventStatement(db, { type: `subnet.${what}`, actor, siteId, description: `subnet ${cidr} ${what}` });

/** The new subnet's id. */
export async function createSubnet(db: D1Database, actor: string, s: SubnetInput): Promise<number> {
  const [ins] = await db.batch([
    db
      .prepare("INSERT INTO subnets (cidr, name, vlan_id, site_id, gateway_ip, dns_servers, managed) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id")
      .bind(s.cidr, s.name, s.vlanId, s.siteId, s.gatewayIp, JSON.stringify(s.dnsServers), s.managed ? 1 : 0),
    subnetEvent(db, actor, "created", s.cidr, s.siteId),
  ]);
  return (ins!.results[0] as { id: number }).id;
}

/**
 * A subnet made without a site (through the MAAS API, whose clients know no sites) takes the
 * site of the first machine linked to it; from then on that site's rack serves it. A subnet
 * that already has a site is left alone. Answers whether this call gave it one.
 */
export async function adoptSubnet(db: D1Database, actor: string, subnetId: number, site: { id: number; name: string }): Promise<boolean> {
  const [, upd] = await db.batch([
    eventStatementIf(
      db,
      { type: "subnet.updated", actor, siteId: site.id, description: `subnet ${subnetId} joined site ${site.name} with its first linked machine` },
      "EXISTS (SELECT 1 FROM subnets WHERE id = ? AND site_id IS NULL)",
      subnetId,
    ),
    db.prepare("UPDATE subnets SET site_id = ? WHERE id = ? AND site_id IS NULL").bind(site.id, subnetId),
  ]);
  return upd!.meta.changes > 0;
}

/**
 * Fields left out keep their value; `vlanId: null` and `gatewayIp: null` clear theirs. The merge
 * is in SQL so that two edits of different fields cannot undo each other.
 */
export async function updateSubnet(db: D1Database, actor: string, s: SubnetRecord, patch: Partial<Omit<SubnetInput, "cidr" | "siteId">>): Promise<void> {
  const given = (v: unknown) => (v === undefined ? 0 : 1);
  await db.batch([
    db
      .prepare(
        `UPDATE subnets SET name = coalesce(?, name), vlan_id = CASE WHEN ? THEN ? ELSE vlan_id END, gateway_ip = CASE WHEN ? THEN ? ELSE gateway_ip END,
         dns_servers = coalesce(?, dns_servers), managed = coalesce(?, managed) WHERE id = ?`,
      )
      .bind(
        patch.name ?? null,
        given(patch.vlanId),
        patch.vlanId ?? null,
        given(patch.gatewayIp),
        patch.gatewayIp ?? null,
        patch.dnsServers ? JSON.stringify(patch.dnsServers) : null,
        patch.managed === undefined ? null : patch.managed ? 1 : 0,
        s.id,
      ),
    subnetEvent(db, actor, "updated", s.cidr, s.site_id),
  ]);
}

/** Its IP ranges go with it (ON DELETE CASCADE). */
export async function deleteSubnet(db: D1Database, actor: string, s: SubnetRecord): Promise<void> {
  await db.batch([db.prepare("DELETE FROM subnets WHERE id = ?").bind(s.id), subnetEvent(db, actor, "deleted", s.cidr, s.site_id)]);
}

export type RangeType = "dynamic" | "reserved";

export interface RangeRow {
  id: number;
  subnet_id: number;
  type: string;
  start_ip: string;
  end_ip: string;
  comment: string;
}

export interface RangeInput {
  type: RangeType;
  startIp: string;
  endIp: string;
  comment: string;
}

const RANGE_COLS = "id, subnet_id, type, start_ip, end_ip, comment";

/** Why a range cannot be in its subnet, for each API to word its own way; null: it can. */
export type RangeProblem =
  | { kind: "reversed" }
  | { kind: "start_outside" }
  | { kind: "end_outside" }
  | { kind: "overlap"; clash: { start_ip: string; end_ip: string } };

/** Checks a range against its subnet and the subnet's other ranges (all but `except`). */
export async function rangeProblem(
  db: D1Database,
  subnet: SubnetRecord,
  start: string,
  end: string,
  except: number | null = null,
): Promise<RangeProblem | null> {
  const [lo, hi] = [ipToInt(start)!, ipToInt(end)!];
  const cidr = parseCidr(subnet.cidr)!;
  if (lo > hi) return { kind: "reversed" };
  if (!inCidr(cidr, lo)) return { kind: "start_outside" };
  if (!inCidr(cidr, hi)) return { kind: "end_outside" };
  const { results } = await db
    .prepare("SELECT id, start_ip, end_ip FROM ip_ranges WHERE subnet_id = ?")
    .bind(subnet.id)
    .all<{ id: number; start_ip: string; end_ip: string }>();
  const clash = results.find((x) => x.id !== except && ipToInt(x.start_ip)! <= hi && lo <= ipToInt(x.end_ip)!);
  return clash ? { kind: "overlap", clash } : null;
}

const rangeEvent = (db: D1Database, actor: string, what: string, subnet: SubnetRecord, start: string, end: string) =>
  eventStatement(db, { type: `iprange.${what}`, actor, siteId: subnet.site_id, description: `IP range ${start}-${end} in ${subnet.cidr} ${what}` });

/** Writes a range `rangeProblem` has passed. */
export async function createIpRange(db: D1Database, actor: string, subnet: SubnetRecord, r: RangeInput): Promise<RangeRow> {
  const [ins] = await db.batch([
    db
      .prepare(`INSERT INTO ip_ranges (subnet_id, type, start_ip, end_ip, comment) VALUES (?, ?, ?, ?, ?) RETURNING ${RANGE_COLS}`)
      .bind(subnet.id, r.type, r.startIp, r.endIp, r.comment),
    rangeEvent(db, actor, "created", subnet, r.startIp, r.endIp),
  ]);
  return ins!.results[0] as RangeRow;
}

/** Fields left out keep their value; the resulting range must have passed `rangeProblem`. */
export async function updateIpRange(db: D1Database, actor: string, range: RangeRow, subnet: SubnetRecord, patch: Partial<RangeInput>): Promise<RangeRow> {
  const [start, end] = [patch.startIp ?? range.start_ip, patch.endIp ?? range.end_ip];
  const [upd] = await db.batch([
    db
      .prepare(`UPDATE ip_ranges SET type = ?, start_ip = ?, end_ip = ?, comment = ? WHERE id = ? RETURNING ${RANGE_COLS}`)
      .bind(patch.type ?? range.type, start, end, patch.comment ?? range.comment, range.id),
    rangeEvent(db, actor, "updated", subnet, start, end),
  ]);
  return upd!.results[0] as RangeRow;
}

export async function deleteIpRange(db: D1Database, actor: string, range: Pick<RangeRow, "id" | "start_ip" | "end_ip">, subnet: SubnetRecord): Promise<void> {
  await db.batch([db.prepare("DELETE FROM ip_ranges WHERE id = ?").bind(range.id), rangeEvent(db, actor, "deleted", subnet, range.start_ip, range.end_ip)]);
}
