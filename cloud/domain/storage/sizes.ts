// Sizes and relations inside a design, with MAAS's arithmetic (maasserver/models/partitiontable.py,
// filesystemgroup.py), so a layout gives the same partitions and volumes here as in MAAS.
import {
  BIOS_GRUB_PARTITION_SIZE,
  type Design,
  END_OF_PARTITION_TABLE_SPACE,
  type Filesystem,
  INITIAL_PARTITION_OFFSET,
  LVM_PE_SIZE,
  PARTITION_ALIGNMENT_SIZE,
  RAID_SUPERBLOCK_OVERHEAD,
} from "../../../shared/storage/design";
import { type StorageContext, StorageError } from "./model";

export type Kind = "disk" | "partition" | "raid" | "logical_volume" | "bcache" | "volume_group" | "cache_set";

export const roundDown = (n: number, block: number) => Math.floor(n / block) * block;

/** What the id names in this design, or null. */
export function kindOf(d: Design, ctx: StorageContext, id: number): Kind | null {
  if (ctx.disks.some((x) => x.id === id)) return "disk";
  if (d.partitions.some((x) => x.id === id)) return "partition";
  if (d.raids.some((x) => x.id === id)) return "raid";
  if (d.logical_volumes.some((x) => x.id === id)) return "logical_volume";
  if (d.bcaches.some((x) => x.id === id)) return "bcache";
  if (d.volume_groups.some((x) => x.id === id)) return "volume_group";
  if (d.cache_sets.some((x) => x.id === id)) return "cache_set";
  return null;
}

export function notFound(what: string, id: number): StorageError {
  return new StorageError(404, "not_found", `${what} ${id} not found on this machine`);
}

/** The bytes a block device (disk, partition, RAID set, logical volume, bcache device) holds. */
export function deviceSize(d: Design, ctx: StorageContext, id: number): number {
  const disk = ctx.disks.find((x) => x.id === id);
  if (disk) return disk.size;
  const p = d.partitions.find((x) => x.id === id);
  if (p) return p.size;
  const r = d.raids.find((x) => x.id === id);
  if (r) return raidSize(d, ctx, r.level, r.devices);
  const lv = d.logical_volumes.find((x) => x.id === id);
  if (lv) return lv.size;
  const b = d.bcaches.find((x) => x.id === id);
  if (b) return deviceSize(d, ctx, b.backing);
  throw notFound("block device", id);
}

/** MAAS's RAID size: from the smallest member, less the superblock. */
export function raidSize(d: Design, ctx: StorageContext, level: number, devices: number[]): number {
  if (devices.length === 0) return 0;
  const sizes = devices.map((x) => deviceSize(d, ctx, x));
  const min = Math.min(...sizes);
  const n = devices.length;
  switch (level) {
    case 0:
      return sizes.reduce((a, b) => a + b, 0) - RAID_SUPERBLOCK_OVERHEAD * n;
    case 1:
      return min - RAID_SUPERBLOCK_OVERHEAD;
    case 5:
      return min * (n - 1) - RAID_SUPERBLOCK_OVERHEAD;
    case 6:
      return min * (n - 2) - RAID_SUPERBLOCK_OVERHEAD;
    default:
      return Math.floor((min * n) / 2) - RAID_SUPERBLOCK_OVERHEAD;
  }
}

/** A partition table's overhead: the first 4 MiB, 1 MiB at the end, and on BIOS the bios_grub partition. */
export function tableOverhead(ctx: StorageContext): number {
  return INITIAL_PARTITION_OFFSET + END_OF_PARTITION_TABLE_SPACE + (ctx.firmware === "uefi" ? 0 : BIOS_GRUB_PARTITION_SIZE);
}

export function partitionsOn(d: Design, device: number) {
  return d.partitions.filter((p) => p.device === device).sort((a, b) => a.id - b.id);
}

/** Bytes left for new partitions on a device (aligned down), as MAAS's get_available_size. */
export function partitionSpace(d: Design, ctx: StorageContext, device: number, ignore?: number): number {
  const used = partitionsOn(d, device)
    .filter((p) => p.id !== ignore)
    .reduce((a, p) => a + p.size, 0);
  return Math.max(0, roundDown(deviceSize(d, ctx, device) - used - tableOverhead(ctx), PARTITION_ALIGNMENT_SIZE));
}

/** A volume group's size: whole extents of its physical volumes, one per volume for LVM's headers. */
export function vgSize(d: Design, ctx: StorageContext, vg: number): number {
  const g = d.volume_groups.find((x) => x.id === vg);
  if (!g || g.devices.length === 0) return 0;
  const total = g.devices.reduce((a, x) => a + deviceSize(d, ctx, x), 0);
  return Math.max(0, (Math.floor(total / LVM_PE_SIZE) - g.devices.length) * LVM_PE_SIZE);
}

export function vgUsed(d: Design, vg: number): number {
  return d.logical_volumes.filter((l) => l.vg === vg).reduce((a, l) => a + l.size, 0);
}

export const vgFree = (d: Design, ctx: StorageContext, vg: number) => Math.max(0, vgSize(d, ctx, vg) - vgUsed(d, vg));

