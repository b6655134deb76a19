// VLANs, subnets and IP ranges: what each site's rack serves DHCP on.
import type { Hono } from "hono";
import { z } from "zod";
import { ipToInt, parseCidr } from "../../shared/net";
import type { IpRangeJson, IpRangeListed, SubnetJson, SubnetListed } from "../../shared/subnets";
import { can, visibleSites } from "../auth/roles";
import { allSubnetSpaces, countUtilisation, utilisationJson } from "../domain/addresses";
import {
  createIpRange,
  createSubnet,
  createVlan,
  deleteIpRange,
  deleteSubnet,
  deleteUnusedVlan,
  inSubnet,
  type RangeRow,
  rangeProblem,
  type SubnetRecord,
  updateIpRange,
  updateSubnet,
  updateVlan,
  VLAN_WITH_FABRIC,
  type VlanWithFabric,
  vlanById,
  vlanJson,
} from "../domain/networks";
import type { AppEnv, Ctx } from "../http/context";
import { badRequest, conflict, forbidden, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { nameSchema, readJson, readQuery } from "../http/validate";
import { idByName } from "../machines/load";
import { pushConfigAfter } from "../domain/racks/commands";

const ipv4 = z.string().refine((s) => ipToInt(s) !== null, "an IPv4 address");
const cidrSchema = z.string().refine((s) => parseCidr(s) !== null, "a CIDR like 10.0.0.0/24 (network address, prefix 0-32)");

const VlanBody = z.strictObject({
  fabric: nameSchema.default("fabric-0"),
  vid: z.number().int().min(0).max(4094),
  name: z.string().max(64).default(""),
  mtu: z.number().int().min(552).max(65535).default(1500),
  dhcp_on: z.boolean().default(false),
});
const SubnetBody = z.strictObject({
  cidr: cidrSchema,
  name: z.string().max(64).default(""),
  vlan_id: z.number().int().positive().nullable().optional().describe("null: on no VLAN"),
  site: nameSchema.default("default"),
  gateway_ip: ipv4.optional(),
  dns_servers: z.array(ipv4).max(8).default([]),
  managed: z.boolean().default(true),
});
const VlanPatch = VlanBody.omit({ fabric: true }).partial();
const SubnetPatch = SubnetBody.omit({ cidr: true, site: true }).partial();
const RangeBody = z.strictObject({
  subnet_id: z.number().int().positive(),
  type: z.enum(["dynamic", "reserved"]),
  start_ip: ipv4,
  end_ip: ipv4,
  comment: z.string().max(1024).default(""),
});
const RangePatch = RangeBody.omit({ subnet_id: true }).partial();
const SubnetQuery = z.strictObject({ site: nameSchema.optional(), cidr: cidrSchema.optional() });
const RangeQuery = z.strictObject({ subnet: z.string().regex(/^\d+$/, "a subnet id").optional() });

interface SubnetRow {
  id: number;
  cidr: string;
  name: string;
  vlan_id: number | null;
  site_id: number | null;
  site: string | null;
  gateway_ip: string | null;
  dns_servers: string;
  rack_id: string | null;
  managed: number;
}

const SUBNET_SELECT =
  "SELECT s.id, s.cidr, s.name, s.vlan_id, s.site_id, st.name AS site, s.gateway_ip, s.dns_servers, s.rack_id, s.managed FROM subnets s LEFT JOIN sites st ON st.id = s.site_id";

function serializeSubnet(s: SubnetRow, ranges: IpRangeJson[]): SubnetJson {
  return { ...s, dns_servers: JSON.parse(s.dns_servers) as string[], managed: !!s.managed, ip_ranges: ranges };
}

/** Racks serve DHCP from a snapshot of these tables: tell the site's racks when they change. */
async function pushConfig(c: Ctx, siteId: number | null): Promise<void> {
  if (siteId === null) return;
  await pushConfigAfter(c.env, siteId, "a network edit");
}

/** Refuses a range that is reversed, leaves its subnet or overlaps another (all but `except`). */
async function checkRange(c: Ctx, s: SubnetRecord, start: string, end: string, except: number | null): Promise<void> {
  const problem = await rangeProblem(c.env.DB, s, start, end, except);
  if (problem?.kind === "reversed") throw badRequest(`start_ip ${start} is after end_ip ${end}`);
  if (problem?.kind === "overlap") throw conflict(`the range overlaps ${problem.clash.start_ip}-${problem.clash.end_ip}`);
  if (problem) throw badRequest(`the range ${start}-${end} is not inside ${s.cidr}`);
}

export function networkRoutes(app: Hono<AppEnv>) {
  const manage = (c: Parameters<Parameters<typeof def>[4]>[0], siteId: number | null) => {
    if (!can(c.get("caller"), "network.manage", siteId)) throw forbidden("managing networks needs admin");
  };
  /** A subnet (or range) of a site the caller cannot see answers 404, as if absent (auth/roles.ts). */
  const manageExisting = (c: Parameters<Parameters<typeof def>[4]>[0], siteId: number | null, absent: () => Error) => {
    const sites = visibleSites(c.get("caller"));
    if (sites !== null && (siteId === null || !sites.includes(siteId))) throw absent();
    manage(c, siteId);
  };

  def(app, "get", "/vlans", { summary: "List VLANs", tag: "networks" }, async (c) => {
    const { results } = await c.env.DB.prepare(`${VLAN_WITH_FABRIC} ORDER BY v.id`).all<VlanWithFabric>();
    return c.json({ items: results.map(vlanJson) });
  });
  def(app, "post", "/vlans", { summary: "Create a VLAN", tag: "networks", body: VlanBody, status: 201, roles: "admin" }, async (c) => {
    manage(c, null);
    const b = await readJson(c, VlanBody);
    const fabric = await c.env.DB.prepare("SELECT id FROM fabrics WHERE name = ?").bind(b.fabric).first<{ id: number }>();
    if (!fabric) throw badRequest(`no fabric named "${b.fabric}"`);
    const vlan = { vid: b.vid, name: b.name, mtu: b.mtu, dhcpOn: b.dhcp_on, spaceId: null };
    const v = await createVlan(c.env.DB, c.get("caller").username, { id: fabric.id, name: b.fabric }, vlan);
    return c.json(vlanJson({ ...v, fabric: b.fabric }), 201);
  });
  const vlanOf = async (c: Ctx) => {
    const v = await vlanById(c.env.DB, Number(c.req.param("id")));
    if (!v) throw notFound("VLAN");
    return v;
  };
  def(app, "get", "/vlans/:id", { summary: "Read a VLAN", tag: "networks" }, async (c) => c.json(vlanJson(await vlanOf(c))));
  def(app, "patch", "/vlans/:id", { summary: "Update a VLAN's VID, name, MTU or DHCP", tag: "networks", body: VlanPatch, roles: "admin" }, async (c) => {
    manage(c, null);
    const v = await vlanOf(c);
    const b = await readJson(c, VlanPatch);
    if (b.vid !== undefined && b.vid !== v.vid) {
      const taken = await c.env.DB.prepare("SELECT 1 FROM vlans WHERE fabric_id = ? AND vid = ?").bind(v.fabric_id, b.vid).first();
      if (taken) throw conflict(`fabric ${v.fabric} already has VLAN ${b.vid}`, [{ path: "vid", message: `fabric ${v.fabric} already has VLAN ${b.vid}` }]);
    }
    await updateVlan(c.env.DB, c.get("caller").username, v, { vid: b.vid, name: b.name, mtu: b.mtu, dhcpOn: b.dhcp_on });
    return c.json(vlanJson((await vlanById(c.env.DB, v.id))!));
  });
  def(app, "delete", "/vlans/:id", { summary: "Delete a VLAN no subnet is on", tag: "networks", status: 204, roles: "admin" }, async (c) => {
    manage(c, null);
    const v = await vlanOf(c);
    const r = await deleteUnusedVlan(c.env.DB, c.get("caller").username, v);
    if (r.deleted) return c.body(null, 204);
    if (r.subnets.length === 0) throw notFound("VLAN");
    const n = r.subnets.length;
    throw conflict(
      `VLAN ${v.vid} on fabric ${v.fabric} is in use by ${n} subnet${n === 1 ? "" : "s"} (${r.subnets.join(", ")}): move or delete ${n === 1 ? "it" : "them"} first`,
      {
        subnets: r.subnets,
      },
    );
  });

  def(app, "get", "/subnets", { summary: "List subnets with their IP ranges", tag: "networks", query: SubnetQuery }, async (c) => {
    const q = readQuery(c, SubnetQuery);
    const sites = visibleSites(c.get("caller"));
    const where = [...(q.site ? ["st.name = ?"] : []), ...(q.cidr ? ["s.cidr = ?"] : [])];
    const { results } = await c.env.DB.prepare(`${SUBNET_SELECT} ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY s.id`)
      .bind(...[q.site, q.cidr].filter((x) => x !== undefined))
      .all<SubnetRow>();
    const rows = results.filter((s) => sites === null || (s.site_id !== null && sites.includes(s.site_id)));
    const ranges = await c.env.DB.prepare("SELECT id, subnet_id, type, start_ip, end_ip, comment FROM ip_ranges ORDER BY id").all<IpRangeJson>();
    const bySubnet = new Map<number, IpRangeJson[]>();
    for (const r of ranges.results) bySubnet.set(r.subnet_id, [...(bySubnet.get(r.subnet_id) ?? []), r]);
    // The counts of GET /subnets/:id/utilisation for every subnet at once, without its free runs.
    const spaces = await allSubnetSpaces(c.env.DB);
    return c.json({
      items: rows.map((s): SubnetListed => {
        const sp = spaces.get(s.id);
        const u = sp ? countUtilisation(sp.space, sp.held, { runs: false }) : null;
        return {
          ...serializeSubnet(s, bySubnet.get(s.id) ?? []),
          utilisation: u && utilisationJson(u),
        };
      }),
    });
  });
  def(app, "get", "/subnets/:id", { summary: "Read a subnet", tag: "networks" }, async (c) => {
    const s = await c.env.DB.prepare(`${SUBNET_SELECT} WHERE s.id = ?`)
      .bind(Number(c.req.param("id")))
      .first<SubnetRow>();
    const sites = visibleSites(c.get("caller"));
    if (!s || (sites !== null && (s.site_id === null || !sites.includes(s.site_id)))) throw notFound("subnet");
    const ranges = await c.env.DB.prepare("SELECT id, subnet_id, type, start_ip, end_ip, comment FROM ip_ranges WHERE subnet_id = ? ORDER BY id")
      .bind(s.id)
      .all<IpRangeJson>();
    return c.json(serializeSubnet(s, ranges.results));
  });
  def(app, "post", "/subnets", { summary: "Create a subnet", tag: "networks", body: SubnetBody, status: 201, roles: "admin" }, async (c) => {
    const b = await readJson(c, SubnetBody);
    const siteId = await idByName(c.env.DB, "sites", b.site, "site");
    manage(c, siteId);
    if (b.gateway_ip && !inSubnet(b.cidr, b.gateway_ip)) throw badRequest("gateway_ip is outside the subnet");
    const same = await c.env.DB.prepare(`${SUBNET_SELECT} WHERE s.cidr = ?`).bind(b.cidr).first<SubnetRow>();
    if (same) throw conflict(`cidr ${b.cidr} is already a subnet`, [{ path: "cidr", message: `${b.cidr} is already a subnet` }]);
    const id = await createSubnet(c.env.DB, c.get("caller").username, {
      cidr: b.cidr,
      name: b.name,
      vlanId: b.vlan_id ?? null,
      siteId,
      gatewayIp: b.gateway_ip ?? null,
      dnsServers: b.dns_servers,
      managed: b.managed,
    });
    const s = await c.env.DB.prepare(`${SUBNET_SELECT} WHERE s.id = ?`).bind(id).first<SubnetRow>();
    await pushConfig(c, siteId);
    return c.json(serializeSubnet(s!, []), 201);
  });
  def(app, "patch", "/subnets/:id", { summary: "Update a subnet", tag: "networks", body: SubnetPatch, roles: "admin" }, async (c) => {
    const s = await c.env.DB.prepare(`${SUBNET_SELECT} WHERE s.id = ?`)
      .bind(Number(c.req.param("id")))
      .first<SubnetRow>();
    if (!s) throw notFound("subnet");
    manageExisting(c, s.site_id, () => notFound("subnet"));
    const b = await readJson(c, SubnetPatch);
    if (b.gateway_ip && !inSubnet(s.cidr, b.gateway_ip)) throw badRequest("gateway_ip is outside the subnet");
    const patch = { name: b.name, vlanId: b.vlan_id, gatewayIp: b.gateway_ip, dnsServers: b.dns_servers, managed: b.managed };
    await updateSubnet(c.env.DB, c.get("caller").username, s, patch);
    const next = await c.env.DB.prepare(`${SUBNET_SELECT} WHERE s.id = ?`).bind(s.id).first<SubnetRow>();
    await pushConfig(c, s.site_id);
    return c.json(serializeSubnet(next!, []));
  });
  def(app, "delete", "/subnets/:id", { summary: "Delete a subnet and its ranges", tag: "networks", status: 204, roles: "admin" }, async (c) => {
    const s = await c.env.DB.prepare(`${SUBNET_SELECT} WHERE s.id = ?`)
      .bind(Number(c.req.param("id")))
      .first<SubnetRow>();
    if (!s) throw notFound("subnet");
    manageExisting(c, s.site_id, () => notFound("subnet"));
    await deleteSubnet(c.env.DB, c.get("caller").username, s);
    await pushConfig(c, s.site_id);
    return c.body(null, 204);
  });

  def(
    app,
    "post",
    "/ip-ranges",
    { summary: "Create a dynamic or reserved IP range in a subnet", tag: "networks", body: RangeBody, status: 201, roles: "admin" },
    async (c) => {
      const b = await readJson(c, RangeBody);
      const s = await c.env.DB.prepare("SELECT id, cidr, site_id FROM subnets WHERE id = ?")
        .bind(b.subnet_id)
        .first<{ id: number; cidr: string; site_id: number | null }>();
      if (!s) throw badRequest(`no subnet ${b.subnet_id}`);
      manageExisting(c, s.site_id, () => badRequest(`no subnet ${b.subnet_id}`));
      await checkRange(c, s, b.start_ip, b.end_ip, null);
      const row = await createIpRange(c.env.DB, c.get("caller").username, s, { type: b.type, startIp: b.start_ip, endIp: b.end_ip, comment: b.comment });
      await pushConfig(c, s.site_id);
      return c.json(row, 201);
    },
  );
  def(app, "get", "/ip-ranges", { summary: "List IP ranges, with their subnet's CIDR and site", tag: "networks", query: RangeQuery }, async (c) => {
    const q = readQuery(c, RangeQuery);
    const sites = visibleSites(c.get("caller"));
    const seen = (siteId: number | null) => sites === null || (siteId !== null && sites.includes(siteId));
    if (q.subnet !== undefined) {
      const s = await c.env.DB.prepare("SELECT site_id FROM subnets WHERE id = ?").bind(Number(q.subnet)).first<{ site_id: number | null }>();
      // A subnet the caller cannot see is answered like one that does not exist.
      if (!s || !seen(s.site_id)) throw notFound("subnet");
    }
    const { results } = await c.env.DB.prepare(
      `SELECT r.id, r.subnet_id, r.type, r.start_ip, r.end_ip, r.comment, s.cidr, st.name AS site, s.site_id
       FROM ip_ranges r JOIN subnets s ON s.id = r.subnet_id LEFT JOIN sites st ON st.id = s.site_id ${q.subnet ? "WHERE r.subnet_id = ?" : ""} ORDER BY r.id`,
    )
      .bind(...(q.subnet ? [Number(q.subnet)] : []))
      .all<IpRangeListed & { site_id: number | null }>();
    return c.json({ items: results.filter((r) => seen(r.site_id)).map(({ site_id: _, ...r }) => r) });
  });
  def(
    app,
    "patch",
    "/ip-ranges/:id",
    { summary: "Change an IP range's type, addresses or comment", tag: "networks", body: RangePatch, roles: "admin" },
    async (c) => {
      const r = await c.env.DB.prepare(
        "SELECT r.id, r.subnet_id, r.type, r.start_ip, r.end_ip, r.comment, s.cidr, s.site_id FROM ip_ranges r JOIN subnets s ON s.id = r.subnet_id WHERE r.id = ?",
      )
        .bind(Number(c.req.param("id")))
        .first<RangeRow & { cidr: string; site_id: number | null }>();
      if (!r) throw notFound("IP range");
      manageExisting(c, r.site_id, () => notFound("IP range"));
      const b = await readJson(c, RangePatch);
      const subnet: SubnetRecord = { id: r.subnet_id, cidr: r.cidr, site_id: r.site_id };
      await checkRange(c, subnet, b.start_ip ?? r.start_ip, b.end_ip ?? r.end_ip, r.id);
      const row = await updateIpRange(c.env.DB, c.get("caller").username, r, subnet, {
        type: b.type,
        startIp: b.start_ip,
        endIp: b.end_ip,
        comment: b.comment,
      });
      await pushConfig(c, r.site_id);
      return c.json(row);
    },
  );
  def(app, "delete", "/ip-ranges/:id", { summary: "Delete an IP range", tag: "networks", status: 204, roles: "admin" }, async (c) => {
    const r = await c.env.DB.prepare(
      "SELECT r.id, r.start_ip, r.end_ip, s.id AS subnet_id, s.cidr, s.site_id FROM ip_ranges r JOIN subnets s ON s.id = r.subnet_id WHERE r.id = ?",
    )
      .bind(Number(c.req.param("id")))
      .first<{ id: number; start_ip: string; end_ip: string; subnet_id: number; cidr: string; site_id: number | null }>();
    if (!r) throw notFound("IP range");
    manageExisting(c, r.site_id, () => notFound("IP range"));
    await deleteIpRange(c.env.DB, c.get("caller").username, r, { id: r.subnet_id, cidr: r.cidr, site_id: r.site_id });
    await pushConfig(c, r.site_id);
    return c.body(null, 204);
  });
}
