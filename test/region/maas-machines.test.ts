// Machines through the MAAS facade, replaying the flows of Juju (gomaasapi), Terraform
// (gomaasclient) and the maas CLI (multipart) over the same rows and lifecycle as /api/v1.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { call, deployableImage, makeMachine, makeUser, statusOf } from "./helpers";
import { ENCODINGS, maas, maasKey } from "./maas-helpers";

let admin: string;
let op: string;
let hands: string;
let viewer: string;
let eastOp: string;

// Every key gomaasapi 2.0.0's machine_2_0 schema requires (a missing one fails Juju outright).
const GOMAASAPI_MACHINE_KEYS = [
  "resource_uri",
  "system_id",
  "hostname",
  "fqdn",
  "tag_names",
  "owner_data",
  "osystem",
  "distro_series",
  "architecture",
  "memory",
  "cpu_count",
  "hardware_info",
  "ip_addresses",
  "power_state",
  "status_name",
  "status_message",
  "boot_interface",
  "interface_set",
  "zone",
  "pool",
  "physicalblockdevice_set",
  "blockdevice_set",
];

beforeAll(async () => {
  await deployableImage("ubuntu", "noble");
  await deployableImage("ubuntu", "jammy");
  admin = await maasKey(await makeUser("m-admin", [["admin", null]]));
  op = await maasKey(await makeUser("m-op", [["operator", null]]));
  hands = await maasKey(await makeUser("m-hands", [["remote-hands", null]]));
  viewer = await maasKey(await makeUser("m-viewer", [["viewer", null]]));
  eastOp = await maasKey(await makeUser("m-eastop", [["operator", "m-east"]]));
});

async function flip(systemId: string, status: number) {
  await env.DB.prepare("UPDATE machines SET status = ? WHERE system_id = ?").bind(status, systemId).run();
}

async function addDisk(systemId: string, name: string, gb: number, boot = false) {
  await env.DB.prepare(
    "INSERT INTO block_devices (machine_id, name, path, model, serial, size, is_boot) SELECT id, ?, ?, 'QEMU HARDDISK', ?, ?, ? FROM machines WHERE system_id = ?",
  )
    .bind(name, `/dev/${name}`, `SN-${name}-${systemId}`, gb * 1e9, boot ? 1 : 0, systemId)
    .run();
  await env.DB.prepare("UPDATE machines SET storage = (SELECT sum(size) / 1000000.0 FROM block_devices b WHERE b.machine_id = machines.id) WHERE system_id = ?")
    .bind(systemId)
    .run();
}

