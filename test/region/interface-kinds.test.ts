// Bonds, VLAN interfaces and bridges on machine interfaces, through the MAAS facade with the
// form fields gomaasclient sends (terraform-provider-maas's maas_network_interface_bond, _vlan
// and _bridge) and through /api/v1: what is created reads back with its parents, children,
// params and effective MTU, and every refused request answers 4xx with the reason and leaves
// the interfaces, their relations and the event log as they were.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { createInterfaceKind } from "../../cloud/domain/machines/interface-kinds";
import { call, makeMachine, makeUser } from "./helpers";
import { maas, maasKey } from "./maas-helpers";

let key: string;
let maasOp: string;
let fabric = 0;
let untagged = 0;
/** vid 100, MTU 9000: a jumbo-frame VLAN on the bond. */
let jumbo = 0;
/** vid 200 on the same fabric, MTU 1500. */
let v200 = 0;
/** vid 300 on another fabric. */
let foreign = 0;

beforeAll(async () => {
  key = await makeUser("ik-op", [["operator", null]]);
  maasOp = await maasKey(key);
  const f = await env.DB.prepare("INSERT INTO fabrics (name) VALUES ('ik-fabric') RETURNING id").first<{ id: number }>();
  fabric = f!.id;
  const vlan = async (fid: number, vid: number, mtu: number) =>
    (await env.DB.prepare("INSERT INTO vlans (fabric_id, vid, mtu) VALUES (?, ?, ?) RETURNING id").bind(fid, vid, mtu).first<{ id: number }>())!.id;
  untagged = await vlan(fabric, 0, 1500);
  jumbo = await vlan(fabric, 100, 9000);
  v200 = await vlan(fabric, 200, 1500);
  const g = await env.DB.prepare("INSERT INTO fabrics (name) VALUES ('ik-other') RETURNING id").first<{ id: number }>();
  foreign = await vlan(g!.id, 300, 1500);
});

let macSeq = 0;
/** A machine with eth0 (boot), eth1, eth2 and eth3, all on the fabric's untagged VLAN. */
async function machine(status: number = S.READY) {
  const base = ++macSeq;
  const mac = (n: number) => `52:54:0a:00:${base.toString(16).padStart(2, "0")}:0${n}`;
  const sid = await makeMachine({ status, mac: mac(0) });
  const mid = (await env.DB.prepare("SELECT id FROM machines WHERE system_id = ?").bind(sid).first<{ id: number }>())!.id;
  for (const n of [1, 2, 3]) await env.DB.prepare("INSERT INTO interfaces (machine_id, name, mac) VALUES (?, ?, ?)").bind(mid, `eth${n}`, mac(n)).run();
  await env.DB.prepare("UPDATE interfaces SET vlan_id = ? WHERE machine_id = ?").bind(untagged, mid).run();
  const ids: Record<string, number> = {};
  for (const r of (await env.DB.prepare("SELECT id, name FROM interfaces WHERE machine_id = ?").bind(mid).all<{ id: number; name: string }>()).results)
    ids[r.name] = r.id;
  return { sid, mid, ids, mac };
}

/** Everything a refused request must leave alone. */
async function snapshot(mid: number, sid: string) {
  const ifaces = await env.DB.prepare("SELECT id, name, mac, type, vlan_id, mtu, params, enabled FROM interfaces WHERE machine_id = ? ORDER BY id")
    .bind(mid)
    .all();
  const links = await env.DB.prepare(
    "SELECT a.id, a.interface_id, a.subnet_id, a.ip, a.kind FROM ip_addresses a JOIN interfaces i ON i.id = a.interface_id WHERE i.machine_id = ? ORDER BY a.id",
  )
    .bind(mid)
    .all();
  const rels = await env.DB.prepare(
    "SELECT p.child_id, p.parent_id FROM interface_parents p JOIN interfaces i ON i.id = p.child_id WHERE i.machine_id = ? ORDER BY 1, 2",
  )
    .bind(mid)
    .all();
  const events = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE system_id = ?").bind(sid).first<{ n: number }>();
  return { ifaces: ifaces.results, links: links.results, rels: rels.results, events: events!.n };
}

const byName = (list: { name: string }[], name: string) => list.find((i) => i.name === name) as any;

