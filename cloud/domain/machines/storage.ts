// A machine's storage: the layout the installer makes on its boot disk (MAAS's
// set_storage_layout, flat or lvm) and what the installer reported it made. The boot disk is
// the first disk of the commissioned inventory, as MAAS picks it when nobody chose another.
import { z } from "zod";
import { STORAGE_EDITABLE, STATUS_NAME, type Status } from "../../../shared/lifecycle";
import { ApiError } from "../../http/errors";
import { eventStatement } from "../events";
import type { MachineOnSite } from "./types";

export const STORAGE_LAYOUTS = ["flat", "lvm"] as const;
export type StorageLayout = (typeof STORAGE_LAYOUTS)[number];
/** MAAS's other layouts: named in the refusal so a MAAS client's operator knows what to pick instead. */
export const MAAS_ONLY_LAYOUTS = ["bcache", "blank", "custom", "vmfs6", "vmfs7"] as const;

export function isStorageLayout(s: string): s is StorageLayout {
  return (STORAGE_LAYOUTS as readonly string[]).includes(s);
}

/**
 * Sets the layout of the machine's next deployment. Only on a Ready or Allocated machine with
 * disks (MAAS refuses the same); the change and its event are one batch, conditional on the
 * status the caller read, so a machine that moved on meanwhile is not changed.
 */
export async function setStorageLayout(db: D1Database, actor: string, m: MachineOnSite, layout: StorageLayout): Promise<void> {
  if (!STORAGE_EDITABLE.includes(m.status as Status)) {
    throw new ApiError(
      409,
      "illegal_state",
      `cannot set the storage layout of a machine that is ${STATUS_NAME[m.status as Status] ?? "in another state"}: it must be Ready or Allocated`,
    );
  }
  const disk = await db.prepare("SELECT 1 FROM block_devices WHERE machine_id = ? LIMIT 1").bind(m.id).first();
  if (!disk) throw new ApiError(400, "no_disks", `machine ${m.systemId} has no disks: commission it first so its disks are known`);
  const now = Date.now();
  const [res] = await db.batch([
    db.prepare("UPDATE machines SET storage_layout = ?, updated_at = ? WHERE id = ? AND status = ?").bind(layout, now, m.id, m.status),
    eventStatement(db, {
      machineId: m.id,
      systemId: m.systemId,
      hostname: m.hostname,
      siteId: m.siteId,
      type: "machine.storage_layout",
      actor,
      fromStatus: m.status,
      toStatus: m.status,
      description: `storage layout set to ${layout}`,
      at: now,
    }),
  ]);
  if (res?.meta.changes !== 1) throw new ApiError(409, "concurrent_change", "the machine changed while its storage layout was being set: try again");
}

/** The installer's "installed" report of what it made (docs/deploy.md), bounded. */
export const DeployedStorageSchema = z.object({
  disk: z.string().max(256).nullish(),
  layout: z.string().max(16).nullish(),
  firmware: z.string().max(16).nullish(),
  partitions: z
    .array(
      z.object({
        name: z.string().min(1).max(64),
        size_bytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
        fstype: z.string().max(32).nullish(),
        mount: z.string().max(256).nullish(),
        uuid: z.string().max(64).nullish(),
      }),
    )
    .max(128)
    .default([]),
});
export type DeployedStorage = z.infer<typeof DeployedStorageSchema>;

/** The stored form (the `deployed_storage` column) as the APIs show it. */
export function deployedStorageOf(json: string | null): {
  layout: string | null;
  disk: string | null;
  firmware: string | null;
  partitions: { name: string; size_bytes: number; fstype: string; mount: string; uuid: string }[];
} | null {
  if (!json) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return null;
  }
  const r = DeployedStorageSchema.safeParse(raw);
  if (!r.success) return null;
  return {
    layout: r.data.layout ?? null,
    disk: r.data.disk ?? null,
    firmware: r.data.firmware ?? null,
    partitions: r.data.partitions.map((p) => ({ name: p.name, size_bytes: p.size_bytes, fstype: p.fstype ?? "", mount: p.mount ?? "", uuid: p.uuid ?? "" })),
  };
}

/** The deploy spec's disk: the first commissioned disk, by serial when it has one (names change across boots). */
export function bootDiskOf(first: { name: string; serial: string } | null | undefined): string {
  if (!first) return "";
  return first.serial ? `serial:${first.serial}` : first.name;
}
