// The address allocator and the link model: AUTO addresses under 100 concurrent deployments,
// full subnets, release, STATIC checks, reservations through /api/v1 and the MAAS facade,
// subnet statistics, and the migration of the one-link-per-interface columns. Real D1.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { allocateAutoLink, allocateMachineAddresses, canonicalIp, parseIp, reserveAddress, subnetSpace } from "../../cloud/domain/addresses";
import { linkSubnet } from "../../cloud/domain/machines/interfaces";
import { buildSnapshot } from "../../cloud/tunnel/config";
import { call, deployableImage, makeMachine, makeUser, siteId, statusOf } from "./helpers";
import { maas, maasKey } from "./maas-helpers";
import { enrolRack } from "./tunnel-helpers";

let admin = "";
let op = "";
let op2 = "";
let opMaas = "";
let adminMaas = "";
let viewerMaas = "";

beforeAll(async () => {
  await deployableImage("ubuntu", "noble");
  admin = await makeUser("addr-admin", [["admin", null]]);
  op = await makeUser("addr-op", [["operator", null]]);
  op2 = await makeUser("addr-op2", [["operator", null]]);
  adminMaas = await maasKey(admin);
  opMaas = await maasKey(op);
  viewerMaas = await maasKey(await makeUser("addr-viewer", [["viewer", null]]));
});

/** A subnet on site `site` with its ranges, through /api/v1 as an operator would make it. */
async function subnet(cidr: string, o: { gateway?: string; dynamic?: [string, string]; reserved?: [string, string]; site?: string } = {}) {
  const s = await call(admin, "POST", "/subnets", { cidr, site: o.site ?? "default", ...(o.gateway ? { gateway_ip: o.gateway } : {}) });
  expect(s.status, s.text).toBe(201);
  for (const [type, r] of [
    ["dynamic", o.dynamic],
    ["reserved", o.reserved],
  ] as const) {
    if (!r) continue;
    const x = await call(admin, "POST", "/ip-ranges", { subnet_id: s.json.id, type, start_ip: r[0], end_ip: r[1] });
    expect(x.status, x.text).toBe(201);
  }
  return s.json.id as number;
}

async function machineRow(systemId: string) {
  return (await env.DB.prepare("SELECT id, system_id AS systemId, hostname, site_id AS siteId, status FROM machines WHERE system_id = ?")
    .bind(systemId)
    .first<{ id: number; systemId: string; hostname: string; siteId: number; status: number }>())!;
}

async function eth0(systemId: string) {
  return (await env.DB.prepare("SELECT i.id, i.name FROM interfaces i JOIN machines m ON m.id = i.machine_id WHERE m.system_id = ? ORDER BY i.id LIMIT 1")
    .bind(systemId)
    .first<{ id: number; name: string }>())!;
}

/** A READY machine whose eth0 has a link of `mode` on `subnetId`; returns its system id and link id. */
async function linkedMachine(subnetId: number, mode: "auto" | "static" | "dhcp" = "auto", ip?: string) {
  const sid = await makeMachine({ status: S.READY });
  const m = await machineRow(sid);
  const linkId = await linkSubnet(env.DB, "test", m, await eth0(sid), { mode, subnetId, ip });
  return { sid, m, linkId };
}

const ipOf = async (linkId: number) =>
  (await env.DB.prepare("SELECT ip FROM ip_addresses WHERE id = ?").bind(linkId).first<{ ip: string | null }>())?.ip ?? null;
const rowCount = async () => (await env.DB.prepare("SELECT count(*) AS n FROM ip_addresses").first<{ n: number }>())!.n;
const last = (ip: string) => Number(ip.split(".")[3]);

