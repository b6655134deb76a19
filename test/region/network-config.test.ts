// The network a deployment carries: links made through /api/v1, the configuration rendered at
// deploy with the AUTO addresses it allocated, carried to the rack in every NIC's deploy spec,
// cleared at release; a design the deployed system could not apply refused before anything
// boots, with nothing taken. Real D1.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { machineNetwork } from "../../cloud/domain/machines/network-config";
import { networkConfigYaml } from "../../cloud/domain/machines/netplan";
import { buildSnapshot } from "../../cloud/tunnel/config";
import { call, deployableImage, makeMachine, makeUser, statusOf } from "./helpers";
import { enrolRack } from "./tunnel-helpers";

let admin = "";
let op = "";
let rackId = "";
let pxe = 0;
let tagged = 0;
let vlan100 = 0;
let untagged = 0;

beforeAll(async () => {
  await deployableImage("ubuntu", "noble");
  admin = await makeUser("nc-admin", [["admin", null]]);
  op = await makeUser("nc-op", [["operator", null]]);
  rackId = (await enrolRack(admin, "nc-site", "nc-rack")).rackId;
  const f = await env.DB.prepare("INSERT INTO fabrics (name) VALUES ('nc-fabric') RETURNING id").first<{ id: number }>();
  untagged = (await env.DB.prepare("INSERT INTO vlans (fabric_id, vid, mtu) VALUES (?, 0, 1500) RETURNING id").bind(f!.id).first<{ id: number }>())!.id;
  vlan100 = (await env.DB.prepare("INSERT INTO vlans (fabric_id, vid, mtu) VALUES (?, 100, 1500) RETURNING id").bind(f!.id).first<{ id: number }>())!.id;
  const subnet = async (body: Record<string, unknown>) => {
    const s = await call(admin, "POST", "/subnets", { site: "nc-site", ...body });
    expect(s.status, s.text).toBe(201);
    return s.json.id as number;
  };
  pxe = await subnet({ cidr: "10.161.0.0/24", vlan_id: untagged, gateway_ip: "10.161.0.1", dns_servers: ["10.161.0.1"] });
  tagged = await subnet({ cidr: "10.162.0.0/24", vlan_id: vlan100 });
  const r = await call(admin, "POST", "/ip-ranges", { subnet_id: pxe, type: "dynamic", start_ip: "10.161.0.100", end_ip: "10.161.0.150" });
  expect(r.status, r.text).toBe(201);
});

/** A READY machine on the site with eth0 (boot) and eth1, both on the fabric's untagged VLAN. */
async function twoNics(n: number) {
  const mac = (k: number) => `52:54:00:16:${n.toString(16).padStart(2, "0")}:0${k}`;
  const sid = await makeMachine({ status: S.READY, site: "nc-site", mac: mac(0), hostname: `nc-node-${n}` });
  const add = await call(op, "POST", `/machines/${sid}/interfaces`, { type: "physical", mac_address: mac(1), name: "eth1", vlan_id: untagged });
  expect(add.status, add.text).toBe(201);
  const on = await call(op, "PATCH", `/machines/${sid}/interfaces/eth0`, { vlan_id: untagged });
  expect(on.status, on.text).toBe(200);
  return { sid, mac };
}

const post = async (path: string, body: unknown, status = 201) => {
  const x = await call(op, "POST", path, body);
  expect(x.status, x.text).toBe(status);
  return x.json;
};

const deploySpecs = async (sid: string) => (await buildSnapshot(env.DB, rackId))!.bootIntents.filter((b) => b.systemId === sid).map((b) => b.deploy);

