// MAAS's storage layouts (maasserver/storage_layouts.py): flat, lvm, bcache and blank, with
// set_storage_layout's parameters, computing the same partitions and volumes MAAS does for the
// same disks (test/region/storage-layouts.test.ts holds MAAS's figures).
import {
  CACHE_MODES,
  type CacheMode,
  DEFAULT_BCACHE_BOOT_SIZE,
  type Design,
  EFI_PARTITION_SIZE,
  emptyDesign,
  type Filesystem,
  MIN_BLOCK_DEVICE_SIZE,
  MIN_BOOT_PARTITION_SIZE,
  MIN_ROOT_PARTITION_SIZE,
  PARTITION_ALIGNMENT_SIZE,
} from "../../../shared/storage/design";
import { type LayoutParams, type StorageContext, StorageError } from "./model";
import { parseSize, partitionSpace, roundDown, vgSize } from "./sizes";

export type LayoutName = "flat" | "lvm" | "bcache" | "blank";
export const LAYOUT_NAMES: readonly LayoutName[] = ["flat", "lvm", "bcache", "blank"];

const fs = (fstype: Filesystem["fstype"], label: string, mount_point: string): Filesystem => ({ fstype, label, uuid: "", mount_point, mount_options: "" });
const bad = (field: string, msg: string) => new StorageError(400, "invalid_layout", `${field}: ${msg}`);

function alloc(d: Design): number {
  const id = d.next_id;
  d.next_id += 1;
  return id;
}

function addPartition(d: Design, ctx: StorageContext, device: number, size: number | null, bootable: boolean, filesystem: Filesystem | null): number {
  const space = partitionSpace(d, ctx, device);
  const bytes = roundDown(size ?? space, PARTITION_ALIGNMENT_SIZE);
  if (bytes > space || bytes <= 0) throw new StorageError(400, "does_not_fit", `no room for a ${bytes}-byte partition on the disk (${space} bytes left)`);
  const id = alloc(d);
  d.partitions.push({ id, device, size: bytes, bootable, uuid: "", filesystem });
  return id;
}

/**
 * The layout on the machine's disks. The boot disk is the one chosen or the first; with
 * allowFallback (the default layout after commissioning) bcache without a cache device is flat,
 * as in MAAS; through the API (allowFallback false) it is refused.
 */