describe('Juju\'s flow (gomaasapi: urlencoded, ?op= always, realm="")', () => {
  it("allocate with constraints and agent_name → deploy with user_data → set_owner_data → filtered list → release", async () => {
    await env.DB.prepare("INSERT INTO tags (name) VALUES ('juju-gpu') ON CONFLICT DO NOTHING").run();
    const decoy = await makeMachine({ cpuCount: 2, memory: 2048, hostname: "juju-small" });
    const sid = await makeMachine({ cpuCount: 16, memory: 65536, tags: ["juju-gpu"], hostname: "juju-big" });
    await addDisk(sid, "sda", 100, true);
    await addDisk(sid, "sdb", 500);
    const r = await maas(op, "POST", "machines/", {
      query: { op: "allocate" },
      form: [
        ["cpu_count", "8"],
        ["mem", "32768"],
        ["tags", "juju-gpu"],
        ["zone", "default"],
        ["storage", "root:50,data:200(ssd)"],
        ["interfaces", "eth0:space=1"],
        ["agent_name", "model-uuid-1"],
        ["comment", "juju"],
      ],
    });
    expect(r.status).toBe(200);
    expect(r.json.system_id).toBe(sid);
    for (const k of GOMAASAPI_MACHINE_KEYS) expect(r.json).toHaveProperty(k);
    expect(r.json.status_name).toBe("Allocated");
    expect(r.json.owner).toBe("m-op");
    expect(r.json.resource_uri).toBe(`/MAAS/api/2.0/machines/${sid}/`);
    const disks = r.json.blockdevice_set.map((d: { id: number }) => d.id);
    expect(r.json.constraints_by_type.storage).toEqual({ root: [disks[0]], data: [disks[1]] });
    expect(r.json.constraints_by_type.interfaces).toEqual({ eth0: [r.json.interface_set[0].id] });
    expect(r.json.zone).toEqual({ id: 1, name: "default", description: "", resource_uri: "/MAAS/api/2.0/zones/default/" });
    expect(r.json.owner_data).toEqual({});
    expect(await statusOf(decoy)).toBe(S.READY);

    // Machine.Start posts to the machine's resource_uri.
    const userData = btoa("#cloud-config\npackages: [jq]\n");
    const d = await maas(op, "POST", r.json.resource_uri, {
      query: { op: "deploy" },
      form: { user_data: userData, distro_series: "jammy", hwe_kernel: "", comment: "juju deploy" },
    });
    expect(d.status).toBe(200);
    expect(d.json.status_name).toBe("Deploying");
    expect(d.json.distro_series).toBe("jammy");
    const row = await env.DB.prepare("SELECT user_data FROM machines WHERE system_id = ?").bind(sid).first<{ user_data: string }>();
    expect(row!.user_data).toBe(userData);

    const o = await maas(op, "POST", r.json.resource_uri, {
      query: { op: "set_owner_data" },
      form: { "juju-controller-uuid": "c-1", "juju-is-controller": "true", "juju-model-uuid": "model-uuid-1" },
    });
    expect(o.status).toBe(200);
    expect(o.json.owner_data).toEqual({ "juju-controller-uuid": "c-1", "juju-is-controller": "true", "juju-model-uuid": "model-uuid-1" });
    // An empty value deletes the key.
    const o2 = await maas(op, "POST", r.json.resource_uri, { query: { op: "set_owner_data" }, form: { "juju-is-controller": "" } });
    expect(o2.json.owner_data).toEqual({ "juju-controller-uuid": "c-1", "juju-model-uuid": "model-uuid-1" });

    const list = await maas(op, "GET", "machines/", {
      query: [
        ["agent_name", "model-uuid-1"],
        ["id", sid],
        ["id", decoy],
      ],
    });
    expect(list.json.map((m: { system_id: string }) => m.system_id)).toEqual([sid]);
    expect((await maas(op, "GET", "machines/", { query: { agent_name: "other-model" } })).json).toEqual([]);

    await flip(sid, S.DEPLOYED);
    expect((await maas(op, "GET", `machines/${sid}/`)).json.status_name).toBe("Deployed");

    const rel = await maas(op, "POST", "machines/", {
      query: { op: "release" },
      form: [
        ["machines", sid],
        ["comment", "juju stop"],
      ],
    });
    expect(rel.status).toBe(200);
    expect(rel.json).toEqual([sid]);
    const after = await maas(op, "GET", `machines/${sid}/`);
    expect(after.json.status_name).toBe("Ready");
    expect(after.json.owner_data).toEqual({});
    expect((await maas(op, "GET", "machines/", { query: { agent_name: "model-uuid-1" } })).json).toEqual([]);
  });

  it("nothing matches → 409 (Juju's NoMatchError), with a text body", async () => {
    const r = await maas(op, "POST", "machines/", { query: { op: "allocate" }, form: { cpu_count: "100000", agent_name: "x" } });
    expect(r.status).toBe(409);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(r.text).toMatch(/^No available machine matches constraints/);
  });

  it("dry_run picks without allocating", async () => {
    const sid = await makeMachine({ cpuCount: 48, memory: 4096, hostname: "dry-run-box" });
    const r = await maas(op, "POST", "machines/", { query: { op: "allocate" }, form: { name: "dry-run-box", dry_run: "true" } });
    expect(r.status).toBe(200);
    expect(r.json.system_id).toBe(sid);
    expect(await statusOf(sid)).toBe(S.READY);
  });

  it("releasing many: unknown ids are 400, a machine in a state that cannot release is 409, Ready ones are left alone", async () => {
    const ready = await makeMachine();
    const fresh = await makeMachine({ status: S.NEW });
    expect(
      (
        await maas(op, "POST", "machines/", {
          query: { op: "release" },
          form: [
            ["machines", ready],
            ["machines", "zzzzzz"],
          ],
        })
      ).status,
    ).toBe(400);
    const r = await maas(op, "POST", "machines/", {
      query: { op: "release" },
      form: [
        ["machines", ready],
        ["machines", fresh],
      ],
    });
    expect(r.status).toBe(409);
    expect(r.text).toMatch(/cannot be released/);
    expect(await statusOf(ready)).toBe(S.READY);
  });
});