describe("the network a deployment carries", () => {
  it("bond0 over both NICs, a VLAN on it and a bridge: rendered at deploy with the AUTO addresses, in every NIC's deploy spec, gone at release", async () => {
    const { sid, mac } = await twoNics(1);
    const bond = await post(`/machines/${sid}/interfaces`, { type: "bond", name: "bond0", parents: ["eth0", "eth1"], params: { bond_mode: "active-backup" } });
    await post(`/machines/${sid}/interfaces`, { type: "vlan", parent: "bond0", vlan_id: vlan100 });
    await post(`/machines/${sid}/interfaces`, { type: "bridge", name: "br0", parent: "bond0", params: { bridge_stp: false, bridge_fd: 0 } });
    // A bond member takes no link of its own: the operator links the bond's children.
    const member = await call(op, "POST", `/machines/${sid}/interfaces/eth0/links`, { mode: "dhcp", subnet_id: pxe });
    expect(member.status, member.text).toBe(400);
    expect(member.json.error.message).toMatch(/member of bond0/);
    await post(`/machines/${sid}/interfaces/br0/links`, { mode: "auto", subnet_id: pxe });
    const v = await post(`/machines/${sid}/interfaces/bond0.100/links`, { mode: "auto", subnet_id: tagged });
    expect(v.items).toEqual([{ id: expect.any(Number), mode: "auto", subnet_id: tagged, ip: null, default_gateway: false }]);
    expect(bond.parents).toEqual(["eth0", "eth1"]);

    const dep = await call(op, "POST", `/machines/${sid}/deploy`, {});
    expect(dep.status, dep.text).toBe(200);
    const specs = await deploySpecs(sid);
    // Only the physical NICs boot, and both carry the same spec.
    expect(specs).toHaveLength(2);
    expect(specs[1]!.networkConfig).toBe(specs[0]!.networkConfig);
    // The lowest free addresses: .1 is the gateway; the tagged subnet has none, so .1 is free.
    expect(specs[0]!.networkConfig).toBe(
      [
        "network:",
        "  version: 2",
        "  ethernets:",
        "    eth0:",
        "      match:",
        `        macaddress: "${mac(0)}"`,
        "      set-name: eth0",
        "    eth1:",
        "      match:",
        `        macaddress: "${mac(1)}"`,
        "      set-name: eth1",
        "  bonds:",
        "    bond0:",
        "      interfaces:",
        "        - eth0",
        "        - eth1",
        `      macaddress: "${mac(0)}"`,
        "      parameters:",
        "        mode: active-backup",
        "        mii-monitor-interval: 100",
        "        down-delay: 0",
        "        up-delay: 0",
        "        transmit-hash-policy: layer2",
        "  vlans:",
        "    bond0.100:",
        "      id: 100",
        "      link: bond0",
        "      addresses:",
        '        - "10.162.0.1/24"',
        "  bridges:",
        "    br0:",
        "      interfaces:",
        "        - bond0",
        `      macaddress: "${mac(0)}"`,
        "      parameters:",
        "        stp: false",
        "        forward-delay: 0",
        "      addresses:",
        '        - "10.161.0.2/24"',
        '      gateway4: "10.161.0.1"',
        "      nameservers:",
        "        addresses:",
        '          - "10.161.0.1"',
        "        search:",
        "          - maas",
        "",
      ].join("\n"),
    );
    // No edit while it deploys: what the rack carries is what the machine gets.
    const late = await call(op, "POST", `/machines/${sid}/interfaces/br0/links`, { mode: "dhcp", subnet_id: pxe });
    expect(late.status, late.text).toBe(409);

    await env.DB.prepare("UPDATE machines SET status = ? WHERE system_id = ?").bind(S.DEPLOYED, sid).run();
    expect((await call(op, "POST", `/machines/${sid}/release`, {})).status).toBe(200);
    expect(await statusOf(sid)).toBe(S.READY);
    const row = await env.DB.prepare("SELECT deploy_network FROM machines WHERE system_id = ?").bind(sid).first<{ deploy_network: string | null }>();
    expect(row!.deploy_network).toBeNull();
  });

  it("a subnet without a gateway cannot carry the default route, one with it can; unlinking removes the address from the next rendering", async () => {
    const { sid } = await twoNics(2);
    const eth0 = await post(`/machines/${sid}/interfaces/eth0/links`, { mode: "static", subnet_id: pxe, ip_address: "10.161.0.40" });
    const eth1 = await post(`/machines/${sid}/interfaces/eth1/links`, { mode: "static", subnet_id: tagged, ip_address: "10.162.0.40" });
    // A subnet with no gateway cannot carry the default route.
    const noGw = await call(op, "PUT", `/machines/${sid}/interfaces/eth1/default-gateway`, { link_id: eth1.items[0].id });
    expect(noGw.status, noGw.text).toBe(400);
    const gw = await call(op, "PUT", `/machines/${sid}/interfaces/eth0/default-gateway`, { link_id: eth0.items[0].id });
    expect(gw.status, gw.text).toBe(200);
    expect(gw.json.items[0]).toMatchObject({ ip: "10.161.0.40", default_gateway: true });
    const extra = await post(`/machines/${sid}/interfaces/eth0/links`, { mode: "static", subnet_id: pxe, ip_address: "10.161.0.41" });
    expect(extra.items.map((l: { ip: string }) => l.ip)).toEqual(["10.161.0.40", "10.161.0.41"]);
    const del = await call(op, "DELETE", `/machines/${sid}/interfaces/eth0/links/${extra.items[1].id}`);
    expect(del.status).toBe(204);
    expect((await call(op, "DELETE", `/machines/${sid}/interfaces/eth0/links/${extra.items[1].id}`)).status).toBe(404);
    expect((await call(op, "POST", `/machines/${sid}/deploy`, {})).status).toBe(200);
    const yaml = (await deploySpecs(sid))[0]!.networkConfig;
    expect(yaml).toContain('      addresses:\n        - "10.161.0.40/24"\n      gateway4: "10.161.0.1"\n');
    expect(yaml).toContain('      addresses:\n        - "10.162.0.40/24"\n');
    expect(yaml).not.toContain("10.161.0.41");
  });

  it("a machine with no link anywhere gets none: cloud-init's DHCP fallback", async () => {
    const { sid } = await twoNics(3);
    expect((await call(op, "POST", `/machines/${sid}/deploy`, {})).status).toBe(200);
    expect((await deploySpecs(sid)).map((d) => d!.networkConfig)).toEqual(["", ""]);
  });

  it("a design the deployed system cannot apply is refused with the reason, nothing allocated, the machine still READY", async () => {
    const { sid } = await twoNics(4);
    await post(`/machines/${sid}/interfaces/eth0/links`, { mode: "auto", subnet_id: pxe });
    await post(`/machines/${sid}/interfaces`, { type: "bridge", name: "br-ovs", parent: "eth1", params: { bridge_type: "ovs" } });
    const before = await env.DB.prepare("SELECT count(*) AS n FROM ip_addresses WHERE ip IS NOT NULL").first<{ n: number }>();
    const dep = await call(op, "POST", `/machines/${sid}/deploy`, {});
    expect(dep.status, dep.text).toBe(409);
    expect(dep.json.error).toMatchObject({ code: "network_not_renderable" });
    expect(dep.json.error.message).toMatch(/br-ovs: Open vSwitch bridges are not rendered yet/);
    expect(await statusOf(sid)).toBe(S.READY);
    expect((await env.DB.prepare("SELECT count(*) AS n FROM ip_addresses WHERE ip IS NOT NULL").first<{ n: number }>())!.n).toBe(before!.n);
  });

  it("bad link requests: unknown mode, a subnet of another site, link_up over links without force", async () => {
    const { sid } = await twoNics(5);
    expect((await call(op, "POST", `/machines/${sid}/interfaces/eth0/links`, { mode: "bogus", subnet_id: pxe })).status).toBe(400);
    const other = await call(admin, "POST", "/subnets", { cidr: "10.173.0.0/24", site: "default" });
    const foreign = await call(op, "POST", `/machines/${sid}/interfaces/eth0/links`, { mode: "dhcp", subnet_id: other.json.id });
    expect(foreign.status, foreign.text).toBe(400);
    expect(foreign.json.error.message).toMatch(/another site/);
    await post(`/machines/${sid}/interfaces/eth0/links`, { mode: "dhcp", subnet_id: pxe });
    expect((await call(op, "POST", `/machines/${sid}/interfaces/eth0/links`, { mode: "link_up" })).status).toBe(409);
    const up = await post(`/machines/${sid}/interfaces/eth0/links`, { mode: "link_up", force: true });
    expect(up.items).toEqual([{ id: expect.any(Number), mode: "link_up", subnet_id: null, ip: null, default_gateway: false }]);
    expect((await call(op, "POST", `/machines/${sid}/interfaces/nope/links`, { mode: "dhcp", subnet_id: pxe })).status).toBe(404);
  });
});