describe("AUTO allocation", () => {
  it("100 concurrent deployments on one /24 get 100 distinct addresses, the lowest free ones, none reserved, dynamic or the gateway", async () => {
    const id = await subnet("10.150.0.0/24", { gateway: "10.150.0.1", reserved: ["10.150.0.2", "10.150.0.20"], dynamic: ["10.150.0.200", "10.150.0.254"] });
    // A static address and a reservation already hold two addresses the allocator must step over.
    await linkedMachine(id, "static", "10.150.0.21");
    expect((await call(op, "POST", "/ip-addresses", { subnet: id, ip: "10.150.0.23" })).status).toBe(201);
    const ms = [];
    for (let i = 0; i < 100; i++) ms.push(await linkedMachine(id));
    const started = Date.now();
    await Promise.all(ms.map((x) => allocateMachineAddresses(env.DB, x.m.id)));
    const took = Date.now() - started;
    const ips = await Promise.all(ms.map((x) => ipOf(x.linkId)));
    expect(ips.every((ip) => ip !== null)).toBe(true);
    expect(new Set(ips).size).toBe(100);
    const octets = ips.map((ip) => last(ip!)).sort((a, b) => a - b);
    for (const o of octets) {
      expect(o).toBeGreaterThanOrEqual(22);
      expect(o).toBeLessThan(200);
      expect(o).not.toBe(23);
    }
    // Lowest free: .22, .24 … .122 (the reservation at .23 skipped), nothing left out between.
    expect(octets).toEqual([22, ...Array.from({ length: 99 }, (_, i) => 24 + i)]);
    console.log(`100 concurrent AUTO allocations on a /24: ${took} ms`);
    // Each machine's JSON names its address.
    const j = await maas(opMaas, "GET", `machines/${ms[0]!.sid}/`);
    expect(j.json.ip_addresses).toEqual([ips[0]]);
    expect(j.json.interface_set[0].links[0]).toMatchObject({ id: ms[0]!.linkId, mode: "auto", ip_address: ips[0] });
  }, 120_000);

  it("25 concurrent deploy requests through /api/v1 on one subnet: each machine DEPLOYING with its own address", async () => {
    const id = await subnet("10.163.0.0/24", { gateway: "10.163.0.1", dynamic: ["10.163.0.10", "10.163.0.19"] });
    const ms = [];
    for (let i = 0; i < 25; i++) ms.push(await linkedMachine(id));
    const rs = await Promise.all(ms.map((x) => call(op, "POST", `/machines/${x.sid}/deploy`, {})));
    expect(rs.map((r) => r.status)).toEqual(rs.map(() => 200));
    const ips = await Promise.all(ms.map((x) => ipOf(x.linkId)));
    expect(new Set(ips).size).toBe(25);
    expect(ips.map((ip) => last(ip!)).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, ...Array.from({ length: 17 }, (_, i) => 20 + i)]);
    for (const x of ms) expect(await statusOf(x.sid)).toBe(S.DEPLOYING);
  }, 60_000);

  it("30 concurrent reservations of the next free address each get their own; the UNIQUE index refuses an address twice", async () => {
    const id = await subnet("10.162.0.0/24", { gateway: "10.162.0.1" });
    const s = (await subnetSpace(env.DB, id))!;
    const opId = (await env.DB.prepare("SELECT id FROM users WHERE username = 'addr-op'").first<{ id: number }>())!.id;
    const made = await Promise.all(
      Array.from({ length: 30 }, (_, i) => reserveAddress(env.DB, { username: "addr-op", userId: opId }, s, { comment: `r${i}` })),
    );
    expect(made.map((r) => last(r.ip!)).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 2));
    await expect(env.DB.prepare("INSERT INTO ip_addresses (subnet_id, ip, kind) VALUES (?, '10.162.0.2', 'static')").bind(id).run()).rejects.toThrow(/UNIQUE/);
  });

  it("never hands out the rack's own address on the subnet (from its hello)", async () => {
    const { rackId } = await enrolRack(admin, "addr-rack", "addr-rack-1");
    await env.DB.prepare("UPDATE racks SET interfaces = ? WHERE id = ?")
      .bind(JSON.stringify([{ name: "br0", addresses: ["10.164.0.2/24", "fe80::1/64"] }]), rackId)
      .run();
    const id = await subnet("10.164.0.0/24", { gateway: "10.164.0.1", site: "addr-rack" });
    const sid = await makeMachine({ status: S.READY, site: "addr-rack" });
    const m = await machineRow(sid);
    const auto = await linkSubnet(env.DB, "test", m, await eth0(sid), { mode: "auto", subnetId: id });
    await allocateMachineAddresses(env.DB, m.id);
    expect(await ipOf(auto)).toBe("10.164.0.3");
    const r = await call(op, "POST", "/ip-addresses", { subnet: id, ip: "10.164.0.2" });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("rack_address");
  });

  it("IPv6: the lowest free address above the subnet's own", async () => {
    const s = await env.DB.prepare("INSERT INTO subnets (cidr, site_id, gateway_ip) VALUES ('fd00:150::/64', ?, 'fd00:150::1') RETURNING id")
      .bind(await siteId("default"))
      .first<{ id: number }>();
    const a = await linkedMachine(s!.id);
    const b = await linkedMachine(s!.id);
    expect(await allocateAutoLink(env.DB, { id: a.linkId, subnetId: s!.id, what: "a" })).toBe("fd00:150::2");
    expect(await allocateAutoLink(env.DB, { id: b.linkId, subnetId: s!.id, what: "b" })).toBe("fd00:150::3");
    // Already allocated: the same address again.
    expect(await allocateAutoLink(env.DB, { id: a.linkId, subnetId: s!.id, what: "a" })).toBe("fd00:150::2");
    expect(canonicalIp("FD00:0150:0:0:0:0:0:0002")).toBe("fd00:150::2");
    expect(parseIp("::ffff:10.0.0.1")).toEqual({ family: 6, n: 0xffff0a000001n });
  });

  it("a full subnet refuses the deployment with 409 and the reason; nothing is taken, the machine stays READY", async () => {
    // /29: .1 gateway, .5-.6 dynamic, .7 broadcast: .2 .3 .4 are all there is.
    const id = await subnet("10.151.0.0/29", { gateway: "10.151.0.1", dynamic: ["10.151.0.5", "10.151.0.6"] });
    const other = await subnet("10.152.0.0/24", { gateway: "10.152.0.1" });
    const fill = [await linkedMachine(id), await linkedMachine(id), await linkedMachine(id)];
    for (const f of fill) expect((await call(op, "POST", `/machines/${f.sid}/deploy`, {})).status).toBe(200);
    expect((await Promise.all(fill.map((f) => ipOf(f.linkId)))).map((ip) => last(ip!)).sort()).toEqual([2, 3, 4]);

    // A machine with a link on a roomy subnet first, then one on the full one: all or nothing.
    const late = await linkedMachine(other);
    const second = await linkSubnet(env.DB, "test", late.m, await eth0(late.sid), { mode: "auto", subnetId: id });
    const r = await call(op, "POST", `/machines/${late.sid}/deploy`, {});
    expect(r.status, r.text).toBe(409);
    expect(r.json.error.code).toBe("subnet_full");
    expect(r.json.error.message).toContain("10.151.0.0/29");
    expect(await statusOf(late.sid)).toBe(S.READY);
    expect(await ipOf(late.linkId)).toBeNull();
    expect(await ipOf(second)).toBeNull();
    // The MAAS facade answers the same refusal in its own shape.
    const mr = await maas(opMaas, "POST", `machines/${late.sid}/`, { query: { op: "deploy" } });
    expect(mr.status).toBe(409);
    expect(mr.text).toContain("no free address left in 10.151.0.0/29");
  });

  it("release gives AUTO addresses back and keeps STATIC ones; the rack's snapshot follows", async () => {
    const { rackId } = await enrolRack(admin, "addr-rel", "addr-rel-rack");
    const id = await subnet("10.153.0.0/24", { gateway: "10.153.0.1", dynamic: ["10.153.0.200", "10.153.0.250"], site: "addr-rel" });
    const sid = await makeMachine({ status: S.READY, site: "addr-rel", mac: "52:54:00:15:30:01" });
    const m = await machineRow(sid);
    const nic = await eth0(sid);
    const auto = await linkSubnet(env.DB, "test", m, nic, { mode: "auto", subnetId: id });
    const nic2 = await env.DB.prepare("INSERT INTO interfaces (machine_id, name, mac) VALUES (?, 'eth1', '52:54:00:15:30:02') RETURNING id, name")
      .bind(m.id)
      .first<{ id: number; name: string }>();
    const stat = await linkSubnet(env.DB, "test", m, nic2!, { mode: "static", subnetId: id, ip: "10.153.0.77" });
    const dep = await call(op, "POST", `/machines/${sid}/deploy`, {});
    expect(dep.status, dep.text).toBe(200);
    expect(await ipOf(auto)).toBe("10.153.0.2");
    // /api/v1's machine: each interface's first link as ip_address/link_mode, and all of them.
    const read = await call(op, "GET", `/machines/${sid}`);
    expect(read.json.interfaces[0]).toMatchObject({
      ip_address: "10.153.0.2",
      link_mode: "auto",
      links: [{ id: auto, mode: "auto", subnet_id: id, ip: "10.153.0.2", default_gateway: false }],
    });
    expect(read.json.interfaces[1]).toMatchObject({ ip_address: "10.153.0.77", link_mode: "static" });
    const snap = await buildSnapshot(env.DB, rackId);
    // STATIC is served by the rack's DHCP; AUTO is not (the deployed system configures it).
    expect(snap!.reservations.filter((x) => x.systemId === sid).map((x) => [x.mac, x.ip])).toEqual([["52:54:00:15:30:02", "10.153.0.77"]]);
    // A device that is no machine, reserved by MAC: the rack's DHCP serves it too.
    const dev = await call(op, "POST", "/ip-addresses", { subnet: id, mac: "52:54:00:15:30:99", comment: "a switch" });
    expect(dev.json.ip).toBe("10.153.0.3");
    expect((await buildSnapshot(env.DB, rackId))!.reservations).toContainEqual({ mac: "52:54:00:15:30:99", ip: "10.153.0.3", hostname: "", systemId: "" });
    await env.DB.prepare("UPDATE machines SET status = ? WHERE id = ?").bind(S.DEPLOYED, m.id).run();
    const rel = await call(op, "POST", `/machines/${sid}/release`, {});
    expect(rel.status, rel.text).toBe(200);
    expect(await statusOf(sid)).toBe(S.READY);
    expect(await ipOf(auto)).toBeNull();
    expect(await ipOf(stat)).toBe("10.153.0.77");
    const after = await buildSnapshot(env.DB, rackId);
    expect(after!.reservations.filter((x) => x.systemId === sid).map((x) => x.ip)).toEqual(["10.153.0.77"]);
    // Deploying again takes the lowest free address again.
    expect((await call(op, "POST", `/machines/${sid}/deploy`, {})).status).toBe(200);
    expect(await ipOf(auto)).toBe("10.153.0.2");
    // Aborting the deployment (back to ALLOCATED) gives it back too.
    expect((await call(op, "POST", `/machines/${sid}/abort`, {})).status).toBe(200);
    expect(await ipOf(auto)).toBeNull();
  });
});

