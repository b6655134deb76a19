// domains/, dnsresources/ and dnsresource-records/: DNS as MAAS clients (terraform's
// maas_dns_domain and maas_dns_record, python-libmaas) drive it. The rules and the writes are
// cloud/domain/dns/store.ts's, shared with /api/v1; every change is pushed to every site's racks.
import { z } from "zod";
import { can } from "../auth/roles";
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
  type RecordRow,
  type ResourceRow,
  setDefaultDomain,
  updateDomain,
  updateRecord,
  updateResource,
} from "../domain/dns/store";
import { pushConfigAfter } from "../domain/racks/commands";
import type { Handler, Req } from "./table";
import { API, boolParam, deleted, forbidden, intParam, json, list, MaasError, parse } from "./wire";

const ttlParam = z.union([z.literal("").transform(() => null), intParam(0, 2147483647)]);
const nameParam = z.string().max(253);

function manage(r: Req) {
  if (!can(r.caller, "network.manage", null)) throw forbidden("Managing DNS needs admin on every site.");
}

const push = (r: Req, what: string) => pushConfigAfter(r.c.env, null, what);

export const domainJson = (d: DomainRow) => ({
  id: d.id,
  name: d.name,
  ttl: d.ttl,
  authoritative: d.authoritative,
  is_default: d.is_default,
  resource_record_count: d.resource_record_count,
  resource_uri: `${API}/domains/${d.id}/`,
});

const recordJson = (x: RecordRow) => ({
  id: x.id,
  fqdn: x.fqdn,
  rrtype: x.rrtype,
  rrdata: x.rrdata,
  ttl: x.ttl,
  resource_uri: `${API}/dnsresource-records/${x.id}/`,
});

/** A resource's addresses as MAAS's StaticIPAddress objects: operator addresses are USER_RESERVED (4). */
const resourceJson = (x: ResourceRow, records: RecordRow[]) => ({
  id: x.id,
  fqdn: x.fqdn,
  address_ttl: x.address_ttl,
  ip_addresses: x.addresses.map((ip) => ({ ip, alloc_type: 4, alloc_type_name: "User reserved", subnet: null, interface_set: [], user: null })),
  resource_records: records.filter((r) => r.resource_id === x.id).map(recordJson),
  resource_uri: `${API}/dnsresources/${x.id}/`,
});

async function domainOf(r: Req): Promise<DomainRow> {
  const d = await findDomain(r.db, r.path["id"] ?? "");
  if (!d) throw new MaasError(404, "No Domain matches the given query.");
  return d;
}

const DomainBody = z.object({ name: nameParam, authoritative: boolParam.optional(), ttl: ttlParam.optional() });
const DomainPut = z.object({ name: nameParam.optional(), authoritative: boolParam.optional(), ttl: ttlParam.optional() });

const Where = z.object({ fqdn: nameParam.optional(), name: nameParam.optional(), domain: nameParam.optional() });
const Filter = z.object({ domain: nameParam.optional(), name: nameParam.optional(), rrtype: z.string().max(10).optional(), all: z.string().optional() });
const ResourceBody = Where.extend({ ip_addresses: list(z.string().max(4096)).optional(), address_ttl: ttlParam.optional() });
const RecordBody = Where.extend({ rrtype: z.string().min(1).max(10), rrdata: z.string().min(1).max(4096), ttl: ttlParam.optional() });
const RecordPut = z.object({ rrtype: z.string().min(1).max(10).optional(), rrdata: z.string().min(1).max(4096).optional(), ttl: ttlParam.optional() });

/** ip_addresses: repeated, or one value of addresses separated by spaces or commas (as MAAS's form takes it). */
const ipsOf = (v: string[] | undefined) => (v ?? []).flatMap((s) => s.split(/[\s,]+/)).filter((s) => s !== "");

/** MAAS's filters: a name may be an fqdn; a domain by id or name. */
async function filterOf(r: Req) {
  const q = parse(Filter, r.p);
  let domain = q.domain;
  if (domain && /^\d+$/.test(domain)) domain = (await findDomain(r.db, domain))?.name ?? "-";
  let name = q.name;
  if (name?.includes(".") && !domain) {
    const at = await placeName(r.db, { fqdn: name }).catch(() => null);
    if (at) {
      name = at.name;
      domain = at.domain.name;
    }
  }
  return { ...(domain ? { domain } : {}), ...(name ? { name } : {}), ...(q.rrtype ? { rrtype: q.rrtype.toUpperCase() } : {}) };
}

