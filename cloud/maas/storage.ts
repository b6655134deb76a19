// MAAS 2.0's storage endpoints over a machine's storage design: nodes/{system_id}/blockdevices/
// (physical disks and the design's virtual devices), partitions, volume-groups (with
// create_logical_volume), raids, bcache-cache-sets and bcaches, as python-libmaas, the maas CLI
// and terraform-provider-maas call them: form params, ids repeated for lists, MAAS's JSON.
// Every change goes through the same model and conditional write as /api/v1's
// (cloud/domain/storage/), so both APIs refuse the same things with the same reasons.
import { z } from "zod";
import type { Design } from "../../shared/storage/design";
import * as edit from "../domain/storage/edit";
import type { StorageContext } from "../domain/storage/model";
import { addDisk, deleteDisk, diskTags, editDesign, type LoadedStorage, loadStorage, model, setDiskTags, updateDisk } from "../domain/storage/repo";
import { describeDesign } from "../domain/storage/views";
import type { MachineRow } from "../machines/repo";
import { machineFor } from "./load";
import { StorageJson } from "./storage-shape";
import type { Handler, Req } from "./table";
import { boolParam, deleted, fieldError, json, MaasError, type Params, parse } from "./wire";

interface Loaded {
  m: MachineRow;
  s: LoadedStorage;
  j: StorageJson;
}

async function load(r: Req, perm: "machine.read" | "machine.edit"): Promise<Loaded> {
  const m = await machineFor(r, perm);
  const s = await loadStorage(r.db, m.id);
  return {
    m,
    s,
    j: new StorageJson(
      m.systemId,
      model(() => describeDesign(s.design, s.ctx)),
      s.rows,
    ),
  };
}

/** The design after an edit, as MAAS JSON. */
async function change(r: Req, l: Loaded, apply: (d: Design, ctx: StorageContext) => Design, what: string | (() => string)): Promise<StorageJson> {
  const out = await editDesign(r.db, r.caller.username, l.m, apply, what);
  return new StorageJson(
    l.m.systemId,
    model(() => describeDesign(out.design, out.ctx)),
    l.s.rows,
  );
}

function pathId(r: Req, key: string, what: string): number {
  const v = r.path[key] ?? "";
  if (!/^\d{1,16}$/.test(v)) throw new MaasError(404, `No ${what} matches the given query.`);
  return Number(v);
}

const MULT: Record<string, number> = { "": 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, KI: 2 ** 10, MI: 2 ** 20, GI: 2 ** 30, TI: 2 ** 40, PI: 2 ** 50 };

/** MAAS's sizes: bytes, or a number with a unit (10G = 10^9, 10GiB = 2^30 * 10). */
export function parseBytes(field: string, v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGTP]i?)?B?\s*$/i.exec(v);
  const n = m ? Math.floor(Number(m[1]) * MULT[(m[2] ?? "").toUpperCase()]!) : Number.NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw fieldError(field, `"${v.slice(0, 64)}" is not a size: bytes, or a number with a unit (10G, 512MiB).`);
  return n;
}

function sizeOf(p: Params, field: string): number | undefined {
  const v = p.get(field)?.trim();
  return v ? parseBytes(field, v) : undefined;
}

/** A set_storage_layout size: bytes, a size with a unit, or a percentage (handed to the model as given). */
function layoutSize(p: Params, field: string): number | string | undefined {
  const v = p.get(field)?.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?%$/.test(v)) return v;
  return parseBytes(field, v);
}

const text = (p: Params, field: string, max = 64): string | undefined => {
  const v = p.get(field)?.trim();
  if (v === undefined || v === "") return undefined;
  if (v.length > max) throw fieldError(field, `Ensure this value has at most ${max} characters.`);
  return v;
};

