// Networks through the MAAS facade as Terraform's maas_subnet / maas_subnet_ip_range /
// maas_fabric / maas_vlan / maas_space and maas_instance's per-NIC calls send them.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { makeMachine, makeUser } from "./helpers";
import { ENCODINGS, maas, maasKey } from "./maas-helpers";

let admin: string;
let op: string;
let eastAdmin: string;
beforeAll(async () => {
  admin = await maasKey(await makeUser("n-admin", [["admin", null]]));
  op = await maasKey(await makeUser("n-op", [["operator", null]]));
  eastAdmin = await maasKey(await makeUser("n-eastadmin", [["admin", "n-east"]]));
});

describe("fabrics, VLANs, spaces", () => {
  it("fabric CRUD with its untagged VLAN; VLANs under the fabric and by id; spaces list their VLANs and subnets", async () => {
    const f = await maas(admin, "POST", "fabrics/", { query: { op: "" }, form: { name: "n-fabric", description: "rack row 3" } });
    expect(f.status).toBe(200);
    expect(f.json).toMatchObject({ name: "n-fabric", description: "rack row 3", class_type: null, resource_uri: `/MAAS/api/2.0/fabrics/${f.json.id}/` });
    expect(f.json.vlans).toHaveLength(1);
    expect(f.json.vlans[0]).toMatchObject({ vid: 0, name: "untagged", fabric: "n-fabric", fabric_id: f.json.id, space: "undefined", primary_rack: null });

    const sp = await maas(admin, "POST", "spaces/", { query: { op: "" }, form: { name: "n-space" } });
    expect(sp.json).toMatchObject({ name: "n-space", vlans: [], subnets: [], resource_uri: `/MAAS/api/2.0/spaces/${sp.json.id}/` });

    const v = await maas(admin, "POST", `fabrics/${f.json.id}/vlans/`, {
      query: { op: "" },
      form: { vid: "42", name: "storage", mtu: "9000", space: "n-space" },
    });
    expect(v.status).toBe(200);
    expect(v.json).toMatchObject({ vid: 42, name: "storage", mtu: 9000, space: "n-space", resource_uri: `/MAAS/api/2.0/vlans/${v.json.id}/` });
    expect((await maas(admin, "POST", `fabrics/${f.json.id}/vlans/`, { query: { op: "" }, form: { vid: "42" } })).status).toBe(400);
    expect((await maas(admin, "GET", `fabrics/${f.json.id}/vlans/42/`)).json.id).toBe(v.json.id);
    expect((await maas(admin, "GET", `vlans/${v.json.id}/`)).json.vid).toBe(42);
    const pv = await maas(admin, "PUT", `fabrics/${f.json.id}/vlans/42/`, { form: { mtu: "1500", dhcp_on: "false" } });
    expect(pv.json).toMatchObject({ mtu: 1500, resource_uri: `/MAAS/api/2.0/vlans/${v.json.id}/` });
    expect((await maas(admin, "GET", `fabrics/${f.json.id}/vlans/`)).json.map((x: { vid: number }) => x.vid)).toEqual([0, 42]);
    expect((await maas(admin, "GET", `spaces/${sp.json.id}/`)).json.vlans.map((x: { vid: number }) => x.vid)).toEqual([42]);

    const pf = await maas(admin, "PUT", `fabrics/${f.json.id}/`, { form: { name: "n-fabric-2" } });
    expect(pf.json).toMatchObject({ name: "n-fabric-2", resource_uri: `/MAAS/api/2.0/fabrics/${f.json.id}/` });
    expect((await maas(admin, "GET", "fabrics/")).json.map((x: { name: string }) => x.name)).toContain("n-fabric-2");
    expect((await maas(admin, "DELETE", `fabrics/${f.json.id}/vlans/42/`)).status).toBe(204);
    expect((await maas(admin, "DELETE", `fabrics/${f.json.id}/`)).status).toBe(204);
    expect((await maas(admin, "GET", `fabrics/${f.json.id}/`)).status).toBe(404);
    expect((await maas(admin, "DELETE", "fabrics/1/")).status).toBe(400);
    const ps = await maas(admin, "PUT", `spaces/${sp.json.id}/`, { form: { description: "storage net" } });
    expect(ps.json).toMatchObject({ description: "storage net", resource_uri: `/MAAS/api/2.0/spaces/${sp.json.id}/` });
    expect((await maas(admin, "DELETE", `spaces/${sp.json.id}/`)).status).toBe(204);
  });

  it("a PUT keeps what it does not send, as MAAS does (Terraform sends only what changed)", async () => {
    const f = await maas(admin, "POST", "fabrics/", { query: { op: "" }, form: { name: "k-fabric", description: "row 9" } });
    expect((await maas(admin, "PUT", `fabrics/${f.json.id}/`, { form: { name: "k-fabric-2" } })).json).toMatchObject({
      name: "k-fabric-2",
      description: "row 9",
    });
    const sp = await maas(admin, "POST", "spaces/", { query: { op: "" }, form: { name: "k-space", description: "storage" } });
    expect((await maas(admin, "PUT", `spaces/${sp.json.id}/`, { form: { name: "k-space-2" } })).json).toMatchObject({
      name: "k-space-2",
      description: "storage",
    });
    const v = await maas(admin, "POST", `fabrics/${f.json.id}/vlans/`, { query: { op: "" }, form: { vid: "77", name: "jumbo", mtu: "9000" } });
    expect((await maas(admin, "PUT", `vlans/${v.json.id}/`, { form: { dhcp_on: "false" } })).json).toMatchObject({ vid: 77, name: "jumbo", mtu: 9000 });
    const s = await maas(admin, "POST", "subnets/", { query: { op: "" }, form: { cidr: "10.77.0.0/24", name: "k-net", vlan: String(v.json.id) } });
    expect(s.status).toBe(200);
    expect((await maas(admin, "PUT", `subnets/${s.json.id}/`, { form: { dns_servers: "10.77.0.2" } })).json).toMatchObject({ name: "k-net" });
    const r = await maas(admin, "POST", "ipranges/", {
      query: { op: "" },
      form: { type: "reserved", start_ip: "10.77.0.10", end_ip: "10.77.0.20", subnet: String(s.json.id), comment: "bmcs" },
    });
    expect(r.status).toBe(200);
    expect((await maas(admin, "PUT", `ipranges/${r.json.id}/`, { form: { end_ip: "10.77.0.30" } })).json).toMatchObject({
      end_ip: "10.77.0.30",
      comment: "bmcs",
    });
    // A value that is sent still changes, an empty one included.
    expect((await maas(admin, "PUT", `spaces/${sp.json.id}/`, { form: { description: "" } })).json).toMatchObject({ description: "" });
  });

  it("operators cannot change networks", async () => {
    expect((await maas(op, "POST", "fabrics/", { query: { op: "" }, form: { name: "nope" } })).status).toBe(403);
    expect((await maas(op, "POST", "spaces/", { query: { op: "" }, form: { name: "nope" } })).status).toBe(403);
    expect((await maas(op, "GET", "fabrics/")).status).toBe(200);
  });
});

