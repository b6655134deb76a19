// One query in, its answer out: no sockets here, so the fuzz test drives exactly what the
// server runs. Authoritative answers are cached as encoded messages keyed by everything that
// shapes them (the lower-cased question, the size limit, EDNS, DO, RD, CD): a repeated query
// costs a walk of its header and question, one Map lookup and a copy with the ID and the
// client's case patched in. load() swaps the zones and drops that cache in one assignment.
import { BlockList, isIPv4, isIPv6 } from "node:net";
import type { DnsConfig } from "../../shared/dns/zone";
import type { Logger } from "../log";
import type { Forwarder } from "./forwarder";
import { T } from "./rr";
import { buildResponse, packTransfer, type Query, walkQuery } from "./wire";
import { RCODE, ZoneIndex } from "./zones";

export interface Transport {
  /** The client's address as the socket reports it ("::ffff:a.b.c.d" is an IPv4 client). */
  address: string;
  tcp: boolean;
}

/** A single message, several (a zone transfer), nothing (dropped), or later (forwarded). */
export type Reply = Buffer | Buffer[] | null | Promise<Buffer | null>;

export interface Counters {
  queries: number;
  cacheHits: number;
  refused: number;
  forwarded: number;
  dropped: number;
  formerr: number;
  notimp: number;
  nxdomain: number;
  axfr: number;
}

/** The UDP payload we offer and accept at most (the DNS flag day 2020 value: no fragments). */
export const MAX_UDP = 1232;
const MAX_CACHE = 200_000;

/** CIDRs ("10.0.0.0/24", "fd00::/64", or a bare address) as a BlockList; bad entries are reported. */
export function aclOf(cidrs: string[], bad?: (s: string) => void): BlockList {
  const b = new BlockList();
  for (const c of cidrs) {
    const [addr = "", len] = c.trim().split("/");
    const v6 = isIPv6(addr);
    if (!v6 && !isIPv4(addr)) {
      bad?.(c);
      continue;
    }
    const max = v6 ? 128 : 32;
    const n = len === undefined ? max : Number(len);
    if (!Number.isInteger(n) || n < 0 || n > max || (len !== undefined && !/^\d+$/.test(len))) {
      bad?.(c);
      continue;
    }
    b.addSubnet(addr, n, v6 ? "ipv6" : "ipv4");
  }
  return b;
}

export const LOOPBACK = ["127.0.0.0/8", "::1/128"];

export function allowed(acl: BlockList, address: string): boolean {
  const v4 = address.startsWith("::ffff:") && isIPv4(address.slice(7)) ? address.slice(7) : address;
  try {
    return isIPv4(v4) ? acl.check(v4, "ipv4") : isIPv6(v4) ? acl.check(v4, "ipv6") : false;
  } catch {
    return false;
  }
}

// Room for the longest question (255 name bytes, type, class) and the key's four bytes more.
const keyScratch = Buffer.allocUnsafe(264);

/**
 * The cache key: the question (name lower-cased, type, class), the size limit and the flag bits
 * that shape an answer, as one latin1 string. One native slice instead of walkQuery's
 * per-label strings and a template; the name's wire form is self-delimiting, so it is as
 * unambiguous as spelling the fields out.
 */
function cacheKey(buf: Buffer, start: number, qEnd: number, limit: number, bits: number): string {
  const k = keyScratch;
  const name = qEnd - 16;
  let i = 0;
  for (; i < name; i++) {
    const c = buf[start + 12 + i]!;
    k[i] = c >= 0x41 && c <= 0x5a ? c + 32 : c;
  }
  buf.copy(k, i, start + 12 + i, start + qEnd);
  i += 4;
  k[i++] = limit >> 8;
  k[i++] = limit & 0xff;
  k[i++] = bits >> 8;
  k[i++] = bits & 0xff;
  return k.toString("latin1", 0, i);
}

export interface HandlerOptions {
  /** Who may transfer zones (AXFR over TCP). */
  axfrAllow: string[];
  log: Logger;
  forwarder?: Forwarder;
}

export class DnsHandler {
  private index = new ZoneIndex({ zones: [], upstream: [] });
  private cache = new Map<string, Buffer>();
  private recursionAcl = aclOf(LOOPBACK);
  private readonly axfrAcl: BlockList;
  readonly counters: Counters = { queries: 0, cacheHits: 0, refused: 0, forwarded: 0, dropped: 0, formerr: 0, notimp: 0, nxdomain: 0, axfr: 0 };

  constructor(private readonly o: HandlerOptions) {
    this.axfrAcl = aclOf(o.axfrAllow, (c) => o.log("warn", "dns: --dns-axfr-allow entry is not a CIDR, ignored", { cidr: c }));
  }

