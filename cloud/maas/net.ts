// What the network resources (fabrics/, vlans/, spaces/, subnets/, ipranges/) share: the
// permission, and reading VLANs and subnets in the shapes gomaasapi checks.
import { z } from "zod";
import { ipToInt } from "../../shared/net";
import { can, visibleSites } from "../auth/roles";
import { type NamedKind, namedHandlers } from "./named";
import { SUBNET_SELECT, type SubnetRow, subnetJson, VLAN_SELECT, type VlanRow } from "./shape";
import type { Req } from "./table";
import { forbidden } from "./wire";

export const ipv4 = z.string().refine((s) => ipToInt(s) !== null, "Enter a valid IPv4 address.");

/** network.manage (admin): on the subnet's site for subnets and their ranges, else everywhere. */
export function manageNetworks(r: Req, siteId: number | null = null) {
  if (!can(r.caller, "network.manage", siteId)) throw forbidden("Managing networks needs admin.");
}

/** Fabrics and spaces: network.manage everywhere, addressed by id or name, in MAAS's words. */
export function networkNamedHandlers(k: Pick<NamedKind, "rows" | "singular" | "shape" | "create" | "update" | "protectedId">) {
  const noun = k.singular.toLowerCase();
  const docs = { object: `Manage ${noun}.`, list: `List all ${noun}s.` };
  return namedHandlers({ ...k, what: k.singular, object: `${noun}s/{id}/`, manage: (r) => manageNetworks(r), docs });
}

export async function vlansWhere(db: D1Database, where: string, ...args: (string | number)[]) {
  return (
    await db
      .prepare(`${VLAN_SELECT} WHERE ${where} ORDER BY v.vid`)
      .bind(...args)
      .all<VlanRow>()
  ).results;
}

/** Subnets of the sites the caller sees; others are as if absent. */
export async function visibleSubnets(r: Req, where = "", ...args: (string | number)[]): Promise<SubnetRow[]> {
  const sites = visibleSites(r.caller);
  const { results } = await r.db
    .prepare(`${SUBNET_SELECT} ${where} ORDER BY id`)
    .bind(...args)
    .all<SubnetRow>();
  // A subnet on no site yet is everyone's to see and link to (the first link places it).
  return results.filter((s) => sites === null || s.site_id === null || sites.includes(s.site_id));
}

/** A subnet by id or CIDR, among those the caller sees. */
export async function subnetByKey(r: Req, key: string): Promise<SubnetRow | undefined> {
  return (await visibleSubnets(r, /^\d+$/.test(key) ? "WHERE id = ?" : "WHERE cidr = ?", /^\d+$/.test(key) ? Number(key) : key))[0];
}

export async function subnetsJson(db: D1Database, rows: SubnetRow[]) {
  const vlanIds = [...new Set(rows.flatMap((s) => (s.vlan_id !== null ? [s.vlan_id] : [])))];
  const found = vlanIds.length ? await vlansWhere(db, "v.id IN (SELECT value FROM json_each(?))", JSON.stringify(vlanIds)) : [];
  const vlans = new Map(found.map((v) => [v.id, v]));
  return rows.map((s) => subnetJson(s, s.vlan_id !== null ? (vlans.get(s.vlan_id) ?? null) : null));
}
