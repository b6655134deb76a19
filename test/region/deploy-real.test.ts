// Real deployments as the region sees them (issue 14): MAAS's image formats, the storage
// layout per machine (set_storage_layout, /api/v1 PATCH) and what reaches the rack's deploy
// spec (boot disk, layout, the tags' kernel options), and what comes back: the installer's
// progress and partitions, the deployed system's cloud-init events deciding DEPLOYED or
// FAILED_DEPLOYMENT. Real D1, the real snapshot builder and the real event applier.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import type { RackEvent } from "../../shared/tunnel/events";
import { applyRackEvents } from "../../cloud/domain/racks/rack-events";
import { buildSnapshot } from "../../cloud/tunnel/config";
import { call, deployableImage, makeMachine, makeUser, statusOf } from "./helpers";
import { maas, maasKey } from "./maas-helpers";
import { enrolRack } from "./tunnel-helpers";

const SITE = "real-site";
let admin = "";
let maasAdmin = "";
let rackId = "";
let seq = 0;
const result = (systemId: string, name: string, status: "passed" | "failed" | "running", output: unknown): RackEvent => ({
  seq: ++seq,
  at: Date.now(),
  type: "metadata.result",
  data: { systemId, name, status, output: JSON.stringify(output) },
});
const cloudinit = (systemId: string, ev: Record<string, unknown>) =>
  result(systemId, "cloudinit", ev["event_type"] === "start" ? "running" : ev["result"] === "FAIL" ? "failed" : "passed", { origin: "cloudinit", ...ev });

async function intentOf(systemId: string) {
  const snap = await buildSnapshot(env.DB, rackId);
  return snap!.bootIntents.find((b) => b.systemId === systemId)!;
}

async function addDisk(systemId: string, name: string, serial: string) {
  await env.DB.prepare("INSERT INTO block_devices (machine_id, name, path, serial, size) SELECT id, ?, ?, ?, ? FROM machines WHERE system_id = ?")
    .bind(name, `/dev/${name}`, serial, 20e9, systemId)
    .run();
}

async function eventsOf(systemId: string, type: string) {
  return (await call(admin, "GET", `/events?machine=${systemId}&type=${type}`)).json.items as { description: string; level: string }[];
}

beforeAll(async () => {
  admin = await makeUser("real-admin", [["admin", null]]);
  maasAdmin = await maasKey(admin);
  ({ rackId } = await enrolRack(admin, SITE, "real-rack"));
  await deployableImage("debian", "bookworm", "amd64/generic", "tgz");
});

describe("image formats", () => {
  it("accepts MAAS's formats and Plinth's, refuses others, and boot-resources names MAAS's filetypes", async () => {
    const filetype: Record<string, string> = {
      tgz: "root-tgz",
      txz: "root-txz",
      ddraw: "root-dd",
      ddgz: "root-dd.gz",
      ddxz: "root-dd.xz",
      ddzst: "root-dd.zst",
      raw: "root-dd",
      "raw.gz": "root-dd.gz",
      "raw.zst": "root-dd.zst",
    };
    for (const [format, ft] of Object.entries(filetype)) {
      const r = await call(admin, "POST", "/boot-images", { osystem: "fmt", series: format.replace(".", "-"), format });
      expect(r.status, r.text).toBe(201);
      expect(r.json.format).toBe(format);
      // Declared, no bytes yet: not in the list (nothing could deploy it), read by id as MAAS
      // shows an upload in progress, incomplete.
      const list = (await maas(maasAdmin, "GET", "boot-resources/")).json as { id: number; filetype: string }[];
      expect(list.some((b) => b.id === r.json.id)).toBe(false);
      const one = (await maas(maasAdmin, "GET", `boot-resources/${r.json.id}/`)).json;
      expect(one.filetype).toBe(ft);
      const set = Object.values(one.sets as Record<string, { complete: boolean; files: Record<string, { filetype: string }> }>)[0]!;
      expect(set.complete).toBe(false);
      expect(Object.keys(set.files)).toEqual([ft]);
    }
    const bad = await call(admin, "POST", "/boot-images", { osystem: "fmt", series: "iso", format: "iso" });
    expect(bad.status).toBe(400);
  });

  it("an image with its bytes is a complete set", async () => {
    const row = await env.DB.prepare("SELECT id FROM boot_images WHERE osystem = 'debian' AND series = 'bookworm'").first<{ id: number }>();
    const one = (await maas(maasAdmin, "GET", `boot-resources/${row!.id}/`)).json;
    expect(one).toMatchObject({ name: "debian/bookworm", filetype: "root-tgz" });
    expect(Object.values(one.sets as Record<string, { complete: boolean; files: Record<string, { sha256: string }> }>)[0]).toMatchObject({
      complete: true,
      files: { "root-tgz": { sha256: "d".repeat(64) } },
    });
  });
});