describe("subnets and IP ranges (Terraform maas_subnet + maas_subnet_ip_range)", () => {
  for (const encoding of ENCODINGS) {
    it(`${encoding}: subnet CRUD by id and CIDR, ranges CRUD, overlap and bounds refused`, async () => {
      const third = encoding === "urlencoded" ? 61 : 62;
      const cidr = `10.${third}.0.0/24`;
      const s = await maas(admin, "POST", "subnets/", {
        query: { op: "" },
        encoding,
        form: [
          ["cidr", cidr],
          ["name", `net-${third}`],
          ["fabric", "1"],
          ["vid", "0"],
          ["gateway_ip", `10.${third}.0.1`],
          ["dns_servers", `10.${third}.0.2`],
          ["dns_servers", "1.1.1.1"],
          ["managed", "true"],
        ],
      });
      expect(s.status).toBe(200);
      expect(s.json).toMatchObject({
        cidr,
        name: `net-${third}`,
        gateway_ip: `10.${third}.0.1`,
        dns_servers: [`10.${third}.0.2`, "1.1.1.1"],
        managed: true,
        space: "undefined",
        resource_uri: `/MAAS/api/2.0/subnets/${s.json.id}/`,
      });
      expect(s.json.vlan).toMatchObject({ vid: 0, fabric: "fabric-0", fabric_id: 1 });
      expect((await maas(admin, "POST", "subnets/", { query: { op: "" }, encoding, form: { cidr } })).status).toBe(400);
      expect((await maas(admin, "GET", `subnets/${s.json.id}/`)).json.cidr).toBe(cidr);
      expect((await maas(admin, "GET", `subnets/${cidr}/`)).json.id).toBe(s.json.id);
      const put = await maas(admin, "PUT", `subnets/${s.json.id}/`, { encoding, form: { name: `renamed-${third}`, dns_servers: "8.8.8.8 8.8.4.4" } });
      expect(put.json).toMatchObject({
        name: `renamed-${third}`,
        dns_servers: ["8.8.8.8", "8.8.4.4"],
        gateway_ip: `10.${third}.0.1`,
        resource_uri: `/MAAS/api/2.0/subnets/${s.json.id}/`,
      });
      expect((await maas(admin, "PUT", `subnets/${s.json.id}/`, { encoding, form: { gateway_ip: "192.168.1.1" } })).json).toHaveProperty("gateway_ip");

      const dyn = await maas(admin, "POST", "ipranges/", {
        query: { op: "" },
        encoding,
        form: { type: "dynamic", start_ip: `10.${third}.0.100`, end_ip: `10.${third}.0.199`, subnet: String(s.json.id), comment: "dhcp" },
      });
      expect(dyn.status).toBe(200);
      expect(dyn.json).toMatchObject({
        type: "dynamic",
        start_ip: `10.${third}.0.100`,
        end_ip: `10.${third}.0.199`,
        comment: "dhcp",
        resource_uri: `/MAAS/api/2.0/ipranges/${dyn.json.id}/`,
      });
      expect(dyn.json.subnet.id).toBe(s.json.id);
      // No subnet given: the one holding the range.
      const res = await maas(admin, "POST", "ipranges/", {
        query: { op: "" },
        encoding,
        form: { type: "reserved", start_ip: `10.${third}.0.10`, end_ip: `10.${third}.0.20` },
      });
      expect(res.json.subnet.cidr).toBe(cidr);
      const overlap = await maas(admin, "POST", "ipranges/", {
        query: { op: "" },
        encoding,
        form: { type: "reserved", start_ip: `10.${third}.0.150`, end_ip: `10.${third}.0.160`, subnet: cidr },
      });
      expect(overlap.status).toBe(400);
      expect(overlap.json.__all__[0]).toMatch(/conflicts/);
      const outside = await maas(admin, "POST", "ipranges/", {
        query: { op: "" },
        encoding,
        form: { type: "reserved", start_ip: `10.${third}.0.250`, end_ip: `10.${third}.1.5`, subnet: cidr },
      });
      expect(outside.status).toBe(400);
      expect(outside.json).toHaveProperty("end_ip");
      const up = await maas(admin, "PUT", `ipranges/${res.json.id}/`, { encoding, form: { end_ip: `10.${third}.0.30`, comment: "bmc" } });
      expect(up.json).toMatchObject({ end_ip: `10.${third}.0.30`, comment: "bmc", resource_uri: `/MAAS/api/2.0/ipranges/${res.json.id}/` });
      expect((await maas(admin, "GET", `ipranges/${res.json.id}/`)).json.comment).toBe("bmc");
      expect((await maas(admin, "GET", "ipranges/")).json.map((x: { id: number }) => x.id)).toEqual(expect.arrayContaining([dyn.json.id, res.json.id]));
      const reserved = await maas(admin, "GET", `subnets/${s.json.id}/`, { query: { op: "reserved_ip_ranges" } });
      expect(reserved.json.map((x: { purpose: string[] }) => x.purpose[0])).toEqual(["gateway-ip", "reserved", "dynamic"]);
      expect((await maas(admin, "DELETE", `ipranges/${res.json.id}/`)).status).toBe(204);
      expect((await maas(admin, "GET", `ipranges/${res.json.id}/`)).status).toBe(404);
      expect((await maas(admin, "DELETE", `subnets/${s.json.id}/`)).status).toBe(204);
      expect((await maas(admin, "GET", `ipranges/${dyn.json.id}/`)).status).toBe(404);
    });
  }

  it("bad CIDR, bad gateway, bad range type: 400 field errors", async () => {
    expect((await maas(admin, "POST", "subnets/", { query: { op: "" }, form: { cidr: "10.0.0.1/24" } })).json).toHaveProperty("cidr");
    expect((await maas(admin, "POST", "subnets/", { query: { op: "" }, form: { cidr: "10.63.0.0/24", gateway_ip: "10.64.0.1" } })).json).toHaveProperty(
      "gateway_ip",
    );
    expect(
      (await maas(admin, "POST", "ipranges/", { query: { op: "" }, form: { type: "weird", start_ip: "10.0.0.1", end_ip: "10.0.0.2" } })).json,
    ).toHaveProperty("type");
  });

  it("a site admin manages its own site's subnets only and sees no others", async () => {
    const mine = await maas(eastAdmin, "POST", "subnets/", { query: { op: "" }, form: { cidr: "10.71.0.0/24", site: "n-east" } });
    expect(mine.status).toBe(200);
    const other = await maas(admin, "POST", "subnets/", { query: { op: "" }, form: { cidr: "10.72.0.0/24", site: "default" } });
    expect((await maas(eastAdmin, "GET", "subnets/")).json.map((x: { cidr: string }) => x.cidr)).not.toContain("10.72.0.0/24");
    expect((await maas(eastAdmin, "GET", `subnets/${other.json.id}/`)).status).toBe(404);
    expect((await maas(eastAdmin, "POST", "subnets/", { query: { op: "" }, form: { cidr: "10.73.0.0/24", site: "default" } })).status).toBe(403);
    // Without a site, a site admin's subnet is on that site.
    const stock = await maas(eastAdmin, "POST", "subnets/", { query: { op: "" }, form: { cidr: "10.74.0.0/24" } });
    expect(stock.status, stock.text).toBe(200);
    expect((await env.DB.prepare("SELECT s.name FROM subnets n JOIN sites s ON s.id = n.site_id WHERE n.cidr = '10.74.0.0/24'").first())!.name).toBe("n-east");
  });

  it("a subnet made the stock way by an admin of every site is on no site until a machine is linked to it, then on that machine's", async () => {
    const s = await maas(admin, "POST", "subnets/", { query: { op: "" }, form: { cidr: "10.75.0.0/24" } });
    expect(s.status, s.text).toBe(200);
    const site = async () => (await env.DB.prepare("SELECT site_id FROM subnets WHERE cidr = '10.75.0.0/24'").first<{ site_id: number | null }>())!.site_id;
    expect(await site()).toBeNull();
    // Until then only an admin of every site changes it.
    expect((await maas(eastAdmin, "PUT", `subnets/${s.json.id}/`, { form: { name: "mine" } })).status).toBe(403);
    const west = await makeMachine({ status: S.ALLOCATED, site: "n-west", mac: "52:54:00:11:75:01" });
    const eth0 = (await maas(op, "GET", `nodes/${west}/interfaces/`)).json[0];
    const link = await maas(op, "POST", `nodes/${west}/interfaces/${eth0.id}/`, {
      query: { op: "link_subnet" },
      form: { mode: "AUTO", subnet: "10.75.0.0/24" },
    });
    expect(link.status, link.text).toBe(200);
    expect(await site()).toBe((await env.DB.prepare("SELECT id FROM sites WHERE name = 'n-west'").first<{ id: number }>())!.id);
    // A machine of another site is now refused, as for any subnet with a site.
    const east = await makeMachine({ status: S.ALLOCATED, site: "n-east", mac: "52:54:00:11:75:02" });
    const e0 = (await maas(op, "GET", `nodes/${east}/interfaces/`)).json[0];
    const refused = await maas(op, "POST", `nodes/${east}/interfaces/${e0.id}/`, {
      query: { op: "link_subnet" },
      form: { mode: "AUTO", subnet: "10.75.0.0/24" },
    });
    expect(refused.json).toEqual({ subnet: ["The subnet is on another site than the machine."] });
    const ev = await env.DB.prepare("SELECT description FROM events WHERE type = 'subnet.updated' AND description LIKE '%joined site n-west%'").all();
    expect(ev.results).toHaveLength(1);
  });
});

