// Loading and saving a machine's storage design (the pure model is beside this file). A design
// is one JSON document per machine (machines.storage_design; null = the default layout over the
// commissioned disks), edited whole: every change reads it, lets the model make the new one,
// and writes it back in one batch with its event, conditional on the machine's status and on the
// stored document being the one read, so two edits at once cannot lose one of them.
import { STATUS_NAME, STORAGE_EDITABLE, type Status } from "../../../shared/lifecycle";
import { type Design, DesignSchema, type Disk, type Firmware, type Layout } from "../../../shared/storage/design";
import { ApiError } from "../../http/errors";
import { machineEventStatement } from "../events";
import { decodeSetting, getSettings } from "../settings";
import type { MachineOnSite } from "../machines/types";
import { applyLayout, currentDesign } from "./layouts";
import { type LayoutParams, type StorageContext, StorageError } from "./model";

/** The layouts set_storage_layout makes (MAAS's vmfs6, vmfs7 and custom are refused by name). */
export const STORAGE_LAYOUTS = ["flat", "lvm", "bcache", "blank"] as const;
export type StorageLayout = (typeof STORAGE_LAYOUTS)[number];
/** MAAS's other layouts: named in the refusal so a MAAS client's operator knows what to pick instead. */
export const MAAS_ONLY_LAYOUTS = ["custom", "vmfs6", "vmfs7"] as const;

export function isStorageLayout(s: string): s is StorageLayout {
  return (STORAGE_LAYOUTS as readonly string[]).includes(s);
}

export interface DiskRowFull {
  id: number;
  name: string;
  path: string;
  model: string;
  serial: string;
  size: number;
  rotational: number;
  is_boot: number;
  tags: string | null;
}

/** A disk's tags: the ones set through the API, else what commissioning says (MAAS's "ssd" or "rotary"). */
export function diskTags(d: { rotational: number | boolean; tags: string | null }): string[] {
  if (d.tags !== null) {
    try {
      const t = JSON.parse(d.tags) as unknown;
      if (Array.isArray(t)) return t.filter((x): x is string => typeof x === "string");
    } catch {
      // a malformed value reads as the commissioned tags
    }
  }
  return [d.rotational ? "rotary" : "ssd"];
}

export function diskOf(d: DiskRowFull): Disk {
  return { id: d.id, name: d.name, serial: d.serial, model: d.model, size: d.size, rotational: !!d.rotational, tags: diskTags(d) };
}

export interface LoadedStorage {
  ctx: StorageContext;
  /** The design in force: the stored one if made for these disks, else the default layout. */
  design: Design;
  /** The stored JSON as read (the compare-and-set value of the next save). */
  stored: string | null;
  rows: DiskRowFull[];
}

export const DISK_COLS = "id, name, path, model, serial, size, rotational, is_boot, tags";