describe("STATIC links and links through the MAAS facade", () => {
  it("refuses an address outside the subnet, in a dynamic range, the gateway or in use, with the reason and nothing changed", async () => {
    const id = await subnet("10.154.0.0/24", { gateway: "10.154.0.1", dynamic: ["10.154.0.100", "10.154.0.150"] });
    await linkedMachine(id, "static", "10.154.0.10");
    const sid = await makeMachine({ status: S.READY });
    const nic = await eth0(sid);
    const uri = `nodes/${sid}/interfaces/${nic.id}/`;
    const before = await rowCount();
    const events = async () => (await env.DB.prepare("SELECT count(*) AS n FROM events WHERE system_id = ?").bind(sid).first<{ n: number }>())!.n;
    const ev = await events();
    const cases: [string, number, RegExp][] = [
      ["10.99.0.5", 400, /not in the subnet 10\.154\.0\.0\/24/],
      ["10.154.0.120", 400, /dynamic range 10\.154\.0\.100-10\.154\.0\.150/],
      ["10.154.0.1", 400, /gateway/],
      ["10.154.0.0", 400, /network address/],
      ["10.154.0.10", 400, /already in use/],
      ["not-an-ip", 400, /not an IP address/],
    ];
    for (const [ip, status, why] of cases) {
      const r = await maas(opMaas, "POST", uri, { query: { op: "link_subnet" }, form: { mode: "STATIC", subnet: String(id), ip_address: ip } });
      expect(r.status, `${ip}: ${r.text}`).toBe(status);
      expect(r.json.ip_address[0], ip).toMatch(why);
    }
    expect(await rowCount()).toBe(before);
    expect(await events()).toBe(ev);
    expect((await maas(opMaas, "GET", uri)).json.links).toEqual([]);
  });

  it("several links per interface, each with its own id; unlink_subnet by link id; set_default_gateway per family; LINK_UP needs force", async () => {
    const a = await subnet("10.155.0.0/24", { gateway: "10.155.0.1" });
    const b = await subnet("10.156.0.0/24", { gateway: "10.156.0.1" });
    const sid = await makeMachine({ status: S.ALLOCATED });
    const nic = await eth0(sid);
    const uri = `nodes/${sid}/interfaces/${nic.id}/`;
    const l1 = await maas(opMaas, "POST", uri, { query: { op: "link_subnet" }, form: { mode: "STATIC", subnet: "10.155.0.0/24", ip_address: "10.155.0.9" } });
    expect(l1.status, l1.text).toBe(200);
    const l2 = await maas(opMaas, "POST", uri, { query: { op: "link_subnet" }, form: { mode: "AUTO", subnet: String(b), default_gateway: "true" } });
    expect(l2.status, l2.text).toBe(200);
    expect(l2.json.links).toHaveLength(2);
    const [first, second] = l2.json.links;
    expect(first).toMatchObject({ mode: "static", ip_address: "10.155.0.9", subnet: { id: a } });
    expect(second).toMatchObject({ mode: "auto", subnet: { id: b } });
    expect(second).not.toHaveProperty("ip_address");
    expect(first.id).not.toBe(second.id);
    const gw = async () =>
      (await env.DB.prepare("SELECT id FROM ip_addresses WHERE interface_id = ? AND default_gateway = 1").bind(nic.id).all<{ id: number }>()).results.map(
        (x) => x.id,
      );
    expect(await gw()).toEqual([second.id]);
    // Two IPv4 links with gateways: which one must be said.
    expect((await maas(opMaas, "POST", uri, { query: { op: "set_default_gateway" } })).json).toHaveProperty("link_id");
    expect((await maas(opMaas, "POST", uri, { query: { op: "set_default_gateway" }, form: { link_id: String(first.id) } })).status).toBe(200);
    expect(await gw()).toEqual([first.id]);
    // STATIC with no address: the lowest free one, now.
    const l3 = await maas(opMaas, "POST", uri, { query: { op: "link_subnet" }, form: { mode: "STATIC", subnet: String(a) } });
    expect(l3.json.links[2]).toMatchObject({ mode: "static", ip_address: "10.155.0.2" });
    const un = await maas(opMaas, "POST", uri, { query: { op: "unlink_subnet" }, form: { id: String(first.id) } });
    expect(un.status).toBe(200);
    expect(un.json.links.map((l: { id: number }) => l.id)).toEqual([second.id, l3.json.links[2].id]);
    expect((await maas(opMaas, "POST", uri, { query: { op: "unlink_subnet" }, form: { id: String(first.id) } })).json).toHaveProperty("id");
    expect((await maas(opMaas, "POST", uri, { query: { op: "link_subnet" }, form: { mode: "LINK_UP" } })).json).toHaveProperty("mode");
    const up = await maas(opMaas, "POST", uri, { query: { op: "link_subnet" }, form: { mode: "LINK_UP", force: "true" } });
    expect(up.json.links).toEqual([{ id: expect.any(Number), mode: "link_up" }]);
    // The address 10.155.0.9 is free again, and a viewer cannot link.
    expect((await call(op, "POST", "/ip-addresses", { subnet: a, ip: "10.155.0.9" })).status).toBe(201);
    expect((await maas(viewerMaas, "POST", uri, { query: { op: "link_subnet" }, form: { mode: "DHCP", subnet: String(a) } })).status).toBe(403);
  });

  it("clear_default_gateways (terraform's first call) clears every link's flag; a bond member takes no link of its own", async () => {
    const a = await subnet("10.149.0.0/24", { gateway: "10.149.0.1" });
    const sid = await makeMachine({ status: S.ALLOCATED });
    const m = await machineRow(sid);
    const nic = await eth0(sid);
    const l = await maas(opMaas, "POST", `nodes/${sid}/interfaces/${nic.id}/`, {
      query: { op: "link_subnet" },
      form: { mode: "AUTO", subnet: String(a), default_gateway: "true" },
    });
    expect(l.status, l.text).toBe(200);
    const flagged = async () =>
      (await env.DB.prepare("SELECT count(*) AS n FROM ip_addresses WHERE machine_id = ? AND default_gateway = 1").bind(m.id).first<{ n: number }>())!.n;
    expect(await flagged()).toBe(1);
    const c = await maas(opMaas, "POST", `machines/${sid}/`, { query: { op: "clear_default_gateways" } });
    expect(c.status, c.text).toBe(200);
    expect(c.json.system_id).toBe(sid);
    expect(await flagged()).toBe(0);
    expect((await maas(viewerMaas, "POST", `machines/${sid}/`, { query: { op: "clear_default_gateways" } })).status).toBe(403);
    // Bonded, eth0 is configured through bond0 only.
    const bond = await maas(opMaas, "POST", `nodes/${sid}/interfaces/`, { query: { op: "create_bond" }, form: { name: "bond0", parents: String(nic.id) } });
    expect(bond.status, bond.text).toBe(200);
    const member = await maas(opMaas, "POST", `nodes/${sid}/interfaces/${nic.id}/`, {
      query: { op: "link_subnet" },
      form: { mode: "DHCP", subnet: String(a) },
    });
    expect(member.status).toBe(400);
    expect(member.text).toContain("member of bond0");
    const onBond = await maas(opMaas, "POST", `nodes/${sid}/interfaces/${bond.json.id}/`, {
      query: { op: "link_subnet" },
      form: { mode: "DHCP", subnet: String(a) },
    });
    expect(onBond.status, onBond.text).toBe(200);
    expect(onBond.json.links).toMatchObject([{ mode: "dhcp", subnet: { id: a } }]);
  });
});