async function resourceOf(r: Req): Promise<ResourceRow> {
  const x = /^\d+$/.test(r.path["id"] ?? "") ? await findResource(r.db, Number(r.path["id"])) : null;
  if (!x) throw new MaasError(404, "No DNSResource matches the given query.");
  return x;
}

async function recordOf(r: Req): Promise<RecordRow> {
  const x = /^\d+$/.test(r.path["id"] ?? "") ? await findRecord(r.db, Number(r.path["id"])) : null;
  if (!x) throw new MaasError(404, "No DNSData matches the given query.");
  return x;
}

export const domainHandlers: Handler[] = [
  {
    name: "DomainsHandler",
    doc: "Manage domains.",
    path: "domains/",
    actions: [
      { method: "GET", op: null, doc: "List all domains.", run: async (r) => json((await listDomains(r.db)).map(domainJson)) },
      {
        method: "POST",
        op: null,
        doc: "Create a domain.",
        params: ["name", "authoritative", "ttl"],
        run: async (r) => {
          manage(r);
          const b = parse(DomainBody, r.p);
          const d = await createDomain(r.db, r.caller.username, {
            name: b.name,
            ...(b.authoritative !== undefined ? { authoritative: b.authoritative } : {}),
            ...(b.ttl !== undefined ? { ttl: b.ttl } : {}),
          });
          await push(r, "a domain was created");
          return json(domainJson(d));
        },
      },
    ],
  },
  {
    name: "DomainHandler",
    doc: "Manage domain.",
    path: "domains/{id}/",
    actions: [
      { method: "GET", op: null, doc: "Read domain.", run: async (r) => json(domainJson(await domainOf(r))) },
      {
        method: "PUT",
        op: null,
        doc: "Update a domain.",
        params: ["name", "authoritative", "ttl"],
        run: async (r) => {
          const row = await domainOf(r);
          manage(r);
          const b = parse(DomainPut, r.p);
          const d = await updateDomain(r.db, r.caller.username, row, {
            ...(b.name !== undefined ? { name: b.name } : {}),
            ...(b.authoritative !== undefined ? { authoritative: b.authoritative } : {}),
            ...(b.ttl !== undefined ? { ttl: b.ttl } : {}),
          });
          await push(r, "a domain edit");
          return json(domainJson(d));
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete domain.",
        run: async (r) => {
          const row = await domainOf(r);
          manage(r);
          await deleteDomain(r.db, r.caller.username, row);
          await push(r, "a domain was deleted");
          return deleted();
        },
      },
      {
        method: "POST",
        op: "set_default",
        doc: "Set the specified domain to be the default.",
        run: async (r) => {
          const row = await domainOf(r);
          manage(r);
          const d = await setDefaultDomain(r.db, r.caller.username, row);
          await push(r, "a new default domain");
          return json(domainJson(d));
        },
      },
    ],
  },
  {
    name: "DNSResourcesHandler",
    doc: "Manage dnsresources.",
    path: "dnsresources/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List all resources for the specified criteria.",
        params: ["domain", "name", "rrtype", "all"],
        run: async (r) => {
          const f = await filterOf(r);
          const { rrtype, ...where } = f;
          const resources = await listResources(r.db, where);
          const records = await listRecords(r.db, where);
          const shown = rrtype
            ? resources.filter((x) =>
                rrtype === "A" || rrtype === "AAAA"
                  ? x.addresses.some((ip) => ip.includes(":") === (rrtype === "AAAA"))
                  : records.some((y) => y.resource_id === x.id && y.rrtype === rrtype),
              )
            : resources;
          return json(shown.map((x) => resourceJson(x, records)));
        },
      },
      {
        method: "POST",
        op: null,
        doc: "Create a DNS resource.",
        params: ["fqdn", "name", "domain", "address_ttl", "ip_addresses"],
        run: async (r) => {
          manage(r);
          const b = parse(ResourceBody, r.p, ["ip_addresses"]);
          const at = await placeName(r.db, b);
          const x = await createResource(r.db, r.caller.username, at, ipsOf(b.ip_addresses), b.address_ttl ?? null);
          await push(r, "a DNS resource was created");
          return json(resourceJson(x, []));
        },
      },
    ],
  },
  {
    name: "DNSResourceHandler",
    doc: "Manage dnsresource.",
    path: "dnsresources/{id}/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "Read a DNS resource.",
        run: async (r) => {
          const x = await resourceOf(r);
          return json(resourceJson(x, await listRecords(r.db, {}, [x.id])));
        },
      },
      {
        method: "PUT",
        op: null,
        doc: "Update a DNS resource.",
        params: ["fqdn", "name", "domain", "address_ttl", "ip_addresses"],
        run: async (r) => {
          const row = await resourceOf(r);
          manage(r);
          const b = parse(ResourceBody, r.p, ["ip_addresses"]);
          const moves = b.fqdn || b.name || b.domain;
          const at = moves ? await placeName(r.db, b.fqdn ? { fqdn: b.fqdn } : { name: b.name ?? row.name, domain: b.domain ?? row.domain }) : undefined;
          const x = await updateResource(r.db, r.caller.username, row, {
            ...(at ? { at } : {}),
            ...(b.ip_addresses !== undefined ? { addresses: ipsOf(b.ip_addresses) } : {}),
            ...(b.address_ttl !== undefined ? { addressTtl: b.address_ttl } : {}),
          });
          await push(r, "a DNS resource edit");
          return json(resourceJson(x, await listRecords(r.db, {}, [x.id])));
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a DNS resource.",
        run: async (r) => {
          const row = await resourceOf(r);
          manage(r);
          await deleteResource(r.db, r.caller.username, row);
          await push(r, "a DNS resource was deleted");
          return deleted();
        },
      },
    ],
  },
  {
    name: "DNSResourceRecordsHandler",
    doc: "Manage DNS resource records (e.g. CNAME, MX, NS, SRV, TXT)",
    path: "dnsresource-records/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List all dnsresource-records.",
        params: ["domain", "name", "rrtype"],
        run: async (r) => json((await listRecords(r.db, await filterOf(r))).map(recordJson)),
      },
      {
        method: "POST",
        op: null,
        doc: "Create a DNS resource record.",
        params: ["fqdn", "name", "domain", "rrtype", "rrdata", "ttl"],
        run: async (r) => {
          manage(r);
          const b = parse(RecordBody, r.p);
          const at = await placeName(r.db, b);
          const x = await createRecord(r.db, r.caller.username, at, { rrtype: b.rrtype, rrdata: b.rrdata, ttl: b.ttl ?? null });
          await push(r, "a DNS record was created");
          return json(recordJson(x));
        },
      },
    ],
  },
  {
    name: "DNSResourceRecordHandler",
    doc: "Manage dnsresourcerecord.",
    path: "dnsresource-records/{id}/",
    actions: [
      { method: "GET", op: null, doc: "Read a DNS resource record.", run: async (r) => json(recordJson(await recordOf(r))) },
      {
        method: "PUT",
        op: null,
        doc: "Update a DNS resource record.",
        params: ["rrtype", "rrdata", "ttl"],
        run: async (r) => {
          const row = await recordOf(r);
          manage(r);
          const b = parse(RecordPut, r.p);
          const x = await updateRecord(r.db, r.caller.username, row, {
            ...(b.rrtype !== undefined ? { rrtype: b.rrtype } : {}),
            ...(b.rrdata !== undefined ? { rrdata: b.rrdata } : {}),
            ...(b.ttl !== undefined ? { ttl: b.ttl } : {}),
          });
          await push(r, "a DNS record edit");
          return json(recordJson(x));
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a DNS resource record.",
        run: async (r) => {
          const row = await recordOf(r);
          manage(r);
          await deleteRecord(r.db, r.caller.username, row);
          await push(r, "a DNS record was deleted");
          return deleted();
        },
      },
    ],
  },
];
