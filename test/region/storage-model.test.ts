// The pure storage model (cloud/domain/storage/): MAAS's layouts on machines with one, two and
// four disks of different sizes, with the figures MAAS's own arithmetic gives for them
// (maasserver/storage_layouts.py, models/partitiontable.py, filesystemgroup.py: a partition
// table keeps 4 MiB at the start and 1 MiB at the end, plus 1 MiB for bios_grub on BIOS, and
// aligns partitions down to 4 MiB; a volume group keeps one 4 MiB extent per physical volume;
// a RAID set loses 128 KiB of superblock), every validation rule, the edits, and the plan the
// installer gets.
import { describe, expect, it } from "vitest";
import { type Design, type Disk, GiB, MiB, VIRTUAL_ID_BASE } from "../../shared/storage/design";
import { PlanSchema } from "../../shared/storage/plan";
import {
  createBcache,
  createCacheSet,
  createLogicalVolume,
  createPartition,
  createRaid,
  createVolumeGroup,
  deleteCacheSet,
  deletePartition,
  deleteRaid,
  deleteVolumeGroup,
  formatDevice,
  mountDevice,
  setBootDisk,
  unformatDevice,
  unmountDevice,
  updateRaid,
} from "../../cloud/domain/storage/edit";
import { applyLayout, currentDesign } from "../../cloud/domain/storage/layouts";
import { type StorageContext, StorageError } from "../../cloud/domain/storage/model";
import { renderPlan } from "../../cloud/domain/storage/render";
import { parseSize } from "../../cloud/domain/storage/sizes";
import { validateDesign } from "../../cloud/domain/storage/validate";
import { describeDesign } from "../../cloud/domain/storage/views";

const disk = (id: number, name: string, size: number, tags: string[] = []): Disk => ({
  id,
  name,
  serial: `SER${id}`,
  model: "QEMU",
  size,
  rotational: !tags.includes("ssd"),
  tags,
});
const one = (firmware: "bios" | "uefi"): StorageContext => ({ firmware, disks: [disk(11, "sda", 8 * GiB)] });
const two = (firmware: "bios" | "uefi"): StorageContext => ({ firmware, disks: [disk(21, "sda", 8 * GiB), disk(22, "sdb", 2 * GiB, ["ssd"])] });
const four = (firmware: "bios" | "uefi"): StorageContext => ({
  firmware,
  disks: [disk(31, "vda", 4 * GiB), disk(32, "vdb", 4 * GiB), disk(33, "vdc", 1 * GiB), disk(34, "vdd", 1536 * MiB)],
});

/** disk, partition, fs, mount rows: the shape MAAS's tests compare. */
function parts(d: Design) {
  return d.partitions.map((p) => [p.device, p.size / MiB, p.bootable, p.filesystem?.fstype ?? null, p.filesystem?.mount_point ?? null]);
}

function refused(f: () => unknown, status: number, re: RegExp) {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(StorageError);
    expect((e as StorageError).status).toBe(status);
    expect((e as Error).message).toMatch(re);
    return;
  }
  throw new Error("not refused");
}

