// Lease state: which address belongs to which client, and the free addresses of every dynamic
// range. Memory is the source of truth while running; the journal makes BOUND and DECLINED
// durable (offers are memory-only: losing one in a crash is harmless, the client's REQUEST is
// then judged against what is on disk). Replay and live updates share the same apply functions
// so a restarted server is in exactly the state its journal describes.
import type { SubnetConfig } from "./config";
import { type Cidr, inCidr, intToIp, ipToInt, parseCidr } from "./ip";
import { DurableLog } from "../journal/durable-log";
import { FreeBitmap } from "./pool";

/** A line of the lease journal. */
export type LeaseRecord =
  | { op: "bind"; ip: string; key: string; mac: string; exp: number; host?: string }
  | { op: "free"; ip: string }
  | { op: "decline"; ip: string; exp: number };

function isLeaseRecord(r: unknown): r is LeaseRecord {
  return typeof r === "object" && r !== null && typeof (r as { ip?: unknown }).ip === "string";
}

export type LeaseState = "offered" | "bound" | "declined" | "free";

export interface Lease {
  ip: number;
  /** Client identity: option 61 when sent, otherwise the hardware address. */
  key: string;
  mac: string;
  state: LeaseState;
  /** ms since the epoch; for "free" leases, when the address was given up. */
  expires: number;
  hostname?: string;
}

interface RangePool {
  start: number;
  end: number;
  bits: FreeBitmap;
}

export type BindCheck = "ok" | "taken" | "not-allocatable";

// Forget free leases (kept so a returning client gets its old address) after a day.
const AFFINITY_MS = 86_400_000;

export class Leases {
  private readonly byIp = new Map<number, Lease>();
  private readonly byKey = new Map<string, Lease>();
  private pools: RangePool[] = [];
  private excludedIps = new Set<number>();
  private excludedRanges: [number, number][] = [];
  private journal!: DurableLog<LeaseRecord>;
  private lastSweep = 0;

  private constructor(private readonly now: () => number) {}

