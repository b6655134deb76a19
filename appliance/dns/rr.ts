// Records of the snapshot (master-file presentation form, shared/dns/zone.ts) turned into what
// answers are made of: dns-packet's shapes, and their wire form minus the owner name, encoded
// once at load so an answer is a few buffer copies, never a codec call per query.
import dnsPacket from "dns-packet";
import type { DnsRecord } from "../../shared/dns/zone";

export const T = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, IXFR: 251, AXFR: 252, ANY: 255 } as const;
export const CLASS_IN = 1;

/** One record as an answer is built from it. `tail`: TYPE CLASS TTL RDLENGTH RDATA. */
export interface Rr {
  /** Lower case, no trailing dot. */
  name: string;
  type: number;
  ttl: number;
  /** dns-packet's rdata shape (what tests and the forwarder compare). */
  data: unknown;
  tail: Buffer;
}

const TYPE_NUM: Record<DnsRecord["type"], number> = {
  A: T.A,
  AAAA: T.AAAA,
  CNAME: T.CNAME,
  MX: T.MX,
  SRV: T.SRV,
  TXT: T.TXT,
  NS: T.NS,
  PTR: T.PTR,
  SOA: T.SOA,
};

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const NAME = /^([a-z0-9_*-]{1,63})(\.[a-z0-9_-]{1,63})*$|^$/;

function num(s: string | undefined, max: number): number {
  if (s === undefined || !/^\d+$/.test(s)) throw new Error(`"${s ?? ""}" is not a number`);
  const n = Number(s);
  if (n > max) throw new Error(`${n} is out of range`);
  return n;
}

function host(s: string | undefined): string {
  const n = (s ?? "").toLowerCase().replace(/\.$/, "");
  if (!NAME.test(n) || n.length > 253) throw new Error(`"${s ?? ""}" is not a domain name`);
  return n;
}

/** TXT text split into 255-byte character-strings, the way zonefile.ts writes it for Knot. */
function txtChunks(text: string): Buffer[] {
  const b = Buffer.from(text, "utf8");
  const out: Buffer[] = [];
  for (let i = 0; i < b.length || out.length === 0; i += 255) out.push(b.subarray(i, i + 255));
  return out;
}

/** dns-packet's rdata for a record; throws on data the type cannot hold. */
export function rdataOf(r: DnsRecord): unknown {
  const f = r.data.trim().split(/\s+/);
  switch (r.type) {
    case "A":
      if (!IPV4.test(r.data)) throw new Error(`"${r.data}" is not an IPv4 address`);
      return r.data;
    case "AAAA":
      if (!/^[0-9a-fA-F:.]{2,45}$/.test(r.data) || !r.data.includes(":")) throw new Error(`"${r.data}" is not an IPv6 address`);
      return r.data.toLowerCase();
    case "CNAME":
    case "NS":
    case "PTR":
      return host(r.data);
    case "MX":
      return { preference: num(f[0], 65535), exchange: host(f[1]) };
    case "SRV":
      return { priority: num(f[0], 65535), weight: num(f[1], 65535), port: num(f[2], 65535), target: host(f[3]) };
    case "SOA":
      return {
        mname: host(f[0]),
        rname: host(f[1]),
        serial: num(f[2], 2 ** 32 - 1),
        refresh: num(f[3], 2 ** 31 - 1),
        retry: num(f[4], 2 ** 31 - 1),
        expire: num(f[5], 2 ** 31 - 1),
        minimum: num(f[6], 2 ** 31 - 1),
      };
    case "TXT":
      return txtChunks(r.data);
  }
}

/** TYPE CLASS TTL RDLENGTH RDATA, by dns-packet: a message of one answer owned by the root, header and owner byte cut. */
export function encodeTail(typeName: string, ttl: number, data: unknown): Buffer {
  const a = { name: ".", type: typeName, class: "IN", ttl, data } as unknown as dnsPacket.Answer;
  const tail = Buffer.from(dnsPacket.encode({ answers: [a] }).subarray(13));
  if (typeName === "AAAA" && tail.readUInt16BE(8) !== 16) throw new Error("not an IPv6 address");
  return tail;
}

export function toRr(r: DnsRecord): Rr {
  const data = rdataOf(r);
  return { name: r.name, type: TYPE_NUM[r.type], ttl: r.ttl, data, tail: encodeTail(r.type, r.ttl, data) };
}

/** The same record under another owner (a wildcard's synthesis) or with another TTL (negative SOA). */
export function withTtl(r: Rr, ttl: number, typeName: string): Rr {
  return { ...r, ttl, tail: encodeTail(typeName, ttl, r.data) };
}