function parseStored(json: string | null): Design | null {
  if (!json) return null;
  try {
    const r = DesignSchema.safeParse(JSON.parse(json));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

const DEFAULTABLE = new Set<string>(STORAGE_LAYOUTS);

/** The region's default_storage_layout, read once for many machines. */
export async function storageSetting(db: D1Database): Promise<string> {
  return (await getSettings(db, ["default_storage_layout"])).default_storage_layout;
}

/** storageSetting's read for a caller's own batch; storageSettingFrom reads its result. */
export function storageSettingStatement(db: D1Database): D1PreparedStatement {
  return db.prepare("SELECT value FROM settings WHERE name = 'default_storage_layout'");
}

export function storageSettingFrom(r: D1Result): string {
  return decodeSetting("default_storage_layout", (r.results[0] as { value: string } | undefined)?.value) as string;
}

/**
 * The layout a machine with no design of its own gets: a layout set before designs were stored
 * (storage_layout other than the default, no design) still holds; else the region's
 * default_storage_layout (MAAS's vmfs and custom defaults are not layouts Plinth makes: flat).
 */
function defaultLayout(column: string, stored: Design | null, setting: string): StorageLayout {
  if (stored === null && column !== "flat" && DEFAULTABLE.has(column)) return column as StorageLayout;
  return DEFAULTABLE.has(setting) ? (setting as StorageLayout) : "flat";
}

export interface StorageColumns {
  storage_design: string | null;
  storage_layout: string;
  firmware: string;
}

/** The design in force for a machine's columns and disk rows (pure: lists read many machines at once). */
export function storageFrom(m: StorageColumns, rows: DiskRowFull[], setting: string): { ctx: StorageContext; design: Design } {
  const firmware: Firmware = m.firmware === "uefi" || m.firmware === "bios" ? m.firmware : "unknown";
  const ctx: StorageContext = { disks: rows.map(diskOf), firmware };
  const stored = parseStored(m.storage_design);
  return { ctx, design: currentDesign(stored, ctx, defaultLayout(m.storage_layout, stored, setting)) };
}

/** The machine's disks (by id), firmware and design. */
export async function loadStorage(db: D1Database, machineId: number): Promise<LoadedStorage> {
  const [mr, dr] = await db.batch([
    db.prepare("SELECT storage_design, storage_layout, firmware FROM machines WHERE id = ?").bind(machineId),
    db.prepare(`SELECT ${DISK_COLS} FROM block_devices WHERE machine_id = ? ORDER BY id`).bind(machineId),
  ]);
  const m = (mr?.results?.[0] ?? null) as StorageColumns | null;
  if (!m) throw new ApiError(404, "not_found", "machine not found");
  const rows = (dr?.results ?? []) as DiskRowFull[];
  return { ...storageFrom(m, rows, await storageSetting(db)), stored: m.storage_design, rows };
}

/** The model's refusals as the APIs answer them. */
export function asApiError(e: unknown): unknown {
  if (e instanceof StorageError) return new ApiError(e.status, e.code, e.message);
  return e;
}

/** Runs a model function, its StorageError becoming the API's error. */
export function model<T>(run: () => T): T {
  try {
    return run();
  } catch (e) {
    throw asApiError(e);
  }
}

export function assertStorageEditable(m: { status: number }, what = "change the storage of"): void {
  if (!STORAGE_EDITABLE.includes(m.status as Status)) {
    throw new ApiError(
      409,
      "illegal_state",
      `cannot ${what} a machine that is ${STATUS_NAME[m.status as Status] ?? "in another state"}: it must be Ready or Allocated`,
    );
  }
}

/**
 * Stores a new design: only on a Ready or Allocated machine, in one batch with its event, and
 * only if neither the status nor the stored design changed since `loaded` was read.
 */
export async function saveDesign(
  db: D1Database,
  actor: string,
  m: MachineOnSite,
  loaded: Pick<LoadedStorage, "stored">,
  next: Design,
  description: string,
  type = "machine.storage_changed",
): Promise<void> {
  assertStorageEditable(m);
  const json = JSON.stringify(DesignSchema.parse(next));
  const now = Date.now();
  const guard = "m.id = ? AND m.status = ? AND m.storage_design IS ?";
  const [ev, upd] = await db.batch([
    // Before the change, under the same guard: written exactly when the change is.
    machineEventStatement(db, { type, actor, fromStatus: "current", toStatus: "current", description, at: now }, guard, m.id, m.status, loaded.stored),
    db
      .prepare("UPDATE machines AS m SET storage_design = ?, storage_layout = ?, updated_at = ? WHERE " + guard)
      .bind(json, next.layout satisfies Layout, now, m.id, m.status, loaded.stored),
  ]);
  if (upd?.meta.changes !== 1 || ev?.meta.changes !== 1) {
    throw new ApiError(409, "concurrent_change", "the machine or its storage changed while this change was made: read it again and retry");
  }
}

/** Reads, edits with the model, saves; returns the new design. */
export async function editDesign(
  db: D1Database,
  actor: string,
  m: MachineOnSite,
  edit: (d: Design, ctx: StorageContext) => Design,
  /** A function when the description names what the edit made (read after it). */
  description: string | (() => string),
): Promise<{ design: Design; ctx: StorageContext }> {
  assertStorageEditable(m);
  const loaded = await loadStorage(db, m.id);
  const next = model(() => edit(loaded.design, loaded.ctx));
  await saveDesign(db, actor, m, loaded, next, typeof description === "function" ? description() : description);
  return { design: next, ctx: loaded.ctx };
}

/**
 * MAAS's set_storage_layout: the layout made anew over the machine's disks, keeping the boot
 * disk chosen before. A machine with no disks refuses every layout but blank.
 */
export async function setStorageLayout(
  db: D1Database,
  actor: string,
  m: MachineOnSite & { systemId: string },
  layout: StorageLayout,
  params: LayoutParams = {},
): Promise<{ design: Design; ctx: StorageContext }> {
  assertStorageEditable(m, "set the storage layout of");
  const loaded = await loadStorage(db, m.id);
  if (!loaded.ctx.disks.length && layout !== "blank")
    throw new ApiError(400, "no_disks", `machine ${m.systemId} has no disks: commission it first so its disks are known`);
  const next = model(() => applyLayout(loaded.ctx, layout, params, loaded.design.boot_disk));
  await saveDesign(db, actor, m, loaded, next, `storage layout set to ${layout}`, "machine.storage_layout");
  return { design: next, ctx: loaded.ctx };
}

/**
 * The design after the machine's set of physical disks changed (a disk added or removed through
 * the API): the same objects, made for the new set, so it is not voided as after a
 * recommissioning. Null when there was no stored design (the default layout follows the disks).
 */
export function withDisks(stored: string | null, disks: number[]): string | null {
  const d = parseStored(stored);
  if (!d) return null;
  return JSON.stringify({ ...d, disks, boot_disk: d.boot_disk !== null && disks.includes(d.boot_disk) ? d.boot_disk : null });
}

/** What in a design uses a physical disk (its partitions, filesystem, RAID, VG, cache set membership). */
export function usesOfDisk(d: Design, diskId: number): string[] {
  const out: string[] = [];
  const onDisk = new Set(d.partitions.filter((p) => p.device === diskId).map((p) => p.id));
  if (onDisk.size) out.push(`${onDisk.size} partition${onDisk.size === 1 ? "" : "s"}`);
  if (d.disk_filesystems.some((f) => f.device === diskId)) out.push("a filesystem");
  const direct = new Set([diskId]);
  for (const r of d.raids) if ([...r.devices, ...r.spares].some((x) => direct.has(x))) out.push(`RAID ${r.name}`);
  for (const v of d.volume_groups) if (v.devices.some((x) => direct.has(x))) out.push(`volume group ${v.name}`);
  for (const c of d.cache_sets) if (direct.has(c.device)) out.push(`cache set ${c.name}`);
  for (const b of d.bcaches) if (direct.has(b.backing)) out.push(`bcache ${b.name}`);
  return out;
}

export interface NewDisk {
  name: string;
  model: string;
  serial: string;
  /** /dev/disk/by-id/... as MAAS's id_path, else "". */
  path: string;
  size: number;
}

const STATUS_GUARD = `EXISTS (SELECT 1 FROM machines WHERE id = ? AND status IN (${STORAGE_EDITABLE.join(", ")}))`;

/**
 * A physical disk added by hand (MAAS allows it for a disk commissioning missed): the row, the
 * stored design made for the disks with it (so it is not voided), and the event, in one batch.
 */
export async function addDisk(db: D1Database, actor: string, m: MachineOnSite, d: NewDisk): Promise<number> {
  assertStorageEditable(m, "add a disk to");
  const now = Date.now();
  const [ins] = await db.batch([
    db
      .prepare(`INSERT INTO block_devices (machine_id, name, path, model, serial, size) SELECT ?, ?, ?, ?, ?, ? WHERE ${STATUS_GUARD} RETURNING id`)
      .bind(m.id, d.name, d.path, d.model, d.serial, d.size, m.id),
    // The id just made joins the stored design's disks (appended: ids only grow).
    db
      .prepare(
        `UPDATE machines SET updated_at = ?, storage_design = CASE WHEN storage_design IS NULL THEN NULL
           ELSE json_set(storage_design, '$.disks[#]', (SELECT max(id) FROM block_devices WHERE machine_id = ?)) END
         WHERE id = ? AND changes() = 1`,
      )
      .bind(now, m.id, m.id),
    machineEventStatement(
      db,
      { type: "machine.storage_changed", actor, fromStatus: "current", toStatus: "current", description: `disk ${d.name} added`, at: now },
      "m.id = ? AND changes() = 1",
      m.id,
    ),
  ]);
  const id = (ins?.results?.[0] as { id: number } | undefined)?.id;
  if (id === undefined) throw new ApiError(409, "concurrent_change", "the machine changed while the disk was added: read it again and retry");
  return id;
}

/** A physical disk's name, model, serial, path or size (what commissioning would say). */
export async function updateDisk(db: D1Database, actor: string, m: MachineOnSite, id: number, ch: Partial<NewDisk>): Promise<void> {
  assertStorageEditable(m, "change a disk of");
  const cols = Object.entries(ch).filter(([, v]) => v !== undefined);
  if (!cols.length) return;
  const now = Date.now();
  const [upd] = await db.batch([
    db
      .prepare(`UPDATE block_devices SET ${cols.map(([k]) => `${k} = ?`).join(", ")} WHERE id = ? AND machine_id = ? AND ${STATUS_GUARD}`)
      .bind(...cols.map(([, v]) => v), id, m.id, m.id),
    machineEventStatement(
      db,
      {
        type: "machine.storage_changed",
        actor,
        fromStatus: "current",
        toStatus: "current",
        description: `disk ${id} updated: ${cols.map(([k]) => k).join(", ")}`,
        at: now,
      },
      "m.id = ? AND changes() = 1",
      m.id,
    ),
  ]);
  if (upd?.meta.changes !== 1) throw new ApiError(409, "concurrent_change", "the machine changed while the disk was updated: read it again and retry");
}

/** A disk's tags (MAAS's add_tag/remove_tag); the commissioned "ssd"/"rotary" is one of them until removed. */
export async function setDiskTags(db: D1Database, m: MachineOnSite, row: DiskRowFull, tags: string[]): Promise<void> {
  assertStorageEditable(m, "tag a disk of");
  await db
    .prepare(`UPDATE block_devices SET tags = ? WHERE id = ? AND machine_id = ? AND tags IS ?`)
    .bind(JSON.stringify(tags), row.id, m.id, row.tags)
    .run()
    .then((r) => {
      if (r.meta.changes !== 1) throw new ApiError(409, "concurrent_change", "the disk's tags changed meanwhile: read it again and retry");
    });
}

/**
 * Deletes a physical disk: refused (409) while the machine's own design uses it; otherwise the
 * row goes and the stored design is made for the disks left, in one batch conditional on both.
 */
export async function deleteDisk(db: D1Database, actor: string, m: MachineOnSite, loaded: LoadedStorage, id: number): Promise<void> {
  assertStorageEditable(m, "delete a disk of");
  const row = loaded.rows.find((r) => r.id === id);
  if (!row) throw new ApiError(404, "not_found", "disk not found");
  const stored = parseStored(loaded.stored);
  // The design in force is the stored one only if made for these disks (else the default follows the disks).
  if (stored && JSON.stringify(loaded.design) === JSON.stringify(stored)) {
    const uses = usesOfDisk(stored, id);
    if (uses.length || stored.boot_disk === id)
      throw new ApiError(
        409,
        "disk_in_use",
        `disk ${row.name} is used by the storage design (${[...uses, ...(stored.boot_disk === id ? ["the boot disk"] : [])].join(", ")}): remove it from the design or apply a layout first`,
      );
  }
  const next = withDisks(
    loaded.stored,
    loaded.rows.filter((r) => r.id !== id).map((r) => r.id),
  );
  const now = Date.now();
  const guard = "m.id = ? AND m.status = ? AND m.storage_design IS ?";
  const [ev, upd, del] = await db.batch([
    machineEventStatement(
      db,
      { type: "machine.storage_changed", actor, fromStatus: "current", toStatus: "current", description: `disk ${row.name} deleted`, at: now },
      guard,
      m.id,
      m.status,
      loaded.stored,
    ),
    db.prepare(`UPDATE machines AS m SET storage_design = ?, updated_at = ? WHERE ${guard}`).bind(next, now, m.id, m.status, loaded.stored),
    db.prepare("DELETE FROM block_devices WHERE id = ? AND machine_id = ? AND changes() = 1").bind(id, m.id),
  ]);
  if (ev?.meta.changes !== 1 || upd?.meta.changes !== 1 || del?.meta.changes !== 1)
    throw new ApiError(409, "concurrent_change", "the machine or its storage changed while the disk was deleted: read it again and retry");
}
