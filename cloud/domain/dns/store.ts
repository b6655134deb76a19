// Domains, DNS resources and records: the writes both APIs make, with the checks that keep the
// zones sound (valid names, no CNAME beside other data, no operator name over a machine's or a
// device's). Errors are ApiErrors with the field at fault, which the MAAS facade turns into its
// {field: [message]} answers. Machine and device records are derived, never stored here.
import type { DomainJson } from "../../../shared/dns/domain";
import { ApiError, conflict } from "../../http/errors";
import { canonicalIp } from "../addresses";
import { eventStatement } from "../events";
import { fqdnOf, nameProblem, normalName, ownerProblem } from "./names";
import { isOperatorType, parseRrdata } from "./rrdata";

const invalid = (field: string, message: string) => new ApiError(400, "invalid_request", message, [{ path: field, message }]);

export type DomainRow = DomainJson;

// Counted as MAAS counts a domain's records: operators' data and addresses, and the machines and devices named in it.
const DOMAIN_SELECT = `SELECT d.id, d.name, d.authoritative, d.ttl, d.is_default,
  (SELECT count(*) FROM dns_records x JOIN dns_resources r ON r.id = x.resource_id WHERE r.domain_id = d.id)
  + (SELECT coalesce(sum(json_array_length(r.addresses)), 0) FROM dns_resources r WHERE r.domain_id = d.id)
  + (SELECT count(*) FROM machines m WHERE m.domain = d.name) + (SELECT count(*) FROM devices v WHERE v.domain = d.name) AS resource_record_count
  FROM domains d`;

type RawDomain = Omit<DomainRow, "authoritative" | "is_default"> & { authoritative: number; is_default: number };
const domainOf = (r: RawDomain): DomainRow => ({ ...r, authoritative: !!r.authoritative, is_default: !!r.is_default });

export async function listDomains(db: D1Database): Promise<DomainRow[]> {
  const { results } = await db.prepare(`${DOMAIN_SELECT} ORDER BY d.id`).all<RawDomain>();
  return results.map(domainOf);
}

/** A domain by id (all digits) or name. */
export async function findDomain(db: D1Database, key: string): Promise<DomainRow | null> {
  const byId = /^\d+$/.test(key);
  const r = await db
    .prepare(`${DOMAIN_SELECT} WHERE ${byId ? "d.id" : "d.name"} = ?`)
    .bind(byId ? Number(key) : normalName(key))
    .first<RawDomain>();
  return r ? domainOf(r) : null;
}

export async function defaultDomain(db: D1Database): Promise<string> {
  return (await db.prepare("SELECT name FROM domains WHERE is_default = 1").first<{ name: string }>())?.name ?? "maas";
}

export interface DomainInput {
  name: string;
  authoritative?: boolean;
  ttl?: number | null;
}

function domainName(raw: string): string {
  const name = normalName(raw);
  const p = nameProblem(name);
  if (p) throw invalid("name", `not a valid domain name: ${p}`);
  return name;
}

const ev = (db: D1Database, actor: string, type: string, description: string) => eventStatement(db, { type, actor, description });

export async function createDomain(db: D1Database, actor: string, input: DomainInput & { isDefault?: boolean }): Promise<DomainRow> {
  const name = domainName(input.name);
  if (await findDomain(db, name)) throw invalid("name", `a domain named ${name} already exists`);
  const insert = db
    .prepare("INSERT INTO domains (name, authoritative, ttl, is_default) VALUES (?, ?, ?, ?) RETURNING id")
    .bind(name, (input.authoritative ?? true) ? 1 : 0, input.ttl ?? null, input.isDefault ? 1 : 0);
  const out = await db.batch([
    // The partial unique index allows one default: the old one steps down in the same transaction.
    ...(input.isDefault ? [db.prepare("UPDATE domains SET is_default = 0 WHERE is_default = 1")] : []),
    insert,
    ev(db, actor, "domain.created", `domain ${name} created`),
  ]);
  const id = (out[input.isDefault ? 1 : 0]!.results[0] as { id: number }).id;
  return (await findDomain(db, String(id)))!;
}

