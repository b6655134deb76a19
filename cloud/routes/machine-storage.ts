// /api/v1/machines/{id}/storage: a machine's storage design (docs/storage.md) read and edited
// piece by piece: layouts, the boot disk, partitions, filesystems and mounts, RAID sets, volume
// groups and logical volumes, cache sets and bcache devices. The rules are the pure model's
// (cloud/domain/storage/); every change is one conditional write (repo.ts) and answers the new
// design as the model describes it.
import type { Hono } from "hono";
import { z } from "zod";
import { CACHE_MODES, type Design, FSTYPES } from "../../shared/storage/design";
import type { AppEnv, Ctx } from "../http/context";
import { badRequest } from "../http/errors";
import { def } from "../http/openapi";
import { readJson } from "../http/validate";
import { deployedStorageOf } from "../domain/machines/storage";
import * as edit from "../domain/storage/edit";
import type { StorageContext } from "../domain/storage/model";
import { editDesign, loadStorage, model, STORAGE_LAYOUTS, setStorageLayout } from "../domain/storage/repo";
import { describeDesign } from "../domain/storage/views";
import { loadMachine } from "../machines/load";

const objId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const bytes = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** Bytes, or MAAS's forms: "50%", "10G", "512M". */
const sizeish = z.union([bytes, z.string().regex(/^\d+(\.\d+)?\s*([KMGTP]i?B?|%)?$/i, 'bytes, a percentage ("50%") or a size with a unit ("10G")')]);
const objName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$/, "1 to 63 letters, digits, '.', '_', '+' or '-', starting with a letter or digit");
const uuid = z.string().regex(/^[0-9a-fA-F-]{1,64}$/, "a UUID");
const ids = z.array(objId).max(64);

export const LayoutBody = z.strictObject({
  layout: z.enum(STORAGE_LAYOUTS),
  boot_size: sizeish.optional(),
  root_size: sizeish.optional(),
  root_device: objId.optional(),
  vg_name: objName.optional(),
  lv_name: objName.optional(),
  lv_size: sizeish.optional(),
  cache_device: objId.optional(),
  cache_mode: z.enum(CACHE_MODES).optional(),
  cache_size: sizeish.optional(),
  cache_no_part: z.boolean().optional(),
});
export const BootDiskBody = z.strictObject({ id: objId });
export const PartitionBody = z.strictObject({ device: objId, size: bytes.optional(), bootable: z.boolean().optional(), uuid: uuid.optional() });
export const FormatBody = z.strictObject({ fstype: z.enum(FSTYPES), label: z.string().max(64).optional(), uuid: uuid.optional() });
export const MountBody = z.strictObject({
  mount_point: z.string().min(1).max(4096),
  mount_options: z.string().max(4096).optional(),
});
const raidLevel = z.union([z.literal(0), z.literal(1), z.literal(5), z.literal(6), z.literal(10), z.enum(["raid-0", "raid-1", "raid-5", "raid-6", "raid-10"])]);
export const RaidBody = z.strictObject({ name: objName.optional(), uuid: uuid.optional(), level: raidLevel, devices: ids.min(1), spares: ids.optional() });
export const RaidUpdate = z.strictObject({
  name: objName.optional(),
  add_devices: ids.optional(),
  remove_devices: ids.optional(),
  add_spares: ids.optional(),
  remove_spares: ids.optional(),
});
export const VolumeGroupBody = z.strictObject({ name: objName, uuid: uuid.optional(), devices: ids.min(1) });
export const VolumeGroupUpdate = z.strictObject({ name: objName.optional(), add_devices: ids.optional(), remove_devices: ids.optional() });
export const LogicalVolumeBody = z.strictObject({ name: objName, size: bytes.optional(), uuid: uuid.optional() });
export const CacheSetBody = z.strictObject({ device: objId });
export const BcacheBody = z.strictObject({
  name: objName.optional(),
  uuid: uuid.optional(),
  backing: objId,
  cache_set: objId,
  cache_mode: z.enum(CACHE_MODES).default("writeback"),
});
export const BcacheUpdate = z.strictObject({
  name: objName.optional(),
  backing: objId.optional(),
  cache_set: objId.optional(),
  cache_mode: z.enum(CACHE_MODES).optional(),
});

/** A numeric path parameter. */
function pathId(c: Ctx, key: string): number {
  const v = c.req.param(key) ?? "";
  if (!/^\d{1,16}$/.test(v) || Number(v) < 1) throw badRequest(`${key} must be a positive whole number`);
  return Number(v);
}

/** Keys left out (undefined) are not passed on: the model reads "absent" as "unchanged". */
function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}

const view = (design: Design, ctx: StorageContext) => model(() => describeDesign(design, ctx));

