// Rack events acting on machines: enlistment from dhcp.discover, commissioning results into
// the inventory and the lifecycle, and the boot intents pushed back to the rack. Real
// WebSockets to the RackTunnel Durable Object and real D1; each test has its own site.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createInterfaceKind, type KindMachine } from "../../cloud/domain/machines/interface-kinds";
import { buildSnapshot } from "../../cloud/tunnel/config";
import { NODE_STATUS } from "../../shared/lifecycle";
import { call, makeMachine, makeUser, statusOf } from "./helpers";
import { connect, enrolRack, type Inbox } from "./tunnel-helpers";

/** Polls D1 until `fn` returns a value (the rack's events are applied after their ack). */
async function eventually<T>(what: string, fn: () => Promise<T | null | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await fn();
    if (v !== null && v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`never happened: ${what}`);
}

const machineByMac = (mac: string) =>
  env.DB.prepare(
    "SELECT m.system_id, m.status, m.firmware, m.rack_id, a.subnet_id, a.kind FROM interfaces i JOIN machines m ON m.id = i.machine_id LEFT JOIN ip_addresses a ON a.interface_id = i.id WHERE i.mac = ?",
  )
    .bind(mac)
    .first<{ system_id: string; status: number; firmware: string; rack_id: string; subnet_id: number | null; kind: string | null }>();

async function setup(n: string, cidr: string): Promise<{ admin: string; rackId: string; rack: Inbox; subnetId: number }> {
  const admin = await makeUser(`ea-admin-${n}`, [["admin", null]]);
  const { rackId, credential } = await enrolRack(admin, `ea-site-${n}`, `ea-rack-${n}`);
  const s = await call(admin, "POST", "/subnets", { cidr, site: `ea-site-${n}` });
  expect(s.status, s.text).toBe(201);
  const rack = await connect(rackId, credential, { journal: `ea-j-${n}` });
  await rack.next((m) => m.t === "config");
  return { admin, rackId, rack, subnetId: s.json.id };
}

let seq = 0;
const ev = (type: string, data: unknown) => ({ seq: ++seq, at: Date.now(), type, data });

