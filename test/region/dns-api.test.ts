// DNS through both APIs: domains, resources and records with their refusals, the zones a site's
// rack receives (machines forward and reverse, operators' data, serials), and the push that
// brings a change to the rack at once.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { DnsZone } from "../../shared/dns/zone";
import { call, makeMachine, makeUser } from "./helpers";
import { maas, maasKey } from "./maas-helpers";
import { connect, enrolRack } from "./tunnel-helpers";

let admin: string;
let viewer: string;
let madmin: string;
beforeAll(async () => {
  admin = await makeUser("dns-admin", [["admin", null]]);
  viewer = await makeUser("dns-viewer", [["viewer", null]]);
  madmin = await maasKey(admin);
});

/** A machine of `site` with a static address on a subnet of that site. */
async function addressedMachine(site: string, hostname: string, cidr: string, ip: string, domain = "maas") {
  const systemId = await makeMachine({ site, hostname });
  await env.DB.prepare("UPDATE machines SET domain = ? WHERE system_id = ?").bind(domain, systemId).run();
  const sub = await env.DB.prepare("SELECT id FROM subnets WHERE cidr = ?").bind(cidr).first<{ id: number }>();
  const subnetId =
    sub?.id ??
    (await env.DB.prepare("INSERT INTO subnets (cidr, site_id) SELECT ?, id FROM sites WHERE name = ? RETURNING id").bind(cidr, site).first<{ id: number }>())!
      .id;
  await env.DB.prepare(
    "INSERT INTO ip_addresses (subnet_id, ip, kind, interface_id, machine_id) SELECT ?, ?, 'static', i.id, m.id FROM machines m JOIN interfaces i ON i.machine_id = m.id WHERE m.system_id = ?",
  )
    .bind(subnetId, ip, systemId)
    .run();
  return systemId;
}

const zoneOf = (zones: DnsZone[], name: string) => zones.find((z) => z.name === name);
const hasRecord = (z: DnsZone | undefined, name: string, type: string, data: string) =>
  !!z?.records.some((r) => r.name === name && r.type === type && r.data === data);