describe("layouts, as MAAS computes them", () => {
  it("flat on one 8 GiB disk: UEFI has the 512 MiB ESP and a 7672 MiB root (8192 - 512 - 5, aligned down); BIOS a 8184 MiB root (8192 - 6)", () => {
    expect(parts(applyLayout(one("uefi"), "flat", {}, null))).toEqual([
      [11, 512, true, "fat32", "/boot/efi"],
      [11, 7672, false, "ext4", "/"],
    ]);
    expect(parts(applyLayout(one("bios"), "flat", {}, null))).toEqual([[11, 8184, false, "ext4", "/"]]);
  });

  it("flat with boot_size and root_size (bytes, units and percentages of the disk less the ESP)", () => {
    const d = applyLayout(one("uefi"), "flat", { boot_size: 1 * GiB, root_size: "50%" }, null);
    // 50% of (8192 - 512) MiB = 3840 MiB.
    expect(parts(d)).toEqual([
      [11, 512, true, "fat32", "/boot/efi"],
      [11, 1024, true, "ext4", "/boot"],
      [11, 3840, false, "ext4", "/"],
    ]);
    expect(parseSize("root_size", "5G", 0)).toBe(5_000_000_000);
    refused(() => applyLayout(one("uefi"), "flat", { root_size: 2 * GiB }, null), 400, /root_size: Size is too small. Minimum size is 3221225472/);
    refused(() => applyLayout(one("uefi"), "flat", { boot_size: 256 * MiB }, null), 400, /boot_size: Size is too small. Minimum size is 536870912/);
    // The maximum root: the disk less the ESP and the smallest /boot.
    refused(() => applyLayout(one("uefi"), "flat", { root_size: 8 * GiB }, null), 400, /root_size: Size is too large. Maximum size is 7516192768/);
    refused(() => applyLayout(one("uefi"), "flat", { boot_size: 3 * GiB, root_size: 5 * GiB }, null), 400, /larger than the available space on the boot disk/);
    refused(() => applyLayout(one("uefi"), "flat", { root_size: "lots" }, null), 400, /not a size/);
  });

  it("flat with root_device puts / on another disk; the ESP stays on the boot disk", () => {
    const d = applyLayout(two("uefi"), "flat", { root_device: 22 }, null);
    expect(parts(d)).toEqual([
      [21, 512, true, "fat32", "/boot/efi"],
      [22, 2040, false, "ext4", "/"],
    ]);
    refused(() => applyLayout(two("uefi"), "flat", { root_device: 99 }, null), 400, /root_device: Select a valid choice/);
  });

  it("lvm: vgroot over the root partition, less one extent for LVM's header; lvroot fills it or takes lv_size", () => {
    const d = applyLayout(one("uefi"), "lvm", {}, null);
    const view = describeDesign(d, one("uefi"));
    expect(view.volume_groups).toMatchObject([{ name: "vgroot", size: 7668 * MiB, available_size: 0 }]);
    expect(d.logical_volumes).toMatchObject([{ name: "lvroot", size: 7668 * MiB, filesystem: { fstype: "ext4", mount_point: "/" } }]);
    const named = applyLayout(one("bios"), "lvm", { vg_name: "vgsys", lv_name: "root", lv_size: 4 * GiB }, null);
    expect(named.volume_groups[0]!.name).toBe("vgsys");
    expect(named.logical_volumes[0]).toMatchObject({ name: "root", size: 4 * GiB });
    expect(describeDesign(named, one("bios")).volume_groups[0]).toMatchObject({ size: 8180 * MiB, available_size: 8180 * MiB - 4 * GiB });
    refused(() => applyLayout(one("bios"), "lvm", { lv_size: 1 * GiB }, null), 400, /lv_size: Size is too small/);
  });

  it("bcache: /boot of 1 GiB, the root partition backs bcache0 cached by a partition of the smallest ssd; without one, refused (API) or flat (default)", () => {
    const d = applyLayout(two("uefi"), "bcache", {}, null);
    expect(parts(d)).toEqual([
      [21, 512, true, "fat32", "/boot/efi"],
      [21, 1024, true, "ext4", "/boot"],
      [21, 6648, false, null, null],
      [22, 2040, false, null, null],
    ]);
    expect(d.bcaches).toMatchObject([{ name: "bcache0", cache_mode: "writethrough", filesystem: { fstype: "ext4", mount_point: "/" } }]);
    expect(describeDesign(d, two("uefi")).bcaches[0]!.size).toBe(6648 * MiB);
    const whole = applyLayout(two("bios"), "bcache", { cache_no_part: true, cache_mode: "writeback" }, null);
    expect(whole.cache_sets[0]!.device).toBe(22);
    expect(whole.bcaches[0]!.cache_mode).toBe("writeback");
    const sized = applyLayout(two("bios"), "bcache", { cache_size: 1 * GiB }, null);
    expect(parts(sized).at(-1)).toEqual([22, 1024, false, null, null]);
    refused(() => applyLayout(two("bios"), "bcache", { cache_size: 1 * GiB, cache_no_part: true }, null), 400, /cache_size and cache_no_part/);
    refused(() => applyLayout(two("bios"), "bcache", { cache_mode: "fast" }, null), 400, /cache_mode/);
    refused(() => applyLayout(two("bios"), "bcache", { cache_device: 21 }, null), 400, /cache_device: Select a valid choice/);
    const noSsd: StorageContext = { firmware: "bios", disks: [disk(1, "sda", 8 * GiB), disk(2, "sdb", 8 * GiB)] };
    refused(() => applyLayout(noSsd, "bcache", {}, null), 400, /no cache device/);
    expect(applyLayout(noSsd, "bcache", {}, null, true).bcaches).toEqual([]);
    expect(applyLayout(noSsd, "bcache", { cache_device: 2 }, null).bcaches).toHaveLength(1);
  });

  it("four disks: the boot disk chosen decides where the layout goes; blank leaves every disk empty", () => {
    const d = applyLayout(four("bios"), "flat", {}, 33);
    expect(parts(d)).toEqual([[33, 1016, false, "ext4", "/"]]);
    expect(describeDesign(d, four("bios")).block_devices.find((b) => b.is_boot)?.name).toBe("vdc");
    const blank = applyLayout(four("bios"), "blank", {}, null);
    expect(parts(blank)).toEqual([]);
    expect(validateDesign(blank, four("bios"))).toContain("no filesystem is mounted at /: format a device and mount it at / (or apply a layout)");
    refused(() => applyLayout({ firmware: "bios", disks: [] }, "flat", {}, null), 400, /no disks/);
    refused(() => applyLayout(four("bios"), "vmfs6" as never, {}, null), 400, /not a layout Plinth makes/);
  });

  it("the current design is the stored one for the same disks, else the default layout on the new ones", () => {
    const ctx = one("uefi");
    const custom = applyLayout(ctx, "lvm", {}, null);
    expect(currentDesign(custom, ctx, "flat")).toBe(custom);
    const recommissioned = { ...ctx, disks: [disk(12, "sda", 8 * GiB)] };
    const d = currentDesign(custom, recommissioned, "flat");
    expect(d.layout).toBe("flat");
    expect(d.disks).toEqual([12]);
    expect(currentDesign(null, { firmware: "bios", disks: [] }, "flat").layout).toBe("blank");
    // A disk too small for the default lvm root of 3 GiB minimum still gets flat.
    expect(currentDesign(null, { firmware: "bios", disks: [disk(5, "sda", 64 * MiB)] }, "lvm").layout).toBe("lvm");
  });
});

