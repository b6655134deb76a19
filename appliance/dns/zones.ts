// The served zones as an index, and the authoritative lookup over it (RFC 1034 §4.3.2 without
// recursion): longest-matching zone, delegations below the apex, CNAME chasing across the
// zones served here, wildcards, and NXDOMAIN told apart from NODATA by empty non-terminals.
// Pure: no sockets, no clock; names in and out are lower case without the trailing dot.
import type { DnsConfig, DnsZone } from "../../shared/dns/zone";
import { type Rr, T, toRr, withTtl } from "./rr";

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, NOTAUTH: 9 } as const;

interface Node {
  /** Empty: an empty non-terminal (exists, holds nothing: NODATA, not NXDOMAIN). */
  rrsets: Map<number, Rr[]>;
}

export interface Zone {
  apex: string;
  serial: number;
  soa: Rr;
  /** The SOA as negative answers carry it: TTL = min(SOA TTL, MINIMUM) (RFC 2308 §3). */
  negSoa: Rr;
  nodes: Map<string, Node>;
  /** Every record, apex SOA first: what AXFR sends. */
  records: Rr[];
}

export interface Lookup {
  /** false: the name is in no zone served here (forward it or refuse it). */
  ours: boolean;
  rcode: number;
  aa: boolean;
  answer: Rr[];
  authority: Rr[];
  additional: Rr[];
}

const NOT_OURS: Lookup = { ours: false, rcode: RCODE.REFUSED, aa: false, answer: [], authority: [], additional: [] };
const MAX_CHAIN = 8;

function parent(name: string): string | null {
  if (name === "") return null;
  const i = name.indexOf(".");
  return i < 0 ? "" : name.slice(i + 1);
}

function under(name: string, apex: string): boolean {
  return apex === "" || name === apex || name.endsWith(`.${apex}`);
}

export interface ZoneIndexProblem {
  zone: string;
  name?: string;
  error: string;
}

export class ZoneIndex {
  readonly zones = new Map<string, Zone>();
  readonly problems: ZoneIndexProblem[] = [];

  constructor(dns: DnsConfig) {
    for (const z of dns.zones) {
      try {
        const zone = buildZone(z, this.problems);
        if (this.zones.has(zone.apex)) this.problems.push({ zone: z.name, error: "served twice: the first one wins" });
        else this.zones.set(zone.apex, zone);
      } catch (e) {
        this.problems.push({ zone: z.name, error: String(e instanceof Error ? e.message : e) });
      }
    }
  }

  get size(): number {
    return this.zones.size;
  }

  /** The zone with the longest apex containing `name`, if any. */
  zoneOf(name: string): Zone | null {
    for (let n: string | null = name; n !== null; n = parent(n)) {
      const z = this.zones.get(n);
      if (z) return z;
    }
    return null;
  }

  lookup(qname: string, qtype: number): Lookup {
    const zone = this.zoneOf(qname);
    if (!zone) return NOT_OURS;
    const out: Lookup = { ours: true, rcode: RCODE.NOERROR, aa: true, answer: [], authority: [], additional: [] };
    this.resolve(zone, qname, qtype, out, 0, new Set());
    return out;
  }

  private resolve(zone: Zone, qname: string, qtype: number, out: Lookup, depth: number, seen: Set<string>): void {
    seen.add(qname);
    const cut = findCut(zone, qname);
    if (cut && !((cut.name === qname && qtype === 43) /* DS lives on the parent side */)) {
      // A referral: the child's NS, not ours to answer (AA off unless a CNAME got us here).
      if (depth === 0) out.aa = false;
      out.authority.push(...cut.ns);
      out.additional.push(...glue(zone, cut.ns));
      return;
    }
    let node = zone.nodes.get(qname);
    let owner: string | null = null;
    if (!node) {
      const wild = wildcard(zone, qname);
      if (!wild) {
        out.rcode = RCODE.NXDOMAIN;
        out.authority.push(zone.negSoa);
        return;
      }
      node = wild;
      owner = qname;
    }
    const rename = (rrs: Rr[]) => (owner === null ? rrs : rrs.map((r) => ({ ...r, name: owner })));
    if (qtype === T.ANY) {
      if (node.rrsets.size === 0) out.authority.push(zone.negSoa);
      for (const rrs of node.rrsets.values()) out.answer.push(...rename(rrs));
      return;
    }
    const hit = node.rrsets.get(qtype);
    if (hit) {
      out.answer.push(...rename(hit));
      return;
    }
    const cname = node.rrsets.get(T.CNAME);
    if (cname?.[0]) {
      out.answer.push(...rename(cname));
      const target = cname[0].data as string;
      if (depth + 1 >= MAX_CHAIN || seen.has(target)) return;
      const next = this.zoneOf(target);
      // Chased only inside zones served here; the client's resolver follows the rest.
      if (next) this.resolve(next, target, qtype, out, depth + 1, seen);
      return;
    }
    out.authority.push(zone.negSoa);
  }
}