  /** Replaces the zones served, the upstreams and who may recurse, all at once. */
  load(dns: DnsConfig, siteCidrs: string[]): ZoneIndex {
    const index = new ZoneIndex(dns);
    for (const p of index.problems.slice(0, 50)) this.o.log("warn", "dns: record not served", { ...p });
    if (index.problems.length > 50) this.o.log("warn", "dns: more records not served", { count: index.problems.length - 50 });
    this.o.forwarder?.setUpstreams(dns.upstream);
    this.recursionAcl = aclOf([...LOOPBACK, ...siteCidrs], (c) => this.o.log("warn", "dns: site subnet is not a CIDR", { cidr: c }));
    this.index = index;
    this.cache = new Map();
    return index;
  }

  get zones(): ZoneIndex {
    return this.index;
  }

  handle(msg: Buffer, from: Transport): Reply {
    this.counters.queries++;
    const w = walkQuery(msg);
    if (!w.ok) {
      if (w.drop) {
        this.counters.dropped++;
        return null;
      }
      this.counters.formerr++;
      return buildResponse({
        id: w.id,
        flags: (w.flags & 0x7910) | RCODE.FORMERR,
        question: msg.subarray(12, w.qEnd),
        qname: null,
        answer: [],
        authority: [],
        additional: [],
        opt: null,
        limit: 512,
      });
    }
    const q = w.q;
    const limit = from.tcp ? 65535 : q.edns ? Math.min(Math.max(q.ednsSize, 512), MAX_UDP) : 512;
    const key = cacheKey(msg, 0, q.qEnd, limit, (q.flags & 0x7910) | (q.edns ? 1 : 0) | (q.dnssecOk ? 2 : 0));
    const hit = this.cache.get(key);
    if (hit) {
      this.counters.cacheHits++;
      const out = Buffer.allocUnsafe(hit.length);
      hit.copy(out);
      out.writeUInt16BE(q.id, 0);
      msg.copy(out, 12, 12, q.qEnd);
      return out;
    }
    const reply = this.answer(q, msg, from, limit);
    if (reply.cache && Buffer.isBuffer(reply.out)) {
      // Random names (a scan, a fuzzer) must not pin memory: a full cache starts over.
      if (this.cache.size >= MAX_CACHE) this.cache = new Map();
      this.cache.set(key, reply.out);
    }
    return reply.out;
  }

  /**
   * handle()'s cache hit for the UDP query at `buf[start, end)`, written at `out[offset]`: the
   * bytes written, or -1 for anything else (then handle() it as usual; nothing was counted).
   * The UDP worker answers from its receive buffer with this, so a hit costs no Buffer, no
   * Query object and no label strings. Queries with answer or authority records are left to
   * handle(): rare, and walkQuery's checks of them are not worth repeating here.
   */
  answerCachedInto(buf: Buffer, start: number, end: number, out: Buffer, offset: number): number {
    if (end - start < 12) return -1;
    const flags = (buf[start + 2]! << 8) | buf[start + 3]!;
    if (flags & 0x8000 || buf[start + 4] !== 0 || buf[start + 5] !== 1) return -1;
    if (buf[start + 6]! | buf[start + 7]! | buf[start + 8]! | buf[start + 9]!) return -1;
    const ar = (buf[start + 10]! << 8) | buf[start + 11]!;
    // walkQuery's checks, so that a hit here is a query handle() would have answered from the cache.
    let off = start + 12;
    let wire = 1;
    for (;;) {
      if (off >= end) return -1;
      const len = buf[off]!;
      if (len === 0) {
        off++;
        break;
      }
      if (len > 63 || off + 1 + len > end) return -1;
      wire += len + 1;
      if (wire > 255) return -1;
      off += len + 1;
    }
    if (off + 4 > end) return -1;
    off += 4;
    const qEnd = off - start;
    let edns = false;
    let ednsSize = 0;
    let dnssecOk = false;
    for (let i = 0; i < ar; i++) {
      const nameStart = off;
      for (;;) {
        if (off >= end) return -1;
        const len = buf[off]!;
        if (len === 0) {
          off++;
          break;
        }
        if ((len & 0xc0) === 0xc0) {
          off += 2;
          if (off > end) return -1;
          break;
        }
        if (len & 0xc0) return -1;
        off += len + 1;
      }
      if (off + 10 > end) return -1;
      if (((buf[off]! << 8) | buf[off + 1]!) === 41) {
        if (edns || off !== nameStart + 1 || buf[nameStart] !== 0) return -1;
        edns = true;
        ednsSize = (buf[off + 2]! << 8) | buf[off + 3]!;
        dnssecOk = (buf[off + 6]! & 0x80) !== 0;
      }
      off += 10 + ((buf[off + 8]! << 8) | buf[off + 9]!);
      if (off > end) return -1;
    }
    const limit = edns ? Math.min(Math.max(ednsSize, 512), MAX_UDP) : 512;
    const hit = this.cache.get(cacheKey(buf, start, qEnd, limit, (flags & 0x7910) | (edns ? 1 : 0) | (dnssecOk ? 2 : 0)));
    if (!hit || offset + hit.length > out.length) return -1;
    this.counters.queries++;
    this.counters.cacheHits++;
    hit.copy(out, offset);
    out[offset] = buf[start]!;
    out[offset + 1] = buf[start + 1]!;
    buf.copy(out, offset + 12, start + 12, start + qEnd);
    return hit.length;
  }

