// Every body the facade takes, sent both ways: urlencoded as gomaasapi sends it and multipart
// with base64 parts as the maas CLI and python-libmaas send it. Also allocate's negative and
// architecture constraints, and release with erase options on a machine with a BMC.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { call, makeMachine, makeUser, statusOf } from "./helpers";
import { ENCODINGS, maas, maasKey } from "./maas-helpers";
import { enrolRack } from "./tunnel-helpers";

let adminNative: string;
let admin: string;
let op: string;
let opId: number;

beforeAll(async () => {
  adminNative = await makeUser("e-admin", [["admin", null]]);
  admin = await maasKey(adminNative);
  op = await maasKey(await makeUser("e-op", [["operator", null]]));
  opId = (await env.DB.prepare("SELECT id FROM users WHERE username = 'e-op'").first<{ id: number }>())!.id;
});

describe("machine edits", () => {
  for (const encoding of ENCODINGS) {
    it(`${encoding}: PUT update, set_owner_data, release of many`, async () => {
      const sid = await makeMachine({ hostname: `edit-${encoding}` });
      const put = await maas(op, "PUT", `machines/${sid}/`, {
        encoding,
        form: { hostname: `edited-${encoding}`, description: "row 4, slot 2 & 3", cpu_count: "12", memory: "16384", zone: "default" },
      });
      expect(put.status).toBe(200);
      expect(put.json).toMatchObject({
        resource_uri: `/MAAS/api/2.0/machines/${sid}/`,
        hostname: `edited-${encoding}`,
        description: "row 4, slot 2 & 3",
        cpu_count: 12,
        memory: 16384,
      });
      expect((await call(adminNative, "GET", `/machines/${sid}`)).json).toMatchObject({ hostname: `edited-${encoding}`, cpu_count: 12 });
      const bad = await maas(op, "PUT", `machines/${sid}/`, { encoding, form: { hostname: "not a hostname", cpu_count: "many" } });
      expect(bad.status).toBe(400);
      expect(Object.keys(bad.json).sort()).toEqual(["cpu_count", "hostname"]);

      const a = await maas(op, "POST", "machines/", { query: { op: "allocate" }, encoding, form: { system_id: sid } });
      expect(a.json.system_id).toBe(sid);
      const o = await maas(op, "POST", a.json.resource_uri, {
        query: { op: "set_owner_data" },
        encoding,
        form: { "juju-model-uuid": "m-1", note: "a b=c&d ü", gone: "x" },
      });
      expect(o.status).toBe(200);
      expect(o.json.owner_data).toEqual({ "juju-model-uuid": "m-1", note: "a b=c&d ü", gone: "x" });
      const tok = await maas(op, "GET", a.json.resource_uri, { query: { op: "get_token" } });
      expect(tok.status).toBe(403);
      expect(tok.text).toContain("metadata credentials");
      // gomaasclient's name for the same op.
      const o2 = await maas(op, "POST", a.json.resource_uri, { query: { op: "set_workload_annotations" }, encoding, form: { gone: "" } });
      expect(o2.json.owner_data).toEqual({ "juju-model-uuid": "m-1", note: "a b=c&d ü" });

      // Juju's ReleaseMachines: machines= repeated, with a comment.
      const other = await makeMachine({ status: S.ALLOCATED, ownerId: opId });
      const rel = await maas(op, "POST", "machines/", {
        query: { op: "release" },
        encoding,
        form: [
          ["machines", sid],
          ["machines", other],
          ["comment", "juju stop"],
        ],
      });
      expect(rel.status).toBe(200);
      expect(rel.json).toEqual([sid, other]);
      for (const x of [sid, other]) expect(await statusOf(x)).toBe(S.READY);
      expect((await maas(op, "GET", `machines/${sid}/`)).json.owner_data).toEqual({});
      // Both Ready now: nothing to release, nothing released.
      expect(
        (
          await maas(op, "POST", "machines/", {
            query: { op: "release" },
            encoding,
            form: [
              ["machines", sid],
              ["machines", other],
            ],
          })
        ).json,
      ).toEqual([]);
      expect((await maas(op, "POST", "machines/", { query: { op: "release" }, encoding, form: { comment: "no machines" } })).json).toHaveProperty("machines");
    });
  }
});