describe("storage layout", () => {
  it("set_storage_layout lvm on a Ready machine with disks: recorded as an event, shown, and in the deploy spec with the first disk", async () => {
    const id = await makeMachine({ site: SITE, status: S.READY });
    await addDisk(id, "vda", "QM00001");
    await addDisk(id, "vdb", "");
    const r = await maas(maasAdmin, "POST", `machines/${id}/`, { query: { op: "set_storage_layout" }, form: { storage_layout: "lvm" } });
    expect(r.status, r.text).toBe(200);
    expect(r.json.system_id).toBe(id);
    expect((await eventsOf(id, "machine.storage_layout"))[0]?.description).toBe("storage layout set to lvm");
    const m = (await call(admin, "GET", `/machines/${id}`)).json;
    expect(m.storage_layout).toBe("lvm");
    expect(m.storage_detail).toEqual({ layout: "lvm", disk: "serial:QM00001", deployed: null, design_problems: [] });
    // The tags' kernel options, in tag name order, joined by spaces (as MAAS).
    await env.DB.prepare("INSERT INTO tags (name, kernel_opts) VALUES ('b-console', 'console=ttyS0,115200'), ('a-quiet', 'quiet'), ('c-none', '')").run();
    await env.DB.prepare(
      "INSERT INTO machine_tags (machine_id, tag_id) SELECT m.id, t.id FROM machines m, tags t WHERE m.system_id = ? AND t.name IN ('b-console', 'a-quiet', 'c-none')",
    )
      .bind(id)
      .run();
    expect((await call(admin, "POST", `/machines/${id}/deploy`, { osystem: "debian", distro_series: "bookworm" })).status).toBe(200);
    expect((await intentOf(id)).deploy).toMatchObject({
      image: { format: "tgz" },
      storage: { layout: "lvm", disk: "serial:QM00001" },
      kernelOpts: "quiet console=ttyS0,115200",
    });
  });

  it("a disk with no serial goes by its name; /api/v1 PATCH sets the layout back to flat", async () => {
    const id = await makeMachine({ site: SITE, status: S.ALLOCATED });
    await addDisk(id, "sda", "");
    expect((await call(admin, "PATCH", `/machines/${id}`, { storage_layout: "lvm" })).json.storage_layout).toBe("lvm");
    const r = await call(admin, "PATCH", `/machines/${id}`, { storage_layout: "flat", description: "x" });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ storage_layout: "flat", description: "x", storage_detail: { layout: "flat", disk: "sda" } });
    const vmfs = await call(admin, "PATCH", `/machines/${id}`, { storage_layout: "vmfs6" });
    expect(vmfs.status).toBe(400);
    expect(vmfs.text).toContain("supported: flat, lvm, bcache, blank");
  });

  it("refuses MAAS layouts Plinth does not make, naming what it does; blank is made", async () => {
    const id = await makeMachine({ site: SITE, status: S.READY });
    await addDisk(id, "vda", "");
    for (const layout of ["vmfs6", "vmfs7", "custom", "nonsense", ""]) {
      const r = await maas(maasAdmin, "POST", `machines/${id}/`, { query: { op: "set_storage_layout" }, form: layout ? { storage_layout: layout } : {} });
      expect(r.status).toBe(400);
      expect(r.json.storage_layout[0]).toContain("Supported layouts: flat, lvm, bcache, blank.");
    }
    expect((await call(admin, "GET", `/machines/${id}`)).json.storage_layout).toBe("flat");
    const blank = await maas(maasAdmin, "POST", `machines/${id}/`, { query: { op: "set_storage_layout" }, form: { storage_layout: "blank" } });
    expect(blank.status, blank.text).toBe(200);
    expect(blank.json.physicalblockdevice_set[0].partitions).toEqual([]);
    expect((await call(admin, "GET", `/machines/${id}`)).json.storage_detail.design_problems[0]).toMatch(/no filesystem is mounted at \//);
  });

  it("refuses a machine with no disks (400) and one that is not Ready or Allocated (409)", async () => {
    const bare = await makeMachine({ site: SITE, status: S.READY });
    const r = await maas(maasAdmin, "POST", `machines/${bare}/`, { query: { op: "set_storage_layout" }, form: { storage_layout: "flat" } });
    expect(r.status).toBe(400);
    expect(r.text).toContain("has no disks");
    const deployed = await makeMachine({ site: SITE, status: S.DEPLOYED });
    await addDisk(deployed, "vda", "");
    const d = await maas(maasAdmin, "POST", `machines/${deployed}/`, { query: { op: "set_storage_layout" }, form: { storage_layout: "lvm" } });
    expect(d.status).toBe(409);
    expect(d.text).toMatch(/Ready or Allocated/);
    expect(await eventsOf(deployed, "machine.storage_layout")).toEqual([]);
  });
});