/** A rename rewrites machines' and devices' domain too: they hold its name. */
export async function updateDomain(db: D1Database, actor: string, row: DomainRow, patch: Partial<DomainInput>): Promise<DomainRow> {
  const name = patch.name === undefined ? row.name : domainName(patch.name);
  if (name !== row.name && (await findDomain(db, name))) throw invalid("name", `a domain named ${name} already exists`);
  await db.batch([
    db
      .prepare("UPDATE domains SET name = ?, authoritative = ?, ttl = ? WHERE id = ?")
      .bind(name, (patch.authoritative ?? row.authoritative) ? 1 : 0, patch.ttl === undefined ? row.ttl : patch.ttl, row.id),
    db.prepare("UPDATE machines SET domain = ?1 WHERE domain = ?2").bind(name, row.name),
    db.prepare("UPDATE devices SET domain = ?1 WHERE domain = ?2").bind(name, row.name),
    ev(db, actor, "domain.updated", name === row.name ? `domain ${name} updated` : `domain ${row.name} renamed ${name}`),
  ]);
  return (await findDomain(db, String(row.id)))!;
}

export async function setDefaultDomain(db: D1Database, actor: string, row: DomainRow): Promise<DomainRow> {
  await db.batch([
    db.prepare("UPDATE domains SET is_default = 0 WHERE is_default = 1 AND id != ?").bind(row.id),
    db.prepare("UPDATE domains SET is_default = 1 WHERE id = ?").bind(row.id),
    ev(db, actor, "domain.updated", `domain ${row.name} made the default`),
  ]);
  return (await findDomain(db, String(row.id)))!;
}

export async function deleteDomain(db: D1Database, actor: string, row: DomainRow): Promise<void> {
  if (row.is_default) throw conflict(`${row.name} is the default domain and cannot be deleted; make another the default first`);
  const used = await db
    .prepare("SELECT (SELECT count(*) FROM machines WHERE domain = ?1) AS machines, (SELECT count(*) FROM devices WHERE domain = ?1) AS devices")
    .bind(row.name)
    .first<{ machines: number; devices: number }>();
  if (used && used.machines + used.devices > 0)
    throw conflict(`the domain ${row.name} still names ${used.machines} machines and ${used.devices} devices; move them to another domain first`);
  await db.batch([db.prepare("DELETE FROM domains WHERE id = ?").bind(row.id), ev(db, actor, "domain.deleted", `domain ${row.name} deleted`)]);
}

// ---- DNS resources and records ------------------------------------------------------------

export interface ResourceRow {
  id: number;
  name: string;
  domain_id: number;
  domain: string;
  fqdn: string;
  address_ttl: number | null;
  addresses: string[];
}

export interface RecordRow {
  id: number;
  resource_id: number;
  name: string;
  domain: string;
  fqdn: string;
  rrtype: string;
  rrdata: string;
  ttl: number | null;
}

const RESOURCE_SELECT =
  "SELECT r.id, r.name, r.domain_id, d.name AS domain, r.address_ttl, r.addresses FROM dns_resources r JOIN domains d ON d.id = r.domain_id";
const RECORD_SELECT =
  "SELECT x.id, x.resource_id, r.name, d.name AS domain, x.rrtype, x.rrdata, x.ttl FROM dns_records x JOIN dns_resources r ON r.id = x.resource_id JOIN domains d ON d.id = r.domain_id";

type RawResource = Omit<ResourceRow, "addresses" | "fqdn"> & { addresses: string };
const resourceOf = (r: RawResource): ResourceRow => ({ ...r, fqdn: fqdnOf(r.name, r.domain), addresses: JSON.parse(r.addresses) as string[] });
const recordOf = (r: Omit<RecordRow, "fqdn">): RecordRow => ({ ...r, fqdn: fqdnOf(r.name, r.domain) });

export interface Filter {
  domain?: string;
  name?: string;
  rrtype?: string;
}