describe("Terraform (gomaasclient)", () => {
  it("maas_instance: allocate → deploy → Deploying at once → Deployed → release → Ready", async () => {
    const sid = await makeMachine({ cpuCount: 4, memory: 8192, hostname: "tf-inst" });
    const a = await maas(op, "POST", "machines/", {
      query: { op: "allocate" },
      form: { cpu_count: "4", mem: "8192", name: "tf-inst", zone: "default", pool: "default" },
    });
    expect(a.json.system_id).toBe(sid);
    const d = await maas(op, "POST", `machines/${sid}/`, {
      query: { op: "deploy" },
      form: {
        distro_series: "ubuntu/noble",
        hwe_kernel: "ga-24.04",
        user_data: btoa("#!/bin/sh\necho hi\n"),
        enable_hw_sync: "false",
        ephemeral_deploy: "false",
      },
    });
    expect(d.status).toBe(200);
    expect(d.json).toMatchObject({ status_name: "Deploying", status: S.DEPLOYING, osystem: "ubuntu", distro_series: "noble" });
    // The provider polls GET machines/{id}/ with pending ["Deploying"].
    expect((await maas(op, "GET", `machines/${sid}/`)).json.status_name).toBe("Deploying");
    await flip(sid, S.DEPLOYED);
    const read = await maas(op, "GET", `machines/${sid}/`);
    expect(read.json).toMatchObject({
      status_name: "Deployed",
      fqdn: `tf-inst.maas`,
      hostname: "tf-inst",
      cpu_count: 4,
      memory: 8192,
      tag_names: [],
      pool: { name: "default" },
      zone: { name: "default" },
    });
    const rel = await maas(op, "POST", "machines/", { query: { op: "release" }, form: { machines: sid, comment: "Released by Terraform" } });
    expect(rel.status).toBe(200);
    expect((await maas(op, "GET", `machines/${sid}/`)).json.status_name).toBe("Ready");
  });

  it("maas_machine: create with commission and IPMI params → Commissioning; power_parameters for admins only, audited; PUT answers resource_uri; DELETE 204", async () => {
    const create = await maas(admin, "POST", "machines/", {
      query: { op: "" },
      form: {
        commission: "true",
        power_type: "ipmi",
        power_parameters_power_address: "10.9.0.7",
        power_parameters_power_user: "ADMIN",
        power_parameters_power_pass: "s3cret-bmc",
        power_parameters_power_driver: "LAN_2_0",
        mac_addresses: "52:54:00:aa:bb:01",
        architecture: "amd64/generic",
        hostname: "tf-machine",
        domain: "maas",
        zone: "default",
        pool: "default",
      },
    });
    expect(create.status).toBe(200);
    expect(create.json).toMatchObject({ status_name: "Commissioning", hostname: "tf-machine", power_type: "ipmi", architecture: "amd64/generic" });
    expect(create.text).not.toContain("s3cret-bmc");
    expect(create.json).not.toHaveProperty("power_parameters");
    const sid = create.json.system_id as string;
    expect(create.json.interface_set[0]).toMatchObject({
      mac_address: "52:54:00:aa:bb:01",
      resource_uri: `/MAAS/api/2.0/nodes/${sid}/interfaces/${create.json.interface_set[0].id}/`,
    });

    expect((await maas(op, "GET", `machines/${sid}/`, { query: { op: "power_parameters" } })).status).toBe(403);
    const pp = await maas(admin, "GET", `machines/${sid}/`, { query: { op: "power_parameters" } });
    expect(pp.status).toBe(200);
    expect(pp.json).toMatchObject({ power_address: "10.9.0.7", power_user: "ADMIN", power_pass: "s3cret-bmc" });
    const audit = await env.DB.prepare("SELECT actor, level FROM events WHERE system_id = ? AND type = 'machine.power_parameters_revealed'").bind(sid).all();
    expect(audit.results).toEqual([{ actor: "m-admin", level: "AUDIT" }]);
    const bulk = await maas(admin, "GET", "machines/", { query: { op: "power_parameters", id: sid } });
    expect(bulk.json[sid]).toMatchObject({ power_pass: "s3cret-bmc" });

    // Unfiltered list (the provider matches client-side): the machine is there, no secrets.
    const all = await maas(op, "GET", "machines/");
    expect(all.json.some((m: { system_id: string }) => m.system_id === sid)).toBe(true);
    expect(all.text).not.toContain("s3cret-bmc");

    await flip(sid, S.READY);
    const put = await maas(admin, "PUT", `machines/${sid}/`, { form: { hostname: "tf-machine-2", power_parameters_power_pass: "n3w-pass", cpu_count: "8" } });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ resource_uri: `/MAAS/api/2.0/machines/${sid}/`, hostname: "tf-machine-2", cpu_count: 8 });
    // Same power type: only the password changed, the rest kept.
    expect((await maas(admin, "GET", `machines/${sid}/`, { query: { op: "power_parameters" } })).json).toMatchObject({
      power_address: "10.9.0.7",
      power_pass: "n3w-pass",
    });

    // The newer provider adopts a machine on a 400 mentioning "mac" and "already".
    const dup = await maas(admin, "POST", "machines/", {
      query: { op: "" },
      form: { mac_addresses: "52:54:00:aa:bb:01", power_type: "manual", architecture: "amd64/generic" },
    });
    expect(dup.status).toBe(400);
    expect(dup.json.mac_addresses[0]).toMatch(/MAC address.*already/);
    expect(
      (await maas(admin, "GET", "machines/", { query: { mac_address: "52:54:00:AA:BB:01" } })).json.map((m: { system_id: string }) => m.system_id),
    ).toEqual([sid]);

    const del = await maas(admin, "DELETE", `machines/${sid}/`);
    expect(del.status).toBe(204);
    expect(del.text).toBe("");
    expect((await maas(admin, "GET", `machines/${sid}/`)).status).toBe(404);
  });

  it("bad power parameters and unknown power types are 400 field errors", async () => {
    let r = await maas(admin, "POST", "machines/", { query: { op: "" }, form: { mac_addresses: "52:54:00:aa:bb:02", power_type: "virsh" } });
    expect(r.status).toBe(400);
    expect(r.json).toHaveProperty("power_type");
    r = await maas(admin, "POST", "machines/", {
      query: { op: "" },
      form: { mac_addresses: "52:54:00:aa:bb:02", power_type: "ipmi", power_parameters_power_adress: "typo" },
    });
    expect(r.status).toBe(400);
    r = await maas(admin, "POST", "machines/", { query: { op: "" }, form: { mac_addresses: "not-a-mac" } });
    expect(r.status).toBe(400);
    expect(r.json).toHaveProperty(["mac_addresses.0"]);
  });
});