/** The end-to-end design: root on RAID 1 over vda and vdb, swap on vda, RAID 0 of vdc and vdd under vgdata with /var/lib/data and /srv. */
function raidDesign(ctx: StorageContext): Design {
  let d = applyLayout(ctx, "blank", {}, null);
  const part = (dev: number, size?: number) => {
    const r = createPartition(d, ctx, dev, size === undefined ? {} : { size });
    d = r.design;
    return r.id;
  };
  const a = part(31, 3 * GiB);
  const swap = part(31);
  const b = part(32, 3 * GiB);
  const md0 = createRaid(d, ctx, { level: "raid-1", devices: [a, b] });
  d = md0.design;
  d = formatDevice(d, ctx, md0.id, { fstype: "ext4", label: "root" });
  d = mountDevice(d, ctx, md0.id, { mount_point: "/" });
  d = formatDevice(d, ctx, swap, { fstype: "swap" });
  d = mountDevice(d, ctx, swap, { mount_point: "none" });
  const md1 = createRaid(d, ctx, { name: "data", level: 0, devices: [33, 34] });
  d = md1.design;
  const vg = createVolumeGroup(d, ctx, { name: "vgdata", devices: [md1.id] });
  d = vg.design;
  const data = createLogicalVolume(d, ctx, vg.id, { name: "data", size: 1 * GiB });
  d = formatDevice(data.design, ctx, data.id, { fstype: "xfs" });
  d = mountDevice(d, ctx, data.id, { mount_point: "/var/lib/data" });
  const srv = createLogicalVolume(d, ctx, vg.id, { name: "srv" });
  d = formatDevice(srv.design, ctx, srv.id, { fstype: "ext4" });
  return mountDevice(d, ctx, srv.id, { mount_point: "/srv", mount_options: "noatime" });
}

