// VLANs, subnets and IP ranges: what each site's rack serves DHCP on.
import type { Hono } from "hono";
import { z } from "zod";
import { inCidr, ipToInt, parseCidr } from "../../shared/net";
import { can, visibleSites } from "../auth/roles";
import type { AppEnv, Ctx } from "../http/context";
import { badRequest, conflict, forbidden, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { nameSchema, readJson, readQuery } from "../http/validate";
import { idByName } from "../machines/load";
import { notifyConfigChanged } from "../domain/racks/commands";

const ipv4 = z.string().refine((s) => ipToInt(s) !== null, "an IPv4 address");
const cidrSchema = z.string().refine((s) => parseCidr(s) !== null, "a CIDR like 10.0.0.0/24 (network address, prefix 0-32)");

const VlanBody = z.strictObject({ fabric: nameSchema.default("fabric-0"), vid: z.number().int().min(0).max(4094), name: z.string().max(64).default(""), mtu: z.number().int().min(552).max(65535).default(1500), dhcp_on: z.boolean().default(false) });
const SubnetBody = z.strictObject({
  cidr: cidrSchema,
  name: z.string().max(64).default(""),
  vlan_id: z.number().int().positive().optional(),
  site: nameSchema.default("default"),
  gateway_ip: ipv4.optional(),
  dns_servers: z.array(ipv4).max(8).default([]),
  managed: z.boolean().default(true),
});
const SubnetPatch = SubnetBody.omit({ cidr: true, site: true }).partial();
const RangeBody = z.strictObject({ subnet_id: z.number().int().positive(), type: z.enum(["dynamic", "reserved"]), start_ip: ipv4, end_ip: ipv4, comment: z.string().max(1024).default("") });
const SubnetQuery = z.strictObject({ site: nameSchema.optional() });

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

const SUBNET_SELECT = "SELECT s.id, s.cidr, s.name, s.vlan_id, s.site_id, st.name AS site, s.gateway_ip, s.dns_servers, s.rack_id, s.managed FROM subnets s LEFT JOIN sites st ON st.id = s.site_id";

function serializeSubnet(s: SubnetRow, ranges: unknown[]) {
  return { ...s, dns_servers: JSON.parse(s.dns_servers) as string[], managed: !!s.managed, ip_ranges: ranges };
}

/** Racks serve DHCP from a snapshot of these tables: tell the site's racks when they change. */
async function pushConfig(c: Ctx, siteId: number | null): Promise<void> {
  if (siteId === null) return;
  await notifyConfigChanged(c.env, siteId).catch((e: unknown) => console.warn("config push after a network edit failed", String(e)));
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
    const { results } = await c.env.DB.prepare("SELECT v.id, f.name AS fabric, v.vid, v.name, v.mtu, v.dhcp_on FROM vlans v JOIN fabrics f ON f.id = v.fabric_id ORDER BY v.id").all();
    return c.json({ items: results });
  });
  def(app, "post", "/vlans", { summary: "Create a VLAN", tag: "networks", body: VlanBody, status: 201, roles: "admin" }, async (c) => {
    manage(c, null);
    const b = await readJson(c, VlanBody);
    const fabric = await c.env.DB.prepare("SELECT id FROM fabrics WHERE name = ?").bind(b.fabric).first<{ id: number }>();
    if (!fabric) throw badRequest(`no fabric named "${b.fabric}"`);
    const row = await c.env.DB.prepare("INSERT INTO vlans (fabric_id, vid, name, mtu, dhcp_on) VALUES (?, ?, ?, ?, ?) RETURNING id, vid, name, mtu, dhcp_on").bind(fabric.id, b.vid, b.name, b.mtu, b.dhcp_on ? 1 : 0).first();
    return c.json({ ...row, fabric: b.fabric }, 201);
  });

  def(app, "get", "/subnets", { summary: "List subnets with their IP ranges", tag: "networks", query: SubnetQuery }, async (c) => {
    const q = readQuery(c, SubnetQuery);
    const sites = visibleSites(c.get("caller"));
    const { results } = await c.env.DB.prepare(`${SUBNET_SELECT} ${q.site ? "WHERE st.name = ?" : ""} ORDER BY s.id`).bind(...(q.site ? [q.site] : [])).all<SubnetRow>();
    const rows = results.filter((s) => sites === null || (s.site_id !== null && sites.includes(s.site_id)));
    const ranges = await c.env.DB.prepare("SELECT id, subnet_id, type, start_ip, end_ip, comment FROM ip_ranges ORDER BY id").all<{ subnet_id: number }>();
    return c.json({ items: rows.map((s) => serializeSubnet(s, ranges.results.filter((r) => r.subnet_id === s.id))) });
  });
  def(app, "get", "/subnets/:id", { summary: "Read a subnet", tag: "networks" }, async (c) => {
    const s = await c.env.DB.prepare(`${SUBNET_SELECT} WHERE s.id = ?`).bind(Number(c.req.param("id"))).first<SubnetRow>();
    const sites = visibleSites(c.get("caller"));
    if (!s || (sites !== null && (s.site_id === null || !sites.includes(s.site_id)))) throw notFound("subnet");
    const ranges = await c.env.DB.prepare("SELECT id, subnet_id, type, start_ip, end_ip, comment FROM ip_ranges WHERE subnet_id = ? ORDER BY id").bind(s.id).all();
    return c.json(serializeSubnet(s, ranges.results));
  });
  def(app, "post", "/subnets", { summary: "Create a subnet", tag: "networks", body: SubnetBody, status: 201, roles: "admin" }, async (c) => {
    const b = await readJson(c, SubnetBody);
    const siteId = await idByName(c.env.DB, "sites", b.site, "site");
    manage(c, siteId);
    const cidr = parseCidr(b.cidr)!;
    if (b.gateway_ip && !inCidr(cidr, ipToInt(b.gateway_ip)!)) throw badRequest("gateway_ip is outside the subnet");
    const row = await c.env.DB.prepare("INSERT INTO subnets (cidr, name, vlan_id, site_id, gateway_ip, dns_servers, managed) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id")
      .bind(b.cidr, b.name, b.vlan_id ?? null, siteId, b.gateway_ip ?? null, JSON.stringify(b.dns_servers), b.managed ? 1 : 0)
      .first<{ id: number }>();
    const s = await c.env.DB.prepare(`${SUBNET_SELECT} WHERE s.id = ?`).bind(row!.id).first<SubnetRow>();
    await pushConfig(c, siteId);
    return c.json(serializeSubnet(s!, []), 201);
  });
  def(app, "patch", "/subnets/:id", { summary: "Update a subnet", tag: "networks", body: SubnetPatch, roles: "admin" }, async (c) => {
    const s = await c.env.DB.prepare(`${SUBNET_SELECT} WHERE s.id = ?`).bind(Number(c.req.param("id"))).first<SubnetRow>();
    if (!s) throw notFound("subnet");
    manageExisting(c, s.site_id, () => notFound("subnet"));
    const b = await readJson(c, SubnetPatch);
    if (b.gateway_ip && !inCidr(parseCidr(s.cidr)!, ipToInt(b.gateway_ip)!)) throw badRequest("gateway_ip is outside the subnet");
    await c.env.DB.prepare("UPDATE subnets SET name = ?, vlan_id = ?, gateway_ip = ?, dns_servers = ?, managed = ? WHERE id = ?")
      .bind(b.name ?? s.name, b.vlan_id ?? s.vlan_id, b.gateway_ip ?? s.gateway_ip, JSON.stringify(b.dns_servers ?? JSON.parse(s.dns_servers)), (b.managed ?? !!s.managed) ? 1 : 0, s.id)
      .run();
    const next = await c.env.DB.prepare(`${SUBNET_SELECT} WHERE s.id = ?`).bind(s.id).first<SubnetRow>();
    await pushConfig(c, s.site_id);
    return c.json(serializeSubnet(next!, []));
  });
  def(app, "delete", "/subnets/:id", { summary: "Delete a subnet and its ranges", tag: "networks", status: 204, roles: "admin" }, async (c) => {
    const s = await c.env.DB.prepare(`${SUBNET_SELECT} WHERE s.id = ?`).bind(Number(c.req.param("id"))).first<SubnetRow>();
    if (!s) throw notFound("subnet");
    manageExisting(c, s.site_id, () => notFound("subnet"));
    await c.env.DB.prepare("DELETE FROM subnets WHERE id = ?").bind(s.id).run();
    await pushConfig(c, s.site_id);
    return c.body(null, 204);
  });

  def(app, "post", "/ip-ranges", { summary: "Create a dynamic or reserved IP range in a subnet", tag: "networks", body: RangeBody, status: 201, roles: "admin" }, async (c) => {
    const b = await readJson(c, RangeBody);
    const s = await c.env.DB.prepare("SELECT id, cidr, site_id FROM subnets WHERE id = ?").bind(b.subnet_id).first<{ id: number; cidr: string; site_id: number | null }>();
    if (!s) throw badRequest(`no subnet ${b.subnet_id}`);
    manageExisting(c, s.site_id, () => badRequest(`no subnet ${b.subnet_id}`));
    const cidr = parseCidr(s.cidr)!;
    const [lo, hi] = [ipToInt(b.start_ip)!, ipToInt(b.end_ip)!];
    if (lo > hi) throw badRequest("start_ip is after end_ip");
    if (!inCidr(cidr, lo) || !inCidr(cidr, hi)) throw badRequest(`the range is not inside ${s.cidr}`);
    const { results } = await c.env.DB.prepare("SELECT start_ip, end_ip FROM ip_ranges WHERE subnet_id = ?").bind(s.id).all<{ start_ip: string; end_ip: string }>();
    const clash = results.find((r) => ipToInt(r.start_ip)! <= hi && lo <= ipToInt(r.end_ip)!);
    if (clash) throw conflict(`the range overlaps ${clash.start_ip}-${clash.end_ip}`);
    const row = await c.env.DB.prepare("INSERT INTO ip_ranges (subnet_id, type, start_ip, end_ip, comment) VALUES (?, ?, ?, ?, ?) RETURNING id, subnet_id, type, start_ip, end_ip, comment")
      .bind(s.id, b.type, b.start_ip, b.end_ip, b.comment)
      .first();
    await pushConfig(c, s.site_id);
    return c.json(row, 201);
  });
  def(app, "delete", "/ip-ranges/:id", { summary: "Delete an IP range", tag: "networks", status: 204, roles: "admin" }, async (c) => {
    const r = await c.env.DB.prepare("SELECT r.id, s.site_id FROM ip_ranges r JOIN subnets s ON s.id = r.subnet_id WHERE r.id = ?").bind(Number(c.req.param("id"))).first<{ id: number; site_id: number | null }>();
    if (!r) throw notFound("IP range");
    manageExisting(c, r.site_id, () => notFound("IP range"));
    await c.env.DB.prepare("DELETE FROM ip_ranges WHERE id = ?").bind(r.id).run();
    await pushConfig(c, r.site_id);
    return c.body(null, 204);
  });
}