describe("maas CLI / python-libmaas (multipart, base64 parts)", () => {
  it("create without commissioning, allocate, deploy with user_data as libmaas sends it, release with erase options", async () => {
    const c = await maas(admin, "POST", "machines/", {
      encoding: "multipart",
      form: { mac_addresses: "52:54:00:cc:00:01", architecture: "amd64", hostname: "cli-box", commission: "false", cpu_count: "2", memory: "4096" },
    });
    expect(c.status).toBe(200);
    expect(c.json).toMatchObject({ status_name: "New", architecture: "amd64/generic" });
    const sid = c.json.system_id as string;
    await flip(sid, S.READY);
    const a = await maas(admin, "POST", "machines/", {
      query: { op: "allocate" },
      encoding: "multipart",
      form: [
        ["system_id", sid],
        ["tags", ""],
      ],
    });
    expect(a.status).toBe(200);
    // python-libmaas: base64 with a trailing newline.
    const d = await maas(admin, "POST", `machines/${sid}/`, {
      query: { op: "deploy" },
      encoding: "multipart",
      form: { user_data: `${btoa("#cloud-config\n")}\n`, distro_series: "noble", osystem: "ubuntu" },
    });
    expect(d.status).toBe(200);
    expect(d.json.status_name).toBe("Deploying");
    const r = await maas(admin, "POST", `machines/${sid}/`, {
      query: { op: "release" },
      encoding: "multipart",
      form: { comment: "done", erase: "false", quick_erase: "false" },
    });
    expect(r.status).toBe(200);
    expect(r.json.status_name).toBe("Ready");
  });

  it("bad base64 user_data is a 400 field error", async () => {
    const sid = await makeMachine({ status: S.ALLOCATED });
    const r = await maas(admin, "POST", `machines/${sid}/`, { query: { op: "deploy" }, encoding: "multipart", form: { user_data: "!!!not base64!!!" } });
    expect(r.status).toBe(400);
    expect(r.json).toHaveProperty("user_data");
  });
});

