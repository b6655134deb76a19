// Zone derivation without the database: names, reverse zones (octet and nibble boundaries),
// the records machines, devices and operators get, and the rules that keep zones sound.
import { describe, expect, it } from "vitest";
import { nameProblem, ownerProblem } from "../../cloud/domain/dns/names";
import { ptrOwner, reverseZones } from "../../cloud/domain/dns/reverse";
import { parseRrdata } from "../../cloud/domain/dns/rrdata";
import { buildZones, type ZoneInput } from "../../cloud/domain/dns/zones";

describe("names", () => {
  it("takes RFC 1035 names and says what is wrong with others", () => {
    expect(nameProblem("maas")).toBeNull();
    expect(nameProblem("a-1.example.com")).toBeNull();
    expect(nameProblem(`${"a".repeat(63)}.com`)).toBeNull();
    expect(nameProblem(`${"a".repeat(64)}.com`)).toMatch(/63/);
    expect(nameProblem(Array(64).fill("abc").join("."))).toMatch(/253/);
    expect(nameProblem("-a.com")).toMatch(/hyphen/);
    expect(nameProblem("a-.com")).toMatch(/hyphen/);
    expect(nameProblem("a..com")).toMatch(/empty/);
    expect(nameProblem("a_b.com")).toMatch(/letters, digits and hyphens/);
    expect(ownerProblem("_sip._tcp", "maas")).toBeNull();
    expect(ownerProblem("@", "maas")).toBeNull();
    expect(ownerProblem("a b", "maas")).not.toBeNull();
  });
});

describe("reverse zones", () => {
  it("serve a prefix at the next octet or nibble boundary", () => {
    expect(reverseZones("10.1.2.0/24")).toEqual(["2.1.10.in-addr.arpa"]);
    expect(reverseZones("10.1.2.64/26")).toEqual(["2.1.10.in-addr.arpa"]);
    expect(reverseZones("10.1.4.0/22")).toEqual(["4.1.10.in-addr.arpa", "5.1.10.in-addr.arpa", "6.1.10.in-addr.arpa", "7.1.10.in-addr.arpa"]);
    expect(reverseZones("10.0.0.0/8")).toEqual(["10.in-addr.arpa"]);
    expect(reverseZones("fd00:1:2:3::/64")).toEqual(["3.0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa"]);
    expect(reverseZones("fd00::/126")).toEqual([`${"0.".repeat(29)}d.f.ip6.arpa`]);
    expect(reverseZones("fd00:1:2::/62")).toEqual([0, 1, 2, 3].map((n) => `${n}.0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa`));
  });
  it("name PTR owners for both families", () => {
    expect(ptrOwner("10.1.2.3")).toBe("3.2.1.10.in-addr.arpa");
    expect(ptrOwner("fd00::1")).toBe(`1.${"0.".repeat(27)}0.0.d.f.ip6.arpa`);
  });
});

describe("record data", () => {
  it("is checked per type", () => {
    expect(parseRrdata("A", "10.0.0.1", "maas")).toEqual({ ok: true, data: "10.0.0.1" });
    expect(parseRrdata("A", "fd00::1", "maas").ok).toBe(false);
    expect(parseRrdata("AAAA", "10.0.0.1", "maas").ok).toBe(false);
    expect(parseRrdata("MX", "10 mail", "example.com")).toEqual({ ok: true, data: "10 mail.example.com" });
    expect(parseRrdata("MX", "mail.example.com", "maas").ok).toBe(false);
    expect(parseRrdata("SRV", "0 5 5060 sip.example.com.", "maas")).toEqual({ ok: true, data: "0 5 5060 sip.example.com" });
    expect(parseRrdata("SRV", "0 5 sip.example.com", "maas").ok).toBe(false);
    expect(parseRrdata("CNAME", "Web.Example.com.", "maas")).toEqual({ ok: true, data: "web.example.com" });
    expect(parseRrdata("TXT", '"v=spf1 -all"', "maas")).toEqual({ ok: true, data: "v=spf1 -all" });
    expect(parseRrdata("PTR", "x.maas", "maas").ok).toBe(false);
  });
});

