// Whether a design can be deployed: the rules MAAS checks before a deployment (a root, an ESP
// on UEFI) and those that would otherwise fail in the installer or at the first boot (GRUB
// needs somewhere to live and to read /boot from; everything fits; nothing used twice).
import type { Design } from "../../../shared/storage/design";
import { filesystems } from "./edit";
import { type StorageContext, StorageError } from "./model";
import { deviceName, deviceSize, kindOf, partitionSpace, partitionsOn, tableOverhead, vgSize, vgUsed } from "./sizes";

/** The physical disks a device ends on, through RAID sets, volume groups and bcache. */
export function physicalDisksUnder(d: Design, ctx: StorageContext, id: number): number[] {
  const kind = kindOf(d, ctx, id);
  if (kind === "disk") return [id];
  if (kind === "partition") return [d.partitions.find((p) => p.id === id)!.device];
  if (kind === "raid") {
    const r = d.raids.find((x) => x.id === id)!;
    return [...new Set([...r.devices, ...r.spares].flatMap((x) => physicalDisksUnder(d, ctx, x)))];
  }
  if (kind === "logical_volume") {
    const lv = d.logical_volumes.find((x) => x.id === id)!;
    return physicalDisksUnder(d, ctx, lv.vg);
  }
  if (kind === "volume_group") {
    const g = d.volume_groups.find((x) => x.id === id)!;
    return [...new Set(g.devices.flatMap((x) => physicalDisksUnder(d, ctx, x)))];
  }
  if (kind === "bcache") {
    const b = d.bcaches.find((x) => x.id === id)!;
    return physicalDisksUnder(d, ctx, b.backing);
  }
  return [];
}

/** Whether a device sits on a bcache device somewhere below (GRUB cannot read through bcache). */
function onBcache(d: Design, ctx: StorageContext, id: number): boolean {
  const kind = kindOf(d, ctx, id);
  if (kind === "bcache") return true;
  if (kind === "logical_volume") return onBcache(d, ctx, d.logical_volumes.find((x) => x.id === id)!.vg);
  if (kind === "volume_group") return d.volume_groups.find((x) => x.id === id)!.devices.some((x) => onBcache(d, ctx, x));
  return false;
}

/** The disk the firmware boots: the chosen one, else the first. */
export function bootDiskId(d: Design, ctx: StorageContext): number | null {
  return ctx.disks.find((x) => x.id === d.boot_disk)?.id ?? ctx.disks[0]?.id ?? null;
}

/**
 * The disks GRUB goes on for BIOS: the boot disk and every partitioned disk under the
 * filesystem GRUB reads /boot from, so a RAID 1 boot set boots from either member.
 */
export function grubDisks(d: Design, ctx: StorageContext): number[] {
  const boot = bootDiskId(d, ctx);
  const fss = filesystems(d);
  const bootFs = fss.find((x) => x.fs.mount_point === "/boot") ?? fss.find((x) => x.fs.mount_point === "/");
  const under = bootFs ? physicalDisksUnder(d, ctx, bootFs.device).filter((x) => partitionsOn(d, x).length > 0) : [];
  return ctx.disks.map((x) => x.id).filter((x) => x === boot || under.includes(x));
}