describe("lifecycle and power ops (both encodings)", () => {
  for (const encoding of ENCODINGS) {
    it(`${encoding}: commission, abort, mark_broken, mark_fixed, lock, unlock, power ops, query_power_state`, async () => {
      const sid = await makeMachine({ status: S.NEW });
      const post = (opName: string, form: Record<string, string> = {}) => maas(op, "POST", `machines/${sid}/`, { query: { op: opName }, form, encoding });
      expect((await post("commission", { enable_ssh: "0", skip_networking: "1" })).json.status_name).toBe("Commissioning");
      expect((await post("abort", { comment: "stop" })).json.status_name).toBe("New");
      expect((await post("mark_broken", { comment: "fan" })).json).toMatchObject({ status_name: "Broken", status_message: "fan" });
      expect((await post("mark_fixed")).json.status_name).toBe("Ready");
      // Lock is for deployed machines: 409 text with the lifecycle's reason.
      const bad = await post("lock");
      expect(bad.status).toBe(409);
      expect(bad.headers.get("content-type")).toMatch(/^text\/plain/);
      await flip(sid, S.DEPLOYED);
      expect((await post("lock")).json.locked).toBe(true);
      expect((await post("release")).status).toBe(409);
      expect((await post("unlock")).json.locked).toBe(false);
      expect((await post("power_off")).json.system_id).toBe(sid);
      expect((await post("power_on")).json.system_id).toBe(sid);
      const q = await maas(op, "GET", `machines/${sid}/`, { query: { op: "query_power_state" } });
      expect(q.json).toEqual({ state: "unknown" });
      const ev = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE system_id = ? AND type LIKE 'power.%'").bind(sid).first<{ n: number }>();
      // power_on and power_off, and the manual driver's requests of commission and abort.
      expect(ev!.n).toBe(4);
    });
  }

  it("a power op on a BMC with no rack to carry it is 503 with Retry-After", async () => {
    const sid = await makeMachine({ powerType: "ipmi", powerParams: { power_address: "10.0.0.9" } });
    const r = await maas(op, "POST", `machines/${sid}/`, { query: { op: "power_on" } });
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
  });

  it("deploying a Deployed machine is 409", async () => {
    const sid = await makeMachine({ status: S.DEPLOYED });
    expect((await maas(op, "POST", `machines/${sid}/`, { query: { op: "deploy" }, form: {} })).status).toBe(409);
  });

  it("details answers BSON with lshw and lldp; is_registered is anonymous", async () => {
    const sid = await makeMachine({ mac: "52:54:00:dd:00:01" });
    await env.DB.prepare(
      "INSERT INTO commissioning_results (machine_id, name, status, output) SELECT id, '00-maas-01-lshw', 'passed', '<list/>' FROM machines WHERE system_id = ?",
    )
      .bind(sid)
      .run();
    const { SELF } = await import("cloudflare:test");
    const { oauthHeader, MAAS } = await import("./maas-helpers");
    const r = await SELF.fetch(`${MAAS}/machines/${sid}/?op=details`, { headers: { authorization: oauthHeader(viewer, "oauthlib") } });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/bson");
    const b = new Uint8Array(await r.arrayBuffer());
    expect(new DataView(b.buffer).getInt32(0, true)).toBe(b.length);
    const txt = new TextDecoder().decode(b);
    expect(txt).toContain("lshw");
    expect(txt).toContain("<list/>");
    expect(txt).toContain("lldp");
    expect((await maas(null, "GET", "machines/", { query: { op: "is_registered", mac_address: "52:54:00:DD:00:01" } })).json).toBe(true);
    expect((await maas(null, "GET", "machines/", { query: { op: "is_registered", mac_address: "52:54:00:dd:00:99" } })).json).toBe(false);
  });
});

