// The design as both APIs show it: every block device (physical and virtual) with its size,
// what is free on it, what uses it and its partitions; RAID sets, volume groups, cache sets and
// bcache devices; and what stops it from being deployed. The shapes are in
// shared/storage/views.ts, which the dashboard and the CLI read too.
import type { Design } from "../../../shared/storage/design";
import type { BlockDeviceView, DesignView, PartitionView } from "../../../shared/storage/views";
import type { StorageContext } from "./model";

export type { BlockDeviceView, DesignView, PartitionView };
import { deviceName, deviceSize, filesystemOf, partitionNumber, partitionSpace, partitionsOn, usedFor, usesOf, vgFree, vgSize, vgUsed } from "./sizes";
import { bootDiskId, validateDesign } from "./validate";

/** A kernel partition name: vda2, nvme0n1p2. */
const partPath = (disk: string, n: number) => `/dev/${disk}${/\d$/.test(disk) ? "p" : ""}${n}`;

export function describeDesign(d: Design, ctx: StorageContext): DesignView {
  const boot = bootDiskId(d, ctx);
  const partitionViews = (device: number, diskName: string): PartitionView[] =>
    partitionsOn(d, device).map((p) => {
      const n = partitionNumber(d, ctx, p.id);
      return {
        id: p.id,
        device,
        number: n,
        name: `${diskName}-part${n}`,
        path: partPath(diskName, n),
        size: p.size,
        bootable: p.bootable,
        uuid: p.uuid,
        type: "partition",
        filesystem: p.filesystem,
        used_for: usedFor(d, ctx, p.id),
      };
    });
  const usedSize = (id: number, size: number) => {
    if (partitionsOn(d, id).length) return size - partitionSpace(d, ctx, id);
    return usesOf(d, id).length ? size : 0;
  };
  const virtual = (id: number, kind: BlockDeviceView["kind"], name: string, path: string, uuid: string, parent: BlockDeviceView["parent"]): BlockDeviceView => {
    const size = deviceSize(d, ctx, id);
    const used = usedSize(id, size);
    return {
      id,
      name,
      type: "virtual",
      kind,
      size,
      available_size: size - used,
      used_size: used,
      used_for: usedFor(d, ctx, id),
      serial: "",
      model: "",
      path,
      filesystem: filesystemOf(d, id),
      partitions: [],
      partition_table_type: null,
      is_boot: false,
      tags: [],
      uuid,
      parent,
    };
  };
  const devices: BlockDeviceView[] = ctx.disks.map((x) => {
    const used = usedSize(x.id, x.size);
    return {
      id: x.id,
      name: x.name,
      type: "physical",
      kind: "disk",
      size: x.size,
      available_size: x.size - used,
      used_size: used,
      used_for: usedFor(d, ctx, x.id),
      serial: x.serial,
      model: x.model,
      path: `/dev/${x.name}`,
      filesystem: filesystemOf(d, x.id),
      partitions: partitionViews(x.id, x.name),
      partition_table_type: partitionsOn(d, x.id).length ? "GPT" : null,
      is_boot: x.id === boot,
      tags: x.tags,
      uuid: "",
      parent: null,
    };
  });
  for (const r of d.raids) devices.push(virtual(r.id, "raid", r.name, `/dev/md/${r.name}`, r.uuid, { id: r.id, type: `raid-${r.level}`, uuid: r.uuid }));
  for (const l of d.logical_volumes) {
    const g = d.volume_groups.find((x) => x.id === l.vg);
    devices.push(
      virtual(l.id, "logical_volume", deviceName(d, ctx, l.id), `/dev/mapper/${g?.name}-${l.name}`, l.uuid, { id: l.vg, type: "lvm-vg", uuid: g?.uuid ?? "" }),
    );
  }
  for (const b of d.bcaches) devices.push(virtual(b.id, "bcache", b.name, `/dev/${b.name}`, b.uuid, { id: b.id, type: "bcache", uuid: b.uuid }));
  return {
    layout: d.layout,
    boot_disk: d.boot_disk,
    block_devices: devices,
    raids: d.raids.map((r) => ({
      id: r.id,
      name: r.name,
      uuid: r.uuid,
      level: r.level,
      size: deviceSize(d, ctx, r.id),
      devices: r.devices,
      spares: r.spares,
      virtual_device: r.id,
      filesystem: r.filesystem,
    })),
    volume_groups: d.volume_groups.map((g) => ({
      id: g.id,
      name: g.name,
      uuid: g.uuid,
      size: vgSize(d, ctx, g.id),
      available_size: vgFree(d, ctx, g.id),
      used_size: vgUsed(d, g.id),
      devices: g.devices,
      logical_volumes: d.logical_volumes.filter((l) => l.vg === g.id).map((l) => l.id),
    })),
    cache_sets: d.cache_sets.map((c) => ({ id: c.id, name: c.name, device: c.device })),
    bcaches: d.bcaches.map((b) => ({
      id: b.id,
      name: b.name,
      uuid: b.uuid,
      size: deviceSize(d, ctx, b.id),
      backing: b.backing,
      cache_set: b.cache_set,
      cache_mode: b.cache_mode,
      virtual_device: b.id,
      filesystem: b.filesystem,
    })),
    problems: validateDesign(d, ctx),
  };
}