export function validateDesign(d: Design, ctx: StorageContext): string[] {
  const problems: string[] = [];
  if (ctx.disks.length === 0) return ["the machine has no disks: commission it first"];
  const fss = filesystems(d);
  const roots = fss.filter((x) => x.fs.mount_point === "/");
  if (roots.length === 0) problems.push("no filesystem is mounted at /: format a device and mount it at / (or apply a layout)");
  if (roots.length > 1) problems.push(`${roots.length} filesystems are mounted at /: ${roots.map((x) => deviceName(d, ctx, x.device)).join(", ")}`);
  for (const r of roots) {
    if (r.fs.fstype === "swap" || r.fs.fstype === "fat32" || r.fs.fstype === "vfat")
      problems.push(`/ is ${r.fs.fstype}: the root needs ext4, ext3, ext2 or xfs`);
  }
  const seen = new Map<string, number>();
  for (const x of fss) {
    if (!x.fs.mount_point || x.fs.mount_point === "none") continue;
    const other = seen.get(x.fs.mount_point);
    if (other !== undefined && x.fs.mount_point !== "/")
      problems.push(`${x.fs.mount_point} is the mount point of both ${deviceName(d, ctx, other)} and ${deviceName(d, ctx, x.device)}`);
    seen.set(x.fs.mount_point, x.device);
  }
  const esp = fss.filter((x) => x.fs.mount_point === "/boot/efi");
  if (ctx.firmware === "uefi") {
    const ok = esp.some((x) => (x.fs.fstype === "fat32" || x.fs.fstype === "vfat") && kindOf(d, ctx, x.device) === "partition");
    if (!ok) problems.push("the machine boots UEFI: it needs a FAT32 filesystem mounted at /boot/efi on a partition of a disk (the ESP)");
  }
  for (const x of esp) if (x.fs.fstype !== "fat32" && x.fs.fstype !== "vfat") problems.push(`/boot/efi is ${x.fs.fstype}: the ESP must be FAT32`);
  const bootFs = fss.find((x) => x.fs.mount_point === "/boot") ?? roots[0];
  if (bootFs && onBcache(d, ctx, bootFs.device)) {
    problems.push(`${bootFs.fs.mount_point} is on bcache, which GRUB cannot read: put /boot on a partition of its own (the bcache layout does)`);
  }
  const boot = bootDiskId(d, ctx);
  if (ctx.firmware !== "uefi" && boot !== null && partitionsOn(d, boot).length === 0) {
    problems.push(`the boot disk ${deviceName(d, ctx, boot)} has no partitions: on BIOS GRUB needs a GPT on it (for its bios_grub partition)`);
  }
  // Sizes: edits keep these, a design stored before a change of rules may not.
  for (const disk of ctx.disks) {
    const parts = partitionsOn(d, disk.id);
    if (parts.length === 0) continue;
    const used = parts.reduce((a, p) => a + p.size, 0);
    if (used + tableOverhead(ctx) > disk.size)
      problems.push(`the partitions of ${disk.name} take ${used} bytes, more than the ${disk.size - tableOverhead(ctx)} it has`);
  }
  for (const g of d.volume_groups) {
    const used = vgUsed(d, g.id);
    if (used > vgSize(d, ctx, g.id)) problems.push(`the logical volumes of ${g.name} take ${used} bytes, more than its ${vgSize(d, ctx, g.id)}`);
    if (g.devices.length === 0) problems.push(`volume group ${g.name} has no physical volume`);
  }
  // Every reference resolves, and no device has two users.
  const users = new Map<number, string>();
  const use = (dev: number, by: string) => {
    if (!kindOf(d, ctx, dev)) problems.push(`${by} uses device ${dev}, which does not exist`);
    const prev = users.get(dev);
    if (prev) problems.push(`${deviceName(d, ctx, dev)} is used twice: by ${prev} and by ${by}`);
    users.set(dev, by);
  };
  for (const r of d.raids) for (const x of [...r.devices, ...r.spares]) use(x, r.name);
  for (const g of d.volume_groups) for (const x of g.devices) use(x, g.name);
  for (const c of d.cache_sets) use(c.device, c.name);
  for (const b of d.bcaches) {
    use(b.backing, b.name);
    if (!d.cache_sets.some((c) => c.id === b.cache_set)) problems.push(`${b.name} names cache set ${b.cache_set}, which does not exist`);
  }
  for (const x of fss) {
    if (users.has(x.device)) problems.push(`${deviceName(d, ctx, x.device)} holds a filesystem and is used by ${users.get(x.device)}`);
    if (partitionsOn(d, x.device).length) problems.push(`${deviceName(d, ctx, x.device)} holds a filesystem and partitions`);
  }
  for (const p of d.partitions) {
    if (kindOf(d, ctx, p.device) !== "disk") problems.push(`partition ${p.id} is on ${p.device}, which is not a disk of this machine`);
    if (users.has(p.device)) problems.push(`${deviceName(d, ctx, p.device)} is partitioned and used by ${users.get(p.device)}`);
    if (partitionSpace(d, ctx, p.device) < 0) problems.push(`${deviceName(d, ctx, p.device)} is over-full`);
  }
  for (const r of d.raids) {
    const min = { 0: 2, 1: 2, 5: 3, 6: 4, 10: 3 }[r.level];
    if (r.devices.length < min) problems.push(`${r.name}: RAID level ${r.level} needs at least ${min} devices, it has ${r.devices.length}`);
    if (r.level === 0 && r.spares.length) problems.push(`${r.name}: RAID level 0 takes no spares`);
    if (deviceSize(d, ctx, r.id) <= 0) problems.push(`${r.name} has no usable size`);
  }
  return [...new Set(problems)];
}

export function assertDeployable(d: Design, ctx: StorageContext): void {
  const problems = validateDesign(d, ctx);
  if (problems.length) throw new StorageError(400, "invalid_storage", `the storage design cannot be deployed: ${problems.join("; ")}`);
}
