// Machines as records: creation (with its interfaces), edits, owner data and deletion, each
// with its event in the same batch. The native API and the MAAS API both come through here;
// they differ only in how they validate input and word their errors.
import { decide, NODE_STATUS, type Status } from "../../../shared/lifecycle";
import type { Env } from "../../env";
import { getMachine } from "../../machines/repo";
import { eventStatement, machineEventStatement } from "../events";
import { commissionPower } from "./lifecycle-power";
import { newHostname, newSystemId } from "./names";
import type { SealedPower } from "./power-params";
import { sealPower } from "./power-params";
import type { PowerType } from "../../../shared/power";
import { applyAction, illegal } from "./transition";
import type { MachineRef } from "./types";

export interface Actor {
  userId: number;
  username: string;
}

/** The machine or device a MAC already belongs to, if any (both APIs word the refusal their own way). */
export async function macInUse(db: D1Database, macs: string[]): Promise<{ mac: string; systemId: string; hostname: string } | null> {
  return db
    .prepare(
      `SELECT i.mac, m.system_id AS systemId, m.hostname FROM interfaces i JOIN machines m ON m.id = i.machine_id WHERE i.mac IN (SELECT value FROM json_each(?1))
       UNION ALL SELECT j.value, d.system_id, d.hostname FROM devices d, json_each(d.macs) j WHERE j.value IN (SELECT value FROM json_each(?1))`,
    )
    .bind(JSON.stringify(macs))
    .first<{ mac: string; systemId: string; hostname: string }>();
}

export interface NewMachine {
  hostname?: string | undefined;
  domain: string;
  description: string;
  architecture: string;
  macs: string[];
  powerType: PowerType;
  powerParams: Record<string, unknown>;
  siteId: number;
  zoneId: number;
  poolId: number;
  cpuCount?: number | undefined;
  memory?: number | undefined;
}

/**
 * Creates a machine with one interface per MAC (the first boots) and, when asked, starts
 * commissioning it (status change, config push, power on). Returns its system_id.
 */