/** What uses a block device, when something does. A device has at most one user. */
export type Use =
  | { kind: "partitions"; count: number }
  | { kind: "filesystem"; fs: Filesystem }
  | { kind: "raid"; raid: number; spare: boolean }
  | { kind: "volume_group"; vg: number }
  | { kind: "cache_set"; cacheSet: number }
  | { kind: "bcache"; bcache: number };

export function filesystemOf(d: Design, id: number): Filesystem | null {
  return (
    d.disk_filesystems.find((x) => x.device === id)?.filesystem ??
    d.partitions.find((x) => x.id === id)?.filesystem ??
    d.raids.find((x) => x.id === id)?.filesystem ??
    d.logical_volumes.find((x) => x.id === id)?.filesystem ??
    d.bcaches.find((x) => x.id === id)?.filesystem ??
    null
  );
}

export function usesOf(d: Design, id: number): Use[] {
  const out: Use[] = [];
  const parts = d.partitions.filter((p) => p.device === id).length;
  if (parts) out.push({ kind: "partitions", count: parts });
  const fs = filesystemOf(d, id);
  if (fs) out.push({ kind: "filesystem", fs });
  for (const r of d.raids) {
    if (r.devices.includes(id)) out.push({ kind: "raid", raid: r.id, spare: false });
    if (r.spares.includes(id)) out.push({ kind: "raid", raid: r.id, spare: true });
  }
  for (const g of d.volume_groups) if (g.devices.includes(id)) out.push({ kind: "volume_group", vg: g.id });
  for (const c of d.cache_sets) if (c.device === id) out.push({ kind: "cache_set", cacheSet: c.id });
  for (const b of d.bcaches) if (b.backing === id) out.push({ kind: "bcache", bcache: b.id });
  return out;
}

/** The design's name for a device, for messages and views. */
export function deviceName(d: Design, ctx: StorageContext, id: number): string {
  const disk = ctx.disks.find((x) => x.id === id);
  if (disk) return disk.name;
  const p = d.partitions.find((x) => x.id === id);
  if (p) return `${deviceName(d, ctx, p.device)}-part${partitionNumber(d, ctx, p.id)}`;
  const r = d.raids.find((x) => x.id === id);
  if (r) return r.name;
  const lv = d.logical_volumes.find((x) => x.id === id);
  if (lv) return `${d.volume_groups.find((g) => g.id === lv.vg)?.name ?? "?"}-${lv.name}`;
  const b = d.bcaches.find((x) => x.id === id);
  if (b) return b.name;
  const g = d.volume_groups.find((x) => x.id === id);
  if (g) return g.name;
  const c = d.cache_sets.find((x) => x.id === id);
  if (c) return c.name;
  return String(id);
}

/** The GPT entry of a partition: in creation order, after the bios_grub partition on BIOS. */
export function partitionNumber(d: Design, ctx: StorageContext, id: number): number {
  const p = d.partitions.find((x) => x.id === id);
  if (!p) return 0;
  const i = partitionsOn(d, p.device).findIndex((x) => x.id === id);
  return i + (ctx.firmware === "uefi" ? 1 : 2);
}

/** MAAS's used_for text. */
export function usedFor(d: Design, ctx: StorageContext, id: number): string {
  const uses = usesOf(d, id);
  if (uses.length === 0) return "Unused";
  return uses
    .map((u) => {
      switch (u.kind) {
        case "partitions":
          return `GPT partitioned with ${u.count} partition${u.count === 1 ? "" : "s"}`;
        case "filesystem":
          if (u.fs.fstype === "swap") return u.fs.mount_point ? "swap formatted filesystem in use" : "Unused swap formatted filesystem";
          return u.fs.mount_point ? `${u.fs.fstype} formatted filesystem mounted at ${u.fs.mount_point}` : `Unmounted ${u.fs.fstype} formatted filesystem`;
        case "raid": {
          const r = d.raids.find((x) => x.id === u.raid)!;
          return `${u.spare ? "Spare" : "Active"} raid-${r.level} device for ${r.name}`;
        }
        case "volume_group":
          return `LVM volume for ${deviceName(d, ctx, u.vg)}`;
        case "cache_set":
          return `Cache device for ${deviceName(d, ctx, u.cacheSet)}`;
        case "bcache":
          return `Backing device for ${deviceName(d, ctx, u.bcache)}`;
      }
      return "";
    })
    .join(", ");
}

/**
 * MAAS's size fields take bytes, a number with a unit (K, M, G, T, P; powers of 1000 as MAAS's
 * human_readable_bytes reads them) or a percentage of `whole`.
 */
export function parseSize(field: string, v: number | string, whole: number): number {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) throw new StorageError(400, "invalid_size", `${field}: ${v} is not a size in bytes`);
    return v;
  }
  const s = v.trim();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(s);
  if (pct) {
    const p = Number(pct[1]);
    if (p <= 0 || p > 100) throw new StorageError(400, "invalid_size", `${field}: a percentage must be above 0% and at most 100%`);
    return Math.floor((whole * p) / 100);
  }
  const m = /^(\d+(?:\.\d+)?)\s*([KMGTP]?)B?$/i.exec(s);
  if (!m) throw new StorageError(400, "invalid_size", `${field}: '${v}' is not a size (bytes, 10G, 500M or a percentage such as 50%)`);
  const unit = { "": 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 }[m[2]!.toUpperCase()]!;
  const n = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n)) throw new StorageError(400, "invalid_size", `${field}: ${v} is too large`);
  return n;
}
