// The two wire jobs done by hand, because they run for every query: reading a query's header,
// question and EDNS OPT (a walk that never allocates more than the key, and never throws),
// and laying out a response from pre-encoded records (./rr.ts) with owner names compressed
// against the question, so an owner equal to the question echoes the client's case for free.
import type { Rr } from "./rr";

export interface Query {
  id: number;
  flags: number;
  opcode: number;
  rd: boolean;
  cd: boolean;
  /** Question bytes as sent: name, type, class (offset 12 up to qEnd). */
  qEnd: number;
  /** Lower case, no trailing dot; labels holding a dot or odd bytes are escaped so they match nothing. */
  qname: string;
  /** The question name's wire bytes in lower case: the cache key's first part. */
  qkey: string;
  qtype: number;
  qclass: number;
  edns: boolean;
  /** The client's advertised UDP payload size (0 without EDNS). */
  ednsSize: number;
  ednsVersion: number;
  dnssecOk: boolean;
}

export type Walk = { ok: true; q: Query } | { ok: false; drop: false; rcode: number; id: number; flags: number; qEnd: number } | { ok: false; drop: true };

const FORMERR = 1;

function label(buf: Buffer, start: number, len: number): string {
  let s = "";
  for (let i = start; i < start + len; i++) {
    let c = buf[i]!;
    if (c >= 0x41 && c <= 0x5a) c += 32;
    // Only what a zone name may hold passes unescaped: "a.b" as one label must never equal two.
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2a) s += String.fromCharCode(c);
    else s += `\\${String(c).padStart(3, "0")}`;
  }
  return s;
}

/** Skip a name anywhere in the message (pointers allowed, followed only to check bounds). */
function skipName(buf: Buffer, off: number): number {
  for (;;) {
    if (off >= buf.length) return -1;
    const len = buf[off]!;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2 <= buf.length ? off + 2 : -1;
    if (len & 0xc0) return -1;
    off += len + 1;
  }
}

/**
 * Header, question and OPT of a query. `{ok:false, rcode:-1}`: not worth an answer (too short,
 * a response). Any other failure carries the rcode to answer with.
 */
export function walkQuery(buf: Buffer): Walk {
  if (buf.length < 12) return { ok: false, drop: true };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  // Responses are never answered: two servers must not ping-pong.
  if (flags & 0x8000) return { ok: false, drop: true };
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  if (qd !== 1) return { ok: false, drop: false, rcode: FORMERR, id, flags, qEnd: 12 };
  let off = 12;
  let qname = "";
  let qkey = "";
  let wire = 1;
  for (;;) {
    if (off >= buf.length) return { ok: false, drop: false, rcode: FORMERR, id, flags, qEnd: 12 };
    const len = buf[off]!;
    if (len === 0) {
      off++;
      break;
    }
    // A pointer in the question could only point into the header: malformed.
    if (len > 63 || off + 1 + len > buf.length) return { ok: false, drop: false, rcode: FORMERR, id, flags, qEnd: 12 };
    wire += len + 1;
    if (wire > 255) return { ok: false, drop: false, rcode: FORMERR, id, flags, qEnd: 12 };
    const l = label(buf, off + 1, len);
    qname = qname ? `${qname}.${l}` : l;
    qkey += String.fromCharCode(len) + l;
    off += len + 1;
  }
  if (off + 4 > buf.length) return { ok: false, drop: false, rcode: FORMERR, id, flags, qEnd: 12 };
  const qtype = buf.readUInt16BE(off);
  const qclass = buf.readUInt16BE(off + 2);
  off += 4;
  const qEnd = off;
  // Answer and authority sections of a query carry nothing we use (IXFR's SOA aside): skipped, bounds checked.
  for (let i = 0; i < an + ns; i++) {
    off = skipName(buf, off);
    if (off < 0 || off + 10 > buf.length) return { ok: false, drop: false, rcode: FORMERR, id, flags, qEnd };
    off += 10 + buf.readUInt16BE(off + 8);
    if (off > buf.length) return { ok: false, drop: false, rcode: FORMERR, id, flags, qEnd };
  }
  let edns = false;
  let ednsSize = 0;
  let ednsVersion = 0;
  let dnssecOk = false;
  for (let i = 0; i < ar; i++) {
    const nameStart = off;
    off = skipName(buf, off);
    if (off < 0 || off + 10 > buf.length) return { ok: false, drop: false, rcode: FORMERR, id, flags, qEnd };
    const type = buf.readUInt16BE(off);
    if (type === 41) {
      // RFC 6891 §6.1.1: one OPT, owned by the root.
      if (edns || off !== nameStart + 1 || buf[nameStart] !== 0) return { ok: false, drop: false, rcode: FORMERR, id, flags, qEnd };
      edns = true;
      ednsSize = buf.readUInt16BE(off + 2);
      ednsVersion = buf[off + 5]!;
      dnssecOk = (buf.readUInt16BE(off + 6) & 0x8000) !== 0;
    }
    off += 10 + buf.readUInt16BE(off + 8);
    if (off > buf.length) return { ok: false, drop: false, rcode: FORMERR, id, flags, qEnd };
  }
  return {
    ok: true,
    q: {
      id,
      flags,
      opcode: (flags >> 11) & 0xf,
      rd: (flags & 0x100) !== 0,
      cd: (flags & 0x10) !== 0,
      qEnd,
      qname,
      qkey,
      qtype,
      qclass,
      edns,
      ednsSize,
      ednsVersion,
      dnssecOk,
    },
  };
}

