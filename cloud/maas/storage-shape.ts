// A machine's storage design as MAAS 2.0 objects: block devices (physical and virtual),
// partitions, RAID sets, volume groups, cache sets and bcache devices, shaped from the model's
// view (cloud/domain/storage/views.ts) as MAAS's API handlers shape theirs. gomaasapi,
// python-libmaas and terraform-provider-maas read these keys literally.
import type { Filesystem } from "../../shared/storage/design";
import type { DiskRowFull } from "../domain/storage/repo";
import type { BlockDeviceView, DesignView, PartitionView } from "../domain/storage/views";
import { API } from "./wire";

/** MAAS's human_readable_bytes: powers of 1000, one decimal. */
export function humanSize(n: number): string {
  const units = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[i]}`;
}

const orNull = (s: string | null | undefined) => (s ? s : null);

export function fsJson(f: Filesystem | null) {
  if (!f) return null;
  return {
    fstype: f.fstype,
    label: orNull(f.label),
    // A string always: gomaasapi's filesystem schema takes no null (mkfs picks one when "").
    uuid: f.uuid,
    mount_point: orNull(f.mount_point),
    mount_options: orNull(f.mount_options),
  };
}

export const blockDeviceUri = (systemId: string, id: number) => `${API}/nodes/${systemId}/blockdevices/${id}/`;

export function partitionJson(systemId: string, p: PartitionView) {
  return {
    id: p.id,
    uuid: orNull(p.uuid),
    path: p.path,
    type: "partition",
    size: p.size,
    bootable: p.bootable,
    filesystem: fsJson(p.filesystem),
    used_for: p.used_for,
    // MAAS keeps partition tags; Plinth stores none (add_tag/remove_tag answer the partition unchanged).
    tags: [] as string[],
    system_id: systemId,
    device_id: p.device,
    // MAAS's partition URIs have no trailing slash.
    resource_uri: `${API}/nodes/${systemId}/blockdevices/${p.device}/partition/${p.id}`,
  };
}

export function storageBlockDeviceJson(systemId: string, v: BlockDeviceView, row?: DiskRowFull) {
  const physical = v.type === "physical";
  return {
    id: v.id,
    name: v.name,
    uuid: orNull(v.uuid),
    type: v.type,
    path: physical ? `/dev/disk/by-dname/${v.name}` : v.path || `/dev/disk/by-dname/${v.name}`,
    id_path: physical ? row?.path || null : null,
    model: physical ? orNull(row?.model ?? v.model) : null,
    serial: physical ? orNull(row?.serial ?? v.serial) : null,
    size: v.size,
    block_size: 512,
    available_size: v.available_size,
    used_size: v.used_size,
    used_for: v.used_for,
    tags: v.tags,
    filesystem: fsJson(v.filesystem),
    partition_table_type: v.partition_table_type,
    partitions: v.partitions.map((p) => partitionJson(systemId, p)),
    firmware_version: null,
    storage_pool: null,
    numa_node: 0,
    is_boot: v.is_boot,
    ...(v.parent ? { parent: { id: v.parent.id, type: v.parent.type, uuid: null } } : {}),
    system_id: systemId,
    resource_uri: blockDeviceUri(systemId, v.id),
  };
}

/** Every block device and partition of a design by id, as MAAS JSON. */
export class StorageJson {
  readonly devices = new Map<number, ReturnType<typeof storageBlockDeviceJson>>();
  readonly partitions = new Map<number, ReturnType<typeof partitionJson>>();

  constructor(
    readonly systemId: string,
    readonly view: DesignView,
    rows: DiskRowFull[],
  ) {
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const v of view.block_devices) {
      const j = storageBlockDeviceJson(systemId, v, byId.get(v.id));
      this.devices.set(v.id, j);
      for (const p of j.partitions) this.partitions.set(p.id, p);
    }
  }

  /** A RAID member, physical volume, backing or cache device: a block device or a partition. */
  device(id: number) {
    return this.devices.get(id) ?? this.partitions.get(id) ?? null;
  }

  physical() {
    return [...this.devices.values()].filter((d) => d.type === "physical");
  }

  virtual() {
    return [...this.devices.values()].filter((d) => d.type === "virtual");
  }

  bootDisk() {
    const id = this.view.boot_disk;
    return (id !== null ? this.devices.get(id) : undefined) ?? this.physical()[0] ?? null;
  }

  raid(r: DesignView["raids"][number]) {
    return {
      id: r.id,
      uuid: orNull(r.uuid),
      name: r.name,
      level: `raid-${r.level}`,
      devices: r.devices.map((d) => this.device(d)).filter((d) => d !== null),
      spare_devices: r.spares.map((d) => this.device(d)).filter((d) => d !== null),
      size: r.size,
      human_size: humanSize(r.size),
      virtual_device: this.devices.get(r.virtual_device) ?? null,
      system_id: this.systemId,
      resource_uri: `${API}/nodes/${this.systemId}/raid/${r.id}/`,
    };
  }

  volumeGroup(g: DesignView["volume_groups"][number]) {
    return {
      id: g.id,
      uuid: orNull(g.uuid),
      name: g.name,
      devices: g.devices.map((d) => this.device(d)).filter((d) => d !== null),
      size: g.size,
      human_size: humanSize(g.size),
      available_size: g.available_size,
      human_available_size: humanSize(g.available_size),
      used_size: g.used_size,
      human_used_size: humanSize(g.used_size),
      logical_volumes: g.logical_volumes.map((l) => this.devices.get(l)).filter((d) => d !== undefined),
      system_id: this.systemId,
      resource_uri: `${API}/nodes/${this.systemId}/volume-group/${g.id}/`,
    };
  }

  cacheSet(c: DesignView["cache_sets"][number]) {
    return {
      id: c.id,
      name: c.name,
      cache_device: this.device(c.device),
      system_id: this.systemId,
      resource_uri: `${API}/nodes/${this.systemId}/bcache-cache-set/${c.id}/`,
    };
  }

  bcache(b: DesignView["bcaches"][number]) {
    const cs = this.view.cache_sets.find((c) => c.id === b.cache_set);
    return {
      id: b.id,
      uuid: orNull(b.uuid),
      name: b.name,
      cache_set: cs ? this.cacheSet(cs) : null,
      backing_device: this.device(b.backing),
      size: b.size,
      human_size: humanSize(b.size),
      virtual_device: this.devices.get(b.virtual_device) ?? null,
      cache_mode: b.cache_mode,
      system_id: this.systemId,
      resource_uri: `${API}/nodes/${this.systemId}/bcache/${b.id}/`,
    };
  }

  /** What machines/{id}/ embeds: MAAS lists the groups as incomplete references. */
  machineFields() {
    const ref = (id: number) => ({ system_id: this.systemId, id, __incomplete__: true });
    const physical = this.physical();
    const virtual = this.virtual();
    return {
      physicalblockdevice_set: physical,
      virtualblockdevice_set: virtual,
      blockdevice_set: [...physical, ...virtual],
      boot_disk: this.bootDisk(),
      volume_groups: this.view.volume_groups.map((g) => ref(g.id)),
      raids: this.view.raids.map((r) => ref(r.id)),
      cache_sets: this.view.cache_sets.map((c) => ref(c.id)),
      bcaches: this.view.bcaches.map((b) => ref(b.id)),
    };
  }
}
