// Loading machines with what their MAAS objects embed (tags, interfaces with VLAN and subnet,
// block devices) in a fixed number of queries however many machines there are.
import { require as requirePerm, type Permission } from "../auth/roles";
import { interfaceKinds } from "../domain/machines/interface-kinds";
import { linksOf } from "../domain/machines/interfaces";
import { type DiskRowFull, type StorageColumns, storageFrom, storageSetting } from "../domain/storage/repo";
import { describeDesign } from "../domain/storage/views";
import { getMachine, type MachineRow, tagsFor } from "../machines/repo";
import { StorageJson } from "./storage-shape";
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
  const [ifs, dks, sts] = await db.batch([
    db
      .prepare(
        "SELECT id, machine_id, name, mac, type, vlan_id, speed_mbps, link_connected, is_boot FROM interfaces WHERE machine_id IN (SELECT value FROM json_each(?)) ORDER BY id",
      )
      .bind(ids),
    db
      .prepare(
        "SELECT id, machine_id, name, path, model, serial, size, rotational, is_boot, tags FROM block_devices WHERE machine_id IN (SELECT value FROM json_each(?)) ORDER BY id",
      )
      .bind(ids),
    db.prepare("SELECT id, storage_design, storage_layout, firmware FROM machines WHERE id IN (SELECT value FROM json_each(?))").bind(ids),
  ]);
  const storageCols = new Map(((sts?.results ?? []) as (StorageColumns & { id: number })[]).map((x) => [x.id, x]));
  const setting = await storageSetting(db);
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
  return rows.map((m) => {
    const mine = disks.filter((d) => d.machine_id === m.id);
    return machineJson(m, {
      tags: tags.get(m.id) ?? [],
      ifaces: ifaces.filter((i) => i.machine_id === m.id),
      links,
      disks: mine,
      net,
      kinds,
      storage: storageJsonOf(m, storageCols.get(m.id), mine as DiskRowFull[], setting),
    });
  });
}

/** The design in force as MAAS objects; null (the plain disks) if the model cannot describe it. */
function storageJsonOf(m: MachineRow, cols: StorageColumns | undefined, disks: DiskRowFull[], setting: string): StorageJson | undefined {
  if (!cols) return undefined;
  try {
    const { design, ctx } = storageFrom(cols, disks, setting);
    return new StorageJson(m.systemId, describeDesign(design, ctx), disks);
  } catch (e) {
    console.error("storage design of", m.systemId, "could not be described", e);
    return undefined;
  }
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