const base: ZoneInput = {
  domains: [
    { id: 0, name: "maas", authoritative: true, ttl: null },
    { id: 1, name: "example.com", authoritative: true, ttl: 300 },
    { id: 2, name: "elsewhere.org", authoritative: false, ttl: null },
  ],
  defaultTtl: 30,
  servers: [{ name: "rack1.maas", ips: ["10.1.4.2"] }],
  hosts: [
    { hostname: "node1", domain: "maas", ip: "10.1.4.10" },
    { hostname: "node1", domain: "maas", ip: "fd00:1:2:3::10" },
    { hostname: "web", domain: "example.com", ip: "10.1.7.20" },
    { hostname: "ext", domain: "elsewhere.org", ip: "10.1.5.9" },
  ],
  resources: [
    { id: 1, name: "www", domainId: 1, addressTtl: 60, addresses: ["10.1.6.6"] },
    { id: 2, name: "@", domainId: 1, addressTtl: null, addresses: [] },
    { id: 3, name: "alias", domainId: 1, addressTtl: null, addresses: [] },
  ],
  records: [
    { resourceId: 2, rrtype: "MX", rrdata: "10 mail.example.com", ttl: null },
    { resourceId: 3, rrtype: "CNAME", rrdata: "www", ttl: 5 },
  ],
  subnets: ["10.1.4.0/22", "fd00:1:2:3::/64"],
};

describe("zones", () => {
  const zones = buildZones(base);
  const zone = (n: string) => zones.find((z) => z.name === n)!;
  const has = (n: string, name: string, type: string, data: string, ttl?: number) =>
    expect(zone(n).records).toContainEqual(expect.objectContaining({ name, type, data, ...(ttl === undefined ? {} : { ttl }) }));

  it("are one per authoritative domain and reverse zone, apex SOA then NS", () => {
    expect(zones.map((z) => z.name).sort()).toEqual(
      [
        "3.0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa",
        "4.1.10.in-addr.arpa",
        "5.1.10.in-addr.arpa",
        "6.1.10.in-addr.arpa",
        "7.1.10.in-addr.arpa",
        "example.com",
        "maas",
      ].sort(),
    );
    for (const z of zones) {
      expect(z.records[0]).toMatchObject({ name: z.name, type: "SOA" });
      expect(z.records[0]!.data).toBe(`rack1.maas nobody.${z.name} 0 600 1800 604800 30`);
      expect(z.records[1]).toMatchObject({ name: z.name, type: "NS", data: "rack1.maas" });
    }
  });
  it("hold machines forward and reverse, with the domain's TTL", () => {
    has("maas", "node1.maas", "A", "10.1.4.10", 30);
    has("maas", "node1.maas", "AAAA", "fd00:1:2:3::10");
    has("maas", "rack1.maas", "A", "10.1.4.2");
    has("example.com", "web.example.com", "A", "10.1.7.20", 300);
    has("4.1.10.in-addr.arpa", "10.4.1.10.in-addr.arpa", "PTR", "node1.maas");
    has("7.1.10.in-addr.arpa", "20.7.1.10.in-addr.arpa", "PTR", "web.example.com");
    has("3.0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa", `0.1.${"0.".repeat(14)}3.0.0.0.2.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa`, "PTR", "node1.maas");
  });
  it("serve a non-authoritative domain's names in reverse only", () => {
    expect(JSON.stringify(zones)).not.toContain('"name":"ext.elsewhere.org"');
    has("5.1.10.in-addr.arpa", "9.5.1.10.in-addr.arpa", "PTR", "ext.elsewhere.org");
  });
  it("hold operator data with its own TTLs, relative targets made absolute", () => {
    has("example.com", "www.example.com", "A", "10.1.6.6", 60);
    has("example.com", "example.com", "MX", "10 mail.example.com", 300);
    has("example.com", "alias.example.com", "CNAME", "www.example.com", 5);
    has("6.1.10.in-addr.arpa", "6.6.1.10.in-addr.arpa", "PTR", "www.example.com");
  });
  it("drop a CNAME a machine's name took", () => {
    const z = buildZones({ ...base, hosts: [...base.hosts, { hostname: "alias", domain: "example.com", ip: "10.1.4.50" }] });
    const ex = z.find((x) => x.name === "example.com")!;
    expect(ex.records.filter((r) => r.name === "alias.example.com").map((r) => r.type)).toEqual(["A"]);
  });
  it("delegate a child zone from its parent", () => {
    const z = buildZones({ ...base, domains: [...base.domains, { id: 3, name: "lab.example.com", authoritative: true, ttl: null }] });
    expect(z.find((x) => x.name === "example.com")!.records).toContainEqual(
      expect.objectContaining({ name: "lab.example.com", type: "NS", data: "rack1.maas" }),
    );
  });
  it("derive 10,000 machines quickly", () => {
    const hosts = Array.from({ length: 10_000 }, (_, i) => ({ hostname: `n${i}`, domain: "maas", ip: `10.1.${4 + ((i >> 8) % 4)}.${i & 255}` }));
    const t = Date.now();
    const z = buildZones({ ...base, hosts });
    expect(Date.now() - t).toBeLessThan(2000);
    expect(z.find((x) => x.name === "maas")!.records.length).toBeGreaterThan(10_000);
  });
});
