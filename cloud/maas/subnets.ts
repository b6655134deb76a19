// subnets/ and subnets/{id...}/ (by id or CIDR), with the ops that read its addresses:
// reserved_ip_ranges, unreserved_ip_ranges, statistics, ip_addresses.
import { z } from "zod";
import { parseCidr } from "../../shared/net";
import { type AddressListing, formatIp, listAddresses, parseIp, type SubnetSpace, subnetSpace, utilisation } from "../domain/addresses";
import { visibleSites } from "../auth/roles";
import { createSubnet, createVlan, deleteSubnet, fabrics, inSubnet, updateSubnet } from "../domain/networks";
import { ALLOC_TYPE, maasTime } from "./ipaddresses";
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
  /** Plinth extension: the site whose rack serves the subnet (absent: see onlySite). */
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

/**
 * The site of a subnet created without one: the caller's only site, else none yet (the first
 * machine linked to it brings its site: adoptSubnet). Not the VLAN's: fabric-0's untagged VLAN
 * is every site's default, so it says nothing about where a subnet is. Written down in
 * docs/maas-compat.md.
 */
function onlySite(r: Req): number | null {
  const sites = visibleSites(r.caller);
  return sites?.length === 1 ? sites[0]! : null;
}

async function create(r: Req): Promise<Response> {
  const b = parse(SubnetBody, r.p, ["dns_servers"]);
  // Stock clients name no site: see subnetSite.
  let siteId: number | null = null;
  if (b.site !== undefined) {
    const siteRow = await r.db.prepare("SELECT id FROM sites WHERE name = ?").bind(b.site).first<{ id: number }>();
    if (!siteRow) throw fieldError("site", `Select a valid choice. ${b.site} is not one of the available choices.`);
    siteId = siteRow.id;
  }
  const only = onlySite(r);
  manageNetworks(r, siteId ?? only);
  if (b.gateway_ip && !inSubnet(b.cidr, b.gateway_ip)) throw outsideGateway();
  if (await r.db.prepare("SELECT 1 FROM subnets WHERE cidr = ?").bind(b.cidr).first()) throw fieldError("cidr", "Subnet with this Cidr already exists.");
  const vlanId = await resolveVlan(r, b);
  if (b.site === undefined) siteId = only;
  const id = await createSubnet(r.db, r.caller.username, {
    cidr: b.cidr,
    name: b.name,
    vlanId,
    siteId,
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

interface UseRange {
  start: string;
  end: string;
  num_addresses: number;
  purpose: string[];
}

/** What of the subnet is spoken for, as MAAS lists it: ranges, the gateway, every held address. */
async function inUse(r: Req, s: SubnetRow): Promise<{ space: SubnetSpace; used: UseRange[]; held: AddressListing[] }> {
  const space = (await subnetSpace(r.db, s.id))!;
  const held = await listAddresses(r.db, "a.subnet_id = ? AND a.ip IS NOT NULL", s.id);
  const fam = space.net.family;
  const one = (n: bigint, purpose: string): UseRange => ({
    start: formatIp({ family: fam, n }),
    end: formatIp({ family: fam, n }),
    num_addresses: 1,
    purpose: [purpose],
  });
  const used: (UseRange & { lo: bigint })[] = space.ranges.map((x) => ({
    start: formatIp({ family: fam, n: x.lo }),
    end: formatIp({ family: fam, n: x.hi }),
    num_addresses: Number(x.hi - x.lo + 1n),
    purpose: [x.type === "dynamic" ? "dynamic" : "reserved"],
    lo: x.lo,
  }));
  const gw = space.gateway ? parseIp(space.gateway) : null;
  if (gw) used.push({ ...one(gw.n, "gateway-ip"), lo: gw.n });
  for (const n of space.racks) used.push({ ...one(n, "assigned-ip"), lo: n });
  for (const h of held) {
    const a = parseIp(h.ip!);
    if (a) used.push({ ...one(a.n, "assigned-ip"), lo: a.n });
  }
  used.sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  return { space, used: used.map(({ lo: _lo, ...x }) => x), held };
}

async function reservedRanges(r: Req): Promise<Response> {
  return json((await inUse(r, await subnetOf(r))).used);
}

async function unreservedRanges(r: Req): Promise<Response> {
  const s = await subnetOf(r);
  const u = await utilisation(r.db, (await subnetSpace(r.db, s.id))!);
  return json(u.freeRanges.map((x) => ({ start: x.start, end: x.end, num_addresses: x.size })));
}

const StatsQuery = z.object({ include_ranges: boolParam.optional(), include_suggestions: boolParam.optional() });

async function statistics(r: Req): Promise<Response> {
  const q = parse(StatsQuery, r.p);
  const s = await subnetOf(r);
  const { space, used } = await inUse(r, s);
  const u = await utilisation(r.db, space);
  const fam = space.net.family;
  // MAAS counts a subnet's usable addresses: an IPv4 subnet's network and broadcast addresses are none of them.
  const v4Edges = fam === 4 && space.net.prefix <= 30;
  const first = v4Edges ? space.net.first + 1n : space.net.first;
  const last = v4Edges ? space.net.last - 1n : space.net.last;
  const total = u.usable;
  const available = u.free;
  const unavailable = total - available;
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const usage = total > 0 ? unavailable / total : 0;
  const out: Record<string, unknown> = {
    num_available: available,
    largest_available: u.freeRanges.reduce((m, x) => Math.max(m, x.size), 0),
    num_unavailable: unavailable,
    total_addresses: total,
    usage,
    usage_string: pct(usage),
    available_string: pct(total > 0 ? available / total : 0),
    first_address: formatIp({ family: fam, n: first }),
    last_address: formatIp({ family: fam, n: last }),
    ip_version: fam,
  };
  if (q.include_ranges) {
    const unused = u.freeRanges.map((x) => ({ start: x.start, end: x.end, num_addresses: x.size, purpose: ["unused"] }));
    const key = (x: { start: string }) => parseIp(x.start)!.n;
    out["ranges"] = [...used, ...unused].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }
  if (q.include_suggestions) {
    out["suggested_gateway"] = space.gateway ? null : (u.freeRanges[0]?.start ?? null);
    out["suggested_dynamic_range"] = null;
  }
  return json(out);
}

const IpQuery = z.object({ with_username: boolParam.optional(), with_summary: boolParam.optional(), with_node_summary: boolParam.optional() });

async function ipAddresses(r: Req): Promise<Response> {
  const q = parse(IpQuery, r.p);
  const s = await subnetOf(r);
  const { held } = await inUse(r, s);
  const withUser = q.with_username ?? true;
  const withSummary = (q.with_summary ?? true) && q.with_node_summary !== false;
  return json(
    held.map((h) => {
      const t = ALLOC_TYPE[h.kind] ?? { n: 1, name: "Static" };
      return {
        ip: h.ip,
        alloc_type: t.n,
        alloc_type_name: t.name,
        created: maasTime(h.created_at),
        updated: maasTime(h.created_at),
        ...(withUser && h.owner ? { user: h.owner } : {}),
        // Not in MAAS's answer (its observed addresses hang off an "unknown" interface): the
        // only way a MAAS client learns who holds a discovered address or a MAC reservation.
        ...(h.mac && !h.system_id ? { mac_address: h.mac } : {}),
        ...(withSummary && h.system_id
          ? {
              node_summary: {
                system_id: h.system_id,
                node_type: 0,
                fqdn: `${h.hostname}.${h.domain ?? "maas"}`,
                hostname: h.hostname,
                is_container: false,
                ...(h.interface_name ? { via: h.interface_name } : {}),
              },
            }
          : {}),
      };
    }),
  );
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
      { method: "GET", op: "unreserved_ip_ranges", doc: "Lists IP ranges currently unreserved in the subnet.", run: unreservedRanges },
      {
        method: "GET",
        op: "statistics",
        doc: "Returns statistics for the subnet: available, unavailable and total addresses, usage.",
        params: ["include_ranges", "include_suggestions"],
        run: statistics,
      },
      {
        method: "GET",
        op: "ip_addresses",
        doc: "Returns a summary of IP addresses assigned to this subnet.",
        params: ["with_username", "with_summary", "with_node_summary"],
        run: ipAddresses,
      },
    ],
  },
];
