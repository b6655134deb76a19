// Devices: named, addressed things on a site that Plinth does not deploy (switches, PDUs,
// appliances). The one writer of `devices`. A device's name and MACs are unique among machines
// and devices alike, so DHCP, DNS and the API never see two owners of one MAC or name.
import { newSystemId } from "./machines/names";
import { auditedDelete, eventStatement, eventStatementIf } from "./events";

export interface DeviceRow {
  id: number;
  system_id: string;
  hostname: string;
  domain: string;
  description: string;
  site_id: number;
  zone_id: number;
  owner_id: number | null;
  parent_id: number | null;
  macs: string;
  owner_data: string;
  created_at: number;
}

export const DEVICE_COLS = "id, system_id, hostname, domain, description, site_id, zone_id, owner_id, parent_id, macs, owner_data, created_at";

export interface DeviceInput {
  hostname: string;
  domain: string;
  description: string;
  siteId: number;
  zoneId: number;
  ownerId: number | null;
  parentId: number | null;
  macs: string[];
}

export type Clash = { field: "hostname" | "mac_addresses"; message: string } | null;

/** Another node already named so, or holding one of these MACs; `self` is the device being edited. */
export async function deviceClash(db: D1Database, hostname: string, domain: string, macs: string[], self?: number): Promise<Clash> {
  const [byName, machineMac, deviceMac] = await db.batch([
    db
      .prepare(
        "SELECT 1 FROM machines WHERE hostname = ?1 AND domain = ?2 UNION ALL SELECT 1 FROM devices WHERE hostname = ?1 AND domain = ?2 AND id IS NOT ?3",
      )
      .bind(hostname, domain, self ?? null),
    db
      .prepare("SELECT i.mac, m.hostname FROM interfaces i JOIN machines m ON m.id = i.machine_id WHERE i.mac IN (SELECT value FROM json_each(?))")
      .bind(JSON.stringify(macs)),
    db
      .prepare("SELECT j.value AS mac, d.hostname FROM devices d, json_each(d.macs) j WHERE j.value IN (SELECT value FROM json_each(?1)) AND d.id IS NOT ?2")
      .bind(JSON.stringify(macs), self ?? null),
  ]);
  if (byName!.results.length) return { field: "hostname", message: `Node with hostname "${hostname}" already exists.` };
  const taken = [...(machineMac!.results as { mac: string; hostname: string }[]), ...(deviceMac!.results as { mac: string; hostname: string }[])][0];
  if (taken) return { field: "mac_addresses", message: `MAC address ${taken.mac} already in use on ${taken.hostname}.` };
  return null;
}

export async function createDevice(db: D1Database, actor: string, d: DeviceInput): Promise<DeviceRow> {
  // A system_id shared with a machine would make nodes/ ambiguous: draw again on a clash.
  let systemId = newSystemId();
  for (let i = 0; i < 5 && (await db.prepare("SELECT 1 FROM machines WHERE system_id = ?").bind(systemId).first()); i++) systemId = newSystemId();
  const [ins] = await db.batch([
    db
      .prepare(
        `INSERT INTO devices (system_id, hostname, domain, description, site_id, zone_id, owner_id, parent_id, macs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${DEVICE_COLS}`,
      )
      .bind(systemId, d.hostname, d.domain, d.description, d.siteId, d.zoneId, d.ownerId, d.parentId, JSON.stringify(d.macs)),
    eventStatement(db, {
      type: "device.created",
      level: "AUDIT",
      actor,
      siteId: d.siteId,
      description: `device ${d.hostname} (${systemId}) created with ${d.macs.join(", ") || "no MAC"}`,
    }),
  ]);
  return ins!.results[0] as DeviceRow;
}

export async function updateDevice(db: D1Database, actor: string, id: number, d: DeviceInput): Promise<DeviceRow | null> {
  const [, upd] = await db.batch([
    eventStatementIf(
      db,
      { type: "device.updated", level: "AUDIT", actor, siteId: d.siteId, description: `device ${d.hostname} updated` },
      "EXISTS (SELECT 1 FROM devices WHERE id = ?)",
      id,
    ),
    db
      .prepare(
        `UPDATE devices SET hostname = ?, domain = ?, description = ?, zone_id = ?, parent_id = ?, macs = ?, updated_at = ? WHERE id = ? RETURNING ${DEVICE_COLS}`,
      )
      .bind(d.hostname, d.domain, d.description, d.zoneId, d.parentId, JSON.stringify(d.macs), Date.now(), id),
  ]);
  return (upd!.results[0] as DeviceRow | undefined) ?? null;
}

/**
 * Replaces the device's workload annotations if nobody changed them since `before` was read
 * (audited); null when someone did, else the device as it now is.
 */
export async function setDeviceOwnerData(
  db: D1Database,
  actor: string,
  row: DeviceRow,
  data: Record<string, string>,
  description: string,
): Promise<DeviceRow | null> {
  const after = JSON.stringify(data);
  const [upd] = await db.batch([
    db
      .prepare(`UPDATE devices SET owner_data = ?, updated_at = ? WHERE id = ? AND owner_data = ? RETURNING ${DEVICE_COLS}`)
      .bind(after, Date.now(), row.id, row.owner_data),
    eventStatementIf(
      db,
      { type: "device.owner_data", level: "INFO", actor, siteId: row.site_id, description: `device ${row.hostname}: ${description}` },
      "EXISTS (SELECT 1 FROM devices WHERE id = ? AND owner_data = ?)",
      row.id,
      after,
    ),
  ]);
  return (upd!.results[0] as DeviceRow | undefined) ?? null;
}

export async function deleteDevice(db: D1Database, actor: string, row: DeviceRow): Promise<boolean> {
  return auditedDelete(db, "devices", row.id, {
    type: "device.deleted",
    actor,
    siteId: row.site_id,
    description: `device ${row.hostname} (${row.system_id}) deleted`,
  });
}
