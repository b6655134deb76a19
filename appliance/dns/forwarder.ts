// Recursion for the site's machines: names in no zone served here go to the operator's
// upstream resolvers (UDP, a timeout, then the next upstream; TCP when the answer was
// truncated), and come back through a bounded cache that honours TTLs and, for negative
// answers, the SOA's minimum (RFC 2308 §5). Any upstream failure is the client's SERVFAIL.
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { isIPv6 } from "node:net";
import { connect } from "node:net";
import dnsPacket from "dns-packet";
import type { Logger } from "../log";
import type { Query } from "./wire";

export interface Upstream {
  address: string;
  port: number;
}

/** "1.2.3.4", "1.2.3.4:5353", "fd00::1", "[fd00::1]:5353". */
export function parseUpstream(s: string): Upstream | null {
  const v6port = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s);
  if (v6port) return { address: v6port[1]!, port: Number(v6port[2]) };
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(s);
  if (v4port) return { address: v4port[1]!, port: v4port[2] ? Number(v4port[2]) : 53 };
  if (isIPv6(s)) return { address: s, port: 53 };
  return null;
}

interface Entry {
  expires: number;
  stored: number;
  rcode: number;
  answers: dnsPacket.Answer[];
  authorities: dnsPacket.Answer[];
  additionals: dnsPacket.Answer[];
}

export interface ForwarderOptions {
  log: Logger;
  timeoutMs?: number;
  maxEntries?: number;
  /** Test seam: the clock, in ms. */
  now?: () => number;
}

const RCODES: Record<string, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };
const MAX_TTL = 86_400;

export class Forwarder {
  private upstreams: Upstream[] = [];
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Entry | null>>();
  private readonly pending = new Map<number, (b: Buffer) => void>();
  private sock4: UdpSocket | null = null;
  private sock6: UdpSocket | null = null;
  private closed = false;
  readonly timeoutMs: number;
  readonly maxEntries: number;
  private readonly now: () => number;
  cacheHits = 0;
  upstreamQueries = 0;
  failures = 0;

  constructor(private readonly o: ForwarderOptions) {
    this.timeoutMs = o.timeoutMs ?? 1500;
    this.maxEntries = o.maxEntries ?? 20_000;
    this.now = o.now ?? Date.now;
  }

  setUpstreams(list: string[]): void {
    const parsed = list.map((s) => ({ s, u: parseUpstream(s) }));
    for (const p of parsed) if (!p.u) this.o.log("warn", "dns: upstream resolver is not an address, skipped", { upstream: p.s });
    const next = parsed.flatMap((p) => (p.u ? [p.u] : []));
    if (JSON.stringify(next) !== JSON.stringify(this.upstreams)) this.cache.clear();
    this.upstreams = next;
  }

  get configured(): boolean {
    return this.upstreams.length > 0;
  }

  /** The client's answer: from the cache or upstream, its ID, question and EDNS; SERVFAIL on failure. */
  async resolve(q: Query, raw: Buffer, limit: number): Promise<Buffer> {
    const key = `${q.qname}|${q.qtype}|${q.qclass}`;
    let e = this.fresh(key);
    if (e) this.cacheHits++;
    else {
      let p = this.inflight.get(key);
      if (!p) {
        p = this.ask(q).finally(() => this.inflight.delete(key));
        this.inflight.set(key, p);
      }
      e = await p;
      if (e) this.store(key, e);
    }
    return answerFrom(q, raw, limit, e);
  }

  private fresh(key: string): Entry | null {
    const e = this.cache.get(key);
    if (!e) return null;
    if (e.expires <= this.now()) {
      this.cache.delete(key);
      return null;
    }
    const age = Math.floor((this.now() - e.stored) / 1000);
    if (age === 0) return e;
    const older = (a: dnsPacket.Answer) => ("ttl" in a ? { ...a, ttl: Math.max(0, (a.ttl ?? 0) - age) } : a) as dnsPacket.Answer;
    return { ...e, answers: e.answers.map(older), authorities: e.authorities.map(older), additionals: e.additionals.map(older) };
  }

  private store(key: string, e: Entry): void {
    const ttl = cacheTtl(e);
    if (ttl <= 0) return;
    if (this.cache.size >= this.maxEntries) {
      // Oldest insertion first: Map keeps order, and that is bound enough for a site's resolver.
      const first = this.cache.keys().next();
      if (!first.done) this.cache.delete(first.value);
    }
    this.cache.set(key, { ...e, stored: this.now(), expires: this.now() + ttl * 1000 });
  }

  private async ask(q: Query): Promise<Entry | null> {
    if (q.qname.includes("\\")) return null;
    const list = this.upstreams;
    // One try at each of two upstreams (or twice at the only one).
    const tries = list.length === 1 ? [list[0]!, list[0]!] : list.slice(0, 2);
    for (const u of tries) {
      if (this.closed) return null;
      this.upstreamQueries++;
      try {
        let reply = await this.udp(u, q);
        if (reply.flag_tc) reply = await this.tcp(u, q);
        const rcode = RCODES[(reply as unknown as { rcode?: string }).rcode ?? ""] ?? 2;
        if (rcode === 2 || rcode === 5) continue;
        return {
          expires: 0,
          stored: 0,
          rcode,
          answers: reply.answers ?? [],
          authorities: reply.authorities ?? [],
          additionals: (reply.additionals ?? []).filter((a) => a.type !== "OPT"),
        };
      } catch (err) {
        this.o.log("debug", "dns: upstream query failed", { upstream: `${u.address}:${u.port}`, name: q.qname, error: String(err) });
      }
    }
    this.failures++;
    return null;
  }

