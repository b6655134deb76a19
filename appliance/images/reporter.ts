// Tells the region what this rack's image cache holds: `images.state` events on every change
// worth knowing (a download started, its progress at most every few seconds or 10%, stored,
// failed with the reason, evicted) and a full report each time the tunnel (re)connects, which
// replaces what the region knew. While the region is away nothing is journaled: the full
// report on reconnection carries the state as it is then, not every step on the way.
import { MAX_IMAGES_PER_EVENT, type EventInput, type RackImageReport } from "../../shared/tunnel/events";
import type { CacheEvent } from "./cache";
import type { Logger } from "../log";

export interface ImageReporterOptions {
  emit: (e: EventInput) => Promise<unknown>;
  online: () => boolean;
  /** What the cache holds now (the full report's present images). */
  cached: () => { sha256: string; size: number }[];
  log?: Logger;
  /** Progress of one download is reported at most this often (default 3 s) ... */
  progressMs?: number;
  /** ... unless it crossed another such fraction of the image (default 10%). */
  progressStep?: number;
  /** How often the tunnel's state is looked at for a reconnection (default 1 s). */
  pollMs?: number;
  now?: () => number;
}

interface Tracked extends RackImageReport {
  sentAt: number;
  sentBytes: number;
}

export class ImageStateReporter {
  private readonly images = new Map<string, Tracked>();
  private wasOnline = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly o: ImageReporterOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.o.pollMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Feed of the cache's events. */
  note(e: CacheEvent): void {
    const prev = this.images.get(e.sha256);
    const total = (t: number | null | undefined) => t ?? prev?.total ?? 0;
    switch (e.type) {
      case "started":
        return this.change({ sha256: e.sha256, state: "downloading", bytes: e.bytes, total: total(e.total) }, true);
      case "progress": {
        const next: RackImageReport = { sha256: e.sha256, state: "downloading", bytes: e.bytes, total: total(e.total) };
        const t = next.total;
        const step = this.o.progressStep ?? 0.1;
        const due =
          !prev ||
          prev.state !== "downloading" ||
          this.now() - prev.sentAt >= (this.o.progressMs ?? 3000) ||
          (t > 0 && Math.floor(e.bytes / (t * step)) > Math.floor(prev.sentBytes / (t * step)));
        return this.change(next, due);
      }
      case "stored":
        return this.change({ sha256: e.sha256, state: "present", bytes: e.bytes, total: e.bytes }, true);
      case "failed":
        return this.change({ sha256: e.sha256, state: "failed", bytes: e.bytes, total: total(undefined), error: e.error.slice(0, 200) }, true);
      case "evicted":
        return this.change({ sha256: e.sha256, state: "evicted", bytes: 0, total: e.bytes }, true);
      default:
        return;
    }
  }

  private change(r: RackImageReport, send: boolean): void {
    const prev = this.images.get(r.sha256);
    const t: Tracked = { ...r, sentAt: prev?.sentAt ?? 0, sentBytes: prev?.sentBytes ?? 0 };
    this.images.set(r.sha256, t);
    if (!send || !this.o.online()) return;
    t.sentAt = this.now();
    t.sentBytes = r.bytes;
    this.send({ full: false, images: [report(t)] });
  }

  private check(): void {
    const online = this.o.online();
    if (online && !this.wasOnline) this.full();
    this.wasOnline = online;
  }

  /** Everything known: the cache's images (present), then downloads, failures and evictions. */
  full(): void {
    const out = new Map<string, RackImageReport>();
    for (const c of this.o.cached()) out.set(c.sha256, { sha256: c.sha256, state: "present", bytes: c.size, total: c.size });
    for (const t of this.images.values()) {
      if (out.has(t.sha256)) continue;
      // A download the process no longer runs is not "downloading"; it resumes when listed again.
      out.set(t.sha256, report(t));
    }
    const now = this.now();
    for (const t of this.images.values()) {
      t.sentAt = now;
      t.sentBytes = t.bytes;
    }
    this.send({ full: true, images: [...out.values()].slice(0, MAX_IMAGES_PER_EVENT) });
  }

  private send(data: { full: boolean; images: RackImageReport[] }): void {
    this.o.emit({ type: "images.state", data }).catch((e: unknown) => this.o.log?.("error", "could not journal the image state", { error: String(e) }));
  }
}

function report(t: RackImageReport): RackImageReport {
  return { sha256: t.sha256, state: t.state, bytes: t.bytes, total: t.total, ...(t.state === "failed" && t.error ? { error: t.error } : {}) };
}