export function machineStorageRoutes(app: Hono<AppEnv>) {
  /** One change: the machine as `machine.edit`, the model's edit, the new design answered. */
  const change = (
    method: "post" | "put" | "patch" | "delete",
    path: string,
    summary: string,
    body: z.ZodType | undefined,
    run: (
      c: Ctx,
      b: never,
    ) => { apply: (d: Design, ctx: StorageContext) => Design; what: string } | Promise<{ apply: (d: Design, ctx: StorageContext) => Design; what: string }>,
  ) =>
    def(app, method, path, { summary, tag: "storage", ...(body ? { body } : {}), roles: "operator, admin" }, async (c) => {
      const m = await loadMachine(c, "machine.edit");
      const b = body ? await readJson(c, body) : undefined;
      const { apply, what } = await run(c, b as never);
      const r = await editDesign(c.env.DB, c.get("caller").username, m, apply, what);
      return c.json(view(r.design, r.ctx));
    });
  /** A creation: answers 201 with the new object's id and the design. */
  const create = <S extends z.ZodType>(
    path: string,
    summary: string,
    body: S,
    run: (c: Ctx, b: z.output<S>) => { apply: (d: Design, ctx: StorageContext) => { design: Design; id: number }; what: (id: number) => string },
  ) =>
    def(app, "post", path, { summary, tag: "storage", body, roles: "operator, admin", status: 201 }, async (c) => {
      const m = await loadMachine(c, "machine.edit");
      const b = await readJson(c, body);
      const { apply, what } = run(c, b);
      let id = 0;
      const r = await editDesign(
        c.env.DB,
        c.get("caller").username,
        m,
        (d, ctx) => {
          const out = apply(d, ctx);
          id = out.id;
          return out.design;
        },
        () => what(id),
      );
      return c.json({ id, storage: view(r.design, r.ctx) }, 201);
    });

  def(
    app,
    "get",
    "/machines/:id/storage",
    {
      summary: "The machine's storage design, its problems for deploying, and what the last deployment made",
      tag: "storage",
      roles: "any; only the caller's sites",
    },
    async (c) => {
      const m = await loadMachine(c, "machine.read");
      const s = await loadStorage(c.env.DB, m.id);
      return c.json({ ...view(s.design, s.ctx), deployed: deployedStorageOf(m.deployedStorage ?? null) });
    },
  );

  def(
    app,
    "post",
    "/machines/:id/storage/layout",
    { summary: "Replace the design with a layout (MAAS's set_storage_layout)", tag: "storage", body: LayoutBody, roles: "operator, admin" },
    async (c) => {
      const m = await loadMachine(c, "machine.edit");
      const { layout, ...params } = await readJson(c, LayoutBody);
      const r = await setStorageLayout(c.env.DB, c.get("caller").username, m, layout, defined(params));
      return c.json(view(r.design, r.ctx));
    },
  );

  change("put", "/machines/:id/storage/boot-disk", "Choose the disk the firmware boots", BootDiskBody, (_c, b: z.output<typeof BootDiskBody>) => ({
    apply: (d, ctx) => edit.setBootDisk(d, ctx, b.id),
    what: `boot disk set to ${b.id}`,
  }));

  create("/machines/:id/storage/partitions", "Add a partition to a disk, RAID set or bcache device", PartitionBody, (_c, b) => ({
    apply: (d, ctx) => edit.createPartition(d, ctx, b.device, defined({ size: b.size, bootable: b.bootable, uuid: b.uuid })),
    what: (id) => `partition ${id} created on ${b.device}`,
  }));
  change("delete", "/machines/:id/storage/partitions/:pid", "Delete a partition", undefined, (c) => {
    const pid = pathId(c, "pid");
    return { apply: (d, ctx) => edit.deletePartition(d, ctx, pid), what: `partition ${pid} deleted` };
  });

  change(
    "post",
    "/machines/:id/storage/devices/:dev/format",
    "Make a filesystem on a block device or partition",
    FormatBody,
    (c, b: z.output<typeof FormatBody>) => {
      const dev = pathId(c, "dev");
      return {
        apply: (d, ctx) => edit.formatDevice(d, ctx, dev, defined({ fstype: b.fstype, label: b.label, uuid: b.uuid })),
        what: `${dev} formatted ${b.fstype}`,
      };
    },
  );
  change("post", "/machines/:id/storage/devices/:dev/unformat", "Remove the filesystem of a block device or partition", undefined, (c) => {
    const dev = pathId(c, "dev");
    return { apply: (d, ctx) => edit.unformatDevice(d, ctx, dev), what: `${dev} unformatted` };
  });
  change("post", "/machines/:id/storage/devices/:dev/mount", "Mount a filesystem", MountBody, (c, b: z.output<typeof MountBody>) => {
    const dev = pathId(c, "dev");
    return {
      apply: (d, ctx) => edit.mountDevice(d, ctx, dev, defined({ mount_point: b.mount_point, mount_options: b.mount_options })),
      what: `${dev} mounted at ${b.mount_point}`,
    };
  });
  change("post", "/machines/:id/storage/devices/:dev/unmount", "Unmount a filesystem", undefined, (c) => {
    const dev = pathId(c, "dev");
    return { apply: (d, ctx) => edit.unmountDevice(d, ctx, dev), what: `${dev} unmounted` };
  });

  create("/machines/:id/storage/raids", "Create a RAID set (levels 0, 1, 5, 6, 10) over disks and partitions", RaidBody, (_c, b) => ({
    apply: (d, ctx) => edit.createRaid(d, ctx, defined({ name: b.name, uuid: b.uuid, level: b.level, devices: b.devices, spares: b.spares })),
    what: (id) => `RAID ${id} created`,
  }));
  change("patch", "/machines/:id/storage/raids/:rid", "Rename a RAID set or change its members and spares", RaidUpdate, (c, b: z.output<typeof RaidUpdate>) => {
    const rid = pathId(c, "rid");
    return { apply: (d, ctx) => edit.updateRaid(d, ctx, rid, defined(b)), what: `RAID ${rid} updated` };
  });
  change("delete", "/machines/:id/storage/raids/:rid", "Delete a RAID set", undefined, (c) => {
    const rid = pathId(c, "rid");
    return { apply: (d, ctx) => edit.deleteRaid(d, ctx, rid), what: `RAID ${rid} deleted` };
  });

  create("/machines/:id/storage/volume-groups", "Create an LVM volume group over disks, partitions or RAID sets", VolumeGroupBody, (_c, b) => ({
    apply: (d, ctx) => edit.createVolumeGroup(d, ctx, defined({ name: b.name, uuid: b.uuid, devices: b.devices })),
    what: (id) => `volume group ${id} created`,
  }));
  change(
    "patch",
    "/machines/:id/storage/volume-groups/:vg",
    "Rename a volume group or change its physical volumes",
    VolumeGroupUpdate,
    (c, b: z.output<typeof VolumeGroupUpdate>) => {
      const vg = pathId(c, "vg");
      return { apply: (d, ctx) => edit.updateVolumeGroup(d, ctx, vg, defined(b)), what: `volume group ${vg} updated` };
    },
  );
  change("delete", "/machines/:id/storage/volume-groups/:vg", "Delete a volume group and its logical volumes", undefined, (c) => {
    const vg = pathId(c, "vg");
    return { apply: (d, ctx) => edit.deleteVolumeGroup(d, ctx, vg), what: `volume group ${vg} deleted` };
  });
  create("/machines/:id/storage/volume-groups/:vg/logical-volumes", "Create a logical volume (no size: the rest of the group)", LogicalVolumeBody, (c, b) => {
    const vg = pathId(c, "vg");
    return {
      apply: (d, ctx) => edit.createLogicalVolume(d, ctx, vg, defined({ name: b.name, size: b.size, uuid: b.uuid })),
      what: (id) => `logical volume ${id} created`,
    };
  });
  change("delete", "/machines/:id/storage/logical-volumes/:lv", "Delete a logical volume", undefined, (c) => {
    const lv = pathId(c, "lv");
    return { apply: (d, ctx) => edit.deleteLogicalVolume(d, ctx, lv), what: `logical volume ${lv} deleted` };
  });

  create("/machines/:id/storage/cache-sets", "Create a bcache cache set on a fast disk or partition", CacheSetBody, (_c, b) => ({
    apply: (d, ctx) => edit.createCacheSet(d, ctx, b.device),
    what: (id) => `cache set ${id} created`,
  }));
  change("delete", "/machines/:id/storage/cache-sets/:cs", "Delete a cache set", undefined, (c) => {
    const cs = pathId(c, "cs");
    return { apply: (d, ctx) => edit.deleteCacheSet(d, ctx, cs), what: `cache set ${cs} deleted` };
  });

  create("/machines/:id/storage/bcaches", "Create a bcache device: a backing disk or partition behind a cache set", BcacheBody, (_c, b) => ({
    apply: (d, ctx) => edit.createBcache(d, ctx, defined({ name: b.name, uuid: b.uuid, backing: b.backing, cache_set: b.cache_set, cache_mode: b.cache_mode })),
    what: (id) => `bcache ${id} created`,
  }));
  change("patch", "/machines/:id/storage/bcaches/:bc", "Change a bcache device", BcacheUpdate, (c, b: z.output<typeof BcacheUpdate>) => {
    const bc = pathId(c, "bc");
    return { apply: (d, ctx) => edit.updateBcache(d, ctx, bc, defined(b)), what: `bcache ${bc} updated` };
  });
  change("delete", "/machines/:id/storage/bcaches/:bc", "Delete a bcache device", undefined, (c) => {
    const bc = pathId(c, "bc");
    return { apply: (d, ctx) => edit.deleteBcache(d, ctx, bc), what: `bcache ${bc} deleted` };
  });
}