describe("list filters", () => {
  it("hostname, mac_address, id, zone, not_in_zone, pool, tags, status, owner, arch", async () => {
    await env.DB.prepare("INSERT INTO zones (name) VALUES ('f-zone') ON CONFLICT DO NOTHING").run();
    const a = await makeMachine({ hostname: "filt-a", tags: ["f-tag"], mac: "52:54:00:ee:00:01" });
    const b = await makeMachine({ hostname: "filt-b", status: S.DEPLOYED, arch: "arm64/generic" });
    await env.DB.prepare("UPDATE machines SET zone_id = (SELECT id FROM zones WHERE name = 'f-zone') WHERE system_id = ?").bind(b).run();
    const ids = async (query: [string, string][]) =>
      (await maas(viewer, "GET", "machines/", { query })).json.map((m: { system_id: string }) => m.system_id).filter((x: string) => x === a || x === b);
    expect(
      await ids([
        ["hostname", "filt-a"],
        ["hostname", "filt-b"],
      ]),
    ).toEqual([a, b]);
    expect(await ids([["mac_address", "52:54:00:ee:00:01"]])).toEqual([a]);
    expect(await ids([["id", b]])).toEqual([b]);
    expect(await ids([["zone", "f-zone"]])).toEqual([b]);
    expect(await ids([["not_in_zone", "f-zone"]])).toEqual([a]);
    expect(
      await ids([
        ["pool", "default"],
        ["hostname", "filt-a"],
      ]),
    ).toEqual([a]);
    expect(await ids([["tags", "f-tag"]])).toEqual([a]);
    expect(await ids([["status", "deployed"]])).toEqual([b]);
    expect(await ids([["arch", "arm64/generic"]])).toEqual([b]);
    expect((await maas(viewer, "GET", "machines/", { query: { status: "sideways" } })).status).toBe(400);
  });
});