export async function listResources(db: D1Database, f: Filter = {}): Promise<ResourceRow[]> {
  const { results } = await db
    .prepare(`${RESOURCE_SELECT} WHERE (?1 IS NULL OR d.name = ?1) AND (?2 IS NULL OR r.name = ?2) ORDER BY r.id`)
    .bind(f.domain ? normalName(f.domain) : null, f.name ? normalName(f.name) : null)
    .all<RawResource>();
  return results.map(resourceOf);
}

export async function findResource(db: D1Database, id: number): Promise<ResourceRow | null> {
  const r = await db.prepare(`${RESOURCE_SELECT} WHERE r.id = ?`).bind(id).first<RawResource>();
  return r ? resourceOf(r) : null;
}

export async function listRecords(db: D1Database, f: Filter = {}, resourceIds?: number[]): Promise<RecordRow[]> {
  const { results } = await db
    .prepare(`${RECORD_SELECT} WHERE (?1 IS NULL OR d.name = ?1) AND (?2 IS NULL OR r.name = ?2) AND (?3 IS NULL OR x.rrtype = ?3)
      AND (?4 IS NULL OR x.resource_id IN (SELECT value FROM json_each(?4))) ORDER BY x.id`)
    .bind(
      f.domain ? normalName(f.domain) : null,
      f.name ? normalName(f.name) : null,
      f.rrtype?.toUpperCase() ?? null,
      resourceIds ? JSON.stringify(resourceIds) : null,
    )
    .all<Omit<RecordRow, "fqdn">>();
  return results.map(recordOf);
}

export async function findRecord(db: D1Database, id: number): Promise<RecordRow | null> {
  const r = await db.prepare(`${RECORD_SELECT} WHERE x.id = ?`).bind(id).first<Omit<RecordRow, "fqdn">>();
  return r ? recordOf(r) : null;
}

/** Where a record goes: an fqdn (split at the longest domain it ends in), or a name and a domain (default: the default domain). */
export async function placeName(db: D1Database, p: { fqdn?: string; name?: string; domain?: string }): Promise<{ name: string; domain: DomainRow }> {
  if (p.fqdn !== undefined && p.fqdn !== "") {
    const fqdn = normalName(p.fqdn);
    const doms = (await listDomains(db)).sort((a, b) => b.name.length - a.name.length);
    const d = doms.find((x) => fqdn === x.name || fqdn.endsWith(`.${x.name}`));
    if (!d) throw invalid("fqdn", `${fqdn} is in no domain Plinth knows; create the domain first`);
    return { name: fqdn === d.name ? "@" : fqdn.slice(0, -(d.name.length + 1)), domain: d };
  }
  if (!p.name) throw invalid("name", "give fqdn, or name (and domain)");
  const d = p.domain ? await findDomain(db, p.domain) : await findDomain(db, await defaultDomain(db));
  if (!d) throw invalid("domain", `no domain ${p.domain}`);
  return { name: p.name === "@" ? "@" : normalName(p.name), domain: d };
}

/** Refuses a name that is invalid or a machine's or device's in that domain. */
async function checkOwner(db: D1Database, name: string, domain: string): Promise<void> {
  const p = ownerProblem(name, domain);
  if (p) throw invalid("name", `not a valid record name: ${p}`);
  const taken = await db
    .prepare(
      "SELECT 'machine' AS kind FROM machines WHERE hostname = ?1 AND domain = ?2 UNION ALL SELECT 'device' FROM devices WHERE hostname = ?1 AND domain = ?2 LIMIT 1",
    )
    .bind(name, domain)
    .first<{ kind: string }>();
  if (taken) throw invalid("name", `${name}.${domain} is a ${taken.kind}'s name; its records come from the ${taken.kind}`);
}

function addressesOf(list: string[]): string[] {
  const out: string[] = [];
  for (const raw of list) {
    const ip = canonicalIp(raw.trim());
    if (!ip) throw invalid("ip_addresses", `"${raw}" is not an IP address`);
    if (!out.includes(ip)) out.push(ip);
  }
  return out;
}