describe("fabrics, VLANs and spaces", () => {
  for (const encoding of ENCODINGS) {
    it(`${encoding}: create and update each`, async () => {
      const f = await maas(admin, "POST", "fabrics/", { query: { op: "" }, encoding, form: { name: `fab-${encoding}`, description: "row 3 & 4" } });
      expect(f.status).toBe(200);
      expect(f.json).toMatchObject({ name: `fab-${encoding}`, description: "row 3 & 4" });
      const pf = await maas(admin, "PUT", `fabrics/${f.json.id}/`, { encoding, form: { name: `fab-${encoding}-2`, description: "row 5" } });
      expect(pf.json).toMatchObject({ name: `fab-${encoding}-2`, description: "row 5", resource_uri: `/MAAS/api/2.0/fabrics/${f.json.id}/` });

      const sp = await maas(admin, "POST", "spaces/", { query: { op: "" }, encoding, form: { name: `space-${encoding}`, description: "storage" } });
      expect(sp.json).toMatchObject({ name: `space-${encoding}`, description: "storage" });
      const ps = await maas(admin, "PUT", `spaces/${sp.json.id}/`, { encoding, form: { name: `space-${encoding}-2`, description: "storage net" } });
      expect(ps.json).toMatchObject({ name: `space-${encoding}-2`, description: "storage net", resource_uri: `/MAAS/api/2.0/spaces/${sp.json.id}/` });

      const v = await maas(admin, "POST", `fabrics/${f.json.id}/vlans/`, {
        query: { op: "" },
        encoding,
        form: { vid: "100", name: "data", mtu: "9000", space: `space-${encoding}-2` },
      });
      expect(v.status).toBe(200);
      expect(v.json).toMatchObject({ vid: 100, name: "data", mtu: 9000, space: `space-${encoding}-2`, fabric_id: f.json.id });
      const pv = await maas(admin, "PUT", `fabrics/${f.json.id}/vlans/100/`, { encoding, form: { name: "data-2", mtu: "1500", dhcp_on: "false" } });
      expect(pv.json).toMatchObject({ name: "data-2", mtu: 1500, dhcp_on: false, resource_uri: `/MAAS/api/2.0/vlans/${v.json.id}/` });
      const pv2 = await maas(admin, "PUT", `vlans/${v.json.id}/`, { encoding, form: { description: "by id" } });
      expect(pv2.status).toBe(200);
      expect((await maas(admin, "GET", `spaces/${sp.json.id}/`)).json.vlans.map((x: { vid: number }) => x.vid)).toEqual([100]);
      const badMtu = await maas(admin, "PUT", `vlans/${v.json.id}/`, { encoding, form: { mtu: "100" } });
      expect(badMtu.status).toBe(400);
      expect(badMtu.json).toHaveProperty("mtu");
    });
  }
});

describe("interfaces", () => {
  for (const encoding of ENCODINGS) {
    it(`${encoding}: create_physical, PUT, link_subnet, unlink_subnet, disconnect`, async () => {
      const third = encoding === "urlencoded" ? 91 : 92;
      const sid = await makeMachine({ status: S.ALLOCATED, ownerId: opId, mac: `52:54:00:e0:${third}:01` });
      const s = await maas(admin, "POST", "subnets/", { query: { op: "" }, encoding, form: { cidr: `10.${third}.0.0/24`, gateway_ip: `10.${third}.0.1` } });
      expect(s.status).toBe(200);
      const vlanId = s.json.vlan.id as number;

      const phys = await maas(op, "POST", `nodes/${sid}/interfaces/`, {
        query: { op: "create_physical" },
        encoding,
        form: { mac_address: `52-54-00-E0-${third}-02`, name: "eth1", vlan: String(vlanId) },
      });
      expect(phys.status).toBe(200);
      expect(phys.json).toMatchObject({ name: "eth1", mac_address: `52:54:00:e0:${third}:02`, vlan: { id: vlanId } });
      const uri = phys.json.resource_uri as string;
      expect(
        (await maas(op, "POST", `nodes/${sid}/interfaces/`, { query: { op: "create_physical" }, encoding, form: { mac_address: `52:54:00:e0:${third}:02` } }))
          .json,
      ).toHaveProperty("mac_address");

      const put = await maas(op, "PUT", uri, { encoding, form: { name: "data0", vlan: "" } });
      expect(put.status).toBe(200);
      expect(put.json).toMatchObject({ name: "data0", vlan: null, resource_uri: uri });
      expect((await maas(op, "PUT", uri, { encoding, form: { name: "way-too-long-for-linux" } })).json).toHaveProperty("name");

      const link = await maas(op, "POST", uri, {
        query: { op: "link_subnet" },
        encoding,
        form: { mode: "STATIC", subnet: `10.${third}.0.0/24`, ip_address: `10.${third}.0.20` },
      });
      expect(link.status).toBe(200);
      expect(link.json.links).toEqual([
        { id: expect.any(Number), mode: "static", subnet: expect.objectContaining({ cidr: `10.${third}.0.0/24` }), ip_address: `10.${third}.0.20` },
      ]);
      expect(link.json.vlan).toMatchObject({ id: vlanId });

      expect((await maas(op, "POST", uri, { query: { op: "unlink_subnet" }, encoding, form: { id: "999999" } })).json).toHaveProperty("id");
      // A link's id is its own (an ip_addresses row), not its interface's.
      const un = await maas(op, "POST", uri, { query: { op: "unlink_subnet" }, encoding, form: { id: String(link.json.links[0].id) } });
      expect(un.status).toBe(200);
      expect(un.json.links).toEqual([]);
      expect(un.json.vlan).toMatchObject({ id: vlanId });

      await maas(op, "POST", uri, { query: { op: "link_subnet" }, encoding, form: { mode: "DHCP", subnet: String(s.json.id) } });
      const disc = await maas(op, "POST", uri, { query: { op: "disconnect" }, encoding, form: {} });
      expect(disc.status).toBe(200);
      expect(disc.json).toMatchObject({ links: [], vlan: null });
    });
  }
});