describe("rack events applied to machines", () => {
  it("enlists an unknown MAC on a managed subnet once, as NEW, and pushes its enlist intent to the rack", async () => {
    const { admin, rack, rackId, subnetId } = await setup("1", "10.61.0.0/24");
    const mac = "52:54:00:61:00:01";
    rack.send({
      t: "event",
      v: 1,
      events: [ev("dhcp.discover", { mac, arch: "0", subnet: "10.61.0.0/24" }), ev("dhcp.discover", { mac, arch: "0", subnet: "10.61.0.0/24" })],
    });
    await rack.next((m) => m.t === "ack");
    const m = await eventually("the enlisted machine", () => machineByMac(mac));
    expect(m).toMatchObject({ status: NODE_STATUS.NEW, firmware: "bios", rack_id: rackId, subnet_id: subnetId, kind: "auto" });
    const cfg = await rack.next((f) => f.t === "config" && f.snapshot.bootIntents.some((b: { mac: string }) => b.mac === mac));
    expect(cfg.snapshot.bootIntents.find((b: { mac: string }) => b.mac === mac)).toMatchObject({ systemId: m.system_id, intent: "enlist" });
    const audit = await call(admin, "GET", `/events?machine=${m.system_id}&type=machine.enlisted`);
    expect(audit.json.items).toHaveLength(1);

    // Again later (a reboot), with UEFI: still one machine, its firmware noted.
    rack.send({ t: "event", v: 1, events: [ev("dhcp.discover", { mac, arch: "7", subnet: "10.61.0.0/24" })] });
    await rack.next((f) => f.t === "ack");
    await eventually("firmware updated", async () => ((await machineByMac(mac))?.firmware === "uefi" ? true : null));
    const count = await env.DB.prepare("SELECT count(*) AS n FROM interfaces WHERE mac = ?").bind(mac).first<{ n: number }>();
    expect(count!.n).toBe(1);
    rack.ws.close(1000);
  });

  it("does not enlist from unmanaged or unknown subnets, nor without a subnet", async () => {
    const { admin, rack } = await setup("2", "10.62.0.0/24");
    const other = await call(admin, "POST", "/subnets", { cidr: "10.63.0.0/24", site: "ea-site-2", managed: false });
    expect(other.status).toBe(201);
    const macs = ["52:54:00:62:00:01", "52:54:00:62:00:02", "52:54:00:62:00:03"];
    rack.send({
      t: "event",
      v: 1,
      events: [
        ev("dhcp.discover", { mac: macs[0], subnet: "10.63.0.0/24" }),
        ev("dhcp.discover", { mac: macs[1], subnet: "10.99.0.0/24" }),
        ev("dhcp.discover", { mac: macs[2] }),
        ev("dhcp.discover", { mac: "52:54:00:62:00:04", subnet: "10.62.0.0/24" }),
      ],
    });
    await rack.next((m) => m.t === "ack");
    // The last one is enlisted: once it is there, the others were considered before it.
    await eventually("the managed-subnet machine", () => machineByMac("52:54:00:62:00:04"));
    for (const mac of macs) expect(await machineByMac(mac)).toBeNull();
    rack.ws.close(1000);
  });

  it("stores commissioning results, fills the inventory and moves COMMISSIONING to READY", async () => {
    const { admin, rack } = await setup("3", "10.64.0.0/24");
    const mac = "52:54:00:64:00:01";
    const sys = await makeMachine({ site: "ea-site-3", status: NODE_STATUS.COMMISSIONING, mac, cpuCount: 0, memory: 0 });
    const result = (name: string, doc: unknown, status = "passed") => ev("metadata.result", { systemId: sys, name, status, output: JSON.stringify(doc) });
    rack.send({
      t: "event",
      v: 1,
      events: [
        result("status", { mode: "commission", status: "running" }, "running"),
        result("cpu", { count: 2, model: "QEMU TCG CPU", architecture: "x86_64", flags: ["fpu"] }),
        result("memory", { total_bytes: 486539264, physical_bytes: 536870912 }),
        result("disks", { disks: [{ name: "vda", path: "/dev/vda", size_bytes: 67108864, model: null, serial: "PLX-0", rotational: true }] }),
        result("nics", {
          nics: [
            { name: "ens3", mac, driver: "virtio_net", speed_mbps: null, link: true, boot: true },
            { name: "ens4", mac: "52:54:00:64:00:02", driver: "e1000", speed_mbps: 1000, link: false, boot: false },
          ],
        }),
        result("dmi", { product_uuid: "5e1d0c0a-0000-4000-8000-000000000001" }),
        result("firmware", { type: "bios", secure_boot: null }),
        result("status", { mode: "commission", status: "done" }),
      ],
    });
    await rack.next((m) => m.t === "ack");
    expect(await eventually("READY", async () => ((await statusOf(sys)) === NODE_STATUS.READY ? true : null))).toBe(true);
    const m = await call(admin, "GET", `/machines/${sys}`);
    expect(m.json).toMatchObject({ cpu_count: 2, memory: 512 });
    const row = await env.DB.prepare("SELECT id, cpu_model, storage, firmware, hardware_uuid FROM machines WHERE system_id = ?")
      .bind(sys)
      .first<{ id: number; cpu_model: string; storage: number; firmware: string; hardware_uuid: string }>();
    expect(row).toMatchObject({ cpu_model: "QEMU TCG CPU", storage: 67.108864, firmware: "bios", hardware_uuid: "5e1d0c0a-0000-4000-8000-000000000001" });
    const disks = await env.DB.prepare("SELECT name, serial, size, rotational FROM block_devices WHERE machine_id = ?").bind(row!.id).all();
    expect(disks.results).toEqual([{ name: "vda", serial: "PLX-0", size: 67108864, rotational: 1 }]);
    const nics = await env.DB.prepare("SELECT name, mac, driver, link_connected FROM interfaces WHERE machine_id = ? ORDER BY mac").bind(row!.id).all();
    expect(nics.results).toEqual([
      { name: "ens3", mac, driver: "virtio_net", link_connected: 1 },
      { name: "ens4", mac: "52:54:00:64:00:02", driver: "e1000", link_connected: 0 },
    ]);
    const results = await env.DB.prepare("SELECT name, status FROM commissioning_results WHERE machine_id = ? ORDER BY id").bind(row!.id).all();
    expect(results.results.map((r) => r.name)).toEqual(["status", "cpu", "memory", "disks", "nics", "dmi", "firmware", "status"]);
    const audit = await call(admin, "GET", `/events?machine=${sys}&type=machine.commissioning_done`);
    expect(audit.json.items).toHaveLength(1);
    // The rack hears that the machine no longer boots the commissioning environment.
    const cfg = await rack.next(
      (f) => f.t === "config" && f.snapshot.bootIntents.some((b: { systemId: string; intent: string }) => b.systemId === sys && b.intent === "none"),
    );
    expect(cfg.snapshot.bootIntents.filter((b: { systemId: string }) => b.systemId === sys).length).toBe(2);
    rack.ws.close(1000);
  });

  it("commissioning a bonded machine again updates its NIC and leaves the bond and VLAN sharing its MAC alone", async () => {
    const { rack, rackId } = await setup("7", "10.69.0.0/24");
    const mac = "52:54:00:69:00:01";
    const sys = await makeMachine({ site: "ea-site-7", status: NODE_STATUS.READY, mac });
    const m = (await env.DB.prepare("SELECT id, system_id AS systemId, hostname, site_id AS siteId, status, locked FROM machines WHERE system_id = ?")
      .bind(sys)
      .first<KindMachine>())!;
    const nic = (await env.DB.prepare("SELECT id FROM interfaces WHERE machine_id = ?").bind(m.id).first<{ id: number }>())!.id;
    await createInterfaceKind(env.DB, "test", m, { type: "bond", name: "bond0", parents: [nic] });
    await env.DB.prepare("UPDATE machines SET status = ? WHERE id = ?").bind(NODE_STATUS.COMMISSIONING, m.id).run();
    const result = (name: string, doc: unknown) => ev("metadata.result", { systemId: sys, name, status: "passed", output: JSON.stringify(doc) });
    rack.send({ t: "event", v: 1, events: [result("nics", { nics: [{ name: "enp1s0", mac, driver: "virtio_net", link: true, boot: true }] })] });
    await rack.next((f) => f.t === "ack");
    const names = async () =>
      (await env.DB.prepare("SELECT name, type FROM interfaces WHERE machine_id = ? ORDER BY id").bind(m.id).all<{ name: string; type: string }>()).results;
    await eventually("the NIC renamed", async () => ((await names()).some((i) => i.name === "enp1s0") ? true : null));
    expect(await names()).toEqual([
      { name: "enp1s0", type: "physical" },
      { name: "bond0", type: "bond" },
    ]);
    // One boot intent for the MAC: the NIC's, not one per interface carrying it.
    const snap = await buildSnapshot(env.DB, rackId);
    expect(snap!.bootIntents.filter((b) => b.mac === mac)).toHaveLength(1);
    rack.ws.close(1000);
  });

  it("a reported failure moves COMMISSIONING to FAILED_COMMISSIONING; bad documents change no inventory", async () => {
    const { rack } = await setup("4", "10.65.0.0/24");
    const sys = await makeMachine({ site: "ea-site-4", status: NODE_STATUS.COMMISSIONING, mac: "52:54:00:65:00:01", cpuCount: 3 });
    const result = (name: string, output: string, status = "passed") => ev("metadata.result", { systemId: sys, name, status, output });
    rack.send({
      t: "event",
      v: 1,
      events: [
        result("cpu", '{"count": -1}'),
        result("memory", "not json"),
        result("status", '{"mode":"commission","status":"failed","error":"no disks"}', "failed"),
      ],
    });
    await rack.next((m) => m.t === "ack");
    await eventually("FAILED_COMMISSIONING", async () => ((await statusOf(sys)) === NODE_STATUS.FAILED_COMMISSIONING ? true : null));
    const row = await env.DB.prepare("SELECT cpu_count, status_message FROM machines WHERE system_id = ?")
      .bind(sys)
      .first<{ cpu_count: number; status_message: string }>();
    expect(row).toMatchObject({ cpu_count: 3 });
    expect(row!.status_message).toContain("no disks");
    rack.ws.close(1000);
  });

  it("the rescue environment's report moves ENTERING_RESCUE_MODE to RESCUE_MODE (a failure to FAILED_ENTERING_RESCUE_MODE)", async () => {
    const { rack } = await setup("rescue", "10.68.0.0/24");
    const ok = await makeMachine({
      site: "ea-site-rescue",
      status: NODE_STATUS.ENTERING_RESCUE_MODE,
      previousStatus: NODE_STATUS.DEPLOYED,
      mac: "52:54:00:68:00:01",
    });
    const bad = await makeMachine({
      site: "ea-site-rescue",
      status: NODE_STATUS.ENTERING_RESCUE_MODE,
      previousStatus: NODE_STATUS.READY,
      mac: "52:54:00:68:00:02",
    });
    rack.send({
      t: "event",
      v: 1,
      events: [
        ev("metadata.result", { systemId: ok, name: "status", status: "passed", output: '{"mode":"rescue","status":"done"}' }),
        ev("metadata.result", { systemId: bad, name: "status", status: "failed", output: '{"mode":"rescue","status":"failed","error":"no disks"}' }),
      ],
    });
    await rack.next((m) => m.t === "ack");
    await eventually("RESCUE_MODE", async () => ((await statusOf(ok)) === NODE_STATUS.RESCUE_MODE ? true : null));
    await eventually("FAILED_ENTERING_RESCUE_MODE", async () => ((await statusOf(bad)) === NODE_STATUS.FAILED_ENTERING_RESCUE_MODE ? true : null));
    // Where it returns on exit is still remembered.
    const row = await env.DB.prepare("SELECT previous_status FROM machines WHERE system_id = ?").bind(ok).first<{ previous_status: number }>();
    expect(row!.previous_status).toBe(NODE_STATUS.DEPLOYED);
    rack.ws.close(1000);
  });

  it("ignores results for machines of another site", async () => {
    const { rack } = await setup("5", "10.66.0.0/24");
    const foreign = await makeMachine({ site: "ea-site-elsewhere", status: NODE_STATUS.COMMISSIONING, mac: "52:54:00:66:00:09" });
    rack.send({
      t: "event",
      v: 1,
      events: [ev("metadata.result", { systemId: foreign, name: "status", status: "passed", output: '{"mode":"commission","status":"done"}' })],
    });
    await rack.next((m) => m.t === "ack");
    // A later event of this rack's own site is applied after it: then the foreign one was seen.
    const own = await makeMachine({ site: "ea-site-5", status: NODE_STATUS.COMMISSIONING, mac: "52:54:00:66:00:01" });
    rack.send({
      t: "event",
      v: 1,
      events: [ev("metadata.result", { systemId: own, name: "status", status: "passed", output: '{"mode":"commission","status":"done"}' })],
    });
    await eventually("own machine READY", async () => ((await statusOf(own)) === NODE_STATUS.READY ? true : null));
    expect(await statusOf(foreign)).toBe(NODE_STATUS.COMMISSIONING);
    rack.ws.close(1000);
  });

  it("a lifecycle action through the API pushes the machine's new boot intent to the connected rack", async () => {
    const { admin, rack } = await setup("6", "10.67.0.0/24");
    const sys = await makeMachine({ site: "ea-site-6", status: NODE_STATUS.NEW, mac: "52:54:00:67:00:01" });
    const r = await call(admin, "POST", `/machines/${sys}/commission`, {});
    expect(r.status, r.text).toBe(200);
    const cfg = await rack.next(
      (f) => f.t === "config" && f.snapshot.bootIntents.some((b: { systemId: string; intent: string }) => b.systemId === sys && b.intent === "commission"),
    );
    expect(cfg.snapshot.bootIntents.find((b: { systemId: string }) => b.systemId === sys).mac).toBe("52:54:00:67:00:01");
    rack.ws.close(1000);
  });
});
