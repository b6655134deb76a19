// Neighbour discovery: which MAC/IP pairs the rack's kernel sees on the interface it serves
// (its neighbour table, filled by ARP and IPv6 ND), reported to the region as `net.neighbours`
// events so the allocator steps over live addresses nobody told Plinth about. Only changes
// travel: a pair new to this rack, or one not reported for `refreshMs`; the same table every
// minute would be noise in the journal and in D1. Everything is bounded: the table read, the
// pairs remembered, the pairs waiting while the region is away (coalesced, oldest dropped).
import { execFile } from "node:child_process";
import { MAX_NEIGHBOURS_PER_EVENT } from "../../shared/tunnel/events";
import type { EventInput } from "../../shared/tunnel/events";
import type { Logger } from "../log";

export interface Neighbour {
  ip: string;
  mac: string;
}

/** Entries read from one table dump, at most (a /16 of live hosts is not a rack's network). */
export const MAX_TABLE = 4096;
const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
const IP = /^[0-9a-fA-F:.]{2,45}$/;
// States where the kernel holds a link-layer address it got from the wire (or was told).
const LIVE = new Set(["REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP"]);

/** Parses `ip -j neigh show` output; anything unexpected is skipped, never thrown. */
export function parseNeighbours(json: string): Neighbour[] {
  let rows: unknown;
  try {
    rows = JSON.parse(json);
  } catch {
    return [];
  }
  if (!Array.isArray(rows)) return [];
  const out: Neighbour[] = [];
  for (const r of rows.slice(0, MAX_TABLE)) {
    if (!r || typeof r !== "object") continue;
    const { dst, lladdr, state } = r as { dst?: unknown; lladdr?: unknown; state?: unknown };
    if (typeof dst !== "string" || typeof lladdr !== "string" || !IP.test(dst)) continue;
    const mac = lladdr.toLowerCase();
    if (!MAC.test(mac) || mac === "00:00:00:00:00:00" || mac === "ff:ff:ff:ff:ff:ff") continue;
    // IPv6 link-local addresses say nothing about a subnet's allocations.
    if (dst.toLowerCase().startsWith("fe80:")) continue;
    const states = Array.isArray(state) ? state : [];
    if (states.length && !states.some((s) => typeof s === "string" && LIVE.has(s))) continue;
    out.push({ ip: dst, mac });
  }
  return out;
}

/** Reads the neighbour table of `iface` (inside network namespace `netns` when given). */
export function readNeighbours(iface: string, o: { netns?: string; timeoutMs?: number } = {}): Promise<Neighbour[]> {
  const args = [...(o.netns ? ["-n", o.netns] : []), "-j", "neigh", "show", "dev", iface];
  return new Promise((resolve, reject) => {
    execFile("ip", args, { timeout: o.timeoutMs ?? 5000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout) => {
      if (err) reject(new Error(`ip ${args.join(" ")}: ${err.message}`));
      else resolve(parseNeighbours(stdout));
    });
  });
}

export interface NeighbourReporterOptions {
  iface: string;
  read: () => Promise<Neighbour[]>;
  /** Journals one event; resolves once it is on disk. */
  emit: (e: EventInput) => Promise<unknown>;
  /** Is the region reachable? While not, changes wait here (coalesced) rather than in the journal. */
  online?: () => boolean;
  log?: Logger;
  intervalMs?: number;
  /** A pair seen again after this long is reported again (the region may have forgotten it). */
  refreshMs?: number;
  /** Pairs remembered as reported; the least recently reported are forgotten first. */
  maxKnown?: number;
  /** Pairs waiting for the region; the oldest are dropped first. */
  maxPending?: number;
  now?: () => number;
}

export class NeighbourReporter {
  /** key → when it was last reported (Map order: least recently reported first). */
  private readonly known = new Map<string, number>();
  /** key → the pair and when it was seen, waiting to be reported. */
  private readonly pending = new Map<string, Neighbour & { seenAt: number }>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  reported = 0;
  dropped = 0;

  constructor(private readonly o: NeighbourReporterOptions) {}

  private get now(): number {
    return (this.o.now ?? Date.now)();
  }

  /**
   * A pair the region already hears of another way (the DHCP server's lease events): not
   * reported again until `refreshMs` has passed.
   */
  note(n: Neighbour): void {
    const key = keyOf(n);
    this.pending.delete(key);
    this.remember(key, this.now);
  }

  /** One scan: read the table, queue what changed, send what the region may take now. */
  scan(): Promise<void> {
    this.running ??= this.scanOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async scanOnce(): Promise<void> {
    let table: Neighbour[];
    try {
      table = await this.o.read();
    } catch (e) {
      this.o.log?.("warn", "could not read the neighbour table", { interface: this.o.iface, error: String(e) });
      return;
    }
    const now = this.now;
    const refresh = this.o.refreshMs ?? 6 * 3600_000;
    for (const n of table) {
      const key = keyOf(n);
      const last = this.known.get(key);
      if (last !== undefined && now - last < refresh) continue;
      this.pending.delete(key);
      this.pending.set(key, { ...n, seenAt: now });
    }
    const maxPending = this.o.maxPending ?? 4 * MAX_NEIGHBOURS_PER_EVENT;
    for (const key of this.pending.keys()) {
      if (this.pending.size <= maxPending) break;
      this.pending.delete(key);
      this.dropped++;
    }
    await this.flush();
  }

  private async flush(): Promise<void> {
    while (this.pending.size && (this.o.online?.() ?? true)) {
      const batch = [...this.pending.entries()].slice(0, MAX_NEIGHBOURS_PER_EVENT);
      try {
        await this.o.emit({ type: "net.neighbours", data: { iface: this.o.iface, neighbours: batch.map(([, v]) => v) } });
      } catch (e) {
        // Kept pending: the next scan tries again.
        this.o.log?.("warn", "could not journal neighbours", { interface: this.o.iface, error: String(e) });
        return;
      }
      const at = this.now;
      for (const [key] of batch) {
        this.pending.delete(key);
        this.remember(key, at);
      }
      this.reported += batch.length;
    }
  }

  private remember(key: string, at: number): void {
    this.known.delete(key);
    this.known.set(key, at);
    const max = this.o.maxKnown ?? 16_384;
    for (const k of this.known.keys()) {
      if (this.known.size <= max) break;
      this.known.delete(k);
    }
  }

  get waiting(): number {
    return this.pending.size;
  }

  start(): void {
    if (this.timer) return;
    void this.scan();
    this.timer = setInterval(() => void this.scan(), this.o.intervalMs ?? 60_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}

const keyOf = (n: Neighbour) => `${n.mac}|${n.ip.toLowerCase()}`;