describe("a custom design piece by piece, and its plan", () => {
  it("RAID 1 root, swap, RAID 0 under LVM: sizes as MAAS reckons, deployable, and the installer's plan in order", () => {
    const ctx = four("bios");
    const d = raidDesign(ctx);
    expect(d.layout).toBe("custom");
    expect(validateDesign(d, ctx)).toEqual([]);
    const v = describeDesign(d, ctx);
    expect(v.raids.map((r) => [r.name, r.level, r.size])).toEqual([
      ["md0", 1, 3 * GiB - 128 * 1024],
      ["data", 0, 2560 * MiB - 2 * 128 * 1024],
    ]);
    // (2560 MiB - 256 KiB) in whole extents, less one for the header.
    expect(v.volume_groups[0]).toMatchObject({ name: "vgdata", size: 2552 * MiB, available_size: 0 });
    const vda = v.block_devices.find((b) => b.name === "vda")!;
    expect(vda.partitions.map((p) => [p.name, p.path, p.size / MiB, p.used_for])).toEqual([
      ["vda-part2", "/dev/vda2", 3072, "Active raid-1 device for md0"],
      ["vda-part3", "/dev/vda3", 1016, "swap formatted filesystem in use"],
    ]);
    expect(vda.used_for).toBe("GPT partitioned with 2 partitions");
    expect(v.block_devices.find((b) => b.name === "vdc")!.used_for).toBe("Active raid-0 device for data");
    expect(v.block_devices.filter((b) => b.type === "virtual").map((b) => [b.name, b.used_for])).toEqual([
      ["md0", "ext4 formatted filesystem mounted at /"],
      ["data", "LVM volume for vgdata"],
      ["vgdata-data", "xfs formatted filesystem mounted at /var/lib/data"],
      ["vgdata-srv", "ext4 formatted filesystem mounted at /srv"],
    ]);
    expect(v.block_devices.every((b) => (b.type === "physical" ? b.id < VIRTUAL_ID_BASE : b.id > VIRTUAL_ID_BASE))).toBe(true);

    const plan = PlanSchema.parse(renderPlan(d, ctx));
    const ids = (t: string) => plan.filter((s) => s.type === t);
    // GRUB on both members of the RAID 1 root, a bios_grub partition on each; vdc and vdd whole.
    expect(ids("disk")).toEqual([
      { type: "disk", id: "d31", match: "serial:SER31", ptable: "gpt", grub: true },
      { type: "disk", id: "d32", match: "serial:SER32", ptable: "gpt", grub: true },
      { type: "disk", id: "d33", match: "serial:SER33", ptable: "none", grub: false },
      { type: "disk", id: "d34", match: "serial:SER34", ptable: "none", grub: false },
    ]);
    expect(ids("partition").map((s) => (s.type === "partition" ? [s.device, s.number, s.start_mib, s.size_mib, s.kind] : []))).toEqual([
      ["d31", 1, 1, 1, "bios_grub"],
      ["d31", 2, 4, 3072, "raid"],
      ["d31", 3, 3076, 0, "swap"],
      ["d32", 1, 1, 1, "bios_grub"],
      ["d32", 2, 4, 3072, "raid"],
    ]);
    expect(plan.map((s) => s.type)).toEqual([
      ...Array(4).fill("disk"),
      ...Array(5).fill("partition"),
      "raid",
      "raid",
      "vg",
      "lv",
      "lv",
      "format",
      "format",
      "format",
      "format",
      "mount",
      "mount",
      "mount",
      "mount",
    ]);
    const lvs = ids("lv").map((s) => (s.type === "lv" ? [s.name, s.size_mib] : []));
    // The last volume of the full group takes what LVM has left.
    expect(lvs).toEqual([
      ["data", 1024],
      ["srv", 0],
    ]);
    expect(ids("mount").map((s) => (s.type === "mount" ? [s.path, s.options] : []))).toEqual([
      ["/", ""],
      ["none", ""],
      ["/srv", "noatime"],
      ["/var/lib/data", ""],
    ]);
  });

  it("the bcache layout's plan on UEFI: ESP, /boot, backing and cache partitions, the cache set before the bcache device", () => {
    const ctx = two("uefi");
    const plan = renderPlan(applyLayout(ctx, "bcache", {}, null), ctx);
    expect(
      plan.filter((s) => s.type === "partition").map((s) => (s.type === "partition" ? [s.device, s.number, s.start_mib, s.size_mib, s.kind] : [])),
    ).toEqual([
      ["d21", 1, 4, 512, "esp"],
      ["d21", 2, 516, 1024, "linux"],
      ["d21", 3, 1540, 0, "bcache"],
      ["d22", 1, 4, 0, "bcache"],
    ]);
    expect(plan.filter((s) => s.type === "disk").every((s) => s.type === "disk" && !s.grub)).toBe(true);
    const types = plan.map((s) => s.type);
    expect(types.indexOf("cache_set")).toBeLessThan(types.indexOf("bcache"));
    expect(plan.filter((s) => s.type === "mount").map((s) => (s.type === "mount" ? s.path : ""))).toEqual(["/", "/boot", "/boot/efi"]);
  });
});

