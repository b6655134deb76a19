// A machine's storage design: what the installer builds on its commissioned disks. MAAS models
// it as rows (partition tables, partitions, filesystems, filesystem groups, virtual block
// devices); Plinth keeps one document per machine, edited whole and validated whole, so a rule
// that spans objects ("one root", "no device used twice") is checked in one place and an edit
// is one conditional write (docs/storage.md).
//
// Ids: physical disks keep their block_devices id (< VIRTUAL_ID_BASE). Everything the design
// creates (partitions, RAID sets, volume groups, logical volumes, cache sets, bcache devices)
// takes the next id of the design's own sequence, from VIRTUAL_ID_BASE up, so one number names
// any object of the design without a type beside it, and MAAS clients that list physical and
// virtual block devices together never see two with the same id.
import { z } from "zod";

export const VIRTUAL_ID_BASE = 1_000_000_000;

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
/** MAAS's sizes (maasserver/storage_layouts.py, models/partition*.py, filesystemgroup.py). */
export const EFI_PARTITION_SIZE = 512 * MiB;
export const MIN_BOOT_PARTITION_SIZE = 512 * MiB;
export const MIN_ROOT_PARTITION_SIZE = 3 * GiB;
export const PARTITION_ALIGNMENT_SIZE = 4 * MiB;
export const MIN_PARTITION_SIZE = PARTITION_ALIGNMENT_SIZE;
export const MIN_BLOCK_DEVICE_SIZE = 4 * MiB;
/** The first 4 MiB hold the GPT (and on BIOS the bios_grub partition at 1 MiB); 1 MiB at the end the backup GPT. */
export const INITIAL_PARTITION_OFFSET = 4 * MiB;
export const END_OF_PARTITION_TABLE_SPACE = 1 * MiB;
export const BIOS_GRUB_PARTITION_SIZE = 1 * MiB;
export const LVM_PE_SIZE = 4 * MiB;
export const RAID_SUPERBLOCK_OVERHEAD = 128 * 1024;
export const DEFAULT_BCACHE_BOOT_SIZE = 1 * GiB;

/** What a filesystem can be made as. fat32 and vfat are the same thing (MAAS accepts both). */
export const FSTYPES = ["ext4", "ext3", "ext2", "xfs", "fat32", "vfat", "swap"] as const;
export type Fstype = (typeof FSTYPES)[number];
export const RAID_LEVELS = [0, 1, 5, 6, 10] as const;
export type RaidLevel = (typeof RAID_LEVELS)[number];
export const CACHE_MODES = ["writeback", "writethrough", "writearound"] as const;
export type CacheMode = (typeof CACHE_MODES)[number];
export const LAYOUTS = ["flat", "lvm", "bcache", "blank", "custom"] as const;
export type Layout = (typeof LAYOUTS)[number];

const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const size = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const uuid = z.string().max(64);

export const FilesystemSchema = z.strictObject({
  fstype: z.enum(FSTYPES),
  label: z.string().max(64),
  uuid,
  /** Absolute path; "" = not mounted; swap is "none" when in use. */
  mount_point: z.string().max(4096),
  mount_options: z.string().max(4096),
});
export type Filesystem = z.infer<typeof FilesystemSchema>;

export const PartitionSchema = z.strictObject({
  id,
  /** The block device it is on: a physical disk, a RAID set or a bcache device. */
  device: id,
  /** Bytes, a multiple of PARTITION_ALIGNMENT_SIZE. */
  size,
  bootable: z.boolean(),
  uuid,
  filesystem: FilesystemSchema.nullable(),
});
export type Partition = z.infer<typeof PartitionSchema>;

export const RaidSchema = z.strictObject({
  id,
  name: z.string().max(64),
  uuid,
  level: z.union([z.literal(0), z.literal(1), z.literal(5), z.literal(6), z.literal(10)]),
  /** Whole disks or partitions (ids), in order. */
  devices: z.array(id).max(64),
  spares: z.array(id).max(64),
  filesystem: FilesystemSchema.nullable(),
});
export type Raid = z.infer<typeof RaidSchema>;

export const VolumeGroupSchema = z.strictObject({ id, name: z.string().max(64), uuid, devices: z.array(id).max(64) });
export type VolumeGroup = z.infer<typeof VolumeGroupSchema>;

export const LogicalVolumeSchema = z.strictObject({
  id,
  vg: id,
  name: z.string().max(64),
  uuid,
  size,
  filesystem: FilesystemSchema.nullable(),
});
export type LogicalVolume = z.infer<typeof LogicalVolumeSchema>;

export const CacheSetSchema = z.strictObject({ id, name: z.string().max(64), device: id });
export type CacheSet = z.infer<typeof CacheSetSchema>;

export const BcacheSchema = z.strictObject({
  id,
  name: z.string().max(64),
  uuid,
  backing: id,
  cache_set: id,
  cache_mode: z.enum(CACHE_MODES),
  filesystem: FilesystemSchema.nullable(),
});
export type Bcache = z.infer<typeof BcacheSchema>;

/** A filesystem made on a whole block device (a disk, a RAID set, a logical volume or a bcache device has its own field). */
export const DiskFilesystemSchema = z.strictObject({ device: id, filesystem: FilesystemSchema });

export const DesignSchema = z.strictObject({
  /** The layout that made it; "custom" once edited piece by piece after. */
  layout: z.enum(LAYOUTS),
  /** The physical disk the firmware boots (GRUB on BIOS; the ESP on UEFI). null: the first disk. */
  boot_disk: id.nullable(),
  /** The physical disk ids it was made for: when commissioning replaces the disks, the design is void and the default layout applies. */
  disks: z.array(id).max(256),
  next_id: id,
  disk_filesystems: z.array(DiskFilesystemSchema).max(256),
  partitions: z.array(PartitionSchema).max(1024),
  raids: z.array(RaidSchema).max(64),
  volume_groups: z.array(VolumeGroupSchema).max(64),
  logical_volumes: z.array(LogicalVolumeSchema).max(1024),
  cache_sets: z.array(CacheSetSchema).max(64),
  bcaches: z.array(BcacheSchema).max(64),
});
export type Design = z.infer<typeof DesignSchema>;

/** A commissioned disk as the design sees it (block_devices rows, ordered by id). */
export interface Disk {
  id: number;
  name: string;
  serial: string;
  model: string;
  size: number;
  rotational: boolean;
  /** The disk's tags ("ssd", "rotary", ...); the bcache layout looks for "ssd". */
  tags: string[];
}

export type Firmware = "bios" | "uefi" | "unknown";

export function emptyDesign(layout: Layout = "blank"): Design {
  return {
    layout,
    boot_disk: null,
    disks: [],
    next_id: VIRTUAL_ID_BASE + 1,
    disk_filesystems: [],
    partitions: [],
    raids: [],
    volume_groups: [],
    logical_volumes: [],
    cache_sets: [],
    bcaches: [],
  };
}