describe("allocate constraints that exclude", () => {
  for (const encoding of ENCODINGS) {
    it(`${encoding}: not_tags, not_in_zone and arch constrain the pick`, async () => {
      // Each case gets its own cpu_count so only its machines match; the one to be skipped has
      // the lower id, which allocation would otherwise take first.
      const cpu = (n: number) => String((encoding === "urlencoded" ? 300 : 400) + n);
      const allocate = (form: [string, string][]) => maas(op, "POST", "machines/", { query: { op: "allocate" }, encoding, form });

      const gpu = await makeMachine({ cpuCount: Number(cpu(1)), tags: ["e-gpu"] });
      const plainBox = await makeMachine({ cpuCount: Number(cpu(1)), tags: ["e-other"] });
      expect(
        (
          await allocate([
            ["cpu_count", cpu(1)],
            ["not_tags", "e-gpu"],
            ["dry_run", "true"],
          ])
        ).json.system_id,
      ).toBe(plainBox);
      expect(
        (
          await allocate([
            ["cpu_count", cpu(1)],
            ["not_tags", "e-gpu,e-other"],
          ])
        ).status,
      ).toBe(409);
      expect(
        (
          await allocate([
            ["cpu_count", cpu(1)],
            ["not_tags", "e-gpu"],
            ["not_tags", "e-other"],
          ])
        ).status,
      ).toBe(409);
      const t = await allocate([
        ["cpu_count", cpu(1)],
        ["not_tags", "e-gpu"],
      ]);
      expect(t.json.system_id).toBe(plainBox);
      expect(await statusOf(gpu)).toBe(S.READY);

      await env.DB.prepare("INSERT INTO zones (name) VALUES ('e-zone-a'), ('e-zone-b') ON CONFLICT DO NOTHING").run();
      const inA = await makeMachine({ cpuCount: Number(cpu(2)) });
      const inB = await makeMachine({ cpuCount: Number(cpu(2)) });
      await env.DB.prepare("UPDATE machines SET zone_id = (SELECT id FROM zones WHERE name = 'e-zone-a') WHERE system_id = ?").bind(inA).run();
      await env.DB.prepare("UPDATE machines SET zone_id = (SELECT id FROM zones WHERE name = 'e-zone-b') WHERE system_id = ?").bind(inB).run();
      expect(
        (
          await allocate([
            ["cpu_count", cpu(2)],
            ["not_in_zone", "e-zone-a"],
            ["not_in_zone", "e-zone-b"],
          ])
        ).status,
      ).toBe(409);
      const z = await allocate([
        ["cpu_count", cpu(2)],
        ["not_in_zone", "e-zone-a"],
      ]);
      expect(z.json.system_id).toBe(inB);
      expect(z.json.zone.name).toBe("e-zone-b");
      expect(await statusOf(inA)).toBe(S.READY);

      const amd = await makeMachine({ cpuCount: Number(cpu(3)), arch: "amd64/generic" });
      const arm = await makeMachine({ cpuCount: Number(cpu(3)), arch: "arm64/generic" });
      expect(
        (
          await allocate([
            ["cpu_count", cpu(3)],
            ["arch", "ppc64el"],
          ])
        ).status,
      ).toBe(409);
      expect(
        (
          await allocate([
            ["cpu_count", cpu(3)],
            ["arch", "arm64/generic"],
            ["dry_run", "true"],
          ])
        ).json.system_id,
      ).toBe(arm);
      const ar = await allocate([
        ["cpu_count", cpu(3)],
        ["arch", "arm64"],
      ]);
      expect(ar.json).toMatchObject({ system_id: arm, architecture: "arm64/generic" });
      expect(await statusOf(amd)).toBe(S.READY);
      // Nothing left that is arm64.
      expect(
        (
          await allocate([
            ["cpu_count", cpu(3)],
            ["arch", "arm64"],
          ])
        ).status,
      ).toBe(409);
    });
  }
});