/** Writes names with compression (RFC 1035 §4.1.4) against the ones already in the message. */
export class NameWriter {
  private readonly seen = new Map<string, number>();

  /** The question's name (lower case) sits at offset 12. */
  constructor(qname: string | null) {
    if (qname !== null) this.remember(qname, 12);
  }

  private remember(name: string, at: number): void {
    // An escaped label's text is longer than its wire form: offsets would be wrong.
    if (name.includes("\\")) return;
    let n = name;
    let off = at;
    while (n !== "" && off < 0x3fff) {
      if (!this.seen.has(n)) this.seen.set(n, off);
      const dot = n.indexOf(".");
      off += (dot < 0 ? n.length : dot) + 1;
      n = dot < 0 ? "" : n.slice(dot + 1);
    }
  }

  /** Writes `name` at `at`; returns the bytes it took. */
  write(buf: Buffer, at: number, name: string): number {
    let n = name;
    let off = at;
    const start = at;
    while (n !== "") {
      const ptr = this.seen.get(n);
      if (ptr !== undefined) {
        buf.writeUInt16BE(0xc000 | ptr, off);
        return off + 2 - start;
      }
      if (off < 0x3fff) this.seen.set(n, off);
      const dot = n.indexOf(".");
      const l = dot < 0 ? n : n.slice(0, dot);
      buf[off] = l.length;
      buf.write(l, off + 1, "latin1");
      off += l.length + 1;
      n = dot < 0 ? "" : n.slice(dot + 1);
    }
    buf[off] = 0;
    return off + 1 - start;
  }
}

export interface ResponseParts {
  id: number;
  /** Flags word without QR (set here). */
  flags: number;
  /** Raw question bytes to echo (empty: no question section). */
  question: Buffer;
  /** Lower-case question name for compression (null without a question). */
  qname: string | null;
  answer: Rr[];
  authority: Rr[];
  additional: Rr[];
  /** Our OPT: the payload size we advertise and the DO bit echoed; null without EDNS. */
  opt: { size: number; dnssecOk: boolean; extRcode: number } | null;
  /** The most bytes this response may take (UDP payload limit, or 65535 over TCP). */
  limit: number;
}

const OPT_LEN = 11;

function rrsetEnds(rrs: Rr[]): number[] {
  // Indexes where an RRset ends: truncation drops whole RRsets only.
  const ends: number[] = [];
  for (let i = 0; i < rrs.length; i++) {
    const next = rrs[i + 1];
    if (!next || next.name !== rrs[i]!.name || next.type !== rrs[i]!.type) ends.push(i + 1);
  }
  return ends;
}

/**
 * Lays out a response. Additional records that do not fit are left out quietly; if the answer
 * or authority does not fit, the response goes out with TC and those sections empty, so the
 * client retries over TCP (RFC 2181 §9: no partial RRsets, and a partial answer is worse).
 */