describe("reservations", () => {
  it("/api/v1: reserve a given address or the lowest free, list, release; refusals say why", async () => {
    const id = await subnet("10.157.0.0/24", { gateway: "10.157.0.1", reserved: ["10.157.0.2", "10.157.0.9"], dynamic: ["10.157.0.200", "10.157.0.254"] });
    const a = await call(op, "POST", "/ip-addresses", { subnet: id, ip: "10.157.0.50", comment: "the printer" });
    expect(a.status, a.text).toBe(201);
    expect(a.json).toMatchObject({ ip: "10.157.0.50", kind: "user_reserved", owner: "addr-op", comment: "the printer", subnet_id: id });
    const b = await call(op, "POST", "/ip-addresses", { subnet: "10.157.0.0/24" });
    expect(b.json.ip).toBe("10.157.0.10");
    const withMac = await call(op, "POST", "/ip-addresses", { subnet: id, mac: "52:54:00:AB:CD:EF" });
    expect(withMac.json).toMatchObject({ ip: "10.157.0.11", mac: "52:54:00:ab:cd:ef" });
    const before = await rowCount();
    const refused: [unknown, number, string][] = [
      [{ subnet: id, ip: "10.157.0.50" }, 409, "address_in_use"],
      [{ subnet: id, ip: "10.157.0.210" }, 400, "in_dynamic_range"],
      [{ subnet: id, ip: "10.158.0.5" }, 400, "outside_subnet"],
      [{ subnet: id, ip: "10.157.0.1" }, 400, "gateway_address"],
      [{ subnet: 999999 }, 400, "invalid_request"],
      [{ subnet: id, mac: "52:54:00:ab:cd:ef" }, 409, "mac_has_address"],
    ];
    for (const [body, status, code] of refused) {
      const r = await call(op, "POST", "/ip-addresses", body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.json.error.code).toBe(code);
      expect(r.json.error.message.length).toBeGreaterThan(10);
    }
    expect(await rowCount()).toBe(before);

    const list = await call(op, "GET", `/ip-addresses?subnet=${id}`);
    expect(list.json.items.map((x: { ip: string }) => x.ip)).toEqual(["10.157.0.10", "10.157.0.11", "10.157.0.50"]);
    expect((await call(op, "GET", "/ip-addresses?subnet=10.157.0.0/24&kind=static")).json.items).toEqual([]);
    expect((await call(op, "GET", "/ip-addresses?subnet=999999")).status).toBe(404);

    // Another operator may not release it; its owner and an admin may.
    expect((await call(op2, "DELETE", `/ip-addresses/${a.json.id}`)).status).toBe(403);
    expect((await call(op, "DELETE", `/ip-addresses/${a.json.id}`)).status).toBe(204);
    expect((await call(admin, "DELETE", `/ip-addresses/${b.json.id}`)).status).toBe(204);
    expect((await call(op, "DELETE", `/ip-addresses/${a.json.id}`)).status).toBe(404);
    // A link is not a reservation.
    const l = await linkedMachine(id, "static", "10.157.0.60");
    const r = await call(admin, "DELETE", `/ip-addresses/${l.linkId}`);
    expect(r.status).toBe(409);
    expect(r.json.error.code).toBe("not_a_reservation");
    expect((await call(op, "GET", `/ip-addresses?subnet=${id}`)).json.items.map((x: { ip: string; kind: string }) => [x.ip, x.kind])).toEqual([
      ["10.157.0.11", "user_reserved"],
      ["10.157.0.60", "static"],
    ]);
  });

  it("MAAS ipaddresses/: op=reserve, list (mine; all for an admin), op=release", async () => {
    const id = await subnet("10.159.0.0/24", { gateway: "10.159.0.1", dynamic: ["10.159.0.100", "10.159.0.200"] });
    const r1 = await maas(opMaas, "POST", "ipaddresses/", {
      query: { op: "reserve" },
      form: { subnet: "10.159.0.0/24", ip_address: "10.159.0.30", comment: "vip" },
    });
    expect(r1.status, r1.text).toBe(200);
    expect(r1.json).toMatchObject({
      alloc_type: 4,
      alloc_type_name: "User reserved",
      ip: "10.159.0.30",
      subnet: { id, cidr: "10.159.0.0/24" },
      owner: { username: "addr-op" },
      interface_set: [],
      resource_uri: "/MAAS/api/2.0/ipaddresses/",
    });
    expect(r1.json.created).toMatch(/^\d{4}-\d\d-\d\dT/);
    const r2 = await maas(opMaas, "POST", "ipaddresses/", { query: { op: "reserve" }, form: { subnet: String(id) } });
    expect(r2.json.ip).toBe("10.159.0.2");
    // Only the address: its subnet is found from it.
    const r3 = await maas(adminMaas, "POST", "ipaddresses/", { query: { op: "reserve" }, form: { ip: "10.159.0.31" } });
    expect(r3.json).toMatchObject({ ip: "10.159.0.31", subnet: { id } });
    const bad = await maas(opMaas, "POST", "ipaddresses/", { query: { op: "reserve" }, form: { subnet: String(id), ip: "10.159.0.150" } });
    expect(bad.status).toBe(400);
    expect(bad.json.ip[0]).toMatch(/dynamic range/);
    expect((await maas(opMaas, "POST", "ipaddresses/", { query: { op: "reserve" }, form: { subnet: String(id), ip: "10.159.0.30" } })).status).toBe(409);

    const here = (xs: { ip: string }[]) => xs.map((x) => x.ip).filter((ip) => ip.startsWith("10.159."));
    const mine = await maas(opMaas, "GET", "ipaddresses/");
    expect(mine.json.every((x: { owner: { username: string } }) => x.owner.username === "addr-op")).toBe(true);
    expect(here(mine.json)).toEqual(["10.159.0.2", "10.159.0.30"]);
    expect((await maas(opMaas, "GET", "ipaddresses/", { query: { all: "true" } })).status).toBe(403);
    const all = await maas(adminMaas, "GET", "ipaddresses/", { query: { all: "true" } });
    expect(all.json.map((x: { ip: string }) => x.ip)).toEqual(expect.arrayContaining(["10.159.0.2", "10.159.0.30", "10.159.0.31"]));

    expect((await maas(opMaas, "POST", "ipaddresses/", { query: { op: "release" }, form: { ip: "10.159.0.31" } })).status).toBe(404);
    expect((await maas(opMaas, "POST", "ipaddresses/", { query: { op: "release" }, form: {} })).json).toHaveProperty("ip");
    expect((await maas(opMaas, "POST", "ipaddresses/", { query: { op: "release" }, form: { ip: "10.159.0.30" } })).status).toBe(204);
    expect(here((await maas(opMaas, "GET", "ipaddresses/")).json)).toEqual(["10.159.0.2"]);
  });
});