describe("release with a BMC: Releasing, Disk erasing and the erase modes", () => {
  let site = "";
  beforeAll(async () => {
    // A rack enrolled for the site carries the power commands (delivered when it connects), so
    // the machines stay in Releasing / Disk erasing until it reports, as MAAS shows them.
    site = "e-bmc-site";
    await enrolRack(adminNative, site, "e-rack");
  });
  const deployed = () =>
    makeMachine({ site, status: S.DEPLOYED, ownerId: opId, powerType: "ipmi", powerParams: { power_address: "10.0.9.9", power_user: "u", power_pass: "p" } });
  const eraseMode = async (sid: string) =>
    (await env.DB.prepare("SELECT erase_mode FROM machines WHERE system_id = ?").bind(sid).first<{ erase_mode: string | null }>())!.erase_mode;

  for (const encoding of ENCODINGS) {
    it(`${encoding}: erase and quick_erase → Disk erasing (quick); erase → Disk erasing (full); quick_erase alone or nothing → Releasing`, async () => {
      const release = (sid: string, form: Record<string, string>) => maas(op, "POST", `machines/${sid}/`, { query: { op: "release" }, encoding, form });

      const quick = await deployed();
      const q = await release(quick, { erase: "true", quick_erase: "true", comment: "erase quickly" });
      expect(q.status).toBe(200);
      expect(q.json).toMatchObject({ status: S.DISK_ERASING, status_name: "Disk erasing", owner_data: {} });
      expect(await eraseMode(quick)).toBe("quick");

      const full = await deployed();
      expect((await release(full, { erase: "true" })).json.status).toBe(S.DISK_ERASING);
      expect(await eraseMode(full)).toBe("full");

      // MAAS erases only when erase is set; quick_erase and secure_erase only choose how.
      const onlyQuick = await deployed();
      const oq = await release(onlyQuick, { quick_erase: "true" });
      expect(oq.json).toMatchObject({ status: S.RELEASING, status_name: "Releasing" });
      expect(await eraseMode(onlyQuick)).toBeNull();

      const plainRelease = await deployed();
      const p = await release(plainRelease, { comment: "done" });
      expect(p.json).toMatchObject({ status: S.RELEASING, status_name: "Releasing" });
      expect((await maas(op, "GET", `machines/${plainRelease}/`)).json.status_name).toBe("Releasing");

      // Many at once, with the erase options.
      const a = await deployed();
      const b = await deployed();
      const many = await maas(op, "POST", "machines/", {
        query: { op: "release" },
        encoding,
        form: [
          ["machines", a],
          ["machines", b],
          ["erase", "true"],
          ["quick_erase", "true"],
        ],
      });
      expect(many.json).toEqual([a, b]);
      for (const x of [a, b]) {
        expect(await statusOf(x)).toBe(S.DISK_ERASING);
        expect(await eraseMode(x)).toBe("quick");
      }
    });
  }

  it("a manual machine erases too (someone on site powers it on); without erase it is Ready at once", async () => {
    const m = await makeMachine({ status: S.DEPLOYED, ownerId: opId });
    expect((await maas(op, "POST", `machines/${m}/`, { query: { op: "release" }, form: { erase: "true" } })).json.status_name).toBe("Disk erasing");
    const n = await makeMachine({ status: S.DEPLOYED, ownerId: opId });
    expect(
      (await maas(op, "POST", `machines/${n}/`, { query: { op: "release" }, encoding: "multipart", form: { quick_erase: "true" } })).json.status_name,
    ).toBe("Ready");
  });
});
