// DNS (appliance/dns), what any host on the site may send to the rack's resolver: walkQuery
// reads any bytes into a query or a verdict (answer with an rcode, or drop) and never throws;
// the handler answers any bytes without throwing, with a reply a standard decoder reads and
// whose id is the query's; and queries dns-packet encodes are read back to their name, type,
// class and EDNS fields. (test/node/dns/fuzz.test.ts also runs 100,000 seeded queries.)
import dnsPacket from "dns-packet";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DnsHandler } from "../../../appliance/dns/handler";
import { walkQuery } from "../../../appliance/dns/wire";
import { siteDns } from "../dns/fixture";
import { bytes, runs, TIMEOUT } from "./fuzz";

const TYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, ANY: 255, AXFR: 252 } as const;
const label = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);
const name = fc.oneof(
  fc.constantFrom("node-1.maas", "NODE-2.MAAS", "maas", "nope.maas", "x.lab.maas", "2.0.77.10.in-addr.arpa", "example.com"),
  fc.array(label, { minLength: 1, maxLength: 5 }).map((ls) => ls.join(".")),
);
const query = fc.record({
  id: fc.nat(0xffff),
  rd: fc.boolean(),
  name,
  type: fc.constantFrom(...(Object.keys(TYPES) as (keyof typeof TYPES)[])),
  // From 1: dns-packet writes its default (4096) for a size of 0.
  edns: fc.option(fc.record({ size: fc.integer({ min: 1, max: 0xffff }), dnssecOk: fc.boolean() }), { nil: null }),
});
type Query = typeof query extends fc.Arbitrary<infer T> ? T : never;

function encodeQuery(q: Query): Buffer {
  return dnsPacket.encode({
    type: "query",
    id: q.id,
    flags: q.rd ? dnsPacket.RECURSION_DESIRED : 0,
    questions: [{ name: q.name, type: q.type as dnsPacket.RecordType }],
    additionals: q.edns
      ? [{ type: "OPT", name: ".", udpPayloadSize: q.edns.size, flags: q.edns.dnssecOk ? dnsPacket.DNSSEC_OK : 0 } as unknown as dnsPacket.Answer]
      : [],
  });
}

describe("DNS queries (fast-check)", () => {
  const h = new DnsHandler({ axfrAllow: ["127.0.0.0/8"], log: () => {} });
  h.load(siteDns(), ["10.77.0.0/16"]);

  it(
    "any bytes: walkQuery never throws, and the handler's reply decodes and carries the query's id",
    () => {
      fc.assert(
        fc.property(bytes(query.map(encodeQuery), 600), fc.boolean(), (b, tcp) => {
          const w = walkQuery(b);
          if (w.ok) expect(w.q.qEnd).toBeLessThanOrEqual(b.length);
          const out = h.handle(b, { address: tcp ? "127.0.0.1" : "10.77.0.9", tcp });
          if (out === null) return;
          // No upstream is configured, so nothing is forwarded: replies are immediate.
          expect(out instanceof Promise).toBe(false);
          for (const r of Array.isArray(out) ? out : [out as Buffer]) {
            expect(r.readUInt16BE(0)).toBe(b.readUInt16BE(0));
            dnsPacket.decode(r);
            if (!tcp) expect(r.length).toBeLessThanOrEqual(1232);
          }
        }),
        runs(3000),
      );
    },
    TIMEOUT,
  );

  it(
    "queries we encode read back to their name, type, class and EDNS fields",
    () => {
      fc.assert(
        fc.property(query, (q) => {
          const w = walkQuery(encodeQuery(q));
          expect(w.ok).toBe(true);
          if (!w.ok) return;
          expect(w.q).toMatchObject({
            id: q.id,
            rd: q.rd,
            qname: q.name.toLowerCase(),
            qtype: TYPES[q.type],
            qclass: 1,
            edns: q.edns !== null,
            ednsSize: q.edns?.size ?? 0,
            dnssecOk: q.edns?.dnssecOk ?? false,
          });
        }),
        runs(1000),
      );
    },
    TIMEOUT,
  );
});