describe("subnet utilisation and MAAS statistics", () => {
  it("counts usable, dynamic, reserved, used by kind and free the same way in both APIs", async () => {
    // /26: 64 addresses, 62 usable; .1 gateway; .2-.11 reserved (10); .40-.59 dynamic (20).
    const id = await subnet("10.160.0.0/26", { gateway: "10.160.0.1", reserved: ["10.160.0.2", "10.160.0.11"], dynamic: ["10.160.0.40", "10.160.0.59"] });
    await linkedMachine(id, "static", "10.160.0.12");
    const auto = await linkedMachine(id);
    await allocateMachineAddresses(env.DB, auto.m.id);
    expect(await ipOf(auto.linkId)).toBe("10.160.0.13");
    await linkedMachine(id, "dhcp");
    expect((await call(op, "POST", "/ip-addresses", { subnet: id, ip: "10.160.0.62" })).status).toBe(201);
    // Free: .14-.39 (26) and .60-.61 (2) = 28.
    const u = await call(op, "GET", `/subnets/${id}/utilisation`);
    expect(u.status, u.text).toBe(200);
    expect(u.json).toMatchObject({
      cidr: "10.160.0.0/26",
      total: 64,
      usable: 62,
      dynamic: 20,
      reserved: 10,
      used: 3,
      used_by_kind: { static: 1, auto: 1, user_reserved: 1, dhcp: 0, discovered: 0, sticky: 0, link_up: 0 },
      free: 28,
      free_ranges: [
        { start: "10.160.0.14", end: "10.160.0.39", size: 26 },
        { start: "10.160.0.60", end: "10.160.0.61", size: 2 },
      ],
    });

    // The list carries the same counts for every subnet (the dashboard draws its bars from it).
    const listed = (await call(op, "GET", "/subnets")).json.items.find((x: { id: number }) => x.id === id);
    const { free_ranges: _runs, subnet_id: _id, cidr: _cidr, ...counts } = u.json;
    expect(listed.utilisation).toEqual(counts);
    // The same CIDR again is refused in words that name the field (the dashboard shows it there).
    const again = await call(admin, "POST", "/subnets", { cidr: "10.160.0.0/26", site: "default" });
    expect(again.status).toBe(409);
    expect(again.json.error).toMatchObject({ message: "cidr 10.160.0.0/26 is already a subnet", details: [{ path: "cidr" }] });

    const st = await maas(opMaas, "GET", `subnets/${id}/`, { query: { op: "statistics", include_ranges: "1" } });
    expect(st.status, st.text).toBe(200);
    expect(st.json).toMatchObject({
      num_available: 28,
      largest_available: 26,
      num_unavailable: 34,
      total_addresses: 62,
      usage_string: "55%",
      available_string: "45%",
      first_address: "10.160.0.1",
      last_address: "10.160.0.62",
      ip_version: 4,
    });
    expect(st.json.usage).toBeCloseTo(34 / 62);
    expect(st.json.ranges.map((x: { start: string; purpose: string[] }) => `${x.start} ${x.purpose[0]}`)).toEqual([
      "10.160.0.1 gateway-ip",
      "10.160.0.2 reserved",
      "10.160.0.12 assigned-ip",
      "10.160.0.13 assigned-ip",
      "10.160.0.14 unused",
      "10.160.0.40 dynamic",
      "10.160.0.60 unused",
      "10.160.0.62 assigned-ip",
    ]);
    const un = await maas(opMaas, "GET", `subnets/${id}/`, { query: { op: "unreserved_ip_ranges" } });
    expect(un.json).toEqual([
      { start: "10.160.0.14", end: "10.160.0.39", num_addresses: 26 },
      { start: "10.160.0.60", end: "10.160.0.61", num_addresses: 2 },
    ]);
    const used = await maas(opMaas, "GET", `subnets/${id}/`, { query: { op: "ip_addresses" } });
    expect(used.json.map((x: { ip: string; alloc_type: number }) => [x.ip, x.alloc_type])).toEqual([
      ["10.160.0.12", 1],
      ["10.160.0.13", 0],
      ["10.160.0.62", 4],
    ]);
    expect(used.json[1].node_summary).toMatchObject({ system_id: auto.sid, via: "eth0" });
    expect(used.json[2].user).toBe("addr-op");
    expect((await maas(opMaas, "GET", `subnets/${id}/`, { query: { op: "ip_addresses", with_username: "0", with_summary: "0" } })).json[1]).not.toHaveProperty(
      "node_summary",
    );
    const reserved = await maas(opMaas, "GET", `subnets/${id}/`, { query: { op: "reserved_ip_ranges" } });
    expect(reserved.json.map((x: { purpose: string[] }) => x.purpose[0])).toEqual([
      "gateway-ip",
      "reserved",
      "assigned-ip",
      "assigned-ip",
      "dynamic",
      "assigned-ip",
    ]);
  });
});

