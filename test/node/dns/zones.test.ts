// The authoritative lookup alone (appliance/dns/zones.ts): which zone, which section, which
// rcode and AA, for every case RFC 1034 §4.3.2 distinguishes.
import { describe, expect, it } from "vitest";
import { T } from "../../../appliance/dns/rr";
import { RCODE, ZoneIndex } from "../../../appliance/dns/zones";
import { siteDns } from "./fixture";

const idx = new ZoneIndex(siteDns());
const look = (n: string, t: number) => {
  const r = idx.lookup(n, t);
  return {
    ...r,
    an: r.answer.map((x) => [x.name, x.type, x.data]),
    ns: r.authority.map((x) => [x.name, x.type]),
    ad: r.additional.map((x) => [x.name, x.type]),
  };
};

describe("zone index", () => {
  it("loads every zone with no problems", () => {
    expect(idx.problems).toEqual([]);
    expect([...idx.zones.keys()].sort()).toEqual(["77.10.in-addr.arpa", "maas", "sub.maas"]);
  });

  it("answers exact matches with AA, apex SOA and NS included", () => {
    expect(look("node-3.maas", T.A)).toMatchObject({ ours: true, rcode: 0, aa: true, an: [["node-3.maas", T.A, "10.77.0.5"]], ns: [] });
    expect(look("maas", T.SOA).an[0]![1]).toBe(T.SOA);
    expect(look("maas", T.NS).an).toEqual([["maas", T.NS, "ns1.maas"]]);
    expect(look("2.0.77.10.in-addr.arpa", T.PTR).an).toEqual([["2.0.77.10.in-addr.arpa", T.PTR, "node-0.maas"]]);
    expect(look("maas", T.MX).an).toEqual([["maas", T.MX, { preference: 10, exchange: "mail.maas" }]]);
    expect(look("_sip._udp.maas", T.SRV).an[0]![2]).toEqual({ priority: 0, weight: 5, port: 5060, target: "node-2.maas" });
    expect(look("many.maas", T.A).an).toHaveLength(120);
  });

  it("splits long TXT into 255-byte strings", () => {
    const d = look("big.maas", T.TXT).an[0]![2] as Buffer[];
    expect(d.map((b) => b.length)).toEqual([255, 255, 255, 255, 255, 255, 255, 215]);
    expect(Buffer.concat(d).toString()).toBe("x".repeat(2000));
  });

  it("NODATA: the name exists, the type does not (SOA in authority, NOERROR, AA)", () => {
    expect(look("node-3.maas", T.AAAA)).toMatchObject({ rcode: RCODE.NOERROR, aa: true, an: [], ns: [["maas", T.SOA]] });
    // An empty non-terminal exists too.
    expect(look("ent.maas", T.A)).toMatchObject({ rcode: RCODE.NOERROR, aa: true, an: [], ns: [["maas", T.SOA]] });
  });

  it("NXDOMAIN: no such name (SOA in authority, AA); the negative TTL is the SOA minimum", () => {
    const r = look("nope.maas", T.A);
    expect(r).toMatchObject({ rcode: RCODE.NXDOMAIN, aa: true, an: [], ns: [["maas", T.SOA]] });
    expect(r.authority[0]!.ttl).toBe(60);
    expect(look("x.deep.ent.maas", T.A).rcode).toBe(RCODE.NXDOMAIN);
  });

  it("chases CNAMEs inside the served zones, and stops at a missing target with its rcode", () => {
    expect(look("alias.maas", T.A).an).toEqual([
      ["alias.maas", T.CNAME, "www.maas"],
      ["www.maas", T.CNAME, "node-1.maas"],
      ["node-1.maas", T.A, "10.77.0.3"],
    ]);
    expect(look("www.maas", T.CNAME).an).toEqual([["www.maas", T.CNAME, "node-1.maas"]]);
    expect(look("dangling.maas", T.A)).toMatchObject({
      rcode: RCODE.NXDOMAIN,
      aa: true,
      an: [["dangling.maas", T.CNAME, "missing.maas"]],
      ns: [["maas", T.SOA]],
    });
  });

  it("refers below a delegation: NS in authority, glue in additional, AA off", () => {
    for (const n of ["lab.maas", "a.b.lab.maas", "ns.lab.maas"])
      expect(look(n, T.A)).toMatchObject({ rcode: 0, aa: false, an: [], ns: [["lab.maas", T.NS]], ad: [["ns.lab.maas", T.A]] });
  });

  it("longest match: a sub-zone served beside its parent answers for itself", () => {
    expect(look("x.sub.maas", T.A)).toMatchObject({ aa: true, an: [["x.sub.maas", T.A, "10.77.0.60"]] });
    expect(look("y.sub.maas", T.A).ns).toEqual([["sub.maas", T.SOA]]);
  });

  it("synthesises from a wildcard, but not over names that exist", () => {
    expect(look("any.wild.maas", T.A).an).toEqual([["any.wild.maas", T.A, "10.77.0.50"]]);
    expect(look("a.b.wild.maas", T.A).an).toEqual([["a.b.wild.maas", T.A, "10.77.0.50"]]);
    expect(look("host.wild.maas", T.A)).toMatchObject({ rcode: 0, an: [], ns: [["maas", T.SOA]] });
  });

  it("ANY answers with what exists", () => {
    expect(
      look("node-0.maas", T.ANY)
        .an.map((x) => x[1])
        .sort(),
    ).toEqual([T.A, T.AAAA]);
  });

  it("names in no served zone are not ours", () => {
    expect(look("example.com", T.A)).toMatchObject({ ours: false, aa: false });
    expect(look("amaas", T.A).ours).toBe(false);
    expect(look("", T.NS).ours).toBe(false);
  });

  it("reports bad records and serves the rest; a zone without SOA is not served", () => {
    const bad = new ZoneIndex({
      upstream: [],
      zones: [
        {
          name: "t",
          serial: 1,
          records: [
            { name: "t", type: "SOA", ttl: 60, data: "ns.t admin.t 1 2 3 4 5" },
            { name: "a.t", type: "A", ttl: 60, data: "300.1.1.1" },
            { name: "b.t", type: "MX", ttl: 60, data: "ten mail.t" },
            { name: "other", type: "A", ttl: 60, data: "10.0.0.1" },
            { name: "c.t", type: "A", ttl: 60, data: "10.0.0.1" },
          ],
        },
        { name: "nosoa", serial: 1, records: [{ name: "x.nosoa", type: "A", ttl: 60, data: "10.0.0.1" }] },
      ],
    });
    expect(bad.problems.map((p) => p.name ?? p.zone)).toEqual(["a.t", "b.t", "other", "nosoa"]);
    expect(bad.lookup("c.t", T.A).answer).toHaveLength(1);
    expect(bad.lookup("x.nosoa", T.A).ours).toBe(false);
  });
});
