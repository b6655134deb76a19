// The UDP worker's cache-hit path (DnsHandler.answerCachedInto): an answer written from the
// receive buffer into the send slab must be handle()'s answer byte for byte, counted the same,
// and anything handle() would not answer from the cache must be left to handle().
import { describe, expect, it } from "vitest";
import { DnsHandler } from "../../../appliance/dns/handler";
import { siteDns } from "./fixture";

const udp = { address: "127.0.0.1", tcp: false };

function query(name: string, type: number, id: number, opt?: { size: number; dnssecOk?: boolean; count?: number }): Buffer {
  const b: number[] = [id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, opt?.count ?? (opt ? 1 : 0)];
  for (const l of name.split(".")) b.push(l.length, ...Buffer.from(l, "latin1"));
  b.push(0, type >> 8, type & 255, 0, 1);
  for (let i = 0; i < (opt ? (opt.count ?? 1) : 0); i++) b.push(0, 0, 41, opt!.size >> 8, opt!.size & 255, 0, 0, opt!.dnssecOk ? 0x80 : 0, 0, 0, 0);
  return Buffer.from(b);
}

function handler(): DnsHandler {
  const h = new DnsHandler({ axfrAllow: [], log: () => {} });
  h.load(siteDns(), []);
  return h;
}

/** `msg` placed inside a larger buffer, as it sits in the worker's receive batch. */
function inBatch(msg: Buffer, at: number): Buffer {
  const b = Buffer.alloc(at + msg.length + 40, 0xaa);
  msg.copy(b, at);
  return b;
}

describe("answerCachedInto", () => {
  it("writes handle()'s cached answer, with the client's ID and case, at the offset given", () => {
    const h = handler();
    const cases: Array<[string, number, { size: number; dnssecOk?: boolean }?]> = [
      ["node-3.maas", 1],
      ["node-3.maas", 1, { size: 1232 }],
      ["node-3.maas", 1, { size: 4096, dnssecOk: true }],
      ["2.0.77.10.in-addr.arpa", 12, { size: 1232 }],
      ["absent.maas", 1, { size: 1232 }],
      ["many.maas", 1],
      ["many.maas", 1, { size: 700 }],
    ];
    for (const [name, type, opt] of cases) {
      // The first query fills the cache; answerCachedInto reads it, never fills it.
      const first = query(name, type, 1, opt);
      expect(h.answerCachedInto(first, 0, first.length, Buffer.alloc(2048), 0)).toBe(-1);
      h.handle(first, udp);
      const q = query(name.toUpperCase().replace("NODE", "NoDe"), type, 0xbeef, opt);
      const batch = inBatch(q, 300);
      const out = Buffer.alloc(4096, 0x55);
      const before = { ...h.counters };
      const n = h.answerCachedInto(batch, 300, 300 + q.length, out, 1000);
      expect(n).toBeGreaterThan(0);
      expect({ ...h.counters }).toEqual({ ...before, queries: before.queries + 1, cacheHits: before.cacheHits + 1 });
      const want = h.handle(q, udp) as Buffer;
      expect(out.subarray(1000, 1000 + n).equals(want), `${name} ${type}`).toBe(true);
      expect(out.readUInt16BE(1000)).toBe(0xbeef);
      expect(out.subarray(1000 + 12, 1000 + 12 + name.length + 2).toString("latin1")).toContain(name.toUpperCase().split(".")[0]!.replace("NODE", "NoDe"));
      expect(out[999]).toBe(0x55);
      expect(out[1000 + n]).toBe(0x55);
    }
  });

  it("keys by size limit and flags as handle() does: another limit or DO is not a hit", () => {
    const h = handler();
    h.handle(query("node-3.maas", 1, 1, { size: 1232 }), udp);
    for (const q of [query("node-3.maas", 1, 2), query("node-3.maas", 1, 2, { size: 600 }), query("node-3.maas", 1, 2, { size: 1232, dnssecOk: true })])
      expect(h.answerCachedInto(q, 0, q.length, Buffer.alloc(2048), 0)).toBe(-1);
    const q = query("node-3.maas", 1, 2, { size: 9000 });
    expect(h.answerCachedInto(q, 0, q.length, Buffer.alloc(2048), 0)).toBeGreaterThan(0);
  });

  it("leaves to handle() what it would not answer from the cache, counting nothing", () => {
    const h = handler();
    const ok = query("node-3.maas", 1, 1, { size: 1232 });
    h.handle(ok, udp);
    const before = { ...h.counters };
    const response = Buffer.from(ok);
    response[2]! |= 0x80;
    const twoOpts = query("node-3.maas", 1, 1, { size: 1232, count: 2 });
    const withAnswer = Buffer.from(ok);
    withAnswer[7] = 1;
    const bad = [response, twoOpts, withAnswer, ok.subarray(0, 11), ok.subarray(0, ok.length - 1), ok.subarray(0, 20)];
    for (const m of bad) expect(h.answerCachedInto(m, 0, m.length, Buffer.alloc(2048), 0)).toBe(-1);
    // No room at the offset: not written.
    expect(h.answerCachedInto(ok, 0, ok.length, Buffer.alloc(2048), 2040)).toBe(-1);
    expect({ ...h.counters }).toEqual(before);
    // handle() agrees the two-OPT query is no hit: FORMERR.
    expect((h.handle(twoOpts, udp) as Buffer)[3]! & 0xf).toBe(1);
  });
});