export function buildResponse(p: ResponseParts): Buffer {
  const buf = Buffer.allocUnsafe(Math.min(65535, Math.max(p.limit, 512)) + 512);
  const limit = Math.min(p.limit, 65535);
  let flags = (p.flags | 0x8000) & 0xffff;
  const w = new NameWriter(p.question.length ? p.qname : null);
  p.question.copy(buf, 12);
  let off = 12 + p.question.length;
  const reserve = p.opt ? OPT_LEN : 0;
  const counts = [0, 0, 0];
  const sections = [p.answer, p.authority, p.additional];
  let truncated = false;
  for (let s = 0; s < 3 && !truncated; s++) {
    const rrs = sections[s]!;
    let setStart = off;
    let setCount = 0;
    const ends = new Set(rrsetEnds(rrs));
    for (let i = 0; i < rrs.length; i++) {
      const r = rrs[i]!;
      // Written before it is known to fit: a rollback ends the section (and any names
      // remembered in the rolled-back bytes are never used again).
      const fits = off + 255 + r.tail.length + reserve <= buf.length;
      const nl = fits ? w.write(buf, off, r.name) : 0;
      if (!fits || off + nl + r.tail.length + reserve > limit) {
        off = setStart;
        counts[s]! -= setCount;
        if (s < 2) truncated = true;
        break;
      }
      off += nl;
      r.tail.copy(buf, off);
      off += r.tail.length;
      counts[s]!++;
      setCount++;
      if (ends.has(i + 1)) {
        setStart = off;
        setCount = 0;
      }
    }
  }
  if (truncated) {
    flags |= 0x200;
    counts[0] = counts[1] = counts[2] = 0;
    off = 12 + p.question.length;
  }
  if (p.opt) {
    buf[off] = 0;
    buf.writeUInt16BE(41, off + 1);
    buf.writeUInt16BE(p.opt.size, off + 3);
    buf[off + 5] = p.opt.extRcode;
    buf[off + 6] = 0;
    buf.writeUInt16BE(p.opt.dnssecOk ? 0x8000 : 0, off + 7);
    buf.writeUInt16BE(0, off + 9);
    off += OPT_LEN;
  }
  buf.writeUInt16BE(p.id, 0);
  buf.writeUInt16BE(flags, 2);
  buf.writeUInt16BE(p.question.length ? 1 : 0, 4);
  buf.writeUInt16BE(counts[0]!, 6);
  buf.writeUInt16BE(counts[1]!, 8);
  buf.writeUInt16BE(counts[2]! + (p.opt ? 1 : 0), 10);
  return Buffer.from(buf.subarray(0, off));
}

/**
 * A zone transfer's messages (RFC 5936 §2.2): the records in order, as many per message as fit
 * in `max` bytes, the question in the first message only.
 */
export function packTransfer(id: number, flags: number, question: Buffer, qname: string, rrs: Rr[], max = 65000): Buffer[] {
  const out: Buffer[] = [];
  const buf = Buffer.allocUnsafe(max + 512);
  let i = 0;
  while (i < rrs.length || out.length === 0) {
    const q = out.length === 0 ? question : Buffer.alloc(0);
    const w = new NameWriter(q.length ? qname : null);
    q.copy(buf, 12);
    let off = 12 + q.length;
    let count = 0;
    while (i < rrs.length) {
      const r = rrs[i]!;
      if (off + 255 + r.tail.length > buf.length) break;
      const nl = w.write(buf, off, r.name);
      // One record always goes, however large: a message never ends up empty.
      if (count > 0 && off + nl + r.tail.length > max) break;
      off += nl;
      r.tail.copy(buf, off);
      off += r.tail.length;
      count++;
      i++;
    }
    buf.writeUInt16BE(id, 0);
    buf.writeUInt16BE((flags | 0x8000) & 0xffff, 2);
    buf.writeUInt16BE(q.length ? 1 : 0, 4);
    buf.writeUInt16BE(count, 6);
    buf.writeUInt32BE(0, 8);
    out.push(Buffer.from(buf.subarray(0, off)));
  }
  return out;
}