describe("the resolvers a deployed machine gets", () => {
  it("a subnet with no DNS servers of its own gives the rack's address there, its own servers otherwise; the search domain is the machine's", async () => {
    const own = await call(admin, "POST", "/subnets", { site: "nc-site", cidr: "10.183.0.0/24", vlan_id: untagged });
    expect(own.status, own.text).toBe(201);
    await env.DB.prepare("UPDATE racks SET interfaces = ? WHERE id = ?")
      .bind(JSON.stringify([{ name: "eth0", mac: "52:54:00:16:ff:01", addresses: ["10.183.0.254/24", "192.0.2.9/24"] }]), rackId)
      .run();
    const { sid } = await twoNics(40);
    await post(`/machines/${sid}/interfaces/eth1/links`, { mode: "static", subnet_id: own.json.id, ip_address: "10.183.0.5" });
    await post(`/machines/${sid}/interfaces/eth0/links`, { mode: "static", subnet_id: pxe, ip_address: "10.161.0.77" });
    const id = (await env.DB.prepare("SELECT id FROM machines WHERE system_id = ?").bind(sid).first<{ id: number }>())!.id;
    const yaml = networkConfigYaml(await machineNetwork(env.DB, id));
    const eth1 = yaml.slice(yaml.indexOf("    eth1:"));
    expect(eth1).toContain(["      nameservers:", "        addresses:", '          - "10.183.0.254"', "        search:", "          - maas"].join("\n"));
    expect(yaml).not.toContain("192.0.2.9");
    const eth0 = yaml.slice(yaml.indexOf("    eth0:"), yaml.indexOf("    eth1:"));
    expect(eth0).toContain('          - "10.161.0.1"');
    expect(eth0).not.toContain("10.183.0.254");
    await env.DB.prepare("UPDATE racks SET interfaces = '[]' WHERE id = ?").bind(rackId).run();
  });
});
