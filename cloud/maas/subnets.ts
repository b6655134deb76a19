// subnets/ and subnets/{id...}/ (by id or CIDR), with op=reserved_ip_ranges.
import { z } from "zod";
import { ipToInt, parseCidr } from "../../shared/net";
import { createSubnet, createVlan, deleteSubnet, fabrics, inSubnet, type RangeRow, updateSubnet } from "../domain/networks";
import { nameField } from "./named";
import { ipv4, manageNetworks, subnetByKey, subnetsJson, visibleSubnets } from "./net";
import { SUBNET_SELECT, type SubnetRow } from "./shape";
import type { Handler, Req } from "./table";
import { boolParam, deleted, fieldError, intParam, json, list, MaasError, parse, patchOf } from "./wire";

// dns_servers come repeated, or as one comma/space separated string.
const dnsServers = list(z.string().max(1024))
  .transform((v) => v.flatMap((s) => s.split(/[\s,]+/)).filter(Boolean))
  .pipe(z.array(ipv4).max(8));

const SubnetBody = z.object({
  cidr: z.string().refine((s) => parseCidr(s) !== null, "Enter a valid IPv4 CIDR (network address/prefix)."),
  name: z.string().max(64).default(""),
  description: z.string().max(1024).optional(),
  vlan: z.string().regex(/^\d+$/, "Select a valid choice.").optional(),
  fabric: z.string().max(64).optional(),
  vid: intParam(0, 4094).optional(),
  gateway_ip: z.union([z.literal(""), ipv4]).optional(),
  dns_servers: dnsServers.optional(),
  managed: boolParam.optional(),
  /** Plinth extension: the site whose rack serves the subnet. */
  site: nameField.optional(),
});

const outsideGateway = () => fieldError("gateway_ip", "Gateway IP must be within CIDR range.");

/** The VLAN a subnet goes on: the one named, the fabric's vid (default 0), or fabric-0's untagged. */
async function resolveVlan(r: Req, b: { vlan?: string; fabric?: string; vid?: number }): Promise<number> {
  if (b.vlan !== undefined) {
    if (!(await r.db.prepare("SELECT 1 FROM vlans WHERE id = ?").bind(Number(b.vlan)).first())) {
      throw fieldError("vlan", `Select a valid choice. ${b.vlan} is not one of the available choices.`);
    }
    return Number(b.vlan);
  }
  const f = await fabrics.find(r.db, b.fabric ?? "1");
  if (!f && b.fabric !== undefined) throw fieldError("fabric", `Select a valid choice. ${b.fabric} is not one of the available choices.`);
  // fabric-0 (id 1) is seeded and cannot be deleted, so `f` is there unless a named one is not.
  const fabric = f ?? { id: 1, name: "fabric-0" };
  const vid = b.vid ?? 0;
  const v = await r.db.prepare("SELECT id FROM vlans WHERE fabric_id = ? AND vid = ?").bind(fabric.id, vid).first<{ id: number }>();
  if (v) return v.id;
  if (vid !== 0) throw fieldError("vid", `No VLAN with vid ${vid} on that fabric.`);
  // MAAS fabrics always have an untagged VLAN; one made by /api/v1 may not yet.
  return (await createVlan(r.db, r.caller.username, fabric, { vid: 0, name: "untagged", mtu: 1500, dhcpOn: false, spaceId: null })).id;
}

async function subnetOf(r: Req): Promise<SubnetRow> {
  const s = await subnetByKey(r, r.path["id"] ?? "");
  if (!s) throw new MaasError(404, "No Subnet matches the given query.");
  return s;
}

async function subnetById(db: D1Database, id: number) {
  const s = (await db.prepare(`${SUBNET_SELECT} WHERE id = ?`).bind(id).first<SubnetRow>())!;
  return json((await subnetsJson(db, [s]))[0]);
}

