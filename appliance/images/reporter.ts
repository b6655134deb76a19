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
  /** Downloads cut by a restart, to resume (reported as downloading until they do). */
  partials?: () => { sha256: string; bytes: number }[];
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
    const update = this.reportOf(e);
    if (update) this.change(update.report, update.send);
  }

  /** What a cache event changes, and whether that is worth an event now. */
  private reportOf(e: CacheEvent): { report: RackImageReport; send: boolean } | null {
    const prev = this.images.get(e.sha256);
    const total = (t: number | null | undefined) => t ?? prev?.total ?? 0;
    switch (e.type) {
      case "started":
        return { report: { sha256: e.sha256, state: "downloading", bytes: e.bytes, total: total(e.total) }, send: true };
      case "progress": {
        const t = total(e.total);
        const step = t * (this.o.progressStep ?? 0.1);
        const send =
          prev?.state !== "downloading" ||
          this.now() - prev.sentAt >= (this.o.progressMs ?? 3000) ||
          (step > 0 && Math.floor(e.bytes / step) > Math.floor(prev.sentBytes / step));
        return { report: { sha256: e.sha256, state: "downloading", bytes: e.bytes, total: t }, send };
      }
      case "stored":
        return { report: { sha256: e.sha256, state: "present", bytes: e.bytes, total: e.bytes }, send: true };
      case "failed":
        return { report: { sha256: e.sha256, state: "failed", bytes: e.bytes, total: total(undefined), error: e.error.slice(0, 200) }, send: true };
      case "evicted":
        return { report: { sha256: e.sha256, state: "evicted", bytes: 0, total: e.bytes }, send: true };
      default:
        return null;
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
    for (const t of this.images.values()) if (!out.has(t.sha256)) out.set(t.sha256, report(t));
    for (const p of this.o.partials?.() ?? []) if (!out.has(p.sha256)) out.set(p.sha256, { sha256: p.sha256, state: "downloading", bytes: p.bytes, total: 0 });
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