  private query(q: Query, id: number): Buffer {
    return dnsPacket.encode({
      type: "query",
      id,
      flags: dnsPacket.RECURSION_DESIRED | (q.cd ? dnsPacket.CHECKING_DISABLED : 0),
      questions: [{ name: q.qname || ".", type: typeString(q.qtype), class: "IN" } as dnsPacket.Question],
      additionals: [{ type: "OPT", name: ".", udpPayloadSize: 1232, flags: q.dnssecOk ? dnsPacket.DNSSEC_OK : 0 } as unknown as dnsPacket.Answer],
    });
  }

  private socket(v6: boolean): UdpSocket {
    const cur = v6 ? this.sock6 : this.sock4;
    if (cur) return cur;
    const s = createSocket(v6 ? "udp6" : "udp4");
    s.on("message", (m) => {
      if (m.length < 12) return;
      const cb = this.pending.get(m.readUInt16BE(0));
      cb?.(m);
    });
    s.on("error", (e) => this.o.log("warn", "dns: forwarder socket error", { error: String(e) }));
    s.unref();
    if (v6) this.sock6 = s;
    else this.sock4 = s;
    return s;
  }

  private udp(u: Upstream, q: Query): Promise<dnsPacket.DecodedPacket> {
    return new Promise((resolve, reject) => {
      let id = 0;
      do id = (Math.random() * 65536) | 0;
      while (this.pending.has(id));
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error("timeout"));
      }, this.timeoutMs);
      this.pending.set(id, (m) => {
        let d: dnsPacket.DecodedPacket;
        try {
          d = dnsPacket.decode(m);
        } catch {
          return; // Not a message: keep waiting for the real one.
        }
        const dq = d.questions?.[0];
        if (!dq || dq.name.toLowerCase() !== (q.qname || ".") || !d.flag_qr) return;
        clearTimeout(t);
        this.pending.delete(id);
        resolve(d);
      });
      this.socket(isIPv6(u.address)).send(this.query(q, id), u.port, u.address, (err) => {
        if (!err) return;
        clearTimeout(t);
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  private tcp(u: Upstream, q: Query): Promise<dnsPacket.DecodedPacket> {
    return new Promise((resolve, reject) => {
      const id = (Math.random() * 65536) | 0;
      const msg = this.query(q, id);
      const c = connect({ host: u.address, port: u.port });
      let got = Buffer.alloc(0);
      const fail = (e: Error) => {
        c.destroy();
        reject(e);
      };
      c.setTimeout(this.timeoutMs * 2, () => fail(new Error("tcp timeout")));
      c.on("error", fail);
      c.on("connect", () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(msg.length);
        c.write(Buffer.concat([len, msg]));
      });
      c.on("data", (d) => {
        got = Buffer.concat([got, d]);
        if (got.length < 2 || got.length < 2 + got.readUInt16BE(0)) return;
        c.destroy();
        try {
          const r = dnsPacket.decode(got.subarray(2, 2 + got.readUInt16BE(0)));
          if (r.id !== id) throw new Error("wrong id");
          resolve(r);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
  }

  close(): void {
    this.closed = true;
    this.sock4?.close();
    this.sock6?.close();
    this.sock4 = this.sock6 = null;
    this.cache.clear();
  }
}

function cacheTtl(e: Entry): number {
  const ttlOf = (a: dnsPacket.Answer) => ("ttl" in a ? (a.ttl ?? 0) : 0);
  if (e.rcode === 0 && e.answers.length) return Math.min(MAX_TTL, ...e.answers.map(ttlOf));
  if (e.rcode === 0 || e.rcode === 3) {
    const soa = e.authorities.find((a) => a.type === "SOA") as dnsPacket.SoaAnswer | undefined;
    if (!soa) return 0;
    return Math.min(MAX_TTL, soa.ttl ?? 0, soa.data.minimum ?? 0);
  }
  return 0;
}

const TYPES: Record<number, string> = { 1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 255: "ANY" };
function typeString(t: number): dnsPacket.RecordType {
  // dns-packet writes "UNKNOWN_nnn" back as type nnn.
  return (TYPES[t] ?? `UNKNOWN_${t}`) as dnsPacket.RecordType;
}

/** The client's reply; the question bytes are the client's own (its case, its ID). */
export function answerFrom(q: Query, raw: Buffer, limit: number, e: Entry | null): Buffer {
  const base = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (q.cd ? dnsPacket.CHECKING_DISABLED : 0);
  const opt = q.edns ? [{ type: "OPT", name: ".", udpPayloadSize: 1232, flags: q.dnssecOk ? dnsPacket.DNSSEC_OK : 0 } as unknown as dnsPacket.Answer] : [];
  const question = [{ name: q.qname || ".", type: typeString(q.qtype), class: "IN" } as dnsPacket.Question];
  const packet = (tc: boolean): dnsPacket.Packet => ({
    type: "response",
    id: q.id,
    flags: base | (e ? e.rcode : 2) | (tc ? dnsPacket.TRUNCATED_RESPONSE : 0),
    questions: question,
    answers: tc || !e ? [] : e.answers,
    authorities: tc || !e ? [] : e.authorities,
    additionals: [...(tc || !e ? [] : e.additionals), ...opt],
  });
  let out: Buffer;
  try {
    out = dnsPacket.encode(packet(false));
    if (out.length > limit) out = dnsPacket.encode(packet(true));
  } catch {
    // Upstream data dns-packet cannot write back: the client gets SERVFAIL, not a broken message.
    out = dnsPacket.encode({ ...packet(true), flags: base | 2 });
  }
  // Same name in lower case, same length: the client's bytes go back as they came.
  if (12 + (q.qEnd - 12) <= out.length) raw.copy(out, 12, 12, q.qEnd);
  return out;
}