export function applyLayout(ctx: StorageContext, layout: LayoutName, params: LayoutParams, bootDisk: number | null, allowFallback = false): Design {
  if (!(LAYOUT_NAMES as readonly string[]).includes(layout)) {
    throw new StorageError(400, "invalid_layout", `storage_layout: '${layout}' is not a layout Plinth makes (${LAYOUT_NAMES.join(", ")})`);
  }
  if (ctx.disks.length === 0) throw new StorageError(400, "no_disks", "the machine has no disks: commission it first so its disks are known");
  const boot = ctx.disks.find((x) => x.id === bootDisk) ?? ctx.disks[0]!;
  const d = emptyDesign(layout);
  d.boot_disk = bootDisk && ctx.disks.some((x) => x.id === bootDisk) ? bootDisk : null;
  d.disks = ctx.disks.map((x) => x.id);
  if (layout === "blank") return d;

  const size = (field: keyof LayoutParams, min: number, max: number): number | null => {
    const v = params[field];
    if (v === undefined || v === null || v === "" || v === 0) return null;
    const n = parseSize(field, v as number | string, boot.size - EFI_PARTITION_SIZE);
    if (n < min) throw bad(field, `Size is too small. Minimum size is ${min}.`);
    if (n > max) throw bad(field, `Size is too large. Maximum size is ${max}.`);
    return n;
  };
  const bootSize = size("boot_size", MIN_BOOT_PARTITION_SIZE, boot.size - EFI_PARTITION_SIZE - MIN_ROOT_PARTITION_SIZE) ?? 0;
  const rootSize = size("root_size", MIN_ROOT_PARTITION_SIZE, boot.size - EFI_PARTITION_SIZE - MIN_BOOT_PARTITION_SIZE);
  if (rootSize !== null && EFI_PARTITION_SIZE + bootSize + rootSize > boot.size) {
    throw bad("root_size", "Size of the boot partition and root partition are larger than the available space on the boot disk.");
  }
  let rootDisk = boot;
  if (params.root_device !== undefined && params.root_device !== null) {
    const r = ctx.disks.find((x) => x.id === Number(params.root_device));
    if (!r)
      throw bad("root_device", `Select a valid choice. ${params.root_device} is not one of the available choices (${ctx.disks.map((x) => x.id).join(", ")}).`);
    rootDisk = r;
  }

  // MAAS's create_basic_layout: the ESP on UEFI, /boot when asked for, then the root partition.
  const basic = (bootBytes: number): number => {
    if (ctx.firmware === "uefi") addPartition(d, ctx, boot.id, EFI_PARTITION_SIZE, true, fs("fat32", "efi", "/boot/efi"));
    if (bootBytes > 0) addPartition(d, ctx, boot.id, bootBytes, true, fs("ext4", "boot", "/boot"));
    return addPartition(d, ctx, rootDisk.id, rootSize, false, null);
  };

  if (layout === "flat") {
    const root = basic(bootSize);
    d.partitions.find((p) => p.id === root)!.filesystem = fs("ext4", "root", "/");
    return d;
  }

  if (layout === "lvm") {
    let lvSize: number | null = null;
    const raw = params.lv_size;
    if (raw !== undefined && raw !== null && raw !== "" && raw !== 0) {
      const whole = rootSize ?? boot.size - EFI_PARTITION_SIZE - bootSize;
      lvSize = parseSize("lv_size", raw, whole);
      if (lvSize < MIN_ROOT_PARTITION_SIZE) throw bad("lv_size", `Size is too small. Minimum size is ${MIN_ROOT_PARTITION_SIZE}.`);
      if (lvSize > whole) throw bad("lv_size", `Size is too large. Maximum size is ${whole}.`);
    }
    const root = basic(bootSize);
    const vgName = params.vg_name || "vgroot";
    const lvName = params.lv_name || "lvroot";
    const vg = alloc(d);
    d.volume_groups.push({ id: vg, name: vgName, uuid: "", devices: [root] });
    const total = vgSize(d, ctx, vg);
    const lv = alloc(d);
    d.logical_volumes.push({ id: lv, vg, name: lvName, uuid: "", size: Math.min(lvSize ?? total, total), filesystem: fs("ext4", "root", "/") });
    return d;
  }

  // bcache
  const mode = (params.cache_mode || "writethrough") as CacheMode;
  if (!(CACHE_MODES as readonly string[]).includes(mode)) throw bad("cache_mode", `'${params.cache_mode}' is not one of ${CACHE_MODES.join(", ")}`);
  let cache = null as (typeof ctx.disks)[number] | null;
  if (params.cache_device !== undefined && params.cache_device !== null) {
    cache = ctx.disks.find((x) => x.id === Number(params.cache_device) && x.id !== boot.id) ?? null;
    if (!cache) {
      throw bad(
        "cache_device",
        `Select a valid choice. ${params.cache_device} is not one of the available choices (${ctx.disks
          .filter((x) => x.id !== boot.id)
          .map((x) => x.id)
          .join(", ")}).`,
      );
    }
  } else {
    // MAAS's pick: the smallest disk other than the boot disk that is tagged ssd.
    cache = [...ctx.disks.filter((x) => x.id !== boot.id)].sort((a, b) => a.size - b.size).find((x) => x.tags.includes("ssd")) ?? null;
  }
  if (!cache) {
    if (allowFallback) return applyLayout(ctx, "flat", params, bootDisk);
    throw new StorageError(
      400,
      "invalid_layout",
      "the machine has no cache device for bcache: tag a disk other than the boot disk ssd, or name it with cache_device",
    );
  }
  const noPart = params.cache_no_part === true;
  let cacheSize: number | null = null;
  if (params.cache_size !== undefined && params.cache_size !== null && params.cache_size !== "" && params.cache_size !== 0) {
    if (noPart) throw bad("cache_size", "Cannot use cache_size and cache_no_part at the same time.");
    cacheSize = parseSize("cache_size", params.cache_size, cache.size);
    if (cacheSize < MIN_BLOCK_DEVICE_SIZE) throw bad("cache_size", `Size is too small. Minimum size is ${MIN_BLOCK_DEVICE_SIZE}.`);
    if (cacheSize > cache.size) throw bad("cache_size", `Size is too large. Maximum size is ${cache.size}.`);
  }
  const root = basic(bootSize || DEFAULT_BCACHE_BOOT_SIZE);
  const cacheDevice = noPart ? cache.id : addPartition(d, ctx, cache.id, cacheSize, false, null);
  const cs = alloc(d);
  d.cache_sets.push({ id: cs, name: "cache0", device: cacheDevice });
  const bc = alloc(d);
  d.bcaches.push({ id: bc, name: "bcache0", uuid: "", backing: root, cache_set: cs, cache_mode: mode, filesystem: fs("ext4", "root", "/") });
  return d;
}

/**
 * The design in force: the stored one when it was made for these disks; otherwise (never
 * designed, or commissioning found other disks since) the default layout on them, falling back
 * to flat and then blank when the default does not fit.
 */
export function currentDesign(stored: Design | null, ctx: StorageContext, defaultLayout: LayoutName): Design {
  const ids = ctx.disks.map((x) => x.id);
  if (stored && stored.disks.length === ids.length && stored.disks.every((x, i) => x === ids[i])) return stored;
  if (ids.length === 0) return emptyDesign("blank");
  for (const l of [defaultLayout, "flat"] as const) {
    try {
      return applyLayout(ctx, l, {}, null, true);
    } catch {
      // A disk too small for the layout: try the next.
    }
  }
  return { ...emptyDesign("blank"), disks: ids };
}
