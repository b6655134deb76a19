// The design as the installer's plan (shared/storage/plan.ts): disks, then their partitions,
// RAID sets, cache sets, bcache devices, volume groups, logical volumes, filesystems, and the
// mounts parents first. Only disks the design uses appear; the rest are left as they are.
import { type Design, MiB } from "../../../shared/storage/design";
import type { Plan, PlanStep } from "../../../shared/storage/plan";
import { filesystems } from "./edit";
import type { StorageContext } from "./model";
import { kindOf, partitionNumber, partitionSpace, partitionsOn, usesOf, vgFree } from "./sizes";
import { grubDisks } from "./validate";

/** The plan's name for a device: its kind and its id. */
export function ref(d: Design, ctx: StorageContext, id: number): string {
  switch (kindOf(d, ctx, id)) {
    case "disk":
      return `d${id}`;
    case "partition":
      return `p${id}`;
    case "raid":
      return `md${id}`;
    case "logical_volume":
      return `lv${id}`;
    case "bcache":
      return `bc${id}`;
    case "volume_group":
      return `vg${id}`;
    case "cache_set":
      return `cs${id}`;
    default:
      return `x${id}`;
  }
}

/** Mount order: / first, then by depth, then by name, so a parent is mounted before what is under it. */
const mountOrder = (a: string, b: string) => (a === b ? 0 : a === "/" ? -1 : b === "/" ? 1 : a.split("/").length - b.split("/").length || (a < b ? -1 : 1));

export function renderPlan(d: Design, ctx: StorageContext): Plan {
  const plan: PlanStep[] = [];
  const grub = ctx.firmware === "uefi" ? [] : grubDisks(d, ctx);
  for (const disk of ctx.disks) {
    const parts = partitionsOn(d, disk.id);
    if (parts.length === 0 && usesOf(d, disk.id).length === 0) continue;
    plan.push({
      type: "disk",
      id: ref(d, ctx, disk.id),
      match: disk.serial ? `serial:${disk.serial}` : disk.name,
      ptable: parts.length ? "gpt" : "none",
      grub: grub.includes(disk.id) && parts.length > 0,
    });
  }
  for (const disk of ctx.disks) {
    const parts = partitionsOn(d, disk.id);
    if (parts.length === 0) continue;
    // BIOS: GRUB's core image goes in a bios_grub partition inside the 4 MiB MAAS keeps free.
    if (ctx.firmware !== "uefi")
      plan.push({ type: "partition", id: `g${disk.id}`, device: `d${disk.id}`, number: 1, start_mib: 1, size_mib: 1, kind: "bios_grub" });
    let start = 4;
    const fillsDisk = partitionSpace(d, ctx, disk.id) < 4 * MiB;
    parts.forEach((p, i) => {
      const use = usesOf(d, p.id)[0];
      const kind =
        use?.kind === "raid"
          ? "raid"
          : use?.kind === "volume_group"
            ? "lvm"
            : use?.kind === "cache_set" || use?.kind === "bcache"
              ? "bcache"
              : use?.kind === "filesystem" && use.fs.fstype === "swap"
                ? "swap"
                : use?.kind === "filesystem" && use.fs.mount_point === "/boot/efi"
                  ? "esp"
                  : "linux";
      const mib = p.size / MiB;
      const last = i === parts.length - 1;
      plan.push({
        type: "partition",
        id: ref(d, ctx, p.id),
        device: `d${disk.id}`,
        number: partitionNumber(d, ctx, p.id),
        start_mib: start,
        size_mib: last && fillsDisk ? 0 : mib,
        kind,
      });
      start += mib;
    });
  }
  for (const r of d.raids) {
    plan.push({
      type: "raid",
      id: ref(d, ctx, r.id),
      name: r.name,
      level: r.level,
      devices: r.devices.map((x) => ref(d, ctx, x)),
      spares: r.spares.map((x) => ref(d, ctx, x)),
    });
  }
  for (const c of d.cache_sets) plan.push({ type: "cache_set", id: ref(d, ctx, c.id), device: ref(d, ctx, c.device) });
  for (const b of d.bcaches) {
    plan.push({
      type: "bcache",
      id: ref(d, ctx, b.id),
      name: b.name,
      backing: ref(d, ctx, b.backing),
      cache_set: ref(d, ctx, b.cache_set),
      cache_mode: b.cache_mode,
    });
  }
  for (const g of d.volume_groups) plan.push({ type: "vg", id: ref(d, ctx, g.id), name: g.name, devices: g.devices.map((x) => ref(d, ctx, x)) });
  for (const g of d.volume_groups) {
    const lvs = d.logical_volumes.filter((l) => l.vg === g.id).sort((a, b) => a.id - b.id);
    // The last volume of a full group takes what LVM really has left: its metadata costs a little more than MAAS reckons.
    const full = vgFree(d, ctx, g.id) < 4 * MiB;
    lvs.forEach((l, i) => {
      plan.push({
        type: "lv",
        id: ref(d, ctx, l.id),
        vg: ref(d, ctx, g.id),
        name: l.name,
        size_mib: full && i === lvs.length - 1 ? 0 : Math.floor(l.size / MiB),
      });
    });
  }
  const fss = filesystems(d);
  for (const x of fss) {
    plan.push({ type: "format", device: ref(d, ctx, x.device), fstype: x.fs.fstype === "fat32" ? "vfat" : x.fs.fstype, label: x.fs.label, uuid: x.fs.uuid });
  }
  for (const x of [...fss].filter((f) => f.fs.mount_point).sort((a, b) => mountOrder(a.fs.mount_point, b.fs.mount_point))) {
    plan.push({ type: "mount", device: ref(d, ctx, x.device), path: x.fs.mount_point, options: x.fs.mount_options });
  }
  return plan;
}