describe("migration 0009", () => {
  it("turns each interface's one link (subnet_id, ip_address, link_mode) into its row; a duplicate address keeps its link without it", async () => {
    const id = await subnet("10.161.0.0/24", { gateway: "10.161.0.1" });
    const a = await makeMachine({ status: S.READY });
    const b = await makeMachine({ status: S.READY });
    const c = await makeMachine({ status: S.READY });
    // The columns as the region wrote them before this migration.
    const old = (sid: string, ip: string | null, mode: string) =>
      env.DB.prepare("UPDATE interfaces SET subnet_id = ?, ip_address = ?, link_mode = ? WHERE machine_id = (SELECT id FROM machines WHERE system_id = ?)")
        .bind(id, ip, mode, sid)
        .run();
    await old(a, "10.161.0.40", "static");
    await old(b, null, "dhcp");
    await old(c, "10.161.0.40", "static");
    const migration = (env.TEST_MIGRATIONS as { name: string; queries: string[] }[]).find((m) => m.name.startsWith("0009_"))!;
    const insert = migration.queries.find((q) => q.includes("INSERT INTO `ip_addresses`"))!;
    await env.DB.prepare(insert.replace("WHERE i.`subnet_id` IS NOT NULL", "WHERE i.`subnet_id` = ?")).bind(id).run();
    const rows = async (sid: string) =>
      (
        await env.DB.prepare(
          "SELECT a.subnet_id, a.ip, a.kind, a.interface_id = i.id AS bound, a.machine_id = m.id AS owned FROM ip_addresses a JOIN interfaces i ON i.id = a.interface_id JOIN machines m ON m.id = i.machine_id WHERE m.system_id = ?",
        )
          .bind(sid)
          .all()
      ).results;
    expect(await rows(a)).toEqual([{ subnet_id: id, ip: "10.161.0.40", kind: "static", bound: 1, owned: 1 }]);
    expect(await rows(b)).toEqual([{ subnet_id: id, ip: null, kind: "dhcp", bound: 1, owned: 1 }]);
    expect(await rows(c)).toEqual([{ subnet_id: id, ip: null, kind: "static", bound: 1, owned: 1 }]);
    // And the facade shows the migrated link.
    const j = await maas(opMaas, "GET", `machines/${a}/`);
    expect(j.json.interface_set[0].links).toEqual([
      expect.objectContaining({ mode: "static", ip_address: "10.161.0.40", subnet: expect.objectContaining({ id }) }),
    ]);
  });
});