  private simple(q: Query, msg: Buffer, rcode: number, limit: number, extRcode = 0): Buffer {
    if (rcode === RCODE.REFUSED) this.counters.refused++;
    if (rcode === RCODE.NOTIMP) this.counters.notimp++;
    return buildResponse({
      id: q.id,
      flags: (q.flags & 0x7910) | rcode,
      question: msg.subarray(12, q.qEnd),
      qname: q.qname,
      answer: [],
      authority: [],
      additional: [],
      opt: q.edns ? { size: MAX_UDP, dnssecOk: q.dnssecOk, extRcode } : null,
      limit,
    });
  }

  private answer(q: Query, msg: Buffer, from: Transport, limit: number): { out: Reply; cache: boolean } {
    if (q.opcode !== 0) return { out: this.simple(q, msg, RCODE.NOTIMP, limit), cache: false };
    // RFC 6891 §6.1.3: a version we do not speak is BADVERS (extended rcode 16 = 1 << 4).
    if (q.edns && q.ednsVersion > 0) return { out: this.simple(q, msg, 0, limit, 1), cache: false };
    if (q.qtype === T.OPT) {
      this.counters.formerr++;
      return { out: this.simple(q, msg, RCODE.FORMERR, limit), cache: false };
    }
    if (q.qclass !== 1 && q.qclass !== 255) return { out: this.simple(q, msg, RCODE.REFUSED, limit), cache: false };
    if (q.qtype === T.AXFR || q.qtype === T.IXFR) return { out: this.transfer(q, msg, from, limit), cache: false };
    // Other meta types (MAILA, MAILB, TSIG, TKEY): not a question with an answer.
    if (q.qtype >= 128 && q.qtype !== T.ANY) return { out: this.simple(q, msg, RCODE.NOTIMP, limit), cache: true };
    const r = this.index.lookup(q.qname, q.qtype);
    if (!r.ours) return { out: this.recurse(q, msg, from, limit), cache: false };
    if (r.rcode === RCODE.NXDOMAIN) this.counters.nxdomain++;
    const out = buildResponse({
      id: q.id,
      flags: (q.flags & 0x0110) | (r.aa ? 0x400 : 0) | r.rcode,
      question: msg.subarray(12, q.qEnd),
      qname: q.qname,
      answer: r.answer,
      authority: r.authority,
      additional: r.additional,
      opt: q.edns ? { size: MAX_UDP, dnssecOk: q.dnssecOk, extRcode: 0 } : null,
      limit,
    });
    // Cached as sent: a hit overwrites the ID and the question (same bytes but for case).
    return { out, cache: true };
  }

  private recurse(q: Query, msg: Buffer, from: Transport, limit: number): Reply {
    const f = this.o.forwarder;
    if (!f?.configured || !q.rd || !allowed(this.recursionAcl, from.address)) return this.simple(q, msg, RCODE.REFUSED, limit);
    this.counters.forwarded++;
    return f.resolve(q, msg, limit).catch((e: unknown) => {
      this.o.log("debug", "dns: forwarding failed", { name: q.qname, error: String(e) });
      return this.simple(q, msg, RCODE.SERVFAIL, limit);
    });
  }

  private transfer(q: Query, msg: Buffer, from: Transport, limit: number): Reply {
    if (!from.tcp || !allowed(this.axfrAcl, from.address)) {
      this.o.log("info", "dns: zone transfer refused", { zone: q.qname, from: from.address, tcp: from.tcp });
      return this.simple(q, msg, RCODE.REFUSED, limit);
    }
    const zone = this.index.zones.get(q.qname);
    if (!zone) return this.simple(q, msg, RCODE.NOTAUTH, limit);
    this.counters.axfr++;
    this.o.log("info", "dns: zone transfer", { zone: zone.apex, serial: zone.serial, records: zone.records.length, to: from.address });
    return packTransfer(q.id, (q.flags & 0x0110) | 0x400, msg.subarray(12, q.qEnd), q.qname, [...zone.records, zone.soa]);
  }
}
