// Loading machines with what their MAAS objects embed (tags, interfaces with VLAN and subnet,
// block devices) in a fixed number of queries however many machines there are.
import { require as requirePerm, type Permission } from "../auth/roles";
import { interfaceKinds } from "../domain/machines/interface-kinds";
import { linksOf } from "../domain/machines/interfaces";
import { getMachine, type MachineRow, tagsFor } from "../machines/repo";
import { type DiskRow, type IfaceRow, machineJson, type NetCache, SUBNET_SELECT, type SubnetRow, VLAN_SELECT, type VlanRow } from "./shape";
import type { Req } from "./table";
import { MaasError } from "./wire";

export async function netCache(db: D1Database, subnetIds: number[], vlanIds: number[]): Promise<NetCache> {
  const subnets = new Map<number, SubnetRow>();
  const vlans = new Map<number, VlanRow>();
  if (subnetIds.length) {
    const { results } = await db
      .prepare(`${SUBNET_SELECT} WHERE id IN (SELECT value FROM json_each(?))`)
      .bind(JSON.stringify([...new Set(subnetIds)]))
      .all<SubnetRow>();
    for (const s of results) {
      subnets.set(s.id, s);
      if (s.vlan_id !== null) vlanIds.push(s.vlan_id);
    }
  }
  if (vlanIds.length) {
    const { results } = await db
      .prepare(`${VLAN_SELECT} WHERE v.id IN (SELECT value FROM json_each(?))`)
      .bind(JSON.stringify([...new Set(vlanIds)]))
      .all<VlanRow>();
    for (const v of results) vlans.set(v.id, v);
  }
  return { subnets, vlans };
}

export async function machinesJson(db: D1Database, rows: MachineRow[]) {
  if (rows.length === 0) return [];
  const ids = JSON.stringify(rows.map((r) => r.id));
  const [ifs, dks] = await db.batch([
    db
      .prepare(
        "SELECT id, machine_id, name, mac, type, vlan_id, speed_mbps, link_connected, is_boot FROM interfaces WHERE machine_id IN (SELECT value FROM json_each(?)) ORDER BY id",
      )
      .bind(ids),
    db
      .prepare(
        "SELECT id, machine_id, name, path, model, serial, size, rotational, is_boot FROM block_devices WHERE machine_id IN (SELECT value FROM json_each(?)) ORDER BY id",
      )
      .bind(ids),
  ]);
  const ifaces = (ifs?.results ?? []) as IfaceRow[];
  const disks = (dks?.results ?? []) as DiskRow[];
  const links = await linksOf(
    db,
    ifaces.map((i) => i.id),
  );
  const tags = await tagsFor(
    db,
    rows.map((r) => r.id),
  );
  const net = await netCache(
    db,
    links.flatMap((l) => (l.subnet_id !== null ? [l.subnet_id] : [])),
    ifaces.flatMap((i) => (i.vlan_id !== null ? [i.vlan_id] : [])),
  );
  const kinds = await interfaceKinds(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((m) =>
    machineJson(m, {
      tags: tags.get(m.id) ?? [],
      ifaces: ifaces.filter((i) => i.machine_id === m.id),
      links,
      disks: disks.filter((d) => d.machine_id === m.id),
      net,
      kinds,
    }),
  );
}

export async function machineJsonById(db: D1Database, systemId: string) {
  const m = await getMachine(db, systemId);
  if (!m) throw new MaasError(404, "No Machine matches the given query.");
  return (await machinesJson(db, [m]))[0]!;
}

/** The machine named in the path; 404 when absent or on a site the caller cannot see. */
export async function machineFor(r: Req, perm: Permission, key = "system_id"): Promise<MachineRow> {
  const id = r.path[key] ?? "";
  const m = /^[a-z0-9]{1,64}$/.test(id) ? await getMachine(r.db, id) : null;
  if (!m) throw new MaasError(404, "No Machine matches the given query.");
  requirePerm(r.caller, perm, m.siteId);
  return m;
}
