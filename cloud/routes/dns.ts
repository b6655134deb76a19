// DNS: domains, operators' resources (names with addresses) and records, and the zones each
// site's racks serve. Machine and device records are derived (cloud/domain/dns/zones.ts), never
// written here. Every change reaches the racks at once: operator data is fleet-wide, so every site.
import type { Hono } from "hono";
import { z } from "zod";
import { zoneFile } from "../../shared/dns/zonefile";
import { can, canSee } from "../auth/roles";
import { loadSiteDns } from "../domain/dns/site";
import {
  createDomain,
  createRecord,
  createResource,
  type DomainRow,
  deleteDomain,
  deleteRecord,
  deleteResource,
  findDomain,
  findRecord,
  findResource,
  listDomains,
  listRecords,
  listResources,
  placeName,
  setDefaultDomain,
  updateDomain,
  updateRecord,
  updateResource,
} from "../domain/dns/store";
import { pushConfigAfter } from "../domain/racks/commands";
import type { AppEnv, Ctx } from "../http/context";
import { forbidden, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { nameSchema, readJson, readQuery } from "../http/validate";
import { idByName } from "../machines/load";

const ttl = z.number().int().min(0).max(2147483647).nullable();
const DomainBody = z.strictObject({
  name: z.string().min(1).max(253),
  authoritative: z.boolean().default(true),
  ttl: ttl.default(null),
  is_default: z.boolean().default(false),
});
const DomainPatch = z.strictObject({
  name: z.string().min(1).max(253).optional(),
  authoritative: z.boolean().optional(),
  ttl: ttl.optional(),
  /** true makes this the default domain; the old default stops being it. */
  is_default: z.literal(true).optional(),
});
const ResourceBody = z.strictObject({
  name: z.string().min(1).max(253),
  domain: z.string().max(253).optional(),
  addresses: z.array(z.string().max(64)).max(64).default([]),
  address_ttl: ttl.default(null),
});
const ResourcePatch = z.strictObject({
  name: z.string().min(1).max(253).optional(),
  domain: z.string().max(253).optional(),
  addresses: z.array(z.string().max(64)).max(64).optional(),
  address_ttl: ttl.optional(),
});
const RecordBody = z.strictObject({
  name: z.string().min(1).max(253),
  domain: z.string().max(253).optional(),
  type: z.string().min(1).max(10),
  data: z.string().min(1).max(4096),
  ttl: ttl.default(null),
});
const RecordPatch = z.strictObject({ type: z.string().min(1).max(10).optional(), data: z.string().min(1).max(4096).optional(), ttl: ttl.optional() });
const Filter = z.strictObject({ domain: z.string().max(253).optional(), name: z.string().max(253).optional(), type: z.string().max(10).optional() });
const SiteQuery = z.strictObject({ site: nameSchema.default("default") });

const recordJson = (r: Awaited<ReturnType<typeof listRecords>>[number]) => ({
  id: r.id,
  resource_id: r.resource_id,
  name: r.name,
  domain: r.domain,
  fqdn: r.fqdn,
  type: r.rrtype,
  data: r.rrdata,
  ttl: r.ttl,
});

/** Operator DNS data is in every site's zones. */
const pushAll = (c: Ctx, what: string) => pushConfigAfter(c.env, null, what);

export function dnsRoutes(app: Hono<AppEnv>) {
  const manage = (c: Ctx) => {
    if (!can(c.get("caller"), "network.manage", null)) throw forbidden("managing DNS needs network.manage on every site (admin)");
  };
  const domainOr404 = async (c: Ctx): Promise<DomainRow> => {
    const d = await findDomain(c.env.DB, c.req.param("key") ?? "");
    if (!d) throw notFound("domain");
    return d;
  };
  const idParam = (c: Ctx) => {
    const n = Number(c.req.param("id"));
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  };

  def(app, "get", "/domains", { summary: "List DNS domains", tag: "dns" }, async (c) => c.json({ items: await listDomains(c.env.DB) }));
  def(app, "get", "/domains/:key", { summary: "Read a DNS domain by id or name", tag: "dns" }, async (c) => c.json(await domainOr404(c)));
  def(app, "post", "/domains", { summary: "Create a DNS domain", tag: "dns", body: DomainBody, status: 201, roles: "admin" }, async (c) => {
    manage(c);
    const b = await readJson(c, DomainBody);
    const d = await createDomain(c.env.DB, c.get("caller").username, { name: b.name, authoritative: b.authoritative, ttl: b.ttl, isDefault: b.is_default });
    await pushAll(c, "a domain was created");
    return c.json(d, 201);
  });
  def(
    app,
    "patch",
    "/domains/:key",
    { summary: "Update a DNS domain (rename, TTL, authoritative, make default)", tag: "dns", body: DomainPatch, roles: "admin" },
    async (c) => {
      const row = await domainOr404(c);
      manage(c);
      const b = await readJson(c, DomainPatch);
      let d = await updateDomain(c.env.DB, c.get("caller").username, row, b);
      if (b.is_default && !d.is_default) d = await setDefaultDomain(c.env.DB, c.get("caller").username, d);
      await pushAll(c, "a domain edit");
      return c.json(d);
    },
  );
  def(app, "delete", "/domains/:key", { summary: "Delete a DNS domain no machine or device is in", tag: "dns", status: 204, roles: "admin" }, async (c) => {
    const row = await domainOr404(c);
    manage(c);
    await deleteDomain(c.env.DB, c.get("caller").username, row);
    await pushAll(c, "a domain was deleted");
    return c.body(null, 204);
  });

  def(app, "get", "/dns/resources", { summary: "List DNS resources (operators' names with addresses)", tag: "dns", query: Filter }, async (c) => {
    const q = readQuery(c, Filter);
    return c.json({ items: await listResources(c.env.DB, q) });
  });
  def(app, "get", "/dns/resources/:id", { summary: "Read a DNS resource", tag: "dns" }, async (c) => {
    const r = await findResource(c.env.DB, idParam(c));
    if (!r) throw notFound("DNS resource");
    return c.json(r);
  });
  def(app, "post", "/dns/resources", { summary: "Create a DNS resource", tag: "dns", body: ResourceBody, status: 201, roles: "admin" }, async (c) => {
    manage(c);
    const b = await readJson(c, ResourceBody);
    const at = await placeName(c.env.DB, { name: b.name, ...(b.domain ? { domain: b.domain } : {}) });
    const r = await createResource(c.env.DB, c.get("caller").username, at, b.addresses, b.address_ttl);
    await pushAll(c, "a DNS resource was created");
    return c.json(r, 201);
  });
  def(app, "patch", "/dns/resources/:id", { summary: "Update a DNS resource", tag: "dns", body: ResourcePatch, roles: "admin" }, async (c) => {
    const row = await findResource(c.env.DB, idParam(c));
    if (!row) throw notFound("DNS resource");
    manage(c);
    const b = await readJson(c, ResourcePatch);
    const at = b.name || b.domain ? await placeName(c.env.DB, { name: b.name ?? row.name, domain: b.domain ?? row.domain }) : undefined;
    const r = await updateResource(c.env.DB, c.get("caller").username, row, {
      ...(at ? { at } : {}),
      ...(b.addresses ? { addresses: b.addresses } : {}),
      ...(b.address_ttl !== undefined ? { addressTtl: b.address_ttl } : {}),
    });
    await pushAll(c, "a DNS resource edit");
    return c.json(r);
  });
  def(app, "delete", "/dns/resources/:id", { summary: "Delete a DNS resource and its records", tag: "dns", status: 204, roles: "admin" }, async (c) => {
    const row = await findResource(c.env.DB, idParam(c));
    if (!row) throw notFound("DNS resource");
    manage(c);
    await deleteResource(c.env.DB, c.get("caller").username, row);
    await pushAll(c, "a DNS resource was deleted");
    return c.body(null, 204);
  });

  def(app, "get", "/dns/records", { summary: "List operators' DNS records", tag: "dns", query: Filter }, async (c) => {
    const q = readQuery(c, Filter);
    return c.json({ items: (await listRecords(c.env.DB, { ...q, ...(q.type ? { rrtype: q.type } : {}) })).map(recordJson) });
  });
  def(app, "get", "/dns/records/:id", { summary: "Read a DNS record", tag: "dns" }, async (c) => {
    const r = await findRecord(c.env.DB, idParam(c));
    if (!r) throw notFound("DNS record");
    return c.json(recordJson(r));
  });
  def(
    app,
    "post",
    "/dns/records",
    { summary: "Create a DNS record (A, AAAA, CNAME, MX, SRV, TXT, NS)", tag: "dns", body: RecordBody, status: 201, roles: "admin" },
    async (c) => {
      manage(c);
      const b = await readJson(c, RecordBody);
      const at = await placeName(c.env.DB, { name: b.name, ...(b.domain ? { domain: b.domain } : {}) });
      const r = await createRecord(c.env.DB, c.get("caller").username, at, { rrtype: b.type, rrdata: b.data, ttl: b.ttl });
      await pushAll(c, "a DNS record was created");
      return c.json(recordJson(r), 201);
    },
  );
  def(app, "patch", "/dns/records/:id", { summary: "Update a DNS record", tag: "dns", body: RecordPatch, roles: "admin" }, async (c) => {
    const row = await findRecord(c.env.DB, idParam(c));
    if (!row) throw notFound("DNS record");
    manage(c);
    const b = await readJson(c, RecordPatch);
    const r = await updateRecord(c.env.DB, c.get("caller").username, row, {
      ...(b.type ? { rrtype: b.type } : {}),
      ...(b.data ? { rrdata: b.data } : {}),
      ...(b.ttl !== undefined ? { ttl: b.ttl } : {}),
    });
    await pushAll(c, "a DNS record edit");
    return c.json(recordJson(r));
  });
  def(app, "delete", "/dns/records/:id", { summary: "Delete a DNS record", tag: "dns", status: 204, roles: "admin" }, async (c) => {
    const row = await findRecord(c.env.DB, idParam(c));
    if (!row) throw notFound("DNS record");
    manage(c);
    await deleteRecord(c.env.DB, c.get("caller").username, row);
    await pushAll(c, "a DNS record was deleted");
    return c.body(null, 204);
  });

  const siteOf = async (c: Ctx) => {
    const q = readQuery(c, SiteQuery);
    const id = await idByName(c.env.DB, "sites", q.site, "site");
    if (!canSee(c.get("caller"), id)) throw notFound("site");
    return id;
  };
  def(app, "get", "/dns/zones", { summary: "The zones a site's racks serve, with their serials", tag: "dns", query: SiteQuery }, async (c) => {
    const dns = await loadSiteDns(c.env.DB, await siteOf(c));
    return c.json({ items: dns.zones.map((z) => ({ name: z.name, serial: z.serial, records: z.records.length })), upstream: dns.upstream });
  });
  def(app, "get", "/dns/zones/:name/zonefile", { summary: "A zone as an RFC 1035 master file", tag: "dns", query: SiteQuery }, async (c) => {
    const dns = await loadSiteDns(c.env.DB, await siteOf(c));
    const name = (c.req.param("name") ?? "").toLowerCase().replace(/\.$/, "");
    const z = dns.zones.find((x) => x.name === name);
    if (!z) throw notFound("zone");
    return c.body(zoneFile(z), 200, { "content-type": "text/plain; charset=utf-8" });
  });
}
