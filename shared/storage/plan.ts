// What the installer builds, in order: the design rendered for the deploy environment
// (cloud/domain/storage/render.ts) and carried in the deploy spec. Every step names what it
// works on by the ids of earlier steps ("d<id>", "p<id>", "md<id>", ...), so the installer keeps
// one map from id to /dev path and never guesses; sizes are MiB offsets it hands to sfdisk and
// lvcreate as they are. A step whose size is 0 takes what is left of its device or volume group
// (the design's last partition or logical volume when it fills the rest), because mdadm and LVM
// metadata take a little more than MAAS's arithmetic allows for.
import { z } from "zod";

const ref = z.string().regex(/^[a-z]{1,8}[0-9]{1,16}$/);
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$/);

export const PLAN_PARTITION_KINDS = ["esp", "bios_grub", "linux", "swap", "raid", "lvm", "bcache"] as const;

export const PlanStepSchema = z.discriminatedUnion("type", [
  /** A physical disk: "serial:<serial>" or its kernel name. grub: install the boot loader on it (BIOS: every disk of a RAID 1 boot set). */
  z.strictObject({ type: z.literal("disk"), id: ref, match: z.string().min(1).max(256), ptable: z.enum(["gpt", "none"]), grub: z.boolean() }),
  /** number: the GPT entry; start_mib/size_mib from the disk's start; size_mib 0 = to the end of the usable space. */
  z.strictObject({
    type: z.literal("partition"),
    id: ref,
    device: ref,
    number: z.number().int().min(1).max(128),
    start_mib: z.number().int().min(1),
    size_mib: z.number().int().nonnegative(),
    kind: z.enum(PLAN_PARTITION_KINDS),
  }),
  z.strictObject({
    type: z.literal("raid"),
    id: ref,
    name,
    level: z.union([z.literal(0), z.literal(1), z.literal(5), z.literal(6), z.literal(10)]),
    devices: z.array(ref).min(1).max(64),
    spares: z.array(ref).max(64),
  }),
  z.strictObject({ type: z.literal("cache_set"), id: ref, device: ref }),
  z.strictObject({
    type: z.literal("bcache"),
    id: ref,
    name,
    backing: ref,
    cache_set: ref,
    cache_mode: z.enum(["writeback", "writethrough", "writearound"]),
  }),
  z.strictObject({ type: z.literal("vg"), id: ref, name, devices: z.array(ref).min(1).max(64) }),
  /** size_mib 0 = the rest of the volume group. */
  z.strictObject({ type: z.literal("lv"), id: ref, vg: ref, name, size_mib: z.number().int().nonnegative() }),
  /** uuid "" = mkfs picks one. */
  z.strictObject({
    type: z.literal("format"),
    device: ref,
    fstype: z.enum(["ext4", "ext3", "ext2", "xfs", "vfat", "swap"]),
    label: z.string().max(64),
    uuid: z.string().max(64),
  }),
  /** In mount order (parents first). path "none" for swap. */
  z.strictObject({ type: z.literal("mount"), device: ref, path: z.string().min(1).max(4096), options: z.string().max(4096) }),
]);
export type PlanStep = z.infer<typeof PlanStepSchema>;

export const PlanSchema = z.array(PlanStepSchema).max(4096);
export type Plan = z.infer<typeof PlanSchema>;