function buildZone(z: DnsZone, problems: ZoneIndexProblem[]): Zone {
  const apex = z.name;
  const nodes = new Map<string, Node>();
  const records: Rr[] = [];
  const sets = new Set<string>();
  let soa: Rr | null = null;
  for (const rec of z.records) {
    if (!under(rec.name, apex)) {
      problems.push({ zone: apex, name: rec.name, error: "out of zone: ignored" });
      continue;
    }
    let rr: Rr;
    try {
      rr = toRr(rec);
    } catch (e) {
      problems.push({ zone: apex, name: rec.name, error: `${rec.type} ${String(e instanceof Error ? e.message : e)}` });
      continue;
    }
    if (rr.type === T.SOA) {
      if (rec.name !== apex || soa) {
        problems.push({ zone: apex, name: rec.name, error: "SOA other than the one at the apex: ignored" });
        continue;
      }
      soa = rr;
    }
    // Duplicates (same name, type, data) are one record in DNS.
    const key = `${rr.name}\0${rr.type}\0${rr.tail.subarray(8).toString("latin1")}`;
    if (sets.has(key)) continue;
    sets.add(key);
    let node = nodes.get(rr.name);
    if (!node) {
      node = { rrsets: new Map() };
      nodes.set(rr.name, node);
    }
    const set = node.rrsets.get(rr.type);
    if (set) {
      // One TTL per RRset (RFC 2181 §5.2): the first one's.
      const first = set[0]!;
      set.push(rr.ttl === first.ttl ? rr : withTtl(rr, first.ttl, typeName(rr.type)));
    } else node.rrsets.set(rr.type, [rr]);
    records.push(rr);
  }
  if (!soa) throw new Error("no SOA at the apex");
  // Empty non-terminals: every ancestor up to the apex exists.
  for (const name of [...nodes.keys()]) {
    for (let n = parent(name); n !== null && under(n, apex) && !nodes.has(n); n = parent(n)) nodes.set(n, { rrsets: new Map() });
  }
  const soaData = soa.data as { minimum: number };
  const negSoa = soa.ttl <= soaData.minimum ? soa : withTtl(soa, soaData.minimum, "SOA");
  records.sort((a, b) => (a === soa ? -1 : b === soa ? 1 : 0));
  return { apex, serial: z.serial, soa, negSoa, nodes, records };
}

const TYPE_NAMES: Record<number, string> = { 1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV" };
export function typeName(t: number): string {
  return TYPE_NAMES[t] ?? `TYPE${t}`;
}

/** The topmost zone cut (NS below the apex) on the way from the apex down to qname. */
function findCut(zone: Zone, qname: string): { name: string; ns: Rr[] } | null {
  if (qname === zone.apex) return null;
  const rel = zone.apex === "" ? qname : qname.slice(0, qname.length - zone.apex.length - 1);
  const labels = rel.split(".");
  let name = zone.apex;
  for (let i = labels.length - 1; i >= 0; i--) {
    name = name === "" ? labels[i]! : `${labels[i]}.${name}`;
    const node = zone.nodes.get(name);
    if (!node) return null;
    const ns = node.rrsets.get(T.NS);
    if (ns) return { name, ns };
  }
  return null;
}

/** Addresses of in-zone name servers of a delegation (they may sit below the cut: glue proper). */
function glue(zone: Zone, ns: Rr[]): Rr[] {
  const out: Rr[] = [];
  for (const r of ns) {
    const target = r.data as string;
    if (!under(target, zone.apex)) continue;
    const node = zone.nodes.get(target);
    if (!node) continue;
    out.push(...(node.rrsets.get(T.A) ?? []), ...(node.rrsets.get(T.AAAA) ?? []));
  }
  return out;
}

/** RFC 4592: the source of synthesis is `*.<closest encloser>`, if the closest encloser has one. */
function wildcard(zone: Zone, qname: string): Node | null {
  for (let n = parent(qname); n !== null && under(n, zone.apex); n = parent(n)) {
    if (zone.nodes.has(n)) return zone.nodes.get(n === "" ? "*" : `*.${n}`) ?? null;
  }
  return null;
}
