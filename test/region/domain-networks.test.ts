// cloud/domain/networks.ts on the real D1: each write and its event land together or not at
// all, and patches leave alone what they do not name.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  createIpRange,
  createSubnet,
  createVlan,
  deleteIpRange,
  deleteSubnet,
  fabrics,
  rangeProblem,
  type SubnetInput,
  updateIpRange,
  updateSubnet,
} from "../../cloud/domain/networks";
import { siteId } from "./helpers";

const db = () => env.DB;
interface Ev {
  actor: string;
  level: string;
  site_id: number | null;
  description: string;
}
const eventsOf = async (type: string) =>
  (await env.DB.prepare("SELECT actor, level, site_id, description FROM events WHERE type = ? ORDER BY id").bind(type).all<Ev>()).results;
const subnetOn = (siteId: number, cidr: string, more: Partial<SubnetInput> = {}): SubnetInput => ({
  cidr,
  name: "",
  vlanId: null,
  siteId,
  gatewayIp: null,
  dnsServers: [],
  managed: true,
  ...more,
});
const subnet = (id: number) => env.DB.prepare("SELECT * FROM subnets WHERE id = ?").bind(id).first<Record<string, unknown>>();

describe("fabrics and VLANs", () => {
  it("a MAAS fabric comes with its untagged VLAN, in one batch with its event", async () => {
    const f = await fabrics.create(db(), "dn-admin", { name: "dn-fabric", description: "row 1" }, { untaggedVlan: true });
    expect(f).toMatchObject({ name: "dn-fabric", description: "row 1" });
    const vlans = await env.DB.prepare("SELECT vid, name FROM vlans WHERE fabric_id = ?").bind(f.id).all();
    expect(vlans.results).toEqual([{ vid: 0, name: "untagged" }]);
    expect(await eventsOf("fabric.created")).toContainEqual({ actor: "dn-admin", level: "INFO", site_id: null, description: "fabric dn-fabric created" });

    const bare = await fabrics.create(db(), "dn-admin", { name: "dn-bare", description: "" });
    expect((await env.DB.prepare("SELECT count(*) AS n FROM vlans WHERE fabric_id = ?").bind(bare.id).first<{ n: number }>())!.n).toBe(0);
  });

  it("a refused write records no event", async () => {
    const f = await fabrics.create(db(), "dn-admin", { name: "dn-vlans", description: "" });
    await createVlan(db(), "dn-admin", f, { vid: 7, name: "seven", mtu: 9000, dhcpOn: true, spaceId: null });
    await expect(createVlan(db(), "dn-admin", f, { vid: 7, name: "again", mtu: 1500, dhcpOn: false, spaceId: null })).rejects.toThrow(/UNIQUE/);
    expect((await eventsOf("vlan.created")).filter((e) => e.description === "VLAN 7 on fabric dn-vlans created")).toHaveLength(1);
    await expect(fabrics.create(db(), "dn-admin", { name: "dn-vlans", description: "" })).rejects.toThrow(/UNIQUE/);
    expect((await eventsOf("fabric.created")).filter((e) => e.description === "fabric dn-vlans created")).toHaveLength(1);
  });
});

describe("subnets and IP ranges", () => {
  it("create, patch, delete: events on the subnet's site; a patch keeps what it leaves out", async () => {
    const site = await siteId("dn-site");
    const id = await createSubnet(db(), "dn-admin", subnetOn(site, "10.91.0.0/24", { name: "n", gatewayIp: "10.91.0.1", dnsServers: ["1.1.1.1"] }));
    expect(await eventsOf("subnet.created")).toContainEqual({ actor: "dn-admin", level: "INFO", site_id: site, description: "subnet 10.91.0.0/24 created" });
    const s = { id, cidr: "10.91.0.0/24", site_id: site };

    await updateSubnet(db(), "dn-admin", s, { name: "renamed" });
    expect(await subnet(id)).toMatchObject({ name: "renamed", gateway_ip: "10.91.0.1", dns_servers: '["1.1.1.1"]', managed: 1 });
    await updateSubnet(db(), "dn-admin", s, { gatewayIp: null, dnsServers: [], managed: false });
    expect(await subnet(id)).toMatchObject({ name: "renamed", gateway_ip: null, dns_servers: "[]", managed: 0 });
    expect(await eventsOf("subnet.updated")).toHaveLength(2);

    const r = await createIpRange(db(), "dn-admin", s, { type: "dynamic", startIp: "10.91.0.100", endIp: "10.91.0.150", comment: "" });
    expect(r).toMatchObject({ subnet_id: id, type: "dynamic", start_ip: "10.91.0.100", end_ip: "10.91.0.150" });
    const moved = await updateIpRange(db(), "dn-admin", r, s, { endIp: "10.91.0.160" });
    expect(moved).toMatchObject({ start_ip: "10.91.0.100", end_ip: "10.91.0.160", type: "dynamic" });
    const updated = "IP range 10.91.0.100-10.91.0.160 in 10.91.0.0/24 updated";
    expect((await eventsOf("iprange.updated")).at(-1)).toMatchObject({ site_id: site, description: updated });
    await deleteIpRange(db(), "dn-admin", moved, s);
    expect(await eventsOf("iprange.deleted")).toHaveLength(1);

    await createIpRange(db(), "dn-admin", s, { type: "reserved", startIp: "10.91.0.10", endIp: "10.91.0.20", comment: "" });
    await deleteSubnet(db(), "dn-admin", s);
    expect(await subnet(id)).toBeNull();
    expect((await env.DB.prepare("SELECT count(*) AS n FROM ip_ranges WHERE subnet_id = ?").bind(id).first<{ n: number }>())!.n).toBe(0);
    expect(await eventsOf("subnet.deleted")).toContainEqual({ actor: "dn-admin", level: "INFO", site_id: site, description: "subnet 10.91.0.0/24 deleted" });
  });

  it("rangeProblem says why a range does not fit, the range itself excepted", async () => {
    const site = await siteId("dn-site");
    const s = { id: await createSubnet(db(), "dn-admin", subnetOn(site, "10.92.0.0/24")), cidr: "10.92.0.0/24", site_id: site };
    const r = await createIpRange(db(), "dn-admin", s, { type: "dynamic", startIp: "10.92.0.100", endIp: "10.92.0.150", comment: "" });
    expect(await rangeProblem(db(), s, "10.92.0.9", "10.92.0.8")).toEqual({ kind: "reversed" });
    expect(await rangeProblem(db(), s, "10.91.255.1", "10.92.0.8")).toEqual({ kind: "start_outside" });
    expect(await rangeProblem(db(), s, "10.92.0.1", "10.93.0.8")).toEqual({ kind: "end_outside" });
    const clash = { id: r.id, start_ip: "10.92.0.100", end_ip: "10.92.0.150" };
    expect(await rangeProblem(db(), s, "10.92.0.140", "10.92.0.200")).toEqual({ kind: "overlap", clash });
    expect(await rangeProblem(db(), s, "10.92.0.140", "10.92.0.200", r.id)).toBeNull();
    expect(await rangeProblem(db(), s, "10.92.0.200", "10.92.0.210")).toBeNull();
  });
});
