// Custom storage through both APIs (issue 16): /api/v1/machines/{id}/storage piece by piece,
// MAAS 2.0's blockdevices, partitions, raids, volume-groups, bcache-cache-sets and bcaches as
// python-libmaas and terraform-provider-maas call them (form params, ops), set_storage_layout with
// its parameters, the design's plan in the rack's deploy spec, and deploy refused for a design
// that cannot be built. The model's own rules are in storage-model.test.ts.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { GiB } from "../../shared/storage/design";
import { loadStorage, saveDesign } from "../../cloud/domain/storage/repo";
import { buildSnapshot } from "../../cloud/tunnel/config";
import { call, deployableImage, makeMachine, makeUser, statusOf } from "./helpers";
import { maas, maasKey } from "./maas-helpers";
import { enrolRack } from "./tunnel-helpers";

const SITE = "stor-site";
let admin = "";
let operator = "";
let viewer = "";
let maasAdmin = "";
let rackId = "";

beforeAll(async () => {
  admin = await makeUser("stor-admin", [["admin", null]]);
  operator = await makeUser("stor-oper", [["operator", SITE]]);
  viewer = await makeUser("stor-view", [["viewer", SITE]]);
  maasAdmin = await maasKey(admin);
  ({ rackId } = await enrolRack(admin, SITE, "stor-rack"));
  await deployableImage("ubuntu", "noble");
});

/** Disks as commissioning inserts them; returns their ids in order. */
async function disks(systemId: string, sizes: number[], firmware: "bios" | "uefi" = "bios"): Promise<number[]> {
  await env.DB.prepare("UPDATE machines SET firmware = ? WHERE system_id = ?").bind(firmware, systemId).run();
  const ids: number[] = [];
  for (const [i, size] of sizes.entries()) {
    const name = `vd${String.fromCharCode(97 + i)}`;
    const r = await env.DB.prepare(
      "INSERT INTO block_devices (machine_id, name, path, model, serial, size) SELECT id, ?, ?, 'QEMU HARDDISK', ?, ? FROM machines WHERE system_id = ? RETURNING id",
    )
      .bind(name, `/dev/${name}`, `QM0000${i + 1}`, size, systemId)
      .first<{ id: number }>();
    ids.push(r!.id);
  }
  return ids;
}

async function machine(status: number = S.READY, sizes = [20 * GiB, 20 * GiB, 30 * GiB, 30 * GiB], site = SITE) {
  const id = await makeMachine({ site, status });
  return { id, disks: await disks(id, sizes) };
}

const st = (id: string) => `/machines/${id}/storage`;

