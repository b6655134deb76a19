// Reading machines: one SQL shape for a single machine and for a filtered, cursor-paged list,
// so both serialize the same way. Raw SQL here (not the query builder) because the list is the
// hot path at 100,000 machines and its index use is easier to see and keep right as SQL.
import { allowedActions, STATUS_NAME, type Status } from "../../shared/lifecycle";

export interface MachineRow {
  id: number;
  systemId: string;
  hostname: string;
  domain: string;
  description: string;
  status: number;
  previousStatus: number | null;
  statusMessage: string;
  statusExpires: number | null;
  ownerId: number | null;
  owner: string | null;
  architecture: string;
  cpuCount: number;
  cpuModel: string;
  cpuSpeed: number;
  memory: number;
  storage: number;
  bootMac: string | null;
  firmware: string;
  osystem: string;
  distroSeries: string;
  powerType: string;
  powerParamsSet: string;
  powerState: string;
  powerCheckedAt: number | null;
  siteId: number;
  site: string;
  zoneId: number;
  zone: string;
  poolId: number;
  pool: string;
  rackId: string | null;
  bootRackId: string | null;
  bootRackHostname: string | null;
  bootAt: number | null;
  locked: number;
  ownerData: string;
  hardwareUuid: string | null;
  storageLayout: string;
  createdAt: number;
  updatedAt: number;
  /** Single-machine reads only (getMachine), for the power path; never serialized. */
  powerParamsEnc?: string | null;
  /** Single-machine reads only: what the installer reported it made (JSON). */
  deployedStorage?: string | null;
}

const SELECT = `SELECT m.id, m.system_id AS systemId, m.hostname, m.domain, m.description, m.status,
  m.previous_status AS previousStatus, m.status_message AS statusMessage, m.status_expires AS statusExpires,
  m.owner_id AS ownerId, u.username AS owner, m.architecture, m.cpu_count AS cpuCount, m.cpu_model AS cpuModel,
  m.cpu_speed AS cpuSpeed, m.memory, m.storage, m.boot_mac AS bootMac, m.firmware, m.osystem,
  m.distro_series AS distroSeries, m.power_type AS powerType, m.power_params_set AS powerParamsSet,
  m.power_state AS powerState, m.power_checked_at AS powerCheckedAt, m.site_id AS siteId, s.name AS site,
  m.zone_id AS zoneId, z.name AS zone, m.pool_id AS poolId, p.name AS pool, m.rack_id AS rackId,
  m.boot_rack_id AS bootRackId, br.hostname AS bootRackHostname, m.boot_at AS bootAt, m.locked,
  m.owner_data AS ownerData, m.hardware_uuid AS hardwareUuid, m.storage_layout AS storageLayout, m.created_at AS createdAt, m.updated_at AS updatedAt
FROM machines m
JOIN sites s ON s.id = m.site_id
JOIN zones z ON z.id = m.zone_id
JOIN resource_pools p ON p.id = m.pool_id
LEFT JOIN users u ON u.id = m.owner_id
LEFT JOIN racks br ON br.id = m.boot_rack_id`;

// One machine also brings its encrypted BMC parameters, so a power request reads it once.
export const SELECT_ONE = SELECT.replace(
  "m.updated_at AS updatedAt",
  "m.updated_at AS updatedAt, m.power_params_enc AS powerParamsEnc, m.deployed_storage AS deployedStorage",
);

export async function getMachine(db: D1Database, systemId: string): Promise<MachineRow | null> {
  return db.prepare(`${SELECT_ONE} WHERE m.system_id = ?`).bind(systemId).first<MachineRow>();
}

export async function tagsFor(db: D1Database, ids: number[]): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  if (ids.length === 0) return out;
  // One JSON parameter instead of one per id: D1 allows at most 100 bound parameters.
  const { results } = await db
    .prepare(
      `SELECT mt.machine_id AS id, t.name FROM machine_tags mt JOIN tags t ON t.id = mt.tag_id
       WHERE mt.machine_id IN (SELECT value FROM json_each(?)) ORDER BY t.name`,
    )
    .bind(JSON.stringify(ids))
    .all<{ id: number; name: string }>();
  for (const r of results) out.set(r.id, [...(out.get(r.id) ?? []), r.name]);
  return out;
}

export interface ListFilter {
  status?: number[];
  site?: string[];
  zone?: string[];
  pool?: string[];
  tags?: string[];
  notTags?: string[];
  hostname?: string[];
  mac?: string[];
  owner?: string[];
  arch?: string[];
  systemId?: string[];
  /** Free text: a hostname prefix, a system_id or a MAC prefix. */
  q?: string;
  /** Restrict to these sites (the caller's visibility); undefined = all. */
  visibleSites?: number[] | null;
  afterId?: number;
  limit: number;
}

