// Edits of a design, piece by piece as MAAS's block device, partition, RAID, volume group,
// cache set and bcache endpoints make them. Each returns a new design (the input is left as it
// was) or refuses with the reason; the repository stores the result.
import {
  CACHE_MODES,
  type Design,
  FSTYPES,
  type Filesystem,
  type Fstype,
  LVM_PE_SIZE,
  MIN_PARTITION_SIZE,
  PARTITION_ALIGNMENT_SIZE,
  RAID_LEVELS,
  type RaidLevel,
} from "../../../shared/storage/design";
import { type StorageContext, StorageError } from "./model";
import { deviceName, filesystemOf, kindOf, notFound, partitionSpace, partitionsOn, roundDown, usedFor, usesOf, vgFree, vgSize, vgUsed } from "./sizes";

const bad = (msg: string) => new StorageError(400, "invalid_storage", msg);
const busy = (msg: string) => new StorageError(409, "device_in_use", msg);

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** The levels and how many active members each needs at least (MAAS's counts). */
const MIN_MEMBERS: Record<RaidLevel, number> = { 0: 2, 1: 2, 5: 3, 6: 4, 10: 3 };

function copy(d: Design, custom = true): Design {
  const c = structuredClone(d);
  if (custom) c.layout = "custom";
  return c;
}

function alloc(d: Design): number {
  const id = d.next_id;
  d.next_id += 1;
  return id;
}

function checkName(what: string, name: string): void {
  if (!NAME.test(name)) throw bad(`${what} name '${name}' is not valid: letters, digits and . _ + - (not first), at most 63`);
}

function checkUuid(uuid: string | undefined): string {
  if (uuid === undefined || uuid === "") return "";
  if (!UUID.test(uuid)) throw bad(`'${uuid}' is not a UUID (8-4-4-4-12 hex digits)`);
  return uuid.toLowerCase();
}

/** The first free name of the form <prefix>N. */
function nextName(prefix: string, taken: string[]): string {
  for (let i = 0; ; i++) if (!taken.includes(`${prefix}${i}`)) return `${prefix}${i}`;
}

/** A device that something else may take whole: it exists, and nothing uses it yet. */
function free(d: Design, ctx: StorageContext, id: number, allowed: string[], forWhat: string): void {
  const kind = kindOf(d, ctx, id);
  if (!kind) throw notFound("block device or partition", id);
  if (!allowed.includes(kind))
    throw bad(`${deviceName(d, ctx, id)} is a ${kind.replace("_", " ")}: ${forWhat} takes ${allowed.join(", ").replaceAll("_", " ")}`);
  if (usesOf(d, id).length) throw busy(`${deviceName(d, ctx, id)} is in use (${usedFor(d, ctx, id)}): ${forWhat} needs an unused device`);
}

function distinct(ids: number[]): void {
  const seen = new Set<number>();
  for (const i of ids) {
    if (seen.has(i)) throw bad(`device ${i} is listed twice`);
    seen.add(i);
  }
}

/** A device may go only when nothing but its own filesystem uses it (the filesystem goes with it). */
function removable(d: Design, ctx: StorageContext, id: number): void {
  if (usesOf(d, id).some((u) => u.kind !== "filesystem")) throw busy(`${deviceName(d, ctx, id)} is in use (${usedFor(d, ctx, id)}): remove what uses it first`);
}

export function createPartition(
  d: Design,
  ctx: StorageContext,
  device: number,
  p: { size?: number; bootable?: boolean; uuid?: string },
): { design: Design; id: number } {
  const kind = kindOf(d, ctx, device);
  if (!kind) throw notFound("block device", device);
  if (kind !== "disk")
    throw bad(`${deviceName(d, ctx, device)} is a ${kind.replace("_", " ")}: Plinth partitions physical disks only (format the device whole instead)`);
  const other = usesOf(d, device).filter((u) => u.kind !== "partitions");
  if (other.length) throw busy(`${deviceName(d, ctx, device)} is in use (${usedFor(d, ctx, device)}): unformat or free it before partitioning it`);
  if (partitionsOn(d, device).length >= 120) throw bad(`${deviceName(d, ctx, device)} has as many partitions as a GPT can hold here (120)`);
  const space = partitionSpace(d, ctx, device);
  const size = p.size === undefined ? space : roundDown(p.size, PARTITION_ALIGNMENT_SIZE);
  if (p.size !== undefined && p.size < MIN_PARTITION_SIZE) throw bad(`size: a partition is at least ${MIN_PARTITION_SIZE} bytes (4 MiB)`);
  if (size <= 0) throw bad(`${deviceName(d, ctx, device)} has no space left for a partition`);
  if (size > space) throw bad(`size: ${p.size} bytes is more than the ${space} bytes left on ${deviceName(d, ctx, device)}`);
  const n = copy(d);
  const id = alloc(n);
  n.partitions.push({ id, device, size, bootable: p.bootable ?? false, uuid: checkUuid(p.uuid), filesystem: null });
  return { design: n, id };
}

export function deletePartition(d: Design, ctx: StorageContext, id: number): Design {
  if (kindOf(d, ctx, id) !== "partition") throw notFound("partition", id);
  removable(d, ctx, id);
  const n = copy(d);
  n.partitions = n.partitions.filter((p) => p.id !== id);
  return n;
}

/** Where a device's filesystem lives in the design, to set or clear it. */
function setFilesystem(n: Design, ctx: StorageContext, id: number, fs: Filesystem | null): void {
  const kind = kindOf(n, ctx, id);
  const holder =
    kind === "partition"
      ? n.partitions.find((x) => x.id === id)
      : kind === "raid"
        ? n.raids.find((x) => x.id === id)
        : kind === "logical_volume"
          ? n.logical_volumes.find((x) => x.id === id)
          : kind === "bcache"
            ? n.bcaches.find((x) => x.id === id)
            : null;
  if (holder) {
    holder.filesystem = fs;
    return;
  }
  const i = n.disk_filesystems.findIndex((x) => x.device === id);
  if (!fs) n.disk_filesystems = n.disk_filesystems.filter((x) => x.device !== id);
  else if (i >= 0) n.disk_filesystems[i] = { device: id, filesystem: fs };
  else n.disk_filesystems.push({ device: id, filesystem: fs });
}

const LABEL_MAX: Record<Fstype, number> = { ext4: 16, ext3: 16, ext2: 16, xfs: 12, fat32: 11, vfat: 11, swap: 15 };

export function formatDevice(d: Design, ctx: StorageContext, id: number, f: { fstype: string; label?: string; uuid?: string }): Design {
  const kind = kindOf(d, ctx, id);
  if (!kind || kind === "volume_group" || kind === "cache_set") throw notFound("block device or partition", id);
  if (!(FSTYPES as readonly string[]).includes(f.fstype)) throw bad(`fstype: '${f.fstype}' is not one Plinth makes (${FSTYPES.join(", ")})`);
  const fstype = f.fstype as Fstype;
  const label = f.label ?? "";
  if (label.length > LABEL_MAX[fstype] || /[\s"'\\]/.test(label))
    throw bad(`label: '${label}' is not a valid ${fstype} label (at most ${LABEL_MAX[fstype]} characters, no spaces or quotes)`);
  const others = usesOf(d, id).filter((u) => u.kind !== "filesystem");
  if (others.length) throw busy(`${deviceName(d, ctx, id)} is in use (${usedFor(d, ctx, id)}): it cannot also hold a filesystem`);
  const old = filesystemOf(d, id);
  if (old?.mount_point) throw busy(`${deviceName(d, ctx, id)} is mounted at ${old.mount_point}: unmount it before formatting it again`);
  const n = copy(d);
  setFilesystem(n, ctx, id, { fstype, label, uuid: checkUuid(f.uuid), mount_point: "", mount_options: "" });
  return n;
}

export function unformatDevice(d: Design, ctx: StorageContext, id: number): Design {
  const fs = filesystemOf(d, id);
  if (!kindOf(d, ctx, id)) throw notFound("block device or partition", id);
  if (!fs) throw bad(`${deviceName(d, ctx, id)} is not formatted`);
  if (fs.mount_point) throw busy(`${deviceName(d, ctx, id)} is mounted at ${fs.mount_point}: unmount it first`);
  const n = copy(d);
  setFilesystem(n, ctx, id, null);
  return n;
}

/** Every filesystem of the design with the device that holds it. */
export function filesystems(d: Design): { device: number; fs: Filesystem }[] {
  return [
    ...d.disk_filesystems.map((x) => ({ device: x.device, fs: x.filesystem })),
    ...[...d.partitions, ...d.raids, ...d.logical_volumes, ...d.bcaches].flatMap((x) => (x.filesystem ? [{ device: x.id, fs: x.filesystem }] : [])),
  ];
}

export function mountDevice(d: Design, ctx: StorageContext, id: number, m: { mount_point: string; mount_options?: string }): Design {
  if (!kindOf(d, ctx, id)) throw notFound("block device or partition", id);
  const fs = filesystemOf(d, id);
  if (!fs) throw bad(`${deviceName(d, ctx, id)} has no filesystem: format it first`);
  const options = m.mount_options ?? "";
  if (/\s/.test(options) || options.length > 1024) throw bad(`mount_options: '${options}' must be comma-separated options without spaces`);
  let point = m.mount_point;
  if (fs.fstype === "swap") {
    if (point !== "none" && point !== "") throw bad("mount_point: swap is used with mount_point 'none' (it has no path)");
    point = "none";
  } else {
    if (!/^\/[^\s]*$/.test(point) || point.length > 4096 || point.split("/").some((s) => s === "." || s === "..")) {
      throw bad(`mount_point: '${m.mount_point}' must be an absolute path without spaces, . or ..`);
    }
    if (point.length > 1) point = point.replace(/\/+$/, "");
    const clash = filesystems(d).find((x) => x.device !== id && x.fs.mount_point === point);
    if (clash) throw bad(`mount_point: ${point} is already where ${deviceName(d, ctx, clash.device)} is mounted`);
  }
  const n = copy(d);
  setFilesystem(n, ctx, id, { ...fs, mount_point: point, mount_options: options });
  return n;
}

export function unmountDevice(d: Design, ctx: StorageContext, id: number): Design {
  if (!kindOf(d, ctx, id)) throw notFound("block device or partition", id);
  const fs = filesystemOf(d, id);
  if (!fs?.mount_point) throw bad(`${deviceName(d, ctx, id)} is not mounted`);
  const n = copy(d);
  setFilesystem(n, ctx, id, { ...fs, mount_point: "", mount_options: "" });
  return n;
}

export function parseLevel(level: number | string): RaidLevel {
  const n = typeof level === "number" ? level : Number(String(level).replace(/^raid-?/i, ""));
  if (!(RAID_LEVELS as readonly number[]).includes(n))
    throw bad(`level: '${level}' is not a RAID level Plinth makes (raid-0, raid-1, raid-5, raid-6, raid-10)`);
  return n as RaidLevel;
}

function checkMembers(level: RaidLevel, devices: number[], spares: number[]): void {
  const min = MIN_MEMBERS[level];
  if (devices.length < min)
    throw bad(
      `RAID level ${level} must have at least ${min} raid devices${level === 0 ? " and no spares" : " and any number of spares"} (given ${devices.length})`,
    );
  if (level === 0 && spares.length) throw bad("RAID level 0 must have at least 2 raid devices and no spares");
}

const RAID_MEMBER = ["disk", "partition"];

export function createRaid(
  d: Design,
  ctx: StorageContext,
  r: { name?: string; uuid?: string; level: number | string; devices: number[]; spares?: number[] },
): { design: Design; id: number } {
  const level = parseLevel(r.level);
  const spares = r.spares ?? [];
  distinct([...r.devices, ...spares]);
  checkMembers(level, r.devices, spares);
  for (const x of [...r.devices, ...spares]) free(d, ctx, x, RAID_MEMBER, "a RAID member");
  const name =
    r.name ||
    nextName(
      "md",
      d.raids.map((x) => x.name),
    );
  checkName("RAID", name);
  if (d.raids.some((x) => x.name === name)) throw bad(`a RAID named ${name} exists already`);
  const n = copy(d);
  const id = alloc(n);
  n.raids.push({ id, name, uuid: checkUuid(r.uuid), level, devices: [...r.devices], spares: [...spares], filesystem: null });
  return { design: n, id };
}

export function updateRaid(
  d: Design,
  ctx: StorageContext,
  id: number,
  u: { name?: string; add_devices?: number[]; remove_devices?: number[]; add_spares?: number[]; remove_spares?: number[] },
): Design {
  const r = d.raids.find((x) => x.id === id);
  if (!r) throw notFound("RAID", id);
  const add = [...(u.add_devices ?? []), ...(u.add_spares ?? [])];
  distinct(add);
  for (const x of add) free(d, ctx, x, RAID_MEMBER, "a RAID member");
  for (const x of u.remove_devices ?? []) if (!r.devices.includes(x)) throw bad(`device ${x} does not belong to ${r.name}`);
  for (const x of u.remove_spares ?? []) if (!r.spares.includes(x)) throw bad(`spare ${x} does not belong to ${r.name}`);
  const devices = [...r.devices.filter((x) => !(u.remove_devices ?? []).includes(x)), ...(u.add_devices ?? [])];
  const spares = [...r.spares.filter((x) => !(u.remove_spares ?? []).includes(x)), ...(u.add_spares ?? [])];
  checkMembers(r.level, devices, spares);
  const n = copy(d);
  const nr = n.raids.find((x) => x.id === id)!;
  if (u.name !== undefined && u.name !== r.name) {
    checkName("RAID", u.name);
    if (d.raids.some((x) => x.name === u.name)) throw bad(`a RAID named ${u.name} exists already`);
    nr.name = u.name;
  }
  nr.devices = devices;
  nr.spares = spares;
  return n;
}

/** Deleting a RAID set, volume group or bcache device takes its filesystem with it, never what uses it. */
export function deleteRaid(d: Design, ctx: StorageContext, id: number): Design {
  if (!d.raids.some((x) => x.id === id)) throw notFound("RAID", id);
  removable(d, ctx, id);
  const n = copy(d);
  n.raids = n.raids.filter((x) => x.id !== id);
  return n;
}

const PV = ["disk", "partition", "raid", "bcache"];

export function createVolumeGroup(d: Design, ctx: StorageContext, v: { name: string; uuid?: string; devices: number[] }): { design: Design; id: number } {
  if (!v.name) throw bad("name: a volume group needs a name");
  checkName("volume group", v.name);
  if (d.volume_groups.some((x) => x.name === v.name)) throw bad(`a volume group named ${v.name} exists already`);
  if (v.devices.length === 0) throw bad("a volume group needs at least one block device or partition");
  distinct(v.devices);
  for (const x of v.devices) free(d, ctx, x, PV, "a physical volume");
  const n = copy(d);
  const id = alloc(n);
  n.volume_groups.push({ id, name: v.name, uuid: checkUuid(v.uuid), devices: [...v.devices] });
  return { design: n, id };
}

export function updateVolumeGroup(d: Design, ctx: StorageContext, id: number, u: { name?: string; add_devices?: number[]; remove_devices?: number[] }): Design {
  const g = d.volume_groups.find((x) => x.id === id);
  if (!g) throw notFound("volume group", id);
  distinct(u.add_devices ?? []);
  for (const x of u.add_devices ?? []) free(d, ctx, x, PV, "a physical volume");
  for (const x of u.remove_devices ?? []) if (!g.devices.includes(x)) throw bad(`device ${x} is not a physical volume of ${g.name}`);
  const n = copy(d);
  const ng = n.volume_groups.find((x) => x.id === id)!;
  if (u.name !== undefined && u.name !== g.name) {
    checkName("volume group", u.name);
    if (d.volume_groups.some((x) => x.name === u.name)) throw bad(`a volume group named ${u.name} exists already`);
    ng.name = u.name;
  }
  ng.devices = [...g.devices.filter((x) => !(u.remove_devices ?? []).includes(x)), ...(u.add_devices ?? [])];
  if (ng.devices.length === 0) throw bad(`${g.name} would have no physical volume left: delete the volume group instead`);
  const used = vgUsed(n, id);
  if (used > vgSize(n, ctx, id)) throw bad(`${g.name} would be smaller than its logical volumes (${used} bytes)`);
  return n;
}

export function deleteVolumeGroup(d: Design, ctx: StorageContext, id: number): Design {
  if (!d.volume_groups.some((x) => x.id === id)) throw notFound("volume group", id);
  for (const lv of d.logical_volumes.filter((l) => l.vg === id)) {
    removable(d, ctx, lv.id);
    if (lv.filesystem?.mount_point) throw busy(`${deviceName(d, ctx, lv.id)} is mounted at ${lv.filesystem.mount_point}: unmount it first`);
  }
  const n = copy(d);
  n.volume_groups = n.volume_groups.filter((x) => x.id !== id);
  n.logical_volumes = n.logical_volumes.filter((l) => l.vg !== id);
  return n;
}

export function createLogicalVolume(
  d: Design,
  ctx: StorageContext,
  vg: number,
  l: { name: string; size?: number; uuid?: string },
): { design: Design; id: number } {
  const g = d.volume_groups.find((x) => x.id === vg);
  if (!g) throw notFound("volume group", vg);
  if (!l.name) throw bad("name: a logical volume needs a name");
  checkName("logical volume", l.name);
  if (d.logical_volumes.some((x) => x.vg === vg && x.name === l.name)) throw bad(`${g.name} has a logical volume named ${l.name} already`);
  const room = vgFree(d, ctx, vg);
  const size = l.size === undefined ? room : roundDown(l.size, LVM_PE_SIZE);
  if (size < LVM_PE_SIZE)
    throw bad(l.size === undefined ? `${g.name} has no free space left` : `size: a logical volume is at least ${LVM_PE_SIZE} bytes (one 4 MiB extent)`);
  if (size > room) throw bad(`size: ${l.size} bytes is more than the ${room} bytes free in ${g.name}`);
  const n = copy(d);
  const id = alloc(n);
  n.logical_volumes.push({ id, vg, name: l.name, uuid: checkUuid(l.uuid), size, filesystem: null });
  return { design: n, id };
}

export function deleteLogicalVolume(d: Design, ctx: StorageContext, id: number): Design {
  if (!d.logical_volumes.some((x) => x.id === id)) throw notFound("logical volume", id);
  removable(d, ctx, id);
  const n = copy(d);
  n.logical_volumes = n.logical_volumes.filter((x) => x.id !== id);
  return n;
}

export function createCacheSet(d: Design, ctx: StorageContext, device: number): { design: Design; id: number } {
  free(d, ctx, device, ["disk", "partition", "raid"], "a cache set");
  const n = copy(d);
  const id = alloc(n);
  n.cache_sets.push({
    id,
    name: nextName(
      "cache",
      d.cache_sets.map((x) => x.name),
    ),
    device,
  });
  return { design: n, id };
}

export function deleteCacheSet(d: Design, _ctx: StorageContext, id: number): Design {
  const c = d.cache_sets.find((x) => x.id === id);
  if (!c) throw notFound("cache set", id);
  const users = d.bcaches.filter((b) => b.cache_set === id);
  if (users.length) throw busy(`${c.name} is in use by ${users.map((b) => b.name).join(", ")}: delete those first`);
  const n = copy(d);
  n.cache_sets = n.cache_sets.filter((x) => x.id !== id);
  return n;
}

const BACKING = ["disk", "partition", "raid"];

function checkMode(mode: string): (typeof CACHE_MODES)[number] {
  if (!(CACHE_MODES as readonly string[]).includes(mode)) throw bad(`cache_mode: '${mode}' is not one of ${CACHE_MODES.join(", ")}`);
  return mode as (typeof CACHE_MODES)[number];
}

export function createBcache(
  d: Design,
  ctx: StorageContext,
  b: { name?: string; uuid?: string; backing: number; cache_set: number; cache_mode: string },
): { design: Design; id: number } {
  const mode = checkMode(b.cache_mode);
  if (!d.cache_sets.some((x) => x.id === b.cache_set)) throw notFound("cache set", b.cache_set);
  free(d, ctx, b.backing, BACKING, "a bcache backing device");
  const name =
    b.name ||
    nextName(
      "bcache",
      d.bcaches.map((x) => x.name),
    );
  checkName("bcache", name);
  if (d.bcaches.some((x) => x.name === name)) throw bad(`a bcache named ${name} exists already`);
  const n = copy(d);
  const id = alloc(n);
  n.bcaches.push({ id, name, uuid: checkUuid(b.uuid), backing: b.backing, cache_set: b.cache_set, cache_mode: mode, filesystem: null });
  return { design: n, id };
}

export function updateBcache(
  d: Design,
  ctx: StorageContext,
  id: number,
  u: { name?: string; backing?: number; cache_set?: number; cache_mode?: string },
): Design {
  const b = d.bcaches.find((x) => x.id === id);
  if (!b) throw notFound("bcache", id);
  const n = copy(d);
  const nb = n.bcaches.find((x) => x.id === id)!;
  if (u.cache_mode !== undefined) nb.cache_mode = checkMode(u.cache_mode);
  if (u.cache_set !== undefined && u.cache_set !== b.cache_set) {
    if (!d.cache_sets.some((x) => x.id === u.cache_set)) throw notFound("cache set", u.cache_set);
    nb.cache_set = u.cache_set;
  }
  if (u.backing !== undefined && u.backing !== b.backing) {
    free(d, ctx, u.backing, BACKING, "a bcache backing device");
    nb.backing = u.backing;
  }
  if (u.name !== undefined && u.name !== b.name) {
    checkName("bcache", u.name);
    if (d.bcaches.some((x) => x.name === u.name)) throw bad(`a bcache named ${u.name} exists already`);
    nb.name = u.name;
  }
  return n;
}

export function deleteBcache(d: Design, ctx: StorageContext, id: number): Design {
  if (!d.bcaches.some((x) => x.id === id)) throw notFound("bcache", id);
  removable(d, ctx, id);
  const n = copy(d);
  n.bcaches = n.bcaches.filter((x) => x.id !== id);
  return n;
}

export function setBootDisk(d: Design, ctx: StorageContext, diskId: number): Design {
  if (!ctx.disks.some((x) => x.id === diskId))
    throw bad(`${diskId} is not a physical disk of this machine (${ctx.disks.map((x) => `${x.id} ${x.name}`).join(", ")})`);
  const n = copy(d, false);
  n.boot_disk = diskId;
  return n;
}