describe("what the installer and the deployed system report", () => {
  async function deploying(): Promise<{ id: string; token: string }> {
    const id = await makeMachine({ site: SITE, status: S.ALLOCATED });
    await addDisk(id, "vda", "");
    const r = await call(admin, "POST", `/machines/${id}/deploy`, { osystem: "debian", distro_series: "bookworm" });
    expect(r.status, r.text).toBe(200);
    return { id, token: (await intentOf(id)).deploy!.token };
  }
  const PARTITIONS = [
    { name: "vda1", size_bytes: 1 << 20, fstype: "", mount: "", uuid: "" },
    { name: "vda2", size_bytes: 536870912, fstype: "vfat", mount: "/boot/efi", uuid: "ABCD-1234" },
    { name: "vda3", size_bytes: 20e9 - 537919488, fstype: "ext4", mount: "/", uuid: "0b7e5d6a-1111-2222-3333-444455556666" },
  ];

  it("progress posts are events and the status message; installed keeps the partitions; modules-final SUCCESS: Deployed", async () => {
    const { id, token } = await deploying();
    await applyRackEvents(env.DB, rackId, [
      result(id, "status", "running", { mode: "deploy", status: "progress", step: "partitioning", message: "flat on /dev/vda" }),
      result(id, "status", "running", {
        mode: "deploy",
        status: "progress",
        step: "unpacking",
        message: "unpacked 300 of 700 MiB",
        done_mib: 300,
        total_mib: 700,
      }),
    ]);
    expect((await eventsOf(id, "machine.deploy_progress")).map((e) => e.description)).toEqual(
      expect.arrayContaining(["partitioning: flat on /dev/vda", "unpacking: unpacked 300 of 700 MiB"]),
    );
    expect((await call(admin, "GET", `/machines/${id}`)).json.status_message).toBe("unpacking: unpacked 300 of 700 MiB");
    const out = await applyRackEvents(env.DB, rackId, [
      result(id, "status", "passed", {
        mode: "deploy",
        status: "installed",
        disk: "/dev/vda",
        sha256: "d".repeat(64),
        layout: "flat",
        firmware: "uefi",
        partitions: PARTITIONS,
      }),
    ]);
    expect(out.configChanged).toBe(true);
    expect(await intentOf(id)).toMatchObject({ intent: "local", deployToken: token });
    const m = (await call(admin, "GET", `/machines/${id}`)).json;
    expect(m.storage_detail.deployed).toEqual({ layout: "flat", disk: "/dev/vda", firmware: "uefi", partitions: PARTITIONS });
    const disk = (await maas(maasAdmin, "GET", `machines/${id}/`)).json.physicalblockdevice_set[0];
    expect(disk).toMatchObject({ name: "vda", partition_table_type: "GPT" });
    expect(disk.partitions.map((p: { path: string; filesystem: { mount_point: string } | null }) => [p.path, p.filesystem?.mount_point ?? null])).toEqual([
      ["/dev/vda1", null],
      ["/dev/vda2", "/boot/efi"],
      ["/dev/vda3", "/"],
    ]);
    // The deployed system's cloud-init: stages start and finish; only modules-final's finish decides.
    await applyRackEvents(env.DB, rackId, [
      cloudinit(id, { name: "init-network", event_type: "start", description: "searching for network datasources" }),
      cloudinit(id, { name: "init-network", event_type: "finish", result: "SUCCESS", description: "searching for network datasources" }),
      cloudinit(id, { name: "modules-final", event_type: "start", description: "running modules for final" }),
    ]);
    expect(await statusOf(id)).toBe(S.DEPLOYING);
    expect((await call(admin, "GET", `/machines/${id}`)).json.status_message).toBe("cloud-init: modules-final");
    const done = await applyRackEvents(env.DB, rackId, [
      cloudinit(id, { name: "modules-final", event_type: "finish", result: "SUCCESS", description: "running modules for final" }),
    ]);
    expect(done.configChanged).toBe(true);
    expect(await statusOf(id)).toBe(S.DEPLOYED);
    expect((await eventsOf(id, "machine.deployed"))[0]?.description).toBe("deployed: cloud-init finished modules-final");
    const ci = await eventsOf(id, "machine.cloudinit");
    expect(ci).toHaveLength(4);
    expect(ci.map((e) => e.description)).toContain("cloud-init finish modules-final (SUCCESS): running modules for final");
    // Later events are recorded and move nothing; the token still lives (cloud-init reads with it).
    await applyRackEvents(env.DB, rackId, [cloudinit(id, { name: "modules-final", event_type: "finish", result: "FAIL", description: "late" })]);
    expect(await statusOf(id)).toBe(S.DEPLOYED);
    expect(await eventsOf(id, "machine.cloudinit")).toHaveLength(5);
    expect(await intentOf(id)).toMatchObject({ intent: "local", deployToken: token });
    // Release revokes it.
    expect((await call(admin, "POST", `/machines/${id}/release`, {})).status).toBe(200);
    expect((await intentOf(id)).deployToken).toBeUndefined();
    expect(JSON.stringify(await buildSnapshot(env.DB, rackId))).not.toContain(token);
  });

  it("modules-final WARN is Deployed, with the warning in the message", async () => {
    const { id } = await deploying();
    await applyRackEvents(env.DB, rackId, [cloudinit(id, { name: "modules-final", event_type: "finish", result: "WARN", description: "deprecated key" })]);
    expect(await statusOf(id)).toBe(S.DEPLOYED);
    expect((await call(admin, "GET", `/machines/${id}`)).json.status_message).toBe("cloud-init finished modules-final with warnings: deprecated key");
    expect((await eventsOf(id, "machine.cloudinit"))[0]?.level).toBe("WARNING");
  });

  it("modules-final FAIL: Failed deployment with cloud-init's description; the machine can be released and deployed again", async () => {
    const { id, token } = await deploying();
    await applyRackEvents(env.DB, rackId, [
      cloudinit(id, { name: "modules-final", event_type: "finish", result: "FAIL", description: "running modules for final: scripts_user failed" }),
    ]);
    expect(await statusOf(id)).toBe(S.FAILED_DEPLOYMENT);
    const m = (await call(admin, "GET", `/machines/${id}`)).json;
    expect(m.status_message).toBe("cloud-init modules-final failed: running modules for final: scripts_user failed");
    expect((await eventsOf(id, "machine.cloudinit"))[0]?.level).toBe("ERROR");
    expect(JSON.stringify(await buildSnapshot(env.DB, rackId))).not.toContain(token);
    expect((await call(admin, "POST", `/machines/${id}/release`, {})).status).toBe(200);
    expect((await call(admin, "POST", `/machines/${id}/allocate`, {})).status).toBe(200);
    expect((await call(admin, "POST", `/machines/${id}/deploy`, { osystem: "debian", distro_series: "bookworm" })).status).toBe(200);
    expect((await intentOf(id)).deploy!.token).not.toBe(token);
  });

  it("an installer failure is Failed deployment with its words verbatim; a bad event body moves nothing", async () => {
    const { id } = await deploying();
    await applyRackEvents(env.DB, rackId, [cloudinit(id, { name: "modules-final", event_type: "explode" })]);
    expect(await statusOf(id)).toBe(S.DEPLOYING);
    expect(await eventsOf(id, "machine.cloudinit")).toEqual([]);
    await applyRackEvents(env.DB, rackId, [
      result(id, "status", "failed", { mode: "deploy", status: "failed", error: "writing: image is 2147483648 bytes, /dev/vda holds 1073741824" }),
    ]);
    expect(await statusOf(id)).toBe(S.FAILED_DEPLOYMENT);
    expect((await call(admin, "GET", `/machines/${id}`)).json.status_message).toBe("writing: image is 2147483648 bytes, /dev/vda holds 1073741824");
  });
});