describe("interfaces and block devices (Terraform maas_instance per-NIC config)", () => {
  it("list, link_subnet STATIC, unlink_subnet, disconnect, create_physical, PUT, DELETE; block devices read", async () => {
    const sid = await makeMachine({ status: S.ALLOCATED, mac: "52:54:00:11:00:01" });
    const s = await maas(admin, "POST", "subnets/", { query: { op: "" }, form: { cidr: "10.81.0.0/24", gateway_ip: "10.81.0.1" } });
    const list = await maas(op, "GET", `nodes/${sid}/interfaces/`);
    expect(list.status).toBe(200);
    const eth0 = list.json[0];
    expect(eth0).toMatchObject({
      name: "eth0",
      type: "physical",
      mac_address: "52:54:00:11:00:01",
      links: [],
      vlan: null,
      resource_uri: `/MAAS/api/2.0/nodes/${sid}/interfaces/${eth0.id}/`,
    });
    for (const k of ["resource_uri", "id", "name", "type", "enabled", "tags", "vlan", "links", "mac_address", "effective_mtu", "parents", "children"])
      expect(eth0).toHaveProperty(k);

    const sub = await maas(op, "GET", "subnets/");
    expect(sub.json.some((x: { id: number }) => x.id === s.json.id)).toBe(true);
    const disc = await maas(op, "POST", `nodes/${sid}/interfaces/${eth0.id}/`, { query: { op: "disconnect" } });
    expect(disc.json.links).toEqual([]);
    const link = await maas(op, "POST", `nodes/${sid}/interfaces/${eth0.id}/`, {
      query: { op: "link_subnet" },
      form: { mode: "STATIC", subnet: String(s.json.id), ip_address: "10.81.0.50" },
    });
    expect(link.status, link.text).toBe(200);
    expect(link.json.links).toEqual([
      { id: expect.any(Number), mode: "static", subnet: expect.objectContaining({ id: s.json.id, cidr: "10.81.0.0/24" }), ip_address: "10.81.0.50" },
    ]);
    expect(link.json.vlan).toMatchObject({ vid: 0 });
    expect((await maas(op, "GET", `machines/${sid}/`)).json.ip_addresses).toEqual(["10.81.0.50"]);
    // Outside the subnet, or a duplicate address.
    expect(
      (
        await maas(op, "POST", `nodes/${sid}/interfaces/${eth0.id}/`, {
          query: { op: "link_subnet" },
          form: { mode: "STATIC", subnet: "10.81.0.0/24", ip_address: "10.99.0.5" },
        })
      ).status,
    ).toBe(400);
    expect(
      (await maas(op, "POST", `nodes/${sid}/interfaces/${eth0.id}/`, { query: { op: "link_subnet" }, form: { mode: "bogus", subnet: "1" } })).json,
    ).toHaveProperty("mode");
    const un = await maas(op, "POST", `nodes/${sid}/interfaces/${eth0.id}/`, { query: { op: "unlink_subnet" }, form: { id: String(link.json.links[0].id) } });
    expect(un.json.links).toEqual([]);
    const auto = await maas(op, "POST", `nodes/${sid}/interfaces/${eth0.id}/`, {
      query: { op: "link_subnet" },
      encoding: "multipart",
      form: { mode: "AUTO", subnet: "10.81.0.0/24" },
    });
    expect(auto.json.links[0]).toMatchObject({ mode: "auto" });

    const phys = await maas(op, "POST", `nodes/${sid}/interfaces/`, {
      query: { op: "create_physical" },
      form: { mac_address: "52:54:00:11:00:02", name: "eth1" },
    });
    expect(phys.status).toBe(200);
    expect(phys.json).toMatchObject({ name: "eth1", mac_address: "52:54:00:11:00:02", tags: [] });
    const badTags = await maas(op, "POST", `nodes/${sid}/interfaces/`, {
      query: { op: "create_physical" },
      form: { mac_address: "52:54:00:11:00:03", tags: "ok,not ok" },
    });
    expect(badTags.status).toBe(400);
    expect(badTags.json.tags[0]).toContain('"not ok" is not a valid tag');
    const badMtu = await maas(op, "POST", `nodes/${sid}/interfaces/`, {
      query: { op: "create_physical" },
      form: { mac_address: "52:54:00:11:00:03", mtu: "100" },
    });
    expect(badMtu.json.mtu[0]).toContain("between 552 and 65535");
    const put = await maas(op, "PUT", `nodes/${sid}/interfaces/${phys.json.id}/`, { form: { name: "data0" } });
    expect(put.json).toMatchObject({ name: "data0", resource_uri: `/MAAS/api/2.0/nodes/${sid}/interfaces/${phys.json.id}/` });
    expect((await maas(op, "DELETE", `nodes/${sid}/interfaces/${phys.json.id}/`)).status).toBe(204);
    expect((await maas(op, "GET", `nodes/${sid}/interfaces/${phys.json.id}/`)).status).toBe(404);

    // Deployed machines' networks are not edited (MAAS: NodeStateViolation, 409).
    const { env } = await import("cloudflare:workers");
    await env.DB.prepare("UPDATE machines SET status = 6 WHERE system_id = ?").bind(sid).run();
    expect((await maas(op, "POST", `nodes/${sid}/interfaces/${eth0.id}/`, { query: { op: "disconnect" } })).status).toBe(409);

    await env.DB.prepare(
      "INSERT INTO block_devices (machine_id, name, path, model, size, is_boot) SELECT id, 'sda', '/dev/sda', 'SSD 1', 480000000000, 1 FROM machines WHERE system_id = ?",
    )
      .bind(sid)
      .run();
    const bd = await maas(op, "GET", `nodes/${sid}/blockdevices/`);
    expect(bd.json).toHaveLength(1);
    expect(bd.json[0]).toMatchObject({
      name: "sda",
      size: 480000000000,
      model: "SSD 1",
      tags: ["ssd"],
      // The default (flat) layout's root partition, as MAAS shows a commissioned machine's.
      partition_table_type: "GPT",
      partitions: [expect.objectContaining({ type: "partition", filesystem: expect.objectContaining({ fstype: "ext4", mount_point: "/" }) })],
      filesystem: null,
      resource_uri: `/MAAS/api/2.0/nodes/${sid}/blockdevices/${bd.json[0].id}/`,
    });
    expect((await maas(op, "GET", `nodes/${sid}/blockdevices/${bd.json[0].id}/`)).json.name).toBe("sda");
    expect((await maas(op, "GET", `nodes/${sid}/blockdevices/999999/`)).status).toBe(404);
  });

  it("a viewer reads interfaces but cannot link them", async () => {
    const viewer = await maasKey(await makeUser("n-viewer", [["viewer", null]]));
    const sid = await makeMachine({ status: S.READY });
    const l = await maas(viewer, "GET", `nodes/${sid}/interfaces/`);
    expect(l.status).toBe(200);
    expect((await maas(viewer, "POST", `nodes/${sid}/interfaces/${l.json[0].id}/`, { query: { op: "disconnect" } })).status).toBe(403);
  });

  it("static-routes/ is an empty list (Plinth has none)", async () => {
    const r = await maas(op, "GET", "static-routes/");
    expect(r.status).toBe(200);
    expect(r.json).toEqual([]);
  });
});