export async function createMachine(env: Env, actor: Actor, n: NewMachine, opts: { commission: boolean; via?: string }): Promise<string> {
  const db = env.DB;
  const systemId = newSystemId();
  const power = await sealPower(env.PLINTH_SECRET_KEY, n.powerType, n.powerParams, systemId);
  const now = Date.now();
  await db.batch([
    db
      .prepare(
        `INSERT INTO machines (system_id, hostname, domain, description, architecture, boot_mac, power_type, power_params_enc, power_params_set,
           site_id, zone_id, pool_id, cpu_count, memory, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        systemId,
        n.hostname ?? newHostname(),
        n.domain,
        n.description,
        n.architecture,
        n.macs[0]!,
        power.powerType,
        power.enc,
        JSON.stringify(power.set),
        n.siteId,
        n.zoneId,
        n.poolId,
        n.cpuCount ?? 0,
        n.memory ?? 0,
        now,
        now,
      ),
    ...n.macs.map((mac, i) =>
      db
        .prepare("INSERT INTO interfaces (machine_id, name, mac, is_boot) SELECT id, ?, ?, ? FROM machines WHERE system_id = ?")
        .bind(`eth${i}`, mac, i === 0 ? 1 : 0, systemId),
    ),
    machineEventStatement(
      db,
      { type: "machine.created", actor: actor.username, description: `created${opts.via ?? ""}`, toStatus: "current", at: now },
      "m.system_id = ?",
      systemId,
    ),
  ]);
  if (opts.commission) {
    const m = (await getMachine(db, systemId))!;
    const to = await applyAction(db, { ...m, locked: !!m.locked }, "commission", { actor: actor.username, reason: "commission on create" });
    await commissionPower(env, m, to, actor.username);
  }
  return systemId;
}

export interface MachineChanges {
  hostname?: string;
  description?: string;
  architecture?: string;
  domain?: string;
  siteId?: number;
  zoneId?: number;
  poolId?: number;
  cpuCount?: number;
  memory?: number;
  power?: SealedPower;
  ownerData?: Record<string, string>;
}

const COLUMN: Record<Exclude<keyof MachineChanges, "power" | "ownerData">, string> = {
  hostname: "hostname",
  description: "description",
  architecture: "architecture",
  domain: "domain",
  siteId: "site_id",
  zoneId: "zone_id",
  poolId: "pool_id",
  cpuCount: "cpu_count",
  memory: "memory",
};

/** Applies the changes to an unlocked machine; returns false when there was nothing to change. */
export async function updateMachine(db: D1Database, actor: string, m: MachineRef, ch: MachineChanges, description: string): Promise<boolean> {
  const sets: string[] = [];
  const args: (string | number | null)[] = [];
  const put = (col: string, v: string | number | null) => {
    sets.push(`${col} = ?`);
    args.push(v);
  };
  for (const [k, col] of Object.entries(COLUMN) as [keyof typeof COLUMN, string][]) {
    const v = ch[k];
    if (v !== undefined) put(col, v);
  }
  if (ch.power) {
    put("power_type", ch.power.powerType);
    put("power_params_enc", ch.power.enc);
    put("power_params_set", JSON.stringify(ch.power.set));
  }
  if (ch.ownerData) put("owner_data", JSON.stringify(ch.ownerData));
  if (!sets.length) return false;
  const now = Date.now();
  put("updated_at", now);
  await db.batch([
    db.prepare(`UPDATE machines SET ${sets.join(", ")} WHERE id = ? AND locked = 0`).bind(...args, m.id),
    eventStatement(db, {
      machineId: m.id,
      systemId: m.systemId,
      hostname: ch.hostname ?? m.hostname,
      siteId: m.siteId,
      type: "machine.updated",
      actor,
      description,
      at: now,
    }),
  ]);
  return true;
}

/**
 * Replaces the owner data if nobody changed it since `before` was read; returns false when
 * someone did (the caller asks the client to try again).
 */
export async function setOwnerData(
  db: D1Database,
  actor: string,
  m: MachineRef,
  before: string,
  data: Record<string, string>,
  description: string,
): Promise<boolean> {
  const now = Date.now();
  const [res] = await db.batch([
    db.prepare("UPDATE machines SET owner_data = ?, updated_at = ? WHERE id = ? AND owner_data = ?").bind(JSON.stringify(data), now, m.id, before),
    machineEventStatement(db, { type: "machine.owner_data", actor, description, at: now }, "m.id = ? AND m.owner_data = ?", m.id, JSON.stringify(data)),
  ]);
  return res?.meta.changes === 1;
}

/** One key of the owner data (Juju's agent name), set without reading the rest. */
export async function setOwnerDataKey(db: D1Database, machineId: number, key: string, value: string): Promise<void> {
  await db.prepare("UPDATE machines SET owner_data = json_set(owner_data, '$.\"' || ? || '\"', ?) WHERE id = ?").bind(key, value, machineId).run();
}

/** Deletes a machine the lifecycle table allows deleting (never a locked one), audited. */
export async function deleteMachine(
  db: D1Database,
  actor: string,
  m: MachineRef & { status: number; previousStatus: number | null; locked: number | boolean },
  via = "",
): Promise<void> {
  const d = decide({ status: m.status as Status, previousStatus: m.previousStatus as Status | null, locked: !!m.locked }, "delete");
  if (!d.ok) throw illegal({ ...m, locked: !!m.locked }, d.reason, d.allowed);
  await db.batch([
    eventStatement(db, {
      machineId: m.id,
      systemId: m.systemId,
      hostname: m.hostname,
      siteId: m.siteId,
      type: "machine.delete",
      level: "AUDIT",
      actor,
      fromStatus: m.status,
      description: `deleted${via}`,
    }),
    db.prepare("DELETE FROM machines WHERE id = ? AND locked = 0").bind(m.id),
  ]);
}

/** After a MAAS release the owner's data goes, once the machine is on its way back to Ready (MAAS clears it). */
export async function clearOwnerDataOnceReleased(db: D1Database, machineId: number): Promise<void> {
  const released = [NODE_STATUS.READY, NODE_STATUS.RELEASING, NODE_STATUS.DISK_ERASING];
  await db
    .prepare("UPDATE machines SET owner_data = '{}' WHERE id = ? AND status IN (SELECT value FROM json_each(?))")
    .bind(machineId, JSON.stringify(released))
    .run();
}