/** Devices named in a list field: ids, or names ("sda", "sda-part1", "md0"). */
function refs(p: Params, field: string, j: StorageJson): number[] {
  return p
    .all(field)
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter(Boolean)
    .map((v) => {
      if (/^\d{1,16}$/.test(v)) return Number(v);
      const byName = [...j.devices.values(), ...j.partitions.values()].find((d) => ("name" in d ? d.name : d.path.replace(/^\/dev\//, "")) === v);
      if (!byName) throw fieldError(field, `Select a valid choice. ${v.slice(0, 64)} is not one of the available choices.`);
      return byName.id;
    });
}

function oneRef(p: Params, fields: [string, string], j: StorageJson, required: boolean): number | undefined {
  const given = fields.filter((f) => p.has(f) && p.get(f)!.trim() !== "");
  if (given.length > 1) throw new MaasError(400, { __all__: [`Either ${fields[0]} or ${fields[1]} must be specified, not both.`] });
  if (!given.length) {
    if (required) throw new MaasError(400, { __all__: [`Either ${fields[0]} or ${fields[1]} must be specified.`] });
    return undefined;
  }
  const ids = refs(p, given[0]!, j);
  return ids[0];
}

const fsBody = z.object({
  fstype: z.string().min(1, "This field is required.").max(16),
  uuid: z.string().max(64).optional(),
  label: z.string().max(64).optional(),
});
const mountBody = z.object({ mount_point: z.string().min(1, "This field is required.").max(4096), mount_options: z.string().max(4096).optional() });

const defined = <T extends Record<string, unknown>>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== "")) as never;

/** format, unformat, mount and unmount: the same on a block device and on a partition. */
function fsOps(what: "BlockDevice" | "Partition", answer: (j: StorageJson, id: number) => unknown, idOf: (r: Req, l: Loaded) => number) {
  const run = (op: (r: Req, id: number) => { apply: (d: Design, ctx: StorageContext) => Design; what: string }) => async (r: Req) => {
    const l = await load(r, "machine.edit");
    const id = idOf(r, l);
    const o = op(r, id);
    return json(answer(await change(r, l, o.apply, o.what), id));
  };
  return [
    {
      method: "POST" as const,
      op: "format",
      doc: `Format a ${what === "BlockDevice" ? "block device" : "partition"} with a filesystem (ext4, ext3, ext2, xfs, fat32, vfat, swap).`,
      params: ["fstype", "uuid", "label"],
      run: run((r, id) => {
        const b = parse(fsBody, r.p);
        return {
          apply: (d, ctx) => edit.formatDevice(d, ctx, id, defined({ fstype: b.fstype.toLowerCase(), uuid: b.uuid, label: b.label })),
          what: `${id} formatted ${b.fstype}`,
        };
      }),
    },
    {
      method: "POST" as const,
      op: "unformat",
      doc: "Remove the filesystem.",
      run: run((_r, id) => ({ apply: (d, ctx) => edit.unformatDevice(d, ctx, id), what: `${id} unformatted` })),
    },
    {
      method: "POST" as const,
      op: "mount",
      doc: "Mount the filesystem at a path (swap: none).",
      params: ["mount_point", "mount_options"],
      run: run((r, id) => {
        const b = parse(mountBody, r.p);
        return {
          apply: (d, ctx) => edit.mountDevice(d, ctx, id, defined({ mount_point: b.mount_point, mount_options: b.mount_options })),
          what: `${id} mounted at ${b.mount_point}`,
        };
      }),
    },
    {
      method: "POST" as const,
      op: "unmount",
      doc: "Unmount the filesystem.",
      run: run((_r, id) => ({ apply: (d, ctx) => edit.unmountDevice(d, ctx, id), what: `${id} unmounted` })),
    },
  ];
}

// ---- block devices --------------------------------------------------------------------

const DEV_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$/;

function deviceOf(r: Req, l: Loaded) {
  const id = pathId(r, "id", "BlockDevice");
  const d = l.j.devices.get(id);
  if (!d) throw new MaasError(404, "No BlockDevice matches the given query.");
  return d;
}

const kindOf = (l: Loaded, id: number) => l.j.view.block_devices.find((b) => b.id === id)?.kind;

async function createDisk(r: Req): Promise<Response> {
  const l = await load(r, "machine.edit");
  const name = text(r.p, "name");
  if (!name) throw fieldError("name", "This field is required.");
  if (!DEV_NAME.test(name)) throw fieldError("name", "Enter a valid device name.");
  if (l.s.rows.some((d) => d.name === name)) throw fieldError("name", `A block device named ${name} already exists on this machine.`);
  const size = sizeOf(r.p, "size");
  if (size === undefined) throw fieldError("size", "This field is required.");
  const model = text(r.p, "model", 256) ?? "";
  const serial = text(r.p, "serial", 256) ?? "";
  const idPath = text(r.p, "id_path", 4096) ?? "";
  // MAAS: a disk is found again by its model and serial, or by its id_path.
  if (!idPath && !(model && serial)) throw new MaasError(400, { __all__: ["serial/model are required if id_path is not provided."] });
  const id = await addDisk(r.db, r.caller.username, l.m, { name, model, serial, path: idPath, size });
  const after = await load(r, "machine.read");
  return json(after.j.devices.get(id));
}

async function updateDevice(r: Req): Promise<Response> {
  const l = await load(r, "machine.edit");
  const d = deviceOf(r, l);
  const name = text(r.p, "name");
  if (name !== undefined && !DEV_NAME.test(name)) throw fieldError("name", "Enter a valid device name.");
  if (d.type === "physical") {
    const size = sizeOf(r.p, "size");
    await updateDisk(r.db, r.caller.username, l.m, d.id, {
      name,
      model: text(r.p, "model", 256),
      serial: text(r.p, "serial", 256),
      path: text(r.p, "id_path", 4096),
      size,
    });
    const after = await load(r, "machine.read");
    return json(after.j.devices.get(d.id));
  }
  const kind = kindOf(l, d.id);
  if (name === undefined) return json(d);
  if (kind === "raid") return json((await change(r, l, (x, ctx) => edit.updateRaid(x, ctx, d.id, { name }), `RAID ${d.id} renamed ${name}`)).devices.get(d.id));
  if (kind === "bcache")
    return json((await change(r, l, (x, ctx) => edit.updateBcache(x, ctx, d.id, { name }), `bcache ${d.id} renamed ${name}`)).devices.get(d.id));
  throw fieldError("name", "Plinth does not rename a logical volume: delete it and create it again with the new name.");
}

async function deleteDevice(r: Req): Promise<Response> {
  const l = await load(r, "machine.edit");
  const d = deviceOf(r, l);
  if (d.type === "physical") {
    await deleteDisk(r.db, r.caller.username, l.m, l.s, d.id);
    return deleted();
  }
  const kind = kindOf(l, d.id);
  const apply =
    kind === "raid"
      ? (x: Design, ctx: StorageContext) => edit.deleteRaid(x, ctx, d.id)
      : kind === "bcache"
        ? (x: Design, ctx: StorageContext) => edit.deleteBcache(x, ctx, d.id)
        : (x: Design, ctx: StorageContext) => edit.deleteLogicalVolume(x, ctx, d.id);
  await change(r, l, apply, `${d.name} deleted`);
  return deleted();
}

const TAG = /^[\w.:-]{1,64}$/;

async function tagDevice(r: Req, add: boolean): Promise<Response> {
  const l = await load(r, "machine.edit");
  const d = deviceOf(r, l);
  const tag = r.p.get("tag")?.trim() ?? "";
  if (!TAG.test(tag)) throw fieldError("tag", tag ? "Enter a valid tag: letters, digits and _ . : - only, at most 64." : "This field is required.");
  // Virtual devices' tags are not stored: the design has none of its own (answered unchanged).
  if (d.type !== "physical") return json(d);
  const row = l.s.rows.find((x) => x.id === d.id)!;
  const now = diskTags(row);
  const next = add ? [...new Set([...now, tag])] : now.filter((t) => t !== tag);
  if (next.length > 32) throw fieldError("tag", "Ensure there are at most 32 tags.");
  await setDiskTags(r.db, l.m, row, next);
  return json((await load(r, "machine.read")).j.devices.get(d.id));
}

// ---- partitions ----------------------------------------------------------------------

function partitionDevice(r: Req, l: Loaded) {
  const id = pathId(r, "device_id", "BlockDevice");
  const d = l.j.devices.get(id);
  if (!d) throw new MaasError(404, "No BlockDevice matches the given query.");
  return d;
}

function partitionOf(r: Req, l: Loaded) {
  const dev = partitionDevice(r, l);
  const id = pathId(r, "id", "Partition");
  const p = l.j.partitions.get(id);
  if (!p || p.device_id !== dev.id) throw new MaasError(404, "No Partition matches the given query.");
  return p;
}

// ---- groups ---------------------------------------------------------------------------

function raidOf(r: Req, l: Loaded) {
  const id = pathId(r, "id", "RAID");
  const x = l.j.view.raids.find((g) => g.id === id);
  if (!x) throw new MaasError(404, "No RAID matches the given query.");
  return x;
}
function vgOf(r: Req, l: Loaded) {
  const id = pathId(r, "id", "VolumeGroup");
  const x = l.j.view.volume_groups.find((g) => g.id === id);
  if (!x) throw new MaasError(404, "No VolumeGroup matches the given query.");
  return x;
}
function cacheSetOf(r: Req, l: Loaded) {
  const id = pathId(r, "id", "CacheSet");
  const x = l.j.view.cache_sets.find((g) => g.id === id);
  if (!x) throw new MaasError(404, "No CacheSet matches the given query.");
  return x;
}
function bcacheOf(r: Req, l: Loaded) {
  const id = pathId(r, "id", "Bcache");
  const x = l.j.view.bcaches.find((g) => g.id === id);
  if (!x) throw new MaasError(404, "No Bcache matches the given query.");
  return x;
}

const RAID_LEVEL = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .pipe(z.enum(["raid-0", "raid-1", "raid-5", "raid-6", "raid-10"], { message: "Select a valid choice: raid-0, raid-1, raid-5, raid-6 or raid-10." }));

const cacheMode = (p: Params, required: boolean): string | undefined => {
  const v = p.get("cache_mode")?.trim().toLowerCase();
  if (!v) {
    if (required) throw fieldError("cache_mode", "This field is required.");
    return undefined;
  }
  if (!["writeback", "writethrough", "writearound"].includes(v))
    throw fieldError("cache_mode", `Select a valid choice. ${v.slice(0, 32)} is not one of the available choices.`);
  return v;
};

function made<T>(j: StorageJson, id: number, pick: (j: StorageJson, id: number) => T | undefined, what: string): T {
  const x = pick(j, id);
  if (x === undefined) throw new MaasError(500, `The new ${what} is not in the design.`);
  return x;
}

/** Runs a creation: the model's result's id is read after the edit. */
async function create(r: Req, l: Loaded, apply: (d: Design, ctx: StorageContext) => { design: Design; id: number }, what: (id: number) => string) {
  let id = 0;
  const j = await change(
    r,
    l,
    (d, ctx) => {
      const out = apply(d, ctx);
      id = out.id;
      return out.design;
    },
    () => what(id),
  );
  return { j, id };
}

export const storageHandlers: Handler[] = [
  {
    name: "BlockDevicesHandler",
    doc: "Manage block devices on a machine.",
    path: "nodes/{system_id}/blockdevices/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List all block devices belonging to a machine: its disks and the storage design's RAID sets, logical volumes and bcache devices.",
        run: async (r) => json([...(await load(r, "machine.read")).j.devices.values()]),
      },
      {
        method: "POST",
        op: null,
        doc: "Create a physical block device (a disk commissioning did not find). Ready or Allocated machines.",
        params: ["name", "model", "serial", "id_path", "size", "block_size"],
        run: createDisk,
      },
    ],
  },
  {
    name: "BlockDeviceHandler",
    doc: "Manage a block device on a machine.",
    path: "nodes/{system_id}/blockdevices/{id}/",
    actions: [
      { method: "GET", op: null, doc: "Read a block device.", run: async (r) => json(deviceOf(r, await load(r, "machine.read"))) },
      {
        method: "PUT",
        op: null,
        doc: "Update a block device: name, model, serial, id_path, size of a physical one; the name of a RAID set or bcache device.",
        params: ["name", "model", "serial", "id_path", "size", "block_size"],
        run: updateDevice,
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a block device: a disk the design does not use, or a RAID set, logical volume or bcache device of the design.",
        run: deleteDevice,
      },
      ...fsOps(
        "BlockDevice",
        (j, id) => j.devices.get(id),
        (r, l) => deviceOf(r, l).id,
      ),
      {
        method: "POST",
        op: "set_boot_disk",
        doc: "Set this disk as the one the machine boots from.",
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const d = deviceOf(r, l);
          const j = await change(r, l, (x, ctx) => edit.setBootDisk(x, ctx, d.id), `boot disk set to ${d.name}`);
          return json(j.devices.get(d.id));
        },
      },
      { method: "POST", op: "add_tag", doc: "Add a tag to a disk (virtual devices keep no tags).", params: ["tag"], run: (r) => tagDevice(r, true) },
      { method: "POST", op: "remove_tag", doc: "Remove a tag from a disk.", params: ["tag"], run: (r) => tagDevice(r, false) },
    ],
  },
  {
    name: "PartitionsHandler",
    doc: "Manage partitions on a block device.",
    path: "nodes/{system_id}/blockdevices/{device_id}/partitions/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List the partitions of a block device.",
        run: async (r) => json(partitionDevice(r, await load(r, "machine.read")).partitions),
      },
      {
        method: "POST",
        op: null,
        doc: "Create a partition (no size: the rest of the device).",
        params: ["size", "uuid", "bootable"],
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const dev = partitionDevice(r, l);
          const b = parse(z.object({ bootable: boolParam.optional() }), r.p);
          const size = sizeOf(r.p, "size");
          const uuid = text(r.p, "uuid");
          const { j, id } = await create(
            r,
            l,
            (d, ctx) => edit.createPartition(d, ctx, dev.id, defined({ size, bootable: b.bootable, uuid })),
            (id) => `partition ${id} created on ${dev.name}`,
          );
          return json(made(j, id, (x, i) => x.partitions.get(i), "partition"));
        },
      },
    ],
  },
  {
    name: "PartitionHandler",
    doc: "Manage partition on a block device.",
    path: "nodes/{system_id}/blockdevices/{device_id}/partition/{id}/",
    aliases: ["nodes/{system_id}/blockdevices/{device_id}/partitions/{id}/"],
    actions: [
      { method: "GET", op: null, doc: "Read a partition.", run: async (r) => json(partitionOf(r, await load(r, "machine.read"))) },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a partition.",
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const p = partitionOf(r, l);
          await change(r, l, (d, ctx) => edit.deletePartition(d, ctx, p.id), `partition ${p.path} deleted`);
          return deleted();
        },
      },
      ...fsOps(
        "Partition",
        (j, id) => j.partitions.get(id),
        (r, l) => partitionOf(r, l).id,
      ),
      {
        method: "POST",
        op: "add_tag",
        doc: "Accepted for MAAS clients: Plinth keeps no partition tags, the partition is answered unchanged.",
        params: ["tag"],
        run: async (r) => json(partitionOf(r, await load(r, "machine.edit"))),
      },
      {
        method: "POST",
        op: "remove_tag",
        doc: "Accepted for MAAS clients: Plinth keeps no partition tags, the partition is answered unchanged.",
        params: ["tag"],
        run: async (r) => json(partitionOf(r, await load(r, "machine.edit"))),
      },
    ],
  },
  {
    name: "VolumeGroupsHandler",
    doc: "Manage volume groups on a machine.",
    path: "nodes/{system_id}/volume-groups/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List all volume groups belonging to a machine.",
        run: async (r) => {
          const { j } = await load(r, "machine.read");
          return json(j.view.volume_groups.map((g) => j.volumeGroup(g)));
        },
      },
      {
        method: "POST",
        op: null,
        doc: "Create a volume group over block devices and partitions.",
        params: ["name", "uuid", "block_devices", "partitions"],
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const name = text(r.p, "name");
          if (!name) throw fieldError("name", "This field is required.");
          const devices = [...refs(r.p, "block_devices", l.j), ...refs(r.p, "partitions", l.j)];
          if (!devices.length) throw new MaasError(400, { __all__: ["At least one valid block device or partition is required."] });
          const { j, id } = await create(
            r,
            l,
            (d, ctx) => edit.createVolumeGroup(d, ctx, defined({ name, uuid: text(r.p, "uuid"), devices })),
            (id) => `volume group ${name} (${id}) created`,
          );
          return json(j.volumeGroup(made(j, id, (x, i) => x.view.volume_groups.find((g) => g.id === i), "volume group")));
        },
      },
    ],
  },
  {
    name: "VolumeGroupHandler",
    doc: "Manage volume group on a machine.",
    path: "nodes/{system_id}/volume-group/{id}/",
    aliases: ["nodes/{system_id}/volume-groups/{id}/"],
    actions: [
      {
        method: "GET",
        op: null,
        doc: "Read a volume group.",
        run: async (r) => {
          const l = await load(r, "machine.read");
          return json(l.j.volumeGroup(vgOf(r, l)));
        },
      },
      {
        method: "PUT",
        op: null,
        doc: "Update a volume group: its name, block devices and partitions.",
        params: ["name", "uuid", "add_block_devices", "remove_block_devices", "add_partitions", "remove_partitions"],
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const g = vgOf(r, l);
          const u = defined({
            name: text(r.p, "name"),
            add_devices: [...refs(r.p, "add_block_devices", l.j), ...refs(r.p, "add_partitions", l.j)],
            remove_devices: [...refs(r.p, "remove_block_devices", l.j), ...refs(r.p, "remove_partitions", l.j)],
          });
          const j = await change(r, l, (d, ctx) => edit.updateVolumeGroup(d, ctx, g.id, u), `volume group ${g.name} updated`);
          return json(j.volumeGroup(made(j, g.id, (x, i) => x.view.volume_groups.find((v) => v.id === i), "volume group")));
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a volume group and its logical volumes.",
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const g = vgOf(r, l);
          await change(r, l, (d, ctx) => edit.deleteVolumeGroup(d, ctx, g.id), `volume group ${g.name} deleted`);
          return deleted();
        },
      },
      {
        method: "POST",
        op: "create_logical_volume",
        doc: "Create a logical volume in the volume group (no size: its free space).",
        params: ["name", "uuid", "size"],
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const g = vgOf(r, l);
          const name = text(r.p, "name");
          if (!name) throw fieldError("name", "This field is required.");
          const size = sizeOf(r.p, "size");
          const { j, id } = await create(
            r,
            l,
            (d, ctx) => edit.createLogicalVolume(d, ctx, g.id, defined({ name, size, uuid: text(r.p, "uuid") })),
            (id) => `logical volume ${name} (${id}) created in ${g.name}`,
          );
          return json(made(j, id, (x, i) => x.devices.get(i), "logical volume"));
        },
      },
      {
        method: "POST",
        op: "delete_logical_volume",
        doc: "Delete a logical volume of the volume group (204 even when it does not exist, as MAAS).",
        params: ["id"],
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const g = vgOf(r, l);
          const v = r.p.get("id")?.trim() ?? "";
          if (!/^\d{1,16}$/.test(v)) throw fieldError("id", v ? "Enter a whole number." : "This field is required.");
          const lv = Number(v);
          if (!g.logical_volumes.includes(lv)) return deleted();
          await change(r, l, (d, ctx) => edit.deleteLogicalVolume(d, ctx, lv), `logical volume ${lv} deleted from ${g.name}`);
          return deleted();
        },
      },
    ],
  },
  {
    name: "RaidsHandler",
    doc: "Manage all RAIDs (Redundant Array of Independent Disks) on a machine.",
    path: "nodes/{system_id}/raids/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List all RAIDs belonging to a machine.",
        run: async (r) => {
          const { j } = await load(r, "machine.read");
          return json(j.view.raids.map((x) => j.raid(x)));
        },
      },
      {
        method: "POST",
        op: null,
        doc: "Set up a RAID (raid-0, raid-1, raid-5, raid-6, raid-10) over block devices and partitions, with spares.",
        params: ["name", "uuid", "level", "block_devices", "partitions", "spare_devices", "spare_partitions"],
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const { level } = parse(z.object({ level: RAID_LEVEL }), r.p);
          const devices = [...refs(r.p, "block_devices", l.j), ...refs(r.p, "partitions", l.j)];
          const spares = [...refs(r.p, "spare_devices", l.j), ...refs(r.p, "spare_partitions", l.j)];
          const { j, id } = await create(
            r,
            l,
            (d, ctx) => edit.createRaid(d, ctx, defined({ name: text(r.p, "name"), uuid: text(r.p, "uuid"), level, devices, spares })),
            (id) => `${level} ${id} created`,
          );
          return json(j.raid(made(j, id, (x, i) => x.view.raids.find((g) => g.id === i), "RAID")));
        },
      },
    ],
  },
  {
    name: "RaidHandler",
    doc: "Manage a specific RAID (Redundant Array of Independent Disks) on a machine.",
    path: "nodes/{system_id}/raid/{id}/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "Read a RAID.",
        run: async (r) => {
          const l = await load(r, "machine.read");
          return json(l.j.raid(raidOf(r, l)));
        },
      },
      {
        method: "PUT",
        op: null,
        doc: "Update a RAID: its name, members and spares.",
        params: [
          "name",
          "uuid",
          "add_block_devices",
          "remove_block_devices",
          "add_partitions",
          "remove_partitions",
          "add_spare_devices",
          "remove_spare_devices",
          "add_spare_partitions",
          "remove_spare_partitions",
        ],
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const g = raidOf(r, l);
          const u = defined({
            name: text(r.p, "name"),
            add_devices: [...refs(r.p, "add_block_devices", l.j), ...refs(r.p, "add_partitions", l.j)],
            remove_devices: [...refs(r.p, "remove_block_devices", l.j), ...refs(r.p, "remove_partitions", l.j)],
            add_spares: [...refs(r.p, "add_spare_devices", l.j), ...refs(r.p, "add_spare_partitions", l.j)],
            remove_spares: [...refs(r.p, "remove_spare_devices", l.j), ...refs(r.p, "remove_spare_partitions", l.j)],
          });
          const j = await change(r, l, (d, ctx) => edit.updateRaid(d, ctx, g.id, u), `RAID ${g.name} updated`);
          return json(j.raid(made(j, g.id, (x, i) => x.view.raids.find((v) => v.id === i), "RAID")));
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a RAID.",
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const g = raidOf(r, l);
          await change(r, l, (d, ctx) => edit.deleteRaid(d, ctx, g.id), `RAID ${g.name} deleted`);
          return deleted();
        },
      },
    ],
  },
  {
    name: "BcacheCacheSetsHandler",
    doc: "Manage bcache cache sets on a machine.",
    path: "nodes/{system_id}/bcache-cache-sets/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List all bcache cache sets belonging to a machine.",
        run: async (r) => {
          const { j } = await load(r, "machine.read");
          return json(j.view.cache_sets.map((c) => j.cacheSet(c)));
        },
      },
      {
        method: "POST",
        op: null,
        doc: "Create a bcache cache set on a cache device or partition.",
        params: ["cache_device", "cache_partition"],
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const dev = oneRef(r.p, ["cache_device", "cache_partition"], l.j, true)!;
          const { j, id } = await create(
            r,
            l,
            (d, ctx) => edit.createCacheSet(d, ctx, dev),
            (id) => `cache set ${id} created`,
          );
          return json(j.cacheSet(made(j, id, (x, i) => x.view.cache_sets.find((c) => c.id === i), "cache set")));
        },
      },
    ],
  },
  {
    name: "BcacheCacheSetHandler",
    doc: "Manage bcache cache set on a machine.",
    path: "nodes/{system_id}/bcache-cache-set/{id}/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "Read a bcache cache set.",
        run: async (r) => {
          const l = await load(r, "machine.read");
          return json(l.j.cacheSet(cacheSetOf(r, l)));
        },
      },
      {
        method: "PUT",
        op: null,
        doc: "Update a bcache cache set. Plinth does not move a cache set to another device: delete it and create another.",
        params: ["cache_device", "cache_partition"],
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const c = cacheSetOf(r, l);
          const dev = oneRef(r.p, ["cache_device", "cache_partition"], l.j, false);
          if (dev !== undefined && dev !== c.device)
            throw new MaasError(400, { __all__: ["Plinth does not move a cache set to another device: delete it and create another."] });
          return json(l.j.cacheSet(c));
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a bcache cache set (none of the design's bcache devices may use it).",
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const c = cacheSetOf(r, l);
          await change(r, l, (d, ctx) => edit.deleteCacheSet(d, ctx, c.id), `cache set ${c.name} deleted`);
          return deleted();
        },
      },
    ],
  },
  {
    name: "BcachesHandler",
    doc: "Manage bcache devices on a machine.",
    path: "nodes/{system_id}/bcaches/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List all bcache devices belonging to a machine.",
        run: async (r) => {
          const { j } = await load(r, "machine.read");
          return json(j.view.bcaches.map((b) => j.bcache(b)));
        },
      },
      {
        method: "POST",
        op: null,
        doc: "Create a bcache device: a backing device or partition behind a cache set.",
        params: ["name", "uuid", "cache_set", "backing_device", "backing_partition", "cache_mode"],
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const backing = oneRef(r.p, ["backing_device", "backing_partition"], l.j, true)!;
          const cs = r.p.get("cache_set")?.trim() ?? "";
          const cacheSet = /^\d{1,16}$/.test(cs) ? Number(cs) : l.j.view.cache_sets.find((c) => c.name === cs)?.id;
          if (cacheSet === undefined)
            throw fieldError("cache_set", cs ? `Select a valid choice. ${cs.slice(0, 64)} is not one of the available choices.` : "This field is required.");
          const mode = cacheMode(r.p, true)!;
          const { j, id } = await create(
            r,
            l,
            (d, ctx) =>
              edit.createBcache(d, ctx, defined({ name: text(r.p, "name"), uuid: text(r.p, "uuid"), backing, cache_set: cacheSet, cache_mode: mode })),
            (id) => `bcache ${id} created`,
          );
          return json(j.bcache(made(j, id, (x, i) => x.view.bcaches.find((b) => b.id === i), "bcache")));
        },
      },
    ],
  },
  {
    name: "BcacheHandler",
    doc: "Manage bcache device on a machine.",
    path: "nodes/{system_id}/bcache/{id}/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "Read a bcache device.",
        run: async (r) => {
          const l = await load(r, "machine.read");
          return json(l.j.bcache(bcacheOf(r, l)));
        },
      },
      {
        method: "PUT",
        op: null,
        doc: "Update a bcache device: name, cache set, backing device or partition, cache mode.",
        params: ["name", "uuid", "cache_set", "backing_device", "backing_partition", "cache_mode"],
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const b = bcacheOf(r, l);
          const cs = r.p.get("cache_set")?.trim();
          const cacheSet = cs ? (/^\d{1,16}$/.test(cs) ? Number(cs) : l.j.view.cache_sets.find((c) => c.name === cs)?.id) : undefined;
          if (cs && cacheSet === undefined) throw fieldError("cache_set", `Select a valid choice. ${cs.slice(0, 64)} is not one of the available choices.`);
          const u = defined({
            name: text(r.p, "name"),
            cache_set: cacheSet,
            backing: oneRef(r.p, ["backing_device", "backing_partition"], l.j, false),
            cache_mode: cacheMode(r.p, false),
          });
          const j = await change(r, l, (d, ctx) => edit.updateBcache(d, ctx, b.id, u), `bcache ${b.name} updated`);
          return json(j.bcache(made(j, b.id, (x, i) => x.view.bcaches.find((v) => v.id === i), "bcache")));
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a bcache device.",
        run: async (r) => {
          const l = await load(r, "machine.edit");
          const b = bcacheOf(r, l);
          await change(r, l, (d, ctx) => edit.deleteBcache(d, ctx, b.id), `bcache ${b.name} deleted`);
          return deleted();
        },
      },
    ],
  },
];

export { layoutSize, sizeOf };