async function create(r: Req): Promise<Response> {
  const b = parse(SubnetBody, r.p, ["dns_servers"]);
  const site = b.site ?? "default";
  const siteRow = await r.db.prepare("SELECT id FROM sites WHERE name = ?").bind(site).first<{ id: number }>();
  if (!siteRow) throw fieldError("site", `Select a valid choice. ${site} is not one of the available choices.`);
  manageNetworks(r, siteRow.id);
  if (b.gateway_ip && !inSubnet(b.cidr, b.gateway_ip)) throw outsideGateway();
  if (await r.db.prepare("SELECT 1 FROM subnets WHERE cidr = ?").bind(b.cidr).first()) throw fieldError("cidr", "Subnet with this Cidr already exists.");
  const vlanId = await resolveVlan(r, b);
  const id = await createSubnet(r.db, r.caller.username, {
    cidr: b.cidr,
    name: b.name,
    vlanId,
    siteId: siteRow.id,
    gatewayIp: b.gateway_ip || null,
    dnsServers: b.dns_servers ?? [],
    managed: b.managed ?? true,
  });
  return subnetById(r.db, id);
}

async function update(r: Req): Promise<Response> {
  const s = await subnetOf(r);
  manageNetworks(r, s.site_id);
  const b = parse(patchOf(SubnetBody.omit({ cidr: true, site: true })), r.p, ["dns_servers"]);
  if (b.gateway_ip && !inSubnet(s.cidr, b.gateway_ip)) throw outsideGateway();
  const vlanId = b.vlan !== undefined || b.fabric !== undefined || b.vid !== undefined ? await resolveVlan(r, b) : undefined;
  // An empty gateway_ip clears it; none leaves it.
  const gatewayIp = b.gateway_ip === undefined ? undefined : b.gateway_ip || null;
  await updateSubnet(r.db, r.caller.username, s, { name: b.name, vlanId, gatewayIp, dnsServers: b.dns_servers, managed: b.managed });
  return subnetById(r.db, s.id);
}

async function reservedRanges(r: Req): Promise<Response> {
  const s = await subnetOf(r);
  type Range = Pick<RangeRow, "start_ip" | "end_ip" | "type">;
  const { results } = await r.db.prepare("SELECT start_ip, end_ip, type FROM ip_ranges WHERE subnet_id = ? ORDER BY id").bind(s.id).all<Range>();
  const purpose = (t: string) => (t === "dynamic" ? "dynamic" : "reserved");
  const size = (x: Range) => ipToInt(x.end_ip)! - ipToInt(x.start_ip)! + 1;
  const out = results.map((x) => ({ start: x.start_ip, end: x.end_ip, num_addresses: size(x), purpose: [purpose(x.type)] }));
  if (s.gateway_ip) out.push({ start: s.gateway_ip, end: s.gateway_ip, num_addresses: 1, purpose: ["gateway-ip"] });
  return json(out.sort((a, b) => ipToInt(a.start)! - ipToInt(b.start)!));
}

const PUT_PARAMS = ["name", "description", "vlan", "fabric", "vid", "gateway_ip", "dns_servers", "managed"];

export const subnetHandlers: Handler[] = [
  {
    name: "SubnetsHandler",
    doc: "Manage subnets.",
    path: "subnets/",
    actions: [
      { method: "GET", op: null, doc: "Get a list of all subnets.", run: async (r) => json(await subnetsJson(r.db, await visibleSubnets(r))) },
      { method: "POST", op: null, doc: "Create a subnet.", params: ["cidr", ...PUT_PARAMS, "site"], run: create },
    ],
  },
  {
    name: "SubnetHandler",
    doc: "Manage a subnet (by id or CIDR).",
    path: "subnets/{id...}/",
    actions: [
      { method: "GET", op: null, doc: "Get information about a subnet.", run: async (r) => json((await subnetsJson(r.db, [await subnetOf(r)]))[0]) },
      { method: "PUT", op: null, doc: "Update a subnet.", params: PUT_PARAMS, run: update },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a subnet.",
        run: async (r) => {
          const s = await subnetOf(r);
          manageNetworks(r, s.site_id);
          await deleteSubnet(r.db, r.caller.username, s);
          return deleted();
        },
      },
      { method: "GET", op: "reserved_ip_ranges", doc: "Lists IP ranges currently reserved in the subnet.", run: reservedRanges },
    ],
  },
];