describe("/api/v1/machines/{id}/storage", () => {
  it("reads the default layout, applies layouts with their parameters, refuses unknown ones", async () => {
    const { id, disks: d } = await machine();
    const g = await call(viewer, "GET", st(id));
    expect(g.status, g.text).toBe(200);
    expect(g.json).toMatchObject({ layout: "flat", boot_disk: null, problems: [], deployed: null });
    expect(g.json.block_devices.map((b: { id: number }) => b.id)).toEqual(d);
    expect(g.json.block_devices[0].partitions.at(-1).filesystem).toMatchObject({ fstype: "ext4", mount_point: "/" });

    const lvm = await call(operator, "POST", `${st(id)}/layout`, { layout: "lvm", vg_name: "vgroot", lv_name: "root", lv_size: 8 * GiB });
    expect(lvm.status, lvm.text).toBe(200);
    expect(lvm.json.layout).toBe("lvm");
    expect(lvm.json.volume_groups).toHaveLength(1);
    expect(lvm.json.volume_groups[0].name).toBe("vgroot");
    const lv = lvm.json.block_devices.find((b: { kind: string }) => b.kind === "logical_volume");
    expect(lv).toMatchObject({ name: "vgroot-root", size: 8 * GiB, filesystem: { mount_point: "/" } });
    // The machine's own view follows the design.
    const m = (await call(viewer, "GET", `/machines/${id}`)).json;
    expect(m.storage_layout).toBe("lvm");
    expect(m.storage_detail).toMatchObject({ layout: "lvm", disk: "serial:QM00001", design_problems: [] });

    const bad = await call(operator, "POST", `${st(id)}/layout`, { layout: "vmfs6" });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("invalid_request");
    const tooBig = await call(operator, "POST", `${st(id)}/layout`, { layout: "flat", root_size: 500 * GiB });
    expect(tooBig.status, tooBig.text).toBe(400);
    expect(tooBig.json.error.message).toMatch(/root_size|size/);
    const noDevice = await call(operator, "POST", `${st(id)}/layout`, { layout: "flat", root_device: 999999 });
    expect(noDevice.status).toBeGreaterThanOrEqual(400);
    expect(noDevice.status).toBeLessThan(500);
    expect((await call(viewer, "POST", `${st(id)}/layout`, { layout: "flat" })).status).toBe(403);
    // Nothing refused changed the design; each layout applied was an event.
    expect((await call(viewer, "GET", st(id))).json.layout).toBe("lvm");
    const ev = (await call(admin, "GET", `/events?machine=${id}&type=machine.storage_layout`)).json.items;
    expect(ev.map((e: { description: string }) => e.description)).toEqual(["storage layout set to lvm"]);
  });

  it("builds the issue's design piece by piece: root on RAID 1, an LVM group on RAID 0 with two volumes, swap", async () => {
    const { id, disks: d } = await machine();
    const [a, b, c, e] = d as [number, number, number, number];
    expect((await call(operator, "POST", `${st(id)}/layout`, { layout: "blank" })).json.problems[0]).toMatch(/mounted at \//);
    const part = async (device: number, size?: number) => {
      const r = await call(operator, "POST", `${st(id)}/partitions`, { device, ...(size ? { size } : {}) });
      expect(r.status, r.text).toBe(201);
      expect(r.json.storage.block_devices.find((x: { id: number }) => x.id === device).partitions.some((p: { id: number }) => p.id === r.json.id)).toBe(true);
      return r.json.id as number;
    };
    const swap = await part(a, 2 * GiB);
    const a2 = await part(a);
    const b1 = await part(b);
    const md0 = await call(operator, "POST", `${st(id)}/raids`, { name: "md0", level: "raid-1", devices: [a2, b1] });
    expect(md0.status, md0.text).toBe(201);
    const md1 = await call(operator, "POST", `${st(id)}/raids`, { name: "md1", level: 0, devices: [c, e] });
    expect(md1.status, md1.text).toBe(201);
    const vg = await call(operator, "POST", `${st(id)}/volume-groups`, { name: "data", devices: [md1.json.id] });
    expect(vg.status, vg.text).toBe(201);
    const lv1 = await call(operator, "POST", `${st(id)}/volume-groups/${vg.json.id}/logical-volumes`, { name: "lib", size: 20 * GiB });
    expect(lv1.status, lv1.text).toBe(201);
    const lv2 = await call(operator, "POST", `${st(id)}/volume-groups/${vg.json.id}/logical-volumes`, { name: "srv" });
    expect(lv2.status, lv2.text).toBe(201);
    const fsmount = async (dev: number, fstype: string, mount_point: string) => {
      const f = await call(operator, "POST", `${st(id)}/devices/${dev}/format`, { fstype });
      expect(f.status, f.text).toBe(200);
      const m = await call(operator, "POST", `${st(id)}/devices/${dev}/mount`, { mount_point });
      expect(m.status, m.text).toBe(200);
      return m.json;
    };
    await fsmount(md0.json.id, "ext4", "/");
    await fsmount(lv1.json.id, "xfs", "/var/lib/data");
    await fsmount(lv2.json.id, "ext4", "/srv");
    const done = await fsmount(swap, "swap", "none");
    expect(done.layout).toBe("custom");
    expect(done.problems).toEqual([]);
    expect(done.raids.map((r: { name: string; level: number }) => [r.name, r.level])).toEqual([
      ["md0", 1],
      ["md1", 0],
    ]);
    expect(done.volume_groups[0].logical_volumes).toEqual([lv1.json.id, lv2.json.id]);

    // Refusals with their reasons, the design unchanged.
    const before = (await call(viewer, "GET", st(id))).json;
    const refusals: [string, string, unknown, number, RegExp][] = [
      ["POST", `${st(id)}/raids`, { level: 5, devices: [c, e] }, 400, /./],
      ["POST", `${st(id)}/partitions`, { device: 999999 }, 404, /./],
      ["POST", `${st(id)}/devices/${md0.json.id}/mount`, { mount_point: "relative/path" }, 400, /./],
      ["POST", `${st(id)}/devices/${md0.json.id}/format`, { fstype: "ntfs" }, 400, /fstype/],
      ["DELETE", `${st(id)}/partitions/${a2}`, undefined, 409, /./],
      ["POST", `${st(id)}/volume-groups`, { name: "again", devices: [md1.json.id] }, 409, /./],
      ["PUT", `${st(id)}/boot-disk`, { id: 999999 }, 400, /not a physical disk/],
      ["DELETE", `${st(id)}/raids/999999`, undefined, 404, /./],
      ["DELETE", `${st(id)}/partitions/abc`, undefined, 400, /pid/],
    ];
    for (const [method, path, body, status, reason] of refusals) {
      const r = await call(operator, method, path, body);
      // The model decides 400 or 409 for a device in use; either way a 4xx with its reason.
      if (status === 409) expect([400, 409], `${method} ${path}: ${r.text}`).toContain(r.status);
      else expect(r.status, `${method} ${path}: ${r.text}`).toBe(status);
      expect(r.text).toMatch(reason);
    }
    expect((await call(viewer, "GET", st(id))).json).toEqual(before);

    // The boot disk moves; PATCH and DELETE on groups.
    const boot = await call(operator, "PUT", `${st(id)}/boot-disk`, { id: b });
    expect(boot.status, boot.text).toBe(200);
    expect(boot.json.boot_disk).toBe(b);
    const renamed = await call(operator, "PATCH", `${st(id)}/volume-groups/${vg.json.id}`, { name: "bulk" });
    expect(renamed.json.volume_groups[0].name).toBe("bulk");
    const rr = await call(operator, "PATCH", `${st(id)}/raids/${md0.json.id}`, { name: "root" });
    expect(rr.status, rr.text).toBe(200);
    expect(rr.json.raids[0].name).toBe("root");
    expect((await call(operator, "DELETE", `${st(id)}/logical-volumes/${lv2.json.id}`)).json.volume_groups[0].logical_volumes).toEqual([lv1.json.id]);
    expect((await call(operator, "POST", `${st(id)}/devices/${lv1.json.id}/unmount`)).status).toBe(200);
    expect((await call(operator, "POST", `${st(id)}/devices/${lv1.json.id}/unformat`)).status).toBe(200);
    const gone = await call(operator, "DELETE", `${st(id)}/volume-groups/${vg.json.id}`);
    expect(gone.status, gone.text).toBe(200);
    expect(gone.json.volume_groups).toEqual([]);
    expect((await call(operator, "DELETE", `${st(id)}/raids/${md1.json.id}`)).json.raids).toHaveLength(1);
    const changes = (await call(admin, "GET", `/events?machine=${id}&type=machine.storage_changed&limit=100`)).json.items;
    expect(changes.length).toBeGreaterThan(15);
    expect(changes.map((x: { description: string }) => x.description)).toContain(`RAID ${md0.json.id} created`);
  });

  it("cache sets and bcache devices", async () => {
    const { id, disks: d } = await machine(S.ALLOCATED, [100 * GiB, 10 * GiB]);
    await call(operator, "POST", `${st(id)}/layout`, { layout: "blank" });
    const cs = await call(operator, "POST", `${st(id)}/cache-sets`, { device: d[1] });
    expect(cs.status, cs.text).toBe(201);
    const bc = await call(operator, "POST", `${st(id)}/bcaches`, { name: "bcache0", backing: d[0], cache_set: cs.json.id, cache_mode: "writethrough" });
    expect(bc.status, bc.text).toBe(201);
    expect(bc.json.storage.bcaches[0]).toMatchObject({ name: "bcache0", backing: d[0], cache_set: cs.json.id, cache_mode: "writethrough" });
    const mode = await call(operator, "PATCH", `${st(id)}/bcaches/${bc.json.id}`, { cache_mode: "writeback" });
    expect(mode.json.bcaches[0].cache_mode).toBe("writeback");
    expect((await call(operator, "PATCH", `${st(id)}/bcaches/${bc.json.id}`, { cache_mode: "sometimes" })).status).toBe(400);
    // A cache set in use is not deleted.
    const inUse = await call(operator, "DELETE", `${st(id)}/cache-sets/${cs.json.id}`);
    expect([400, 409]).toContain(inUse.status);
    expect((await call(operator, "DELETE", `${st(id)}/bcaches/${bc.json.id}`)).json.bcaches).toEqual([]);
    expect((await call(operator, "DELETE", `${st(id)}/cache-sets/${cs.json.id}`)).json.cache_sets).toEqual([]);
    // The bcache layout: the small SSD caches the big disk.
    await env.DB.prepare("UPDATE block_devices SET rotational = 1 WHERE id = ?").bind(d[0]).run();
    const layout = await call(operator, "POST", `${st(id)}/layout`, { layout: "bcache", cache_mode: "writearound" });
    expect(layout.status, layout.text).toBe(200);
    expect(layout.json.bcaches).toHaveLength(1);
    expect(layout.json.bcaches[0].cache_mode).toBe("writearound");
    expect(layout.json.problems).toEqual([]);
  });

  it("only Ready or Allocated machines change (409), another site's machines are not there (404)", async () => {
    const deployed = await machine(S.DEPLOYED);
    for (const [method, path, body] of [
      ["POST", `${st(deployed.id)}/layout`, { layout: "lvm" }],
      ["POST", `${st(deployed.id)}/partitions`, { device: deployed.disks[0] }],
      ["PUT", `${st(deployed.id)}/boot-disk`, { id: deployed.disks[1] }],
    ] as const) {
      const r = await call(operator, method, path, body);
      expect(r.status, r.text).toBe(409);
      expect(r.json.error.code).toBe("illegal_state");
      expect(r.json.error.message).toMatch(/Ready or Allocated/);
    }
    expect((await call(viewer, "GET", st(deployed.id))).status).toBe(200);
    const south = await machine(S.READY, [20 * GiB], "stor-south");
    expect((await call(operator, "GET", st(south.id))).status).toBe(404);
    expect((await call(operator, "POST", `${st(south.id)}/layout`, { layout: "lvm" })).status).toBe(404);
    expect((await call(admin, "POST", `${st(south.id)}/layout`, { layout: "lvm" })).status).toBe(200);
  });
});

describe("one conditional write per change", () => {
  it("a design changed since it was read is not overwritten (409 concurrent_change), and no event is written", async () => {
    const { id } = await machine(S.READY, [20 * GiB, 20 * GiB]);
    const row = (await env.DB.prepare(
      "SELECT id, system_id AS systemId, hostname, site_id AS siteId, rack_id AS rackId, status FROM machines WHERE system_id = ?",
    )
      .bind(id)
      .first<{ id: number; systemId: string; hostname: string; siteId: number; rackId: string | null; status: number }>())!;
    const read = await loadStorage(env.DB, row.id);
    // Someone else applies a layout in between.
    expect((await call(operator, "POST", `${st(id)}/layout`, { layout: "lvm" })).status).toBe(200);
    const before = (await call(admin, "GET", `/events?machine=${id}&limit=100`)).json.items.length;
    await expect(saveDesign(env.DB, "late", row, read, { ...read.design, layout: "custom" }, "late edit")).rejects.toMatchObject({
      status: 409,
      code: "concurrent_change",
    });
    expect((await call(viewer, "GET", st(id))).json.layout).toBe("lvm");
    expect((await call(admin, "GET", `/events?machine=${id}&limit=100`)).json.items.length).toBe(before);
    // And a machine that left Ready meanwhile is not changed either.
    const fresh = await loadStorage(env.DB, row.id);
    await env.DB.prepare("UPDATE machines SET status = ? WHERE id = ?").bind(S.DEPLOYING, row.id).run();
    await expect(saveDesign(env.DB, "late", row, fresh, { ...fresh.design, layout: "custom" }, "late edit")).rejects.toMatchObject({ status: 409 });
  });
});

describe("deploying a design", () => {
  it("the rack's deploy spec carries the design's layout, boot disk and plan", async () => {
    const { id, disks: d } = await machine(S.ALLOCATED, [20 * GiB, 20 * GiB]);
    await env.DB.prepare("UPDATE machines SET firmware = 'uefi' WHERE system_id = ?").bind(id).run();
    const raid = await call(operator, "POST", `${st(id)}/layout`, { layout: "lvm", root_device: d[1] });
    expect(raid.status, raid.text).toBe(200);
    expect((await call(operator, "PUT", `${st(id)}/boot-disk`, { id: d[1] })).status).toBe(200);
    const dep = await call(admin, "POST", `/machines/${id}/deploy`, { osystem: "ubuntu", distro_series: "noble" });
    expect(dep.status, dep.text).toBe(200);
    const snap = await buildSnapshot(env.DB, rackId);
    const intent = snap!.bootIntents.find((b) => b.systemId === id)!;
    expect(intent.deploy!.storage.layout).toBe("lvm");
    expect(intent.deploy!.storage.disk).toBe("serial:QM00002");
    const plan = intent.deploy!.storage.plan;
    expect(plan.map((s) => s.type)).toEqual(expect.arrayContaining(["disk", "partition", "vg", "lv", "format", "mount"]));
    expect(plan.filter((s) => s.type === "mount").map((s) => (s as { path: string }).path)).toEqual(expect.arrayContaining(["/", "/boot/efi"]));
  });

  it("an undeployable design is refused with its reasons before anything changes, through both APIs", async () => {
    const { id } = await machine(S.ALLOCATED, [20 * GiB]);
    await call(operator, "POST", `${st(id)}/layout`, { layout: "blank" });
    const events = async () => (await call(admin, "GET", `/events?machine=${id}&limit=100`)).json.items.length;
    const n = await events();
    const r = await call(admin, "POST", `/machines/${id}/deploy`, { osystem: "ubuntu", distro_series: "noble" });
    expect(r.status, r.text).toBe(400);
    expect(r.json.error.code).toBe("invalid_storage");
    expect(r.json.error.message).toMatch(/no filesystem is mounted at \//);
    const mr = await maas(maasAdmin, "POST", `machines/${id}/`, { query: { op: "deploy" }, form: { distro_series: "noble" } });
    expect(mr.status).toBe(400);
    expect(mr.text).toMatch(/mounted at \//);
    expect(await statusOf(id)).toBe(S.ALLOCATED);
    expect(await events()).toBe(n);
    const snap = await buildSnapshot(env.DB, rackId);
    expect(snap!.bootIntents.find((b) => b.systemId === id)?.intent).toBe("none");
    // A layout makes it deployable again.
    await call(operator, "POST", `${st(id)}/layout`, { layout: "flat" });
    expect((await call(admin, "POST", `/machines/${id}/deploy`, { osystem: "ubuntu", distro_series: "noble" })).status).toBe(200);
  });
});

describe("MAAS 2.0 storage endpoints", () => {
  const nodes = (id: string) => `nodes/${id}`;

  it("set_storage_layout with its parameters; machines/{id}/ shows the design as MAAS does", async () => {
    const { id, disks: d } = await machine();
    const r = await maas(maasAdmin, "POST", `machines/${id}/`, {
      query: { op: "set_storage_layout" },
      form: { storage_layout: "lvm", vg_name: "vg0", lv_name: "lvroot", lv_size: "10G", root_device: String(d[2]), boot_size: "1G" },
    });
    expect(r.status, r.text).toBe(200);
    // root_device takes the volume group; the boot disk stays the first (MAAS does the same).
    expect(r.json.boot_disk.id).toBe(d[0]);
    expect(r.json.volume_groups).toEqual([{ system_id: id, id: expect.any(Number), __incomplete__: true }]);
    expect(r.json.raids).toEqual([]);
    const lv = r.json.virtualblockdevice_set[0];
    expect(lv).toMatchObject({ name: "vg0-lvroot", type: "virtual", size: 10e9, filesystem: { fstype: "ext4", mount_point: "/" } });
    expect(r.json.blockdevice_set).toHaveLength(5);
    expect(r.json.physicalblockdevice_set.map((x: { id: number }) => x.id)).toEqual(d);
    const bad = await maas(maasAdmin, "POST", `machines/${id}/`, { query: { op: "set_storage_layout" }, form: { storage_layout: "flat", root_size: "lots" } });
    expect(bad.status).toBe(400);
    expect(bad.json.root_size[0]).toMatch(/not a size/);
    const deployed = await machine(S.DEPLOYED);
    const d409 = await maas(maasAdmin, "POST", `machines/${deployed.id}/`, { query: { op: "set_storage_layout" }, form: { storage_layout: "flat" } });
    expect(d409.status).toBe(409);
  });

  it("terraform's maas_block_device: create a disk, tag it, partition, format and mount, update, delete", async () => {
    const { id } = await machine(S.READY, [20 * GiB]);
    await maas(maasAdmin, "POST", `machines/${id}/`, { query: { op: "set_storage_layout" }, form: { storage_layout: "flat" } });
    const c = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/`, {
      query: { op: "" },
      form: { name: "vdb", id_path: "/dev/vdb", size: String(27 * 1e9), block_size: "512" },
    });
    expect(c.status, c.text).toBe(200);
    expect(c.json).toMatchObject({ name: "vdb", type: "physical", size: 27e9, id_path: "/dev/vdb", tags: ["ssd"], partitions: [] });
    const diskId = c.json.id as number;
    // The stored design is made for the new set of disks: still the flat layout it was.
    expect((await call(viewer, "GET", st(id))).json.layout).toBe("flat");
    const tag = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${diskId}/`, { query: { op: "add_tag" }, form: { tag: "fast" } });
    expect(tag.json.tags).toEqual(["ssd", "fast"]);
    const untag = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${diskId}/`, { query: { op: "remove_tag" }, form: { tag: "ssd" } });
    expect(untag.json.tags).toEqual(["fast"]);
    const p1 = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${diskId}/partitions/`, { form: { size: String(10 * 1e9) } });
    expect(p1.status, p1.text).toBe(200);
    expect(p1.json).toMatchObject({ type: "partition", device_id: diskId, filesystem: null, system_id: id });
    expect(p1.json.resource_uri).toBe(`/MAAS/api/2.0/nodes/${id}/blockdevices/${diskId}/partition/${p1.json.id}`);
    const p2 = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${diskId}/partitions/`, { encoding: "multipart", form: {} });
    expect(p2.status, p2.text).toBe(200);
    const fmt = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${diskId}/partition/${p1.json.id}`, {
      query: { op: "format" },
      form: { fstype: "ext4", label: "media" },
    });
    expect(fmt.status, fmt.text).toBe(200);
    expect(fmt.json.filesystem).toMatchObject({ fstype: "ext4", label: "media", mount_point: null });
    const mnt = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${diskId}/partitions/${p1.json.id}/`, {
      query: { op: "mount" },
      form: { mount_point: "/media", mount_options: "noatime" },
    });
    expect(mnt.status, mnt.text).toBe(200);
    expect(mnt.json.filesystem).toMatchObject({ mount_point: "/media", mount_options: "noatime" });
    expect(mnt.json.used_for).toMatch(/ext4.*\/media/);
    const list = await maas(maasAdmin, "GET", `${nodes(id)}/blockdevices/${diskId}/partitions/`);
    expect(list.json.map((p: { id: number }) => p.id)).toEqual([p1.json.id, p2.json.id]);
    const one = await maas(maasAdmin, "GET", `${nodes(id)}/blockdevices/${diskId}/`);
    expect(one.json).toMatchObject({ partition_table_type: "GPT", used_for: expect.stringMatching(/GPT partitioned with 2 partitions/) });
    // Used by the design: not deleted.
    const inUse = await maas(maasAdmin, "DELETE", `${nodes(id)}/blockdevices/${diskId}/`);
    expect(inUse.status).toBe(409);
    expect(inUse.text).toMatch(/used by the storage design/);
    const put = await maas(maasAdmin, "PUT", `${nodes(id)}/blockdevices/${diskId}/`, { form: { name: "vdz", serial: "NEW1", model: "Disk" } });
    expect(put.json).toMatchObject({ name: "vdz", serial: "NEW1", model: "Disk" });
    for (const pid of [p1.json.id, p2.json.id]) {
      if (pid === p1.json.id) {
        expect((await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${diskId}/partition/${pid}`, { query: { op: "unmount" } })).status).toBe(200);
        expect((await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${diskId}/partition/${pid}`, { query: { op: "unformat" } })).status).toBe(200);
      }
      expect((await maas(maasAdmin, "DELETE", `${nodes(id)}/blockdevices/${diskId}/partition/${pid}`)).status).toBe(204);
    }
    expect((await maas(maasAdmin, "DELETE", `${nodes(id)}/blockdevices/${diskId}/`)).status).toBe(204);
    expect((await maas(maasAdmin, "GET", `${nodes(id)}/blockdevices/${diskId}/`)).status).toBe(404);
    expect((await call(viewer, "GET", st(id))).json.layout).toBe("custom");
    // Bad inputs: field errors as MAAS forms give them.
    const noSize = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/`, { form: { name: "vdq", id_path: "/dev/vdq" } });
    expect(noSize.json.size[0]).toBe("This field is required.");
    const noPath = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/`, { form: { name: "vdq", size: "1000000000" } });
    expect(noPath.json.__all__[0]).toMatch(/id_path/);
    const noFs = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${(await call(viewer, "GET", st(id))).json.block_devices[0].id}/`, {
      query: { op: "format" },
      form: {},
    });
    expect(noFs.status).toBe(400);
  });

  it("python-libmaas: raids, volume groups with logical volumes, cache sets and bcaches; the block device list holds them", async () => {
    const { id, disks: d } = await machine();
    const [a, b, c, e] = d as [number, number, number, number];
    await maas(maasAdmin, "POST", `machines/${id}/`, { query: { op: "set_storage_layout" }, form: { storage_layout: "blank" } });
    const enc = "multipart" as const;
    const raid = await maas(maasAdmin, "POST", `${nodes(id)}/raids/`, {
      encoding: enc,
      form: [
        ["name", "md0"],
        ["level", "raid-1"],
        ["block_devices", String(a)],
        ["block_devices", String(b)],
        ["spare_devices", String(c)],
      ],
    });
    expect(raid.status, raid.text).toBe(200);
    expect(raid.json).toMatchObject({ name: "md0", level: "raid-1", system_id: id, resource_uri: `/MAAS/api/2.0/nodes/${id}/raid/${raid.json.id}/` });
    expect(raid.json.devices.map((x: { id: number }) => x.id)).toEqual([a, b]);
    expect(raid.json.spare_devices.map((x: { id: number }) => x.id)).toEqual([c]);
    expect(raid.json.virtual_device).toMatchObject({ id: raid.json.id, type: "virtual", name: "md0" });
    expect(raid.json.human_size).toMatch(/GB$/);
    const noSpare = await maas(maasAdmin, "PUT", `${nodes(id)}/raid/${raid.json.id}/`, { form: { remove_spare_devices: String(c) } });
    expect(noSpare.status, noSpare.text).toBe(200);
    expect(noSpare.json.spare_devices).toEqual([]);
    const badLevel = await maas(maasAdmin, "POST", `${nodes(id)}/raids/`, { form: { level: "raid-7", block_devices: [String(c), String(e)] } });
    expect(badLevel.status).toBe(400);
    expect(badLevel.json.level[0]).toMatch(/raid-0/);
    // Plinth partitions physical disks only: the RAID device is formatted whole; c gets the volume group.
    const mdPart = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${raid.json.id}/partitions/`, { form: {} });
    expect(mdPart.status).toBe(400);
    expect(mdPart.text).toMatch(/physical disks only/);
    const mdFs = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${raid.json.id}/`, { query: { op: "format" }, form: { fstype: "ext4" } });
    expect(mdFs.status, mdFs.text).toBe(200);
    const mdMount = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${raid.json.id}/`, { query: { op: "mount" }, form: { mount_point: "/" } });
    expect(mdMount.json).toMatchObject({ type: "virtual", filesystem: { fstype: "ext4", mount_point: "/" }, used_for: expect.stringMatching(/ext4/) });
    const vg = await maas(maasAdmin, "POST", `${nodes(id)}/volume-groups/`, { encoding: enc, form: { name: "vgdata", block_devices: String(c) } });
    expect(vg.status, vg.text).toBe(200);
    expect(vg.json).toMatchObject({ name: "vgdata", logical_volumes: [], resource_uri: `/MAAS/api/2.0/nodes/${id}/volume-group/${vg.json.id}/` });
    const lv = await maas(maasAdmin, "POST", `${nodes(id)}/volume-group/${vg.json.id}/`, {
      query: { op: "create_logical_volume" },
      form: { name: "lv1", size: "5G" },
    });
    expect(lv.status, lv.text).toBe(200);
    expect(lv.json).toMatchObject({ name: "vgdata-lv1", type: "virtual" });
    const lvBad = await maas(maasAdmin, "POST", `${nodes(id)}/volume-group/${vg.json.id}/`, {
      query: { op: "create_logical_volume" },
      form: { name: "huge", size: "5T" },
    });
    expect(lvBad.status).toBe(400);
    const vgRead = await maas(maasAdmin, "GET", `${nodes(id)}/volume-groups/${vg.json.id}/`);
    expect(vgRead.json.logical_volumes.map((x: { id: number }) => x.id)).toEqual([lv.json.id]);
    expect(vgRead.json.used_size).toBeGreaterThan(0);
    const renamed = await maas(maasAdmin, "PUT", `${nodes(id)}/volume-group/${vg.json.id}/`, { form: { name: "vgbulk" } });
    expect(renamed.json.name).toBe("vgbulk");
    expect(
      (await maas(maasAdmin, "POST", `${nodes(id)}/volume-group/${vg.json.id}/`, { query: { op: "delete_logical_volume" }, form: { id: String(lv.json.id) } }))
        .status,
    ).toBe(204);
    expect(
      (await maas(maasAdmin, "POST", `${nodes(id)}/volume-group/${vg.json.id}/`, { query: { op: "delete_logical_volume" }, form: { id: "424242" } })).status,
    ).toBe(204);
    expect((await maas(maasAdmin, "DELETE", `${nodes(id)}/volume-group/${vg.json.id}/`)).status).toBe(204);
    // bcache: e caches c.
    const cs = await maas(maasAdmin, "POST", `${nodes(id)}/bcache-cache-sets/`, { form: { cache_device: String(e) } });
    expect(cs.status, cs.text).toBe(200);
    expect(cs.json).toMatchObject({ cache_device: { id: e }, resource_uri: `/MAAS/api/2.0/nodes/${id}/bcache-cache-set/${cs.json.id}/` });
    const both = await maas(maasAdmin, "POST", `${nodes(id)}/bcache-cache-sets/`, { form: { cache_device: String(e), cache_partition: "1" } });
    expect(both.status).toBe(400);
    const bc = await maas(maasAdmin, "POST", `${nodes(id)}/bcaches/`, {
      form: { name: "bcache0", cache_set: String(cs.json.id), backing_device: String(c), cache_mode: "WRITEBACK" },
    });
    expect(bc.status, bc.text).toBe(200);
    expect(bc.json).toMatchObject({ name: "bcache0", cache_mode: "writeback", backing_device: { id: c }, cache_set: { id: cs.json.id } });
    const bcPut = await maas(maasAdmin, "PUT", `${nodes(id)}/bcache/${bc.json.id}/`, { form: { cache_mode: "writethrough" } });
    expect(bcPut.json.cache_mode).toBe("writethrough");
    const all = await maas(maasAdmin, "GET", `${nodes(id)}/blockdevices/`);
    expect(all.json.filter((x: { type: string }) => x.type === "virtual").map((x: { name: string }) => x.name)).toEqual(["md0", "bcache0"]);
    expect((await maas(maasAdmin, "GET", `${nodes(id)}/bcaches/`)).json).toHaveLength(1);
    expect((await maas(maasAdmin, "GET", `${nodes(id)}/bcache-cache-sets/`)).json).toHaveLength(1);
    expect((await maas(maasAdmin, "GET", `${nodes(id)}/raids/`)).json).toHaveLength(1);
    const m = await maas(maasAdmin, "GET", `machines/${id}/`);
    expect(m.json.cache_sets).toEqual([{ system_id: id, id: cs.json.id, __incomplete__: true }]);
    expect(m.json.bcaches).toEqual([{ system_id: id, id: bc.json.id, __incomplete__: true }]);
    // The boot disk through set_boot_disk; a virtual device cannot be one.
    expect((await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${b}/`, { query: { op: "set_boot_disk" } })).status).toBe(200);
    expect((await maas(maasAdmin, "GET", `machines/${id}/`)).json.boot_disk.id).toBe(b);
    expect((await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${raid.json.id}/`, { query: { op: "set_boot_disk" } })).status).toBe(400);
    // Deleting through the block device: the bcache device and the RAID go.
    expect((await maas(maasAdmin, "DELETE", `${nodes(id)}/bcache/${bc.json.id}/`)).status).toBe(204);
    expect((await maas(maasAdmin, "DELETE", `${nodes(id)}/bcache-cache-set/${cs.json.id}/`)).status).toBe(204);
    expect((await maas(maasAdmin, "DELETE", `${nodes(id)}/blockdevices/424242/`)).status).toBe(404);
    expect((await maas(maasAdmin, "DELETE", `${nodes(id)}/blockdevices/${raid.json.id}/`)).status).toBe(204);
    expect((await maas(maasAdmin, "GET", `${nodes(id)}/raids/`)).json).toEqual([]);
  });

  it("reads need the machine's site; changes need machine.edit and a Ready or Allocated machine", async () => {
    const { id, disks: d } = await machine(S.DEPLOYED, [20 * GiB]);
    const viewerMaas = await maasKey(viewer);
    expect((await maas(viewerMaas, "GET", `${nodes(id)}/blockdevices/`)).status).toBe(200);
    expect((await maas(viewerMaas, "POST", `${nodes(id)}/blockdevices/${d[0]}/partitions/`, { form: {} })).status).toBe(403);
    const r = await maas(maasAdmin, "POST", `${nodes(id)}/blockdevices/${d[0]}/partitions/`, { form: {} });
    expect(r.status).toBe(409);
    expect(r.text).toMatch(/Ready or Allocated/);
    const outsider = await maasKey(await makeUser("stor-out", [["operator", "elsewhere"]]));
    expect((await maas(outsider, "GET", `${nodes(id)}/blockdevices/`)).status).toBe(404);
    expect((await maas(maasAdmin, "GET", `${nodes(id)}/raid/1/`)).status).toBe(404);
  });
});