export function listSql(f: ListFilter): { sql: string; args: (string | number)[] } {
  const where: string[] = [];
  const args: (string | number)[] = [];
  // One value is `col = ?` so SQLite walks the (col, id) index already in id order and stops at
  // LIMIT; several go through json_each (D1 allows only 100 bound parameters).
  const oneOf = (col: string, values: (string | number)[], lookup?: string, by = "name") => {
    if (values.length === 1) {
      where.push(`${col} = ${lookup ? `(SELECT id FROM ${lookup} WHERE ${by} = ?)` : "?"}`);
      args.push(values[0]!);
    } else {
      const list = "(SELECT value FROM json_each(?))";
      where.push(`${col} IN ${lookup ? `(SELECT id FROM ${lookup} WHERE ${by} IN ${list})` : list}`);
      args.push(JSON.stringify(values));
    }
  };
  if (f.visibleSites) oneOf("m.site_id", f.visibleSites);
  if (f.status?.length) oneOf("m.status", f.status);
  if (f.site?.length) oneOf("m.site_id", f.site, "sites");
  if (f.zone?.length) oneOf("m.zone_id", f.zone, "zones");
  if (f.pool?.length) oneOf("m.pool_id", f.pool, "resource_pools");
  if (f.owner?.length) oneOf("m.owner_id", f.owner, "users", "username");
  if (f.hostname?.length) oneOf("m.hostname", f.hostname);
  if (f.arch?.length) oneOf("m.architecture", f.arch);
  if (f.systemId?.length) oneOf("m.system_id", f.systemId);
  if (f.mac?.length) {
    where.push("m.id IN (SELECT machine_id FROM interfaces WHERE mac IN (SELECT value FROM json_each(?)))");
    args.push(JSON.stringify(f.mac));
  }
  for (const t of f.tags ?? []) {
    where.push("m.id IN (SELECT mt.machine_id FROM machine_tags mt WHERE mt.tag_id = (SELECT id FROM tags WHERE name = ?))");
    args.push(t);
  }
  for (const t of f.notTags ?? []) {
    where.push("m.id NOT IN (SELECT mt.machine_id FROM machine_tags mt WHERE mt.tag_id = (SELECT id FROM tags WHERE name = ?))");
    args.push(t);
  }
  if (f.q) {
    // Prefix searches as index ranges (LIKE cannot use them under SQLite's default collation):
    // every string that starts with q sorts between q and q followed by the highest code point.
    const q = f.q.toLowerCase();
    const hi = `${q}\u{10FFFF}`;
    where.push(
      `m.id IN (SELECT id FROM machines WHERE hostname >= ? AND hostname < ?
                UNION SELECT id FROM machines WHERE system_id = ?
                UNION SELECT machine_id FROM interfaces WHERE mac >= ? AND mac < ?)`,
    );
    args.push(q, hi, q, q, hi);
  }
  if (f.afterId !== undefined) {
    where.push("m.id > ?");
    args.push(f.afterId);
  }
  const sql = `${SELECT}${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY m.id LIMIT ?`;
  args.push(f.limit + 1);
  return { sql, args };
}

export async function listMachines(db: D1Database, f: ListFilter): Promise<{ rows: MachineRow[]; more: boolean }> {
  const { sql, args } = listSql(f);
  const { results } = await db
    .prepare(sql)
    .bind(...args)
    .all<MachineRow>();
  const more = results.length > f.limit;
  return { rows: more ? results.slice(0, f.limit) : results, more };
}

export function encodeCursor(id: number): string {
  return btoa(JSON.stringify({ after: id })).replace(/=+$/, "");
}

export function decodeCursor(cursor: string): number | null {
  try {
    const v = JSON.parse(atob(cursor)) as { after?: unknown };
    return typeof v.after === "number" && Number.isInteger(v.after) && v.after >= 0 ? v.after : null;
  } catch {
    return null;
  }
}

/** The native API's machine object. Power parameters appear only as the names that are set. */
export function serializeMachine(m: MachineRow, tags: string[]) {
  const status = m.status as Status;
  return {
    system_id: m.systemId,
    hostname: m.hostname,
    domain: m.domain,
    fqdn: `${m.hostname}.${m.domain}`,
    description: m.description,
    status,
    status_name: STATUS_NAME[status],
    status_message: m.statusMessage,
    status_expires: m.statusExpires,
    owner: m.owner,
    architecture: m.architecture,
    cpu_count: m.cpuCount,
    cpu_model: m.cpuModel,
    cpu_speed: m.cpuSpeed,
    memory: m.memory,
    storage: m.storage,
    boot_mac: m.bootMac,
    firmware: m.firmware,
    osystem: m.osystem,
    distro_series: m.distroSeries,
    power_type: m.powerType,
    power_parameters_set: JSON.parse(m.powerParamsSet) as string[],
    power_state: m.powerState,
    power_checked_at: m.powerCheckedAt,
    site: m.site,
    zone: m.zone,
    pool: m.pool,
    rack_id: m.rackId,
    // The rack that saw this machine's last DHCP discover or boot request, and when.
    boot_rack: m.bootRackId ? { id: m.bootRackId, hostname: m.bootRackHostname, at: m.bootAt } : null,
    tags,
    locked: !!m.locked,
    owner_data: JSON.parse(m.ownerData) as Record<string, string>,
    hardware_uuid: m.hardwareUuid,
    storage_layout: m.storageLayout,
    allowed_actions: allowedActions({ status, previousStatus: m.previousStatus as Status | null, locked: !!m.locked }),
    created_at: m.createdAt,
    updated_at: m.updatedAt,
  };
}