describe("MAAS 2.0: nodes/{system_id}/interfaces/ create_bond, create_vlan, create_bridge, update, delete", () => {
  it("a bond over two NICs, a VLAN on the bond, a bridge on a third NIC, read back as MAAS clients read them", async () => {
    const m = await machine();
    const base = `nodes/${m.sid}/interfaces/`;
    // gomaasclient's NetworkInterfaceBondParams: parents repeated, zero values left out (omitempty).
    const bond = await maas(maasOp, "POST", base, {
      query: { op: "create_bond" },
      form: { name: "bond0", parents: [String(m.ids.eth0), String(m.ids.eth1)], bond_mode: "active-backup", bond_miimon: "100", vlan: String(untagged) },
    });
    expect(bond.status, bond.text).toBe(200);
    expect(bond.json).toMatchObject({
      name: "bond0",
      type: "bond",
      mac_address: m.mac(0),
      parents: ["eth0", "eth1"],
      children: [],
      effective_mtu: 1500,
      enabled: true,
      vlan: { id: untagged, vid: 0 },
      resource_uri: `/MAAS/api/2.0/nodes/${m.sid}/interfaces/${bond.json.id}/`,
    });
    // MAAS fills every bond_* param on create; terraform-provider-maas reads them from params.
    expect(bond.json.params).toEqual({
      bond_mode: "active-backup",
      bond_miimon: 100,
      bond_downdelay: 0,
      bond_updelay: 0,
      bond_lacp_rate: "slow",
      bond_xmit_hash_policy: "layer2",
      bond_num_grat_arp: 1,
    });

    // gomaasclient's NetworkInterfaceVLANParams sends `parents` (MAAS documents `parent`).
    const vlan = await maas(maasOp, "POST", base, { query: { op: "create_vlan" }, form: { vlan: String(jumbo), parents: String(bond.json.id) } });
    expect(vlan.status, vlan.text).toBe(200);
    expect(vlan.json).toMatchObject({
      name: "bond0.100",
      type: "vlan",
      mac_address: m.mac(0),
      parents: ["bond0"],
      children: [],
      effective_mtu: 9000,
      vlan: { id: jumbo, vid: 100, fabric_id: fabric },
      params: {},
    });

    const br = await maas(maasOp, "POST", base, {
      query: { op: "create_bridge" },
      encoding: "multipart",
      form: { name: "br0", parents: String(m.ids.eth2), bridge_type: "standard", bridge_stp: "true", bridge_fd: "5" },
    });
    expect(br.status, br.text).toBe(200);
    expect(br.json).toMatchObject({ name: "br0", type: "bridge", mac_address: m.mac(2), parents: ["eth2"], vlan: { id: untagged } });
    expect(br.json.params).toEqual({ bridge_type: "standard", bridge_stp: true, bridge_fd: 5 });

    const list = (await maas(maasOp, "GET", base)).json as any[];
    expect(list.map((i) => [i.name, i.type])).toEqual([
      ["eth0", "physical"],
      ["eth1", "physical"],
      ["eth2", "physical"],
      ["eth3", "physical"],
      ["bond0", "bond"],
      ["bond0.100", "vlan"],
      ["br0", "bridge"],
    ]);
    expect(byName(list, "eth0").children).toEqual(["bond0"]);
    expect(byName(list, "eth1").children).toEqual(["bond0"]);
    expect(byName(list, "eth2").children).toEqual(["br0"]);
    expect(byName(list, "eth3")).toMatchObject({ parents: [], children: [], params: {} });
    // A parent carries at least what is stacked on it (MAAS's effective MTU): the bond and its
    // members are raised to the jumbo VLAN's 9000.
    expect(byName(list, "bond0")).toMatchObject({ children: ["bond0.100"], effective_mtu: 9000 });
    expect(byName(list, "eth0").effective_mtu).toBe(9000);
    expect(byName(list, "br0").effective_mtu).toBe(1500);

    // The machine's interface_set carries the same (gomaasapi / Juju read it there).
    const mj = (await maas(maasOp, "GET", `machines/${m.sid}/`)).json;
    expect(byName(mj.interface_set, "bond0")).toMatchObject({ parents: ["eth0", "eth1"], children: ["bond0.100"], params: { bond_mode: "active-backup" } });

    // Update with what NetworkInterfaceUpdateParams sends: mode, LACP rate, MTU.
    const put = await maas(maasOp, "PUT", `${base}${bond.json.id}/`, {
      form: {
        name: "bond0",
        bond_mode: "802.3ad",
        bond_lacp_rate: "fast",
        bond_xmit_hash_policy: "layer3+4",
        mtu: "1400",
        parents: [String(m.ids.eth0), String(m.ids.eth1)],
      },
    });
    expect(put.status, put.text).toBe(200);
    expect(put.json.params).toMatchObject({ bond_mode: "802.3ad", bond_lacp_rate: "fast", bond_xmit_hash_policy: "layer3+4", bond_miimon: 100, mtu: 1400 });
    expect(put.json.parents).toEqual(["eth0", "eth1"]);
    const putBr = await maas(maasOp, "PUT", `${base}${br.json.id}/`, { form: { bridge_stp: "false", bridge_fd: "15", mtu: "" } });
    expect(putBr.json.params).toEqual({ bridge_type: "standard", bridge_stp: false, bridge_fd: 15 });

    // Deleting the VLAN then the bond: the members are standalone again.
    expect((await maas(maasOp, "DELETE", `${base}${vlan.json.id}/`)).status).toBe(204);
    expect((await maas(maasOp, "DELETE", `${base}${bond.json.id}/`)).status).toBe(204);
    const after = (await maas(maasOp, "GET", base)).json as any[];
    expect(after.map((i) => i.name)).toEqual(["eth0", "eth1", "eth2", "eth3", "br0"]);
    expect(byName(after, "eth0")).toMatchObject({ children: [], effective_mtu: 1500 });
    const events = await env.DB.prepare("SELECT description FROM events WHERE system_id = ? AND type = 'machine.interface' ORDER BY id")
      .bind(m.sid)
      .all<{ description: string }>();
    expect(events.results.map((e) => e.description)).toEqual([
      "bond bond0 created over eth0, eth1 (active-backup)",
      "VLAN interface bond0.100 created on bond0 (vid 100)",
      "bridge br0 created on eth2",
      "bond0: MTU 1400, params bond_mode, bond_lacp_rate, bond_xmit_hash_policy",
      "br0: params bridge_fd, bridge_stp",
      "vlan bond0.100 deleted",
      "bond bond0 deleted; eth0, eth1 standalone again",
    ]);
  });

  it("a bond member loses its own link; the bond takes a MAC and VLAN given to it", async () => {
    const m = await machine();
    await env.DB.prepare("INSERT INTO ip_addresses (interface_id, machine_id, kind) VALUES (?, ?, 'link_up')").bind(m.ids.eth1, m.mid).run();
    const bond = await maas(maasOp, "POST", `nodes/${m.sid}/interfaces/`, {
      query: { op: "create_bond" },
      form: { name: "bond1", parents: [String(m.ids.eth1), String(m.ids.eth3)], mac_address: "52:54:0a:ff:00:01", bond_mode: "balance-alb" },
    });
    expect(bond.status, bond.text).toBe(200);
    expect(bond.json).toMatchObject({ mac_address: "52:54:0a:ff:00:01", vlan: { id: untagged } });
    const eth1 = await env.DB.prepare("SELECT count(*) AS n FROM ip_addresses WHERE interface_id = ?").bind(m.ids.eth1).first<{ n: number }>();
    expect(eth1!.n).toBe(0);
  });

  it("terraform-provider-maas's updates resend every field (same name, MAC, parents, VLAN) and are accepted", async () => {
    const m = await machine();
    const base = `nodes/${m.sid}/interfaces/`;
    const bond = await maas(maasOp, "POST", base, { query: { op: "create_bond" }, form: { name: "bond0", parents: [String(m.ids.eth0), String(m.ids.eth1)] } });
    const vlan = await maas(maasOp, "POST", base, { query: { op: "create_vlan" }, form: { vlan: String(jumbo), parents: String(bond.json.id), mtu: "9000" } });
    const br = await maas(maasOp, "POST", base, { query: { op: "create_bridge" }, form: { name: "br0", parents: String(vlan.json.id) } });
    expect([bond.status, vlan.status, br.status], br.text).toEqual([200, 200, 200]);
    expect(br.json).toMatchObject({ parents: ["bond0.100"], mac_address: m.mac(0), vlan: { id: jumbo }, effective_mtu: 9000 });
    const bondPut = await maas(maasOp, "PUT", `${base}${bond.json.id}/`, {
      form: {
        bond_mode: "active-backup",
        bond_miimon: "200",
        bond_num_grat_arp: "1",
        bond_lacp_rate: "slow",
        bond_xmit_hash_policy: "layer2",
        mac_address: m.mac(0),
        name: "bond0",
        parents: [String(m.ids.eth1), String(m.ids.eth0)],
        vlan: String(untagged),
      },
    });
    expect(bondPut.status, bondPut.text).toBe(200);
    expect(bondPut.json).toMatchObject({ parents: ["eth0", "eth1"], params: { bond_miimon: 200 }, children: ["bond0.100"] });
    const vlanPut = await maas(maasOp, "PUT", `${base}${vlan.json.id}/`, { form: { parents: String(bond.json.id), vlan: String(jumbo), mtu: "8000" } });
    expect(vlanPut.status, vlanPut.text).toBe(200);
    // Its own MTU is 8000, but the bridge on it is on the VLAN's 9000 and raises it (MAAS's rule).
    expect(vlanPut.json).toMatchObject({ effective_mtu: 9000, params: { mtu: 8000 } });
    const brPut = await maas(maasOp, "PUT", `${base}${br.json.id}/`, {
      form: { name: "br0", mac_address: m.mac(0), parents: String(vlan.json.id), bridge_type: "standard", bridge_fd: "15", vlan: String(jumbo) },
    });
    expect(brPut.status, brPut.text).toBe(200);
    // Replacing a bond's members: the bond's MAC came from eth0, which leaves, so it takes the new first member's.
    const swap = await maas(maasOp, "PUT", `${base}${bond.json.id}/`, { form: { parents: [String(m.ids.eth3)] } });
    expect(swap.status, swap.text).toBe(200);
    expect(swap.json).toMatchObject({ parents: ["eth3"], mac_address: m.mac(3) });
    expect((await maas(maasOp, "GET", `${base}${vlan.json.id}/`)).json.mac_address).toBe(m.mac(3));
  });

  it("every bad request is a 4xx with the reason and changes nothing", async () => {
    const m = await machine();
    const other = await machine();
    const base = `nodes/${m.sid}/interfaces/`;
    const bond = await maas(maasOp, "POST", base, { query: { op: "create_bond" }, form: { name: "bond0", parents: [String(m.ids.eth0), String(m.ids.eth1)] } });
    const vlan = await maas(maasOp, "POST", base, { query: { op: "create_vlan" }, form: { vlan: String(jumbo), parent: String(bond.json.id) } });
    const otherBond = await maas(maasOp, "POST", `nodes/${other.sid}/interfaces/`, {
      query: { op: "create_bond" },
      form: { name: "bond9", parents: String(other.ids.eth3), mac_address: "52:54:0a:ee:00:01" },
    });
    expect([bond.status, vlan.status, otherBond.status]).toEqual([200, 200, 200]);
    const before = await snapshot(m.mid, m.sid);
    const bad: [string, string, Parameters<typeof maas>[3], number, string, RegExp][] = [
      ["VLAN on a VLAN", "POST", { query: { op: "create_vlan" }, form: { vlan: String(v200), parent: String(vlan.json.id) } }, 400, "parent", /VLAN interface/],
      [
        "bond over a bonded NIC",
        "POST",
        { query: { op: "create_bond" }, form: { name: "bond1", parents: [String(m.ids.eth1), String(m.ids.eth3)] } },
        400,
        "parents",
        /eth1/,
      ],
      [
        "bond over another machine's NIC",
        "POST",
        { query: { op: "create_bond" }, form: { name: "bond1", parents: [String(m.ids.eth3), String(other.ids.eth1)] } },
        400,
        "parents",
        /not an interface of/,
      ],
      ["bond over a bond", "POST", { query: { op: "create_bond" }, form: { name: "bond1", parents: String(bond.json.id) } }, 400, "parents", /only physical/],
      [
        "unknown bond_mode",
        "POST",
        { query: { op: "create_bond" }, form: { name: "bond1", parents: String(m.ids.eth3), bond_mode: "fastest" } },
        400,
        "bond_mode",
        /balance-rr/,
      ],
      ["bond without a name", "POST", { query: { op: "create_bond" }, form: { parents: String(m.ids.eth3) } }, 400, "name", /required/],
      ["duplicate name", "POST", { query: { op: "create_bond" }, form: { name: "eth2", parents: String(m.ids.eth3) } }, 400, "name", /already has/],
      ["name too long", "POST", { query: { op: "create_bridge" }, form: { name: "a-very-long-bridge", parent: String(m.ids.eth3) } }, 400, "name", /15/],
      [
        "duplicate VLAN on a parent",
        "POST",
        { query: { op: "create_vlan" }, form: { vlan: String(jumbo), parent: String(bond.json.id) } },
        400,
        "vlan",
        /already has/,
      ],
      [
        "untagged VLAN interface",
        "POST",
        { query: { op: "create_vlan" }, form: { vlan: String(untagged), parent: String(m.ids.eth2) } },
        400,
        "vlan",
        /tagged/,
      ],
      ["VLAN of another fabric", "POST", { query: { op: "create_vlan" }, form: { vlan: String(foreign), parent: String(m.ids.eth2) } }, 400, "vlan", /fabric/],
      ["VLAN on a bond member", "POST", { query: { op: "create_vlan" }, form: { vlan: String(v200), parent: String(m.ids.eth0) } }, 400, "parent", /bond/],
      ["bridge on a bond member", "POST", { query: { op: "create_bridge" }, form: { name: "br1", parent: String(m.ids.eth1) } }, 400, "parents", /bond/],
      [
        "bridge with two ports",
        "POST",
        { query: { op: "create_bridge" }, form: { name: "br1", parents: [String(m.ids.eth2), String(m.ids.eth3)] } },
        400,
        "parent",
        /one/,
      ],
      [
        "bond MAC of another NIC",
        "POST",
        { query: { op: "create_bond" }, form: { name: "bond1", parents: String(m.ids.eth3), mac_address: other.mac(1) } },
        400,
        "mac_address",
        /in use/,
      ],
      [
        "bond MAC of another machine's bond",
        "POST",
        { query: { op: "create_bond" }, form: { name: "bond1", parents: String(m.ids.eth3), mac_address: "52:54:0a:ee:00:01" } },
        400,
        "mac_address",
        /in use/,
      ],
      ["MTU above the VLAN's", "PUT", { form: { mtu: "9000" } }, 400, "mtu", /above the MTU of its VLAN/],
      ["MTU below 552", "PUT", { form: { mtu: "500" } }, 400, "mtu", /552/],
      ["unknown bond_mode on update", "PUT", { form: { bond_mode: "fastest" } }, 400, "bond_mode", /active-backup/],
      ["bond_miimon not a number", "PUT", { form: { bond_miimon: "x" } }, 400, "bond_miimon", /whole number/],
    ];
    for (const [what, method, opts, status, field, reason] of bad) {
      const r = await maas(maasOp, method, method === "PUT" ? `${base}${bond.json.id}/` : base, opts);
      expect(r.status, `${what}: ${r.text}`).toBe(status);
      expect(r.json, what).toHaveProperty(field);
      expect(r.json[field].join(" "), what).toMatch(reason);
      expect(await snapshot(m.mid, m.sid), `${what} changed nothing`).toEqual(before);
    }
    const del = await maas(maasOp, "DELETE", `${base}${bond.json.id}/`);
    expect(del.status).toBe(409);
    expect(del.text).toMatch(/bond0\.100/);
    expect(await snapshot(m.mid, m.sid)).toEqual(before);
    // A physical bond member has a child too.
    expect((await maas(maasOp, "DELETE", `${base}${m.ids.eth1}/`)).status).toBe(409);
    expect(await snapshot(m.mid, m.sid)).toEqual(before);
  });

  it("a Deployed machine's interfaces do not change (409) and a locked one's neither", async () => {
    for (const [status, locked] of [
      [S.DEPLOYED, false],
      [S.READY, true],
    ] as const) {
      const m = await machine();
      const base = `nodes/${m.sid}/interfaces/`;
      const bond = await maas(maasOp, "POST", base, { query: { op: "create_bond" }, form: { name: "bond0", parents: String(m.ids.eth0) } });
      expect(bond.status).toBe(200);
      await env.DB.prepare("UPDATE machines SET status = ?, locked = ? WHERE system_id = ?")
        .bind(status, locked ? 1 : 0, m.sid)
        .run();
      const before = await snapshot(m.mid, m.sid);
      const tries: [string, string, Parameters<typeof maas>[3]][] = [
        ["POST", base, { query: { op: "create_bond" }, form: { name: "bond1", parents: String(m.ids.eth1) } }],
        ["POST", base, { query: { op: "create_vlan" }, form: { vlan: String(jumbo), parent: String(bond.json.id) } }],
        ["POST", base, { query: { op: "create_bridge" }, form: { name: "br0", parent: String(m.ids.eth2) } }],
        ["PUT", `${base}${bond.json.id}/`, { form: { bond_mode: "balance-rr" } }],
        ["DELETE", `${base}${bond.json.id}/`, {}],
      ];
      for (const [method, path, opts] of tries) {
        const r = await maas(maasOp, method, path, opts);
        expect(r.status, `${method} ${path} ${JSON.stringify(opts)}: ${r.text}`).toBe(409);
        expect(r.text).toMatch(locked ? /locked/ : /Deployed/);
      }
      expect(await snapshot(m.mid, m.sid)).toEqual(before);
    }
  });
});