describe("roles hold through the facade", () => {
  it("remote-hands cannot allocate, deploy, release or edit; may power and mark", async () => {
    const sid = await makeMachine({ status: S.ALLOCATED });
    expect((await maas(hands, "POST", "machines/", { query: { op: "allocate" }, form: {} })).status).toBe(403);
    const d = await maas(hands, "POST", `machines/${sid}/`, { query: { op: "deploy" }, form: {} });
    expect(d.status).toBe(403);
    expect(d.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await statusOf(sid)).toBe(S.ALLOCATED);
    expect((await maas(hands, "POST", `machines/${sid}/`, { query: { op: "release" } })).status).toBe(403);
    expect((await maas(hands, "PUT", `machines/${sid}/`, { form: { hostname: "nope" } })).status).toBe(403);
    expect((await maas(hands, "POST", `machines/${sid}/`, { query: { op: "set_owner_data" }, form: { a: "b" } })).status).toBe(403);
    expect((await maas(hands, "POST", `machines/${sid}/`, { query: { op: "power_on" } })).status).toBe(200);
    expect((await maas(hands, "POST", `machines/${sid}/`, { query: { op: "mark_broken" } })).json.status_name).toBe("Broken");
  });

  it("a viewer reads but cannot create or delete", async () => {
    const sid = await makeMachine();
    expect((await maas(viewer, "GET", `machines/${sid}/`)).status).toBe(200);
    expect((await maas(viewer, "POST", "machines/", { query: { op: "" }, form: { mac_addresses: "52:54:00:ff:00:01" } })).status).toBe(403);
    expect((await maas(viewer, "DELETE", `machines/${sid}/`)).status).toBe(403);
  });

  it("an operator of one site does not see other sites' machines and allocates only on its own", async () => {
    const west = await makeMachine({ site: "m-west", hostname: "west-box", cpuCount: 99 });
    const east = await makeMachine({ site: "m-east", hostname: "east-box", cpuCount: 99 });
    expect((await maas(eastOp, "GET", `machines/${west}/`)).status).toBe(404);
    const seen = (await maas(eastOp, "GET", "machines/")).json.map((m: { system_id: string }) => m.system_id);
    expect(seen).toContain(east);
    expect(seen).not.toContain(west);
    const a = await maas(eastOp, "POST", "machines/", { query: { op: "allocate" }, form: { cpu_count: "99" } });
    expect(a.json.system_id).toBe(east);
    expect((await maas(eastOp, "POST", "machines/", { query: { op: "release" }, form: { machines: west } })).status).toBe(400);
    // A machine it creates goes to its own site.
    const c = await maas(eastOp, "POST", "machines/", { query: { op: "" }, form: { mac_addresses: "52:54:00:ff:00:02", commission: "false" } });
    expect(c.status).toBe(200);
    expect(c.json.site).toBe("m-east");
    expect((await maas(eastOp, "POST", "machines/", { query: { op: "" }, form: { mac_addresses: "52:54:00:ff:00:03", site: "m-west" } })).status).toBe(404);
  });

  it("the same machine is the same through both APIs", async () => {
    const native = await makeUser("m-native", [["operator", null]]);
    const sid = await makeMachine({ hostname: "both-apis" });
    await maas(await maasKey(native), "POST", "machines/", { query: { op: "allocate" }, form: { name: "both-apis" } });
    const n = await call(native, "GET", `/machines/${sid}`);
    expect(n.json).toMatchObject({ status: S.ALLOCATED, owner: "m-native" });
  });
});

describe("machines/?op=accept_all", () => {
  it("starts commissioning each New machine the caller may commission, and lists them; others stay New", async () => {
    const west = await makeMachine({ status: S.NEW, site: "m-accept-west", hostname: "accept-west" });
    const east = await makeMachine({ status: S.NEW, site: "m-east", hostname: "accept-east" });
    const ready = await makeMachine({ site: "m-east", hostname: "accept-ready" });
    const r = await maas(eastOp, "POST", "machines/", { query: { op: "accept_all" } });
    expect(r.status, r.text).toBe(200);
    const accepted = r.json as { system_id: string; status_name: string }[];
    expect(accepted.map((m) => m.system_id)).toContain(east);
    expect(accepted.map((m) => m.system_id)).not.toContain(west);
    expect(accepted.map((m) => m.system_id)).not.toContain(ready);
    expect(new Set(accepted.map((m) => m.status_name))).toEqual(new Set(["Commissioning"]));
    expect(await statusOf(east)).toBe(S.COMMISSIONING);
    expect(await statusOf(west)).toBe(S.NEW);
    expect(await statusOf(ready)).toBe(S.READY);
    // A viewer accepts nothing; a second call finds nothing left.
    expect((await maas(viewer, "POST", "machines/", { query: { op: "accept_all" } })).json).toEqual([]);
    expect((await maas(eastOp, "POST", "machines/", { query: { op: "accept_all" } })).json).toEqual([]);
  });
});