/** What a resource holds besides `exceptRecord`: its addresses and its records' types. */
async function contents(db: D1Database, resourceId: number, exceptRecord = 0): Promise<{ addresses: number; types: string[] }> {
  const r = await db.prepare("SELECT addresses FROM dns_resources WHERE id = ?").bind(resourceId).first<{ addresses: string }>();
  const { results } = await db
    .prepare("SELECT rrtype FROM dns_records WHERE resource_id = ? AND id != ?")
    .bind(resourceId, exceptRecord)
    .all<{ rrtype: string }>();
  return { addresses: r ? (JSON.parse(r.addresses) as string[]).length : 0, types: results.map((x) => x.rrtype) };
}

const cnameBeside = (fqdn: string) =>
  invalid("rrtype", `${fqdn} has a CNAME, which cannot have other data beside it (RFC 1034): remove the CNAME first, or use another name`);
const besideCname = (fqdn: string) => invalid("rrtype", `${fqdn} already has other data; a CNAME cannot be added beside it (RFC 1034)`);

export interface ResourceInput {
  name: string;
  domainId: number;
  addresses: string[];
  addressTtl: number | null;
}

export async function createResource(db: D1Database, actor: string, at: { name: string; domain: DomainRow }, addresses: string[], addressTtl: number | null) {
  await checkOwner(db, at.name, at.domain.name);
  const ips = addressesOf(addresses);
  const fqdn = fqdnOf(at.name, at.domain.name);
  if (await db.prepare("SELECT 1 FROM dns_resources WHERE domain_id = ? AND name = ?").bind(at.domain.id, at.name).first())
    throw invalid("name", `${fqdn} already exists; update it instead`);
  const [ins] = await db.batch([
    db
      .prepare("INSERT INTO dns_resources (name, domain_id, address_ttl, addresses) VALUES (?, ?, ?, ?) RETURNING id")
      .bind(at.name, at.domain.id, addressTtl, JSON.stringify(ips)),
    ev(db, actor, "dns.resource.created", `DNS resource ${fqdn} created`),
  ]);
  return (await findResource(db, (ins!.results[0] as { id: number }).id))!;
}

export async function updateResource(
  db: D1Database,
  actor: string,
  row: ResourceRow,
  patch: { at?: { name: string; domain: DomainRow }; addresses?: string[]; addressTtl?: number | null },
): Promise<ResourceRow> {
  const at = patch.at ?? { name: row.name, domain: { id: row.domain_id, name: row.domain } as DomainRow };
  const moved = at.name !== row.name || at.domain.id !== row.domain_id;
  if (moved) {
    await checkOwner(db, at.name, at.domain.name);
    if (await db.prepare("SELECT 1 FROM dns_resources WHERE domain_id = ? AND name = ?").bind(at.domain.id, at.name).first())
      throw invalid("name", `${fqdnOf(at.name, at.domain.name)} already exists`);
  }
  const ips = patch.addresses === undefined ? row.addresses : addressesOf(patch.addresses);
  if (ips.length && (await contents(db, row.id)).types.includes("CNAME")) throw cnameBeside(row.fqdn);
  await db.batch([
    db
      .prepare("UPDATE dns_resources SET name = ?, domain_id = ?, address_ttl = ?, addresses = ? WHERE id = ?")
      .bind(at.name, at.domain.id, patch.addressTtl === undefined ? row.address_ttl : patch.addressTtl, JSON.stringify(ips), row.id),
    ev(db, actor, "dns.resource.updated", `DNS resource ${row.fqdn} updated`),
  ]);
  return (await findResource(db, row.id))!;
}

export async function deleteResource(db: D1Database, actor: string, row: ResourceRow): Promise<void> {
  await db.batch([
    db.prepare("DELETE FROM dns_resources WHERE id = ?").bind(row.id),
    ev(db, actor, "dns.resource.deleted", `DNS resource ${row.fqdn} deleted`),
  ]);
}