describe("validation: each rule refuses with its reason", () => {
  const ctx = four("bios");
  const blank = () => applyLayout(ctx, "blank", {}, null);

  it("partitions: only on disks, at least 4 MiB, within what is left, not on a used device", () => {
    const p = createPartition(blank(), ctx, 31, { size: 3 * GiB });
    refused(() => createPartition(p.design, ctx, 31, { size: 2 * GiB }), 400, /more than the \d+ bytes left on vda/);
    refused(() => createPartition(blank(), ctx, 31, { size: 1 * MiB }), 400, /at least 4194304 bytes/);
    refused(() => createPartition(blank(), ctx, 999, {}), 404, /not found/);
    const raid = createRaid(blank(), ctx, { level: 1, devices: [33, 34] });
    refused(() => createPartition(raid.design, ctx, 33, {}), 409, /vdc is in use \(Active raid-1 device for md0\)/);
    refused(() => createPartition(raid.design, ctx, raid.id, {}), 400, /partitions physical disks only/);
    // Sizes align down to 4 MiB, as MAAS's.
    expect(createPartition(blank(), ctx, 31, { size: 10 * MiB + 5 }).design.partitions[0]!.size).toBe(8 * MiB);
    const withFs = formatDevice(p.design, ctx, p.id, { fstype: "ext4" });
    expect(deletePartition(withFs, ctx, p.id).partitions).toEqual([]);
  });

  it("RAID member counts per level, no spares on RAID 0, no device used twice", () => {
    refused(() => createRaid(blank(), ctx, { level: 5, devices: [31, 32] }), 400, /RAID level 5 must have at least 3 raid devices/);
    refused(() => createRaid(blank(), ctx, { level: 6, devices: [31, 32, 33] }), 400, /RAID level 6 must have at least 4/);
    refused(() => createRaid(blank(), ctx, { level: 10, devices: [31, 32] }), 400, /RAID level 10 must have at least 3/);
    refused(() => createRaid(blank(), ctx, { level: 0, devices: [31, 32], spares: [33] }), 400, /no spares/);
    refused(() => createRaid(blank(), ctx, { level: 1, devices: [31, 31] }), 400, /listed twice/);
    refused(() => createRaid(blank(), ctx, { level: 4, devices: [31, 32] }), 400, /not a RAID level Plinth makes/);
    const r = createRaid(blank(), ctx, { level: "raid-5", devices: [31, 32, 33], spares: [34] });
    expect(r.design.raids[0]).toMatchObject({ name: "md0", level: 5, spares: [34] });
    refused(() => createRaid(r.design, ctx, { level: 1, devices: [33, 34] }), 409, /in use/);
    refused(() => updateRaid(r.design, ctx, r.id, { remove_devices: [31] }), 400, /RAID level 5 must have at least 3/);
    refused(() => updateRaid(r.design, ctx, r.id, { remove_devices: [34] }), 400, /does not belong to md0/);
    expect(updateRaid(r.design, ctx, r.id, { remove_spares: [34], name: "big" }).raids[0]).toMatchObject({ name: "big", spares: [] });
    const vg = createVolumeGroup(r.design, ctx, { name: "vg0", devices: [r.id] });
    refused(() => deleteRaid(vg.design, ctx, r.id), 409, /in use \(LVM volume for vg0\)/);
    expect(deleteRaid(deleteVolumeGroup(vg.design, ctx, vg.id), ctx, r.id).raids).toEqual([]);
  });

  it("filesystems and mounts: supported types, labels, one device per mount point, swap has no path", () => {
    const d = blank();
    refused(() => formatDevice(d, ctx, 31, { fstype: "zfsroot" }), 400, /not one Plinth makes/);
    refused(() => formatDevice(d, ctx, 31, { fstype: "vfat", label: "much-too-long" }), 400, /label/);
    refused(() => formatDevice(d, ctx, 31, { fstype: "ext4", uuid: "nope" }), 400, /not a UUID/);
    let x = formatDevice(d, ctx, 33, { fstype: "ext4" });
    x = formatDevice(x, ctx, 34, { fstype: "xfs" });
    x = mountDevice(x, ctx, 33, { mount_point: "/srv/" });
    expect(x.disk_filesystems[0]!.filesystem.mount_point).toBe("/srv");
    refused(() => mountDevice(x, ctx, 34, { mount_point: "/srv" }), 400, /already where vdc is mounted/);
    refused(() => mountDevice(x, ctx, 34, { mount_point: "srv" }), 400, /absolute path/);
    refused(() => mountDevice(x, ctx, 34, { mount_point: "/a/../b" }), 400, /absolute path/);
    refused(() => mountDevice(x, ctx, 31, { mount_point: "/x" }), 400, /no filesystem/);
    refused(() => formatDevice(x, ctx, 33, { fstype: "xfs" }), 409, /mounted at \/srv: unmount it/);
    refused(() => unformatDevice(x, ctx, 33), 409, /unmount it first/);
    x = unmountDevice(x, ctx, 33);
    expect(unformatDevice(x, ctx, 33).disk_filesystems.map((f) => f.device)).toEqual([34]);
    const s = formatDevice(d, ctx, 33, { fstype: "swap" });
    refused(() => mountDevice(s, ctx, 33, { mount_point: "/swap" }), 400, /swap is used with mount_point 'none'/);
  });

  it("one root; the ESP on UEFI; GRUB's needs on BIOS; /boot not on bcache", () => {
    let d = formatDevice(blank(), ctx, 33, { fstype: "ext4" });
    d = mountDevice(d, ctx, 33, { mount_point: "/" });
    // BIOS: the boot disk vda has no GPT for GRUB.
    expect(validateDesign(d, ctx)).toEqual(["the boot disk vda has no partitions: on BIOS GRUB needs a GPT on it (for its bios_grub partition)"]);
    expect(validateDesign(setBootDisk(d, ctx, 33), ctx)).toEqual([
      "the boot disk vdc has no partitions: on BIOS GRUB needs a GPT on it (for its bios_grub partition)",
    ]);
    refused(() => setBootDisk(d, ctx, 999), 400, /not a physical disk of this machine/);
    const uefi = { ...ctx, firmware: "uefi" as const };
    expect(validateDesign(d, uefi)).toEqual(["the machine boots UEFI: it needs a FAT32 filesystem mounted at /boot/efi on a partition of a disk (the ESP)"]);
    const ssd: StorageContext = { firmware: "bios", disks: [disk(1, "sda", 8 * GiB), disk(2, "sdb", 2 * GiB, ["ssd"])] };
    // bcache with its root and no /boot: GRUB could not read the kernel.
    let b = applyLayout(ssd, "bcache", {}, null);
    const bootPart = b.partitions.find((p) => p.filesystem?.mount_point === "/boot")!;
    b = unmountDevice(b, ssd, bootPart.id);
    expect(validateDesign(b, ssd)).toEqual(["/ is on bcache, which GRUB cannot read: put /boot on a partition of its own (the bcache layout does)"]);
    const cs = b.cache_sets[0]!.id;
    refused(() => deleteCacheSet(b, ssd, cs), 409, /in use by bcache0/);
    refused(() => createBcache(b, ssd, { backing: bootPart.id, cache_set: cs, cache_mode: "writeback" }), 409, /in use/);
    refused(() => createCacheSet(b, ssd, 1), 409, /in use/);
  });

  it("volume groups and logical volumes: names, free space, no partition twice", () => {
    const p = createPartition(blank(), ctx, 31, { size: 1 * GiB });
    refused(() => createVolumeGroup(p.design, ctx, { name: "bad name", devices: [p.id] }), 400, /not valid/);
    refused(() => createVolumeGroup(p.design, ctx, { name: "vg", devices: [] }), 400, /at least one/);
    const vg = createVolumeGroup(p.design, ctx, { name: "vg", devices: [p.id] });
    refused(() => createVolumeGroup(vg.design, ctx, { name: "vg", devices: [32] }), 400, /exists already/);
    refused(() => createVolumeGroup(vg.design, ctx, { name: "vg2", devices: [p.id] }), 409, /LVM volume for vg/);
    // 1 GiB = 256 extents, one for the header.
    refused(() => createLogicalVolume(vg.design, ctx, vg.id, { name: "big", size: 1 * GiB }), 400, /more than the 1069547520 bytes free in vg/);
    const lv = createLogicalVolume(vg.design, ctx, vg.id, { name: "a", size: 100 * MiB });
    refused(() => createLogicalVolume(lv.design, ctx, vg.id, { name: "a" }), 400, /has a logical volume named a already/);
    expect(createLogicalVolume(lv.design, ctx, vg.id, { name: "b" }).design.logical_volumes[1]!.size).toBe(1020 * MiB - 100 * MiB);
  });
});