describe("/api/v1/machines/{id}/interfaces", () => {
  it("creates a bond, a VLAN on it and a bridge; reads type, parents, children, params, MTU; updates and deletes", async () => {
    const m = await machine();
    const path = `/machines/${m.sid}/interfaces`;
    const bond = await call(key, "POST", path, {
      type: "bond",
      name: "bond0",
      parents: ["eth0", m.ids.eth1],
      params: { bond_mode: "active-backup", bond_miimon: 100 },
    });
    expect(bond.status, bond.text).toBe(201);
    expect(bond.json).toMatchObject({
      name: "bond0",
      type: "bond",
      mac: m.mac(0),
      parents: ["eth0", "eth1"],
      children: [],
      mtu: null,
      effective_mtu: 1500,
      vlan_id: untagged,
      params: { bond_mode: "active-backup", bond_miimon: 100, bond_updelay: 0, bond_downdelay: 0 },
    });
    const vlan = await call(key, "POST", path, { type: "vlan", parent: "bond0", vlan_id: jumbo, mtu: 8000 });
    expect(vlan.status, vlan.text).toBe(201);
    expect(vlan.json).toMatchObject({ name: "bond0.100", type: "vlan", parents: ["bond0"], mtu: 8000, effective_mtu: 8000, vlan_id: jumbo });
    const br = await call(key, "POST", path, { type: "bridge", name: "br0", parent: "eth2", params: { bridge_stp: true, bridge_fd: 4 } });
    expect(br.status, br.text).toBe(201);
    expect(br.json).toMatchObject({ type: "bridge", parents: ["eth2"], params: { bridge_stp: true, bridge_fd: 4, bridge_type: "standard" } });
    const phys = await call(key, "POST", path, { type: "physical", mac_address: "52:54:0a:fe:00:09", name: "eth9" });
    expect(phys.status, phys.text).toBe(201);
    expect(phys.json).toMatchObject({ type: "physical", mac: "52:54:0a:fe:00:09", parents: [], children: [] });

    const list = await call(key, "GET", path);
    expect(list.status).toBe(200);
    expect(byName(list.json.items, "bond0")).toMatchObject({ children: ["bond0.100"], effective_mtu: 8000 });
    expect(byName(list.json.items, "eth1")).toMatchObject({ children: ["bond0"], parents: [] });

    const patch = await call(key, "PATCH", `${path}/bond0`, { params: { bond_mode: "balance-rr" }, mtu: 1400, parents: ["eth0"] });
    expect(patch.status, patch.text).toBe(200);
    expect(patch.json).toMatchObject({ parents: ["eth0"], mtu: 1400, effective_mtu: 8000, params: { bond_mode: "balance-rr", bond_miimon: 100 } });
    expect(byName((await call(key, "GET", path)).json.items, "eth1").children).toEqual([]);
    const renamed = await call(key, "PATCH", `${path}/${br.json.id}`, { name: "br-ext", mtu: null });
    expect(renamed.json).toMatchObject({ name: "br-ext", mtu: null });

    expect((await call(key, "DELETE", `${path}/bond0.100`)).status).toBe(204);
    expect((await call(key, "DELETE", `${path}/bond0`)).status).toBe(204);
    const after = (await call(key, "GET", path)).json.items;
    expect(after.map((i: { name: string }) => i.name)).toEqual(["eth0", "eth1", "eth2", "eth3", "br-ext", "eth9"]);
    expect(byName(after, "eth0").children).toEqual([]);
  });

  it("refuses bad input with a 4xx and the reason, changing nothing; a Deployed machine is 409", async () => {
    const m = await machine();
    const other = await machine();
    const path = `/machines/${m.sid}/interfaces`;
    expect((await call(key, "POST", path, { type: "bond", name: "bond0", parents: ["eth0", "eth1"] })).status).toBe(201);
    expect((await call(key, "POST", path, { type: "vlan", parent: "bond0", vlan_id: jumbo })).status).toBe(201);
    const before = await snapshot(m.mid, m.sid);
    const bad: [string, string, string, unknown, number, RegExp][] = [
      ["VLAN on a VLAN", "POST", path, { type: "vlan", parent: "bond0.100", vlan_id: v200 }, 400, /VLAN interface/],
      ["bond over a bonded NIC", "POST", path, { type: "bond", name: "bond1", parents: ["eth1", "eth3"] }, 400, /already in use.*eth1/],
      ["bond over another machine's NIC", "POST", path, { type: "bond", name: "bond1", parents: [other.ids.eth2] }, 400, /not an interface of this machine/],
      ["unknown bond_mode", "POST", path, { type: "bond", name: "bond1", parents: ["eth3"], params: { bond_mode: "fastest" } }, 400, /bond_mode/],
      ["bridge param on a bond", "POST", path, { type: "bond", name: "bond1", parents: ["eth3"], params: { bridge_stp: true } }, 400, /bridge_stp/],
      ["unknown type", "POST", path, { type: "wifi", name: "w0" }, 400, /not valid/],
      ["MTU above the VLAN's", "PATCH", `${path}/bond0`, { mtu: 9000 }, 400, /above the MTU of its VLAN/],
      ["unknown bond_mode on update", "PATCH", `${path}/bond0`, { params: { bond_mode: "fastest" } }, 400, /bond_mode/],
      ["bond params on a physical NIC", "PATCH", `${path}/eth3`, { params: { bond_mode: "balance-rr" } }, 400, /does not apply/],
      ["bond member moved into a VLAN parent", "PATCH", `${path}/bond0.100`, { parents: ["eth0"] }, 400, /bond member/],
      ["delete of a bond with a VLAN child", "DELETE", `${path}/bond0`, undefined, 409, /bond0\.100/],
      ["delete of the boot interface", "DELETE", `${path}/eth0`, undefined, 409, /boot/],
      ["unknown interface", "PATCH", `${path}/eth7`, { mtu: 1400 }, 404, /interface/],
    ];
    for (const [what, method, p, body, status, reason] of bad) {
      const r = await call(key, method, p, body);
      expect(r.status, `${what}: ${r.text}`).toBe(status);
      expect(JSON.stringify(r.json.error), what).toMatch(reason);
      expect(await snapshot(m.mid, m.sid), `${what} changed nothing`).toEqual(before);
    }

    await env.DB.prepare("UPDATE machines SET status = ? WHERE system_id = ?").bind(S.DEPLOYED, m.sid).run();
    const deployed = await snapshot(m.mid, m.sid);
    for (const [method, p, body] of [
      ["POST", path, { type: "bridge", name: "br0", parent: "eth2" }],
      ["POST", path, { type: "physical", mac_address: "52:54:0a:fe:00:0a" }],
      ["PATCH", `${path}/bond0`, { params: { bond_mode: "balance-rr" } }],
      ["DELETE", `${path}/bond0.100`, undefined],
    ] as const) {
      const r = await call(key, method, p, body);
      expect(r.status, `${method} ${p}: ${r.text}`).toBe(409);
      expect(r.json.error.message).toMatch(/Deployed/);
    }
    expect(await snapshot(m.mid, m.sid)).toEqual(deployed);
  });
});

describe("writes are conditional on what the checks read", () => {
  it("a machine that changed status between the checks and the write is not changed (409 concurrent_change)", async () => {
    const m = await machine();
    const row = (await env.DB.prepare("SELECT id, system_id, hostname, site_id, status, locked FROM machines WHERE system_id = ?").bind(m.sid).first<any>())!;
    const before = await snapshot(m.mid, m.sid);
    // The caller read Ready; the machine has been allocated since (still editable, so only the
    // write's assertion can notice).
    await env.DB.prepare("UPDATE machines SET status = ? WHERE id = ?").bind(S.ALLOCATED, m.mid).run();
    const stale = { id: row.id, systemId: row.system_id, hostname: row.hostname, siteId: row.site_id, status: S.READY, locked: 0 };
    await expect(createInterfaceKind(env.DB, "test", stale, { type: "bond", name: "bond0", parents: [m.ids.eth0!] })).rejects.toMatchObject({
      status: 409,
      code: "concurrent_change",
    });
    const after = await snapshot(m.mid, m.sid);
    expect(after).toEqual(before);
  });
});