function checkData(rrtype: string, rrdata: string, domain: string): string {
  const type = rrtype.toUpperCase();
  if (!isOperatorType(type)) throw invalid("rrtype", `"${rrtype}" is not a record type operators may create (A, AAAA, CNAME, MX, SRV, TXT, NS)`);
  const p = parseRrdata(type, rrdata, domain);
  if (!p.ok) throw invalid("rrdata", p.error);
  return type;
}

/** A record at a name: the name's resource is made when it has none. */
export async function createRecord(
  db: D1Database,
  actor: string,
  at: { name: string; domain: DomainRow },
  r: { rrtype: string; rrdata: string; ttl: number | null },
): Promise<RecordRow> {
  const type = checkData(r.rrtype, r.rrdata, at.domain.name);
  const fqdn = fqdnOf(at.name, at.domain.name);
  if (type === "CNAME" && at.name === "@") throw invalid("rrtype", `${fqdn} is the domain's apex, which holds SOA and NS: it cannot be a CNAME`);
  const existing = await db.prepare("SELECT id FROM dns_resources WHERE domain_id = ? AND name = ?").bind(at.domain.id, at.name).first<{ id: number }>();
  if (existing) {
    const c = await contents(db, existing.id);
    if (c.types.includes("CNAME")) throw cnameBeside(fqdn);
    if (type === "CNAME" && (c.addresses || c.types.length)) throw besideCname(fqdn);
  } else await checkOwner(db, at.name, at.domain.name);
  const stmts: D1PreparedStatement[] = [];
  if (!existing) stmts.push(db.prepare("INSERT OR IGNORE INTO dns_resources (name, domain_id) VALUES (?, ?)").bind(at.name, at.domain.id));
  stmts.push(
    db
      .prepare(
        "INSERT INTO dns_records (resource_id, rrtype, rrdata, ttl) SELECT id, ?3, ?4, ?5 FROM dns_resources WHERE domain_id = ?1 AND name = ?2 RETURNING id",
      )
      .bind(at.domain.id, at.name, type, r.rrdata.trim(), r.ttl),
    ev(db, actor, "dns.record.created", `DNS record ${fqdn} ${type} ${r.rrdata.trim()} created`),
  );
  const out = await db.batch(stmts);
  return (await findRecord(db, (out[existing ? 0 : 1]!.results[0] as { id: number }).id))!;
}

export async function updateRecord(
  db: D1Database,
  actor: string,
  row: RecordRow,
  patch: { rrtype?: string; rrdata?: string; ttl?: number | null },
): Promise<RecordRow> {
  const type = checkData(patch.rrtype ?? row.rrtype, patch.rrdata ?? row.rrdata, row.domain);
  const c = await contents(db, row.resource_id, row.id);
  if (type === "CNAME" && row.name === "@") throw invalid("rrtype", `${row.fqdn} is the domain's apex: it cannot be a CNAME`);
  if (type === "CNAME" && (c.addresses || c.types.length)) throw besideCname(row.fqdn);
  if (type !== "CNAME" && c.types.includes("CNAME")) throw cnameBeside(row.fqdn);
  await db.batch([
    db
      .prepare("UPDATE dns_records SET rrtype = ?, rrdata = ?, ttl = ? WHERE id = ?")
      .bind(type, (patch.rrdata ?? row.rrdata).trim(), patch.ttl === undefined ? row.ttl : patch.ttl, row.id),
    ev(db, actor, "dns.record.updated", `DNS record ${row.fqdn} ${type} updated`),
  ]);
  return (await findRecord(db, row.id))!;
}

/** The last record of a resource without addresses takes the resource with it. */
export async function deleteRecord(db: D1Database, actor: string, row: RecordRow): Promise<void> {
  await db.batch([
    db.prepare("DELETE FROM dns_records WHERE id = ?").bind(row.id),
    db
      .prepare("DELETE FROM dns_resources WHERE id = ?1 AND addresses = '[]' AND NOT EXISTS (SELECT 1 FROM dns_records WHERE resource_id = ?1)")
      .bind(row.resource_id),
    ev(db, actor, "dns.record.deleted", `DNS record ${row.fqdn} ${row.rrtype} ${row.rrdata} deleted`),
  ]);
}