describe("/api/v1 domains and records", () => {
  it("creates, reads, updates and deletes a domain; the default cannot be deleted", async () => {
    const c = await call(admin, "POST", "/domains", { name: "Lab.Example.COM.", ttl: 120 });
    expect(c.status, c.text).toBe(201);
    expect(c.json).toMatchObject({ name: "lab.example.com", ttl: 120, authoritative: true, is_default: false });
    expect((await call(viewer, "GET", "/domains/lab.example.com")).json.id).toBe(c.json.id);
    const p = await call(admin, "PATCH", `/domains/${c.json.id}`, { authoritative: false, ttl: null });
    expect(p.json).toMatchObject({ authoritative: false, ttl: null });
    expect((await call(admin, "POST", "/domains", { name: "lab.example.com" })).status).toBe(400);
    expect((await call(admin, "POST", "/domains", { name: "bad_name.com" })).json.error.message).toMatch(/letters, digits and hyphens/);
    expect((await call(admin, "POST", "/domains", { name: `${"a".repeat(64)}.com` })).json.error.message).toMatch(/63/);
    const def = await call(admin, "DELETE", "/domains/maas");
    expect(def.status).toBe(409);
    expect(def.json.error.message).toMatch(/default domain/);
    expect((await call(admin, "DELETE", `/domains/${c.json.id}`)).status).toBe(204);
    expect((await call(viewer, "GET", `/domains/${c.json.id}`)).status).toBe(404);
  });

  it("refuses to delete a domain machines are in, and moves the default", async () => {
    const d = await call(admin, "POST", "/domains", { name: "used.test" });
    await addressedMachine("default", "inused", "10.61.0.0/24", "10.61.0.5", "used.test");
    const del = await call(admin, "DELETE", "/domains/used.test");
    expect(del.status).toBe(409);
    expect(del.json.error.message).toMatch(/1 machines/);
    expect((await call(admin, "PATCH", `/domains/${d.json.id}`, { is_default: true })).json.is_default).toBe(true);
    expect((await call(admin, "GET", "/domains/maas")).json.is_default).toBe(false);
    expect((await call(admin, "PATCH", "/domains/maas", { is_default: true })).json.is_default).toBe(true);
  });

  it("records of each type, with their data checked and CNAMEs kept alone", async () => {
    const ok = async (b: Record<string, unknown>) => {
      const r = await call(admin, "POST", "/dns/records", b);
      expect(r.status, r.text).toBe(201);
      return r.json;
    };
    const bad = async (b: Record<string, unknown>, why: RegExp) => {
      const r = await call(admin, "POST", "/dns/records", b);
      expect(r.status, r.text).toBe(400);
      expect(r.json.error.message).toMatch(why);
    };
    const mx = await ok({ name: "@", type: "MX", data: "10 mail" });
    expect(mx).toMatchObject({ fqdn: "maas", type: "MX", data: "10 mail" });
    await ok({ name: "_sip._tcp", type: "SRV", data: "0 5 5060 sip.maas." });
    await ok({ name: "txt1", type: "TXT", data: '"v=spf1 -all"' });
    await ok({ name: "v6", type: "AAAA", data: "fd00::5" });
    await ok({ name: "alias", type: "CNAME", data: "txt1" });
    await bad({ name: "alias", type: "TXT", data: "beside" }, /CNAME/);
    await bad({ name: "txt1", type: "CNAME", data: "elsewhere.org" }, /CNAME/);
    await bad({ name: "@", type: "CNAME", data: "x.org" }, /apex/);
    await bad({ name: "a4", type: "A", data: "fd00::1" }, /IPv4/);
    await bad({ name: "mx2", type: "MX", data: "mail.maas" }, /preference/);
    await bad({ name: "srv2", type: "SRV", data: "1 2 sip" }, /priority weight port target/);
    await bad({ name: "-bad", type: "TXT", data: "x" }, /hyphen/);
    await bad({ name: "p", type: "PTR", data: "x.maas" }, /not a record type/);
    await addressedMachine("default", "taken", "10.61.0.0/24", "10.61.0.6");
    await bad({ name: "taken", type: "TXT", data: "x" }, /machine's name/);
    const upd = await call(admin, "PATCH", `/dns/records/${mx.id}`, { data: "20 mail2", ttl: 99 });
    expect(upd.json).toMatchObject({ data: "20 mail2", ttl: 99 });
    expect((await call(admin, "PATCH", `/dns/records/${mx.id}`, { data: "mail2" })).status).toBe(400);
    const list = await call(viewer, "GET", "/dns/records?type=srv");
    expect(list.json.items.map((r: { fqdn: string }) => r.fqdn)).toContain("_sip._tcp.maas");
    expect((await call(admin, "DELETE", `/dns/records/${mx.id}`)).status).toBe(204);
    expect((await call(viewer, "GET", `/dns/records/${mx.id}`)).status).toBe(404);
  });

  it("resources hold addresses; a CNAME's name takes none", async () => {
    const r = await call(admin, "POST", "/dns/resources", { name: "www", addresses: ["10.62.0.7", "FD00::0007"], address_ttl: 60 });
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({ fqdn: "www.maas", addresses: ["10.62.0.7", "fd00::7"], address_ttl: 60 });
    expect((await call(admin, "POST", "/dns/resources", { name: "www", addresses: [] })).status).toBe(400);
    expect((await call(admin, "POST", "/dns/resources", { name: "bad", addresses: ["10.0.0.300"] })).json.error.message).toMatch(/not an IP/);
    const alias = await call(admin, "POST", "/dns/records", { name: "cn2", type: "CNAME", data: "www" });
    expect((await call(admin, "PATCH", `/dns/resources/${alias.json.resource_id}`, { addresses: ["10.62.0.8"] })).status).toBe(400);
    expect((await call(admin, "PATCH", `/dns/resources/${r.json.id}`, { addresses: ["10.62.0.9"] })).json.addresses).toEqual(["10.62.0.9"]);
    expect((await call(admin, "DELETE", `/dns/resources/${r.json.id}`)).status).toBe(204);
  });
});

describe("MAAS domains/, dnsresources/, dnsresource-records/", () => {
  it("as terraform's maas_dns_domain drives it: create, set_default, update, delete", async () => {
    const c = await maas(madmin, "POST", "domains/", { form: { name: "tf.example", ttl: "300", authoritative: "true" } });
    expect(c.status, c.text).toBe(200);
    expect(c.json).toEqual({
      id: c.json.id,
      name: "tf.example",
      ttl: 300,
      authoritative: true,
      is_default: false,
      resource_record_count: 0,
      resource_uri: `/MAAS/api/2.0/domains/${c.json.id}/`,
    });
    const d = await maas(madmin, "POST", `domains/${c.json.id}/`, { query: { op: "set_default" } });
    expect(d.json.is_default).toBe(true);
    expect((await maas(madmin, "DELETE", `domains/${c.json.id}/`)).status).toBe(409);
    await maas(madmin, "POST", "domains/0/", { query: { op: "set_default" } });
    const u = await maas(madmin, "PUT", `domains/${c.json.id}/`, { form: { ttl: "60" } });
    expect(u.json).toMatchObject({ ttl: 60, name: "tf.example", is_default: false });
    expect((await maas(madmin, "POST", "domains/", { form: { name: "no..dots" } })).json).toEqual({ name: [expect.stringMatching(/empty/)] });
    expect((await maas(madmin, "DELETE", `domains/${c.json.id}/`)).status).toBe(204);
  });

  it("as maas_dns_record drives it: A via dnsresources, others via dnsresource-records; errors as fields", async () => {
    const a = await maas(madmin, "POST", "dnsresources/", { form: { fqdn: "api.maas", ip_addresses: "10.63.0.1 10.63.0.2", address_ttl: "120" } });
    expect(a.status, a.text).toBe(200);
    expect(a.json).toMatchObject({
      fqdn: "api.maas",
      address_ttl: 120,
      ip_addresses: [{ ip: "10.63.0.1" }, { ip: "10.63.0.2" }],
      resource_uri: `/MAAS/api/2.0/dnsresources/${a.json.id}/`,
    });
    const t = await maas(madmin, "POST", "dnsresource-records/", { form: { fqdn: "api.maas", rrtype: "txt", rrdata: "hello", ttl: "30" } });
    expect(t.json).toMatchObject({ fqdn: "api.maas", rrtype: "TXT", rrdata: "hello", ttl: 30 });
    const read = await maas(madmin, "GET", `dnsresources/${a.json.id}/`);
    expect(read.json.resource_records).toEqual([expect.objectContaining({ id: t.json.id, rrtype: "TXT" })]);
    expect((await maas(madmin, "GET", "dnsresources/", { query: { name: "api", domain: "maas" } })).json).toHaveLength(1);
    expect((await maas(madmin, "GET", "dnsresource-records/", { query: { rrtype: "TXT", name: "api.maas" } })).json.map((x: { id: number }) => x.id)).toEqual([
      t.json.id,
    ]);
    const cn = await maas(madmin, "POST", "dnsresource-records/", { form: { name: "api", domain: "maas", rrtype: "CNAME", rrdata: "other.maas" } });
    expect(cn.status).toBe(400);
    expect(cn.json.rrtype[0]).toMatch(/CNAME/);
    const badA = await maas(madmin, "POST", "dnsresources/", { form: { name: "b", domain: "0", ip_addresses: "nonsense" } });
    expect(badA.json).toEqual({ ip_addresses: [expect.stringMatching(/not an IP/)] });
    const p = await maas(madmin, "PUT", `dnsresource-records/${t.json.id}/`, { form: { rrdata: "changed" } });
    expect(p.json).toMatchObject({ rrdata: "changed", ttl: 30 });
    expect((await maas(madmin, "PUT", `dnsresources/${a.json.id}/`, { form: { ip_addresses: "10.63.0.3" } })).json.ip_addresses).toEqual([
      expect.objectContaining({ ip: "10.63.0.3" }),
    ]);
    expect((await maas(madmin, "DELETE", `dnsresource-records/${t.json.id}/`)).status).toBe(204);
    expect((await maas(madmin, "DELETE", `dnsresources/${a.json.id}/`)).status).toBe(204);
    expect((await maas(madmin, "GET", `dnsresources/${a.json.id}/`)).status).toBe(404);
    const viewerKey = await maasKey(viewer);
    expect((await maas(viewerKey, "POST", "dnsresource-records/", { form: { fqdn: "v.maas", rrtype: "TXT", rrdata: "x" } })).status).toBe(403);
  });
});

describe("zones a site's rack serves", () => {
  it("carry machines forward and reverse and operators' data; serials rise on change only; a change is pushed", async () => {
    const { rackId, credential } = await enrolRack(admin, "dns-site", "rack-dns.lab");
    await call(admin, "POST", "/subnets", { cidr: "10.64.0.0/22", site: "dns-site" });
    await addressedMachine("dns-site", "web1", "10.64.0.0/22", "10.64.2.10");
    await addressedMachine("default", "elsewhere", "10.61.0.0/24", "10.61.0.9");
    const rack = await connect(rackId, credential, {
      hostname: "rack-dns.lab",
      interfaces: [{ name: "eth0", mac: "52:54:00:aa:00:01", addresses: ["10.64.0.2/22"] }],
    });
    const first = await rack.next((m) => m.t === "config" && zoneOf(m.snapshot.dns.zones, "maas") !== undefined);
    const zones = first.snapshot.dns.zones as DnsZone[];
    const fwd = zoneOf(zones, "maas")!;
    expect(fwd.records[0]!.type).toBe("SOA");
    expect(fwd.records[0]!.data).toMatch(new RegExp(`^rack-dns\\.maas nobody\\.maas ${fwd.serial} 600 1800 604800 30$`));
    expect(hasRecord(fwd, "maas", "NS", "rack-dns.maas")).toBe(true);
    expect(hasRecord(fwd, "web1.maas", "A", "10.64.2.10")).toBe(true);
    expect(JSON.stringify(fwd)).not.toContain("elsewhere");
    expect(["0.64.10.in-addr.arpa", "1.64.10.in-addr.arpa", "2.64.10.in-addr.arpa", "3.64.10.in-addr.arpa"].every((n) => zoneOf(zones, n))).toBe(true);
    expect(hasRecord(zoneOf(zones, "2.64.10.in-addr.arpa"), "10.2.64.10.in-addr.arpa", "PTR", "web1.maas")).toBe(true);

    const listed = await call(viewer, "GET", "/dns/zones?site=dns-site");
    expect(listed.json.items.find((z: { name: string }) => z.name === "maas").serial).toBe(fwd.serial);
    const file = await call(viewer, "GET", "/dns/zones/maas/zonefile?site=dns-site");
    expect(file.text).toContain("web1.maas.\t30\tIN\tA\t10.64.2.10");

    const t = Date.now();
    const rec = await call(admin, "POST", "/dns/records", { name: "pushed", type: "TXT", data: "hi" });
    expect(rec.status).toBe(201);
    const next = await rack.next((m) => m.t === "config" && hasRecord(zoneOf(m.snapshot.dns.zones, "maas"), "pushed.maas", "TXT", "hi"));
    expect(Date.now() - t).toBeLessThan(1000);
    const after = zoneOf(next.snapshot.dns.zones, "maas")!;
    expect(after.serial).toBeGreaterThan(fwd.serial);
    // Unchanged zones keep their serials.
    expect(zoneOf(next.snapshot.dns.zones, "2.64.10.in-addr.arpa")!.serial).toBe(zoneOf(zones, "2.64.10.in-addr.arpa")!.serial);
    const again = await call(viewer, "GET", "/dns/zones?site=dns-site");
    expect(again.json.items.find((z: { name: string }) => z.name === "maas").serial).toBe(after.serial);
    rack.ws.close(1000, "bye");
  });
});