  static async open(
    path: string,
    opts: { now?: () => number; compactAfter?: number; onError?(e: unknown): void } = {},
  ): Promise<{ leases: Leases; skipped: number }> {
    const leases = new Leases(opts.now ?? Date.now);
    const compactAfter = opts.compactAfter ?? 10_000;
    const { log, records, skipped } = await DurableLog.open<LeaseRecord>(path, {
      accept: isLeaseRecord,
      // As before the journals were one: what the umask allows, like the server's other files.
      mode: 0o666,
      // byIp.size bounds the live leases from above and costs nothing to read after every write.
      compaction: { due: (inFile) => inFile >= compactAfter && inFile >= 4 * leases.byIp.size, live: () => leases.live() },
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
    for (const r of records) leases.apply(r);
    leases.journal = log;
    return { leases, skipped };
  }

  /** (Re)build the free maps from the subnets; `exclude` are addresses never handed out (ours, reservations). */
  setSubnets(subnets: SubnetConfig[], exclude: string[]): void {
    this.excludedIps = new Set(exclude.map(ipToInt));
    this.excludedRanges = [];
    const pools: RangePool[] = [];
    for (const s of subnets) {
      const c = parseCidr(s.cidr);
      this.excludedIps.add(c.network).add(c.broadcast);
      if (s.gateway) this.excludedIps.add(ipToInt(s.gateway));
      for (const r of s.reservedRanges) this.excludedRanges.push([ipToInt(r.start), ipToInt(r.end)]);
      for (const r of s.dynamicRanges) {
        const start = ipToInt(r.start);
        const end = ipToInt(r.end);
        pools.push({ start, end, bits: new FreeBitmap(end - start + 1) });
      }
    }
    this.pools = pools;
    const now = this.now();
    for (const p of pools) {
      for (let ip = p.start; ip <= p.end; ip++) {
        const l = this.byIp.get(ip);
        if (!this.isExcluded(ip) && !(l && this.active(l, now))) p.bits.add(ip - p.start);
      }
    }
  }

  private isExcluded(ip: number): boolean {
    if (this.excludedIps.has(ip)) return true;
    for (const [a, b] of this.excludedRanges) if (ip >= a && ip <= b) return true;
    return false;
  }

  private poolOf(ip: number): RangePool | undefined {
    for (const p of this.pools) if (ip >= p.start && ip <= p.end) return p;
    return undefined;
  }

  private setFree(ip: number, free: boolean): void {
    const p = this.poolOf(ip);
    if (!p) return;
    if (free && !this.isExcluded(ip)) p.bits.add(ip - p.start);
    else p.bits.delete(ip - p.start);
  }

  private active(l: Lease, now: number): boolean {
    return l.state !== "free" && l.expires > now;
  }

  private isFree(ip: number): boolean {
    const p = this.poolOf(ip);
    return !!p && p.bits.has(ip - p.start);
  }

  /** The client's current lease object, if it still owns that address slot. */
  private current(key: string): Lease | undefined {
    const l = this.byKey.get(key);
    return l && this.byIp.get(l.ip) === l ? l : undefined;
  }

  private apply(r: LeaseRecord): void {
    const ip = ipToInt(r.ip);
    if (r.op === "bind") {
      // The address changes hands (a reserved address taken over by another client key of its
      // MAC): the previous holder no longer has it, or its next bind would free it.
      const prev = this.byIp.get(ip);
      if (prev && prev.key !== r.key && this.byKey.get(prev.key) === prev) this.byKey.delete(prev.key);
      const old = this.current(r.key);
      if (old && old.ip !== ip && old.state !== "free") {
        old.state = "free";
        this.setFree(old.ip, true);
      }
      const l: Lease = { ip, key: r.key, mac: r.mac, state: "bound", expires: r.exp, hostname: r.host };
      this.byIp.set(ip, l);
      this.byKey.set(r.key, l);
      this.setFree(ip, false);
    } else if (r.op === "free") {
      const l = this.byIp.get(ip);
      if (l && l.state !== "free") {
        l.state = "free";
        l.expires = this.now();
        this.setFree(ip, true);
      }
    } else {
      const l = this.byIp.get(ip);
      if (l && this.byKey.get(l.key) === l) this.byKey.delete(l.key);
      this.byIp.set(ip, { ip, key: "", mac: "", state: "declined", expires: r.exp });
      this.setFree(ip, false);
    }
  }

  private live(): LeaseRecord[] {
    const now = this.now();
    const out: LeaseRecord[] = [];
    for (const l of this.byIp.values()) {
      if (!this.active(l, now)) continue;
      if (l.state === "bound") out.push({ op: "bind", ip: intToIp(l.ip), key: l.key, mac: l.mac, exp: l.expires, host: l.hostname });
      else if (l.state === "declined") out.push({ op: "decline", ip: intToIp(l.ip), exp: l.expires });
    }
    return out;
  }

  /** Return expired offers and leases to the free maps; rate-limited because a full pool calls it per DISCOVER. */
  sweep(force = false): void {
    const now = this.now();
    if (!force && now - this.lastSweep < 1000) return;
    this.lastSweep = now;
    for (const [ip, l] of this.byIp) {
      if (l.state !== "free" && l.expires <= now) {
        l.state = "free";
        this.setFree(ip, true);
      } else if (l.state === "free" && l.expires < now - AFFINITY_MS) {
        this.byIp.delete(ip);
        if (this.byKey.get(l.key) === l) this.byKey.delete(l.key);
      }
    }
  }

  lookup(ip: string): Lease | undefined {
    const l = this.byIp.get(ipToInt(ip));
    return l && this.active(l, this.now()) ? l : undefined;
  }

  /** The address the client holds (bound or offered) or held last, if any. */
  clientLease(key: string): Lease | undefined {
    return this.current(key);
  }

  /**
   * Pick and hold an address for a DISCOVER: the client's current or previous address, then the
   * one it asked for, then the next free one. Null when the subnet's ranges are exhausted.
   */
  offer(key: string, mac: string, subnet: Cidr, requested: string | undefined, holdSeconds: number): number | null {
    const now = this.now();
    const l = this.current(key);
    let ip = -1;
    if (l && inCidr(subnet, l.ip)) {
      if (this.active(l, now) && l.state !== "declined") {
        if (l.state === "offered") l.expires = now + holdSeconds * 1000;
        return l.ip;
      }
      if (l.state === "free" && this.isFree(l.ip)) ip = l.ip;
    }
    if (ip === -1 && requested) {
      const r = ipToInt(requested);
      if (inCidr(subnet, r) && this.isFree(r)) ip = r;
    }
    if (ip === -1) ip = this.takeFree(subnet);
    if (ip === -1) {
      this.sweep();
      ip = this.takeFree(subnet);
    }
    if (ip === -1) return null;
    this.setFree(ip, false);
    if (l && l.state === "offered") {
      l.state = "free";
      this.setFree(l.ip, true);
    }
    const offered: Lease = { ip, key, mac, state: "offered", expires: now + holdSeconds * 1000 };
    this.byIp.set(ip, offered);
    this.byKey.set(key, offered);
    return ip;
  }

  private takeFree(subnet: Cidr): number {
    for (const p of this.pools) {
      if (!inCidr(subnet, p.start)) continue;
      const i = p.bits.take();
      if (i !== -1) return p.start + i;
    }
    return -1;
  }

  /** May this client be bound to ip? (REQUEST in any state.) */
  /**
   * `reserved`: the address is reserved for this request's MAC. A reservation is the MAC's, not
   * one client's: a machine's PXE ROM, its deploy environment (udhcpc with a client id) and its
   * deployed system (dhclient without one) are three client keys for one reserved address, and
   * the lease moves to whichever asks, as long as it is the same MAC.
   */
  check(key: string, ip: string, reserved: boolean, mac?: string): BindCheck {
    const n = ipToInt(ip);
    const l = this.byIp.get(n);
    if (l && this.active(l, this.now()) && l.key !== key && !(reserved && mac !== undefined && l.mac === mac)) return "taken";
    if (reserved) return "ok";
    if (l && l.key === key && l.state !== "free") return "ok";
    if (!this.poolOf(n) || this.isExcluded(n)) return "not-allocatable";
    return "ok";
  }

  /** Bind and make it durable; the returned promise settles after fdatasync. */
  bind(key: string, mac: string, ip: string, leaseSeconds: number, hostname?: string): Promise<void> {
    const r: LeaseRecord = { op: "bind", ip, key, mac, exp: this.now() + leaseSeconds * 1000 };
    if (hostname) r.host = hostname;
    this.apply(r);
    return this.journal.append(r);
  }

  /** RELEASE: only the owner may give an address back. */
  release(key: string, ip: string): Promise<void> | null {
    const l = this.byIp.get(ipToInt(ip));
    if (!l || l.key !== key || l.state !== "bound") return null;
    const r: LeaseRecord = { op: "free", ip };
    this.apply(r);
    return this.journal.append(r);
  }

  /** DECLINE: the address is in use by something we do not know; keep it out of the pool for a while. */
  decline(key: string, ip: string, holdSeconds: number): Promise<void> | null {
    const l = this.byIp.get(ipToInt(ip));
    if (!l || l.key !== key || l.state === "free") return null;
    const r: LeaseRecord = { op: "decline", ip, exp: this.now() + holdSeconds * 1000 };
    this.apply(r);
    return this.journal.append(r);
  }

  /** The client chose another server: give back what we offered. */
  dropOffer(key: string): void {
    const l = this.current(key);
    if (l && l.state === "offered") {
      l.state = "free";
      this.setFree(l.ip, true);
    }
  }

  /** Active leases, for tests and status: address → client key. */
  activeLeases(): Map<string, Lease> {
    const now = this.now();
    const out = new Map<string, Lease>();
    for (const l of this.byIp.values()) if (this.active(l, now)) out.set(intToIp(l.ip), l);
    return out;
  }

  freeCount(): number {
    return this.pools.reduce((n, p) => n + p.bits.free, 0);
  }

  compact(): Promise<void> {
    return this.journal.compact(() => this.live());
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}
