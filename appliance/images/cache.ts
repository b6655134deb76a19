// Content-addressed image cache: <dir>/sha256/<hex>. A file only ever appears under that name
// after its bytes were hashed and matched (written to <dir>/tmp, fsynced, then renamed), so a
// reader can never see a partial or corrupt image. Filled from the region (pull-through or
// pre-sync); bounded by evicting the least recently used images that nobody is reading.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";

export const SHA256_RE = /^[0-9a-f]{64}$/;

/** Where images come from on a miss: the region's image store, over the tunnel or HTTPS. */
export type ImageFetcher = (sha256: string) => Promise<ByteSource | null>;

export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export type CacheEvent =
  | { type: "progress"; sha256: string; bytes: number }
  | { type: "stored"; sha256: string; bytes: number; ms: number }
  | { type: "rejected"; sha256: string; got: string }
  | { type: "evicted"; sha256: string; bytes: number };

export interface ImageCacheOptions {
  dir: string;
  fetch?: ImageFetcher;
  /** Evict unused images beyond this many bytes (default: unbounded). */
  maxBytes?: number;
  /** Log a progress event every this many bytes of a download (default 64 MiB). */
  progressEvery?: number;
  onEvent?: (e: CacheEvent) => void;
}

export interface CachedImage {
  sha256: string;
  path: string;
  size: number;
}

export class ImageHashMismatch extends Error {
  override name = "ImageHashMismatch";
}

export class ImageCache {
  private readonly objects: string;
  private readonly tmp: string;
  private readonly inflight = new Map<string, Promise<CachedImage>>();
  private readonly pulls = new Map<string, Promise<CachedImage | null>>();
  private readonly pins = new Map<string, number>();
  private readonly lastUsed = new Map<string, number>();
  private readonly sizes = new Map<string, number>();
  private readonly emit: (e: CacheEvent) => void;

  constructor(private readonly opts: ImageCacheOptions) {
    this.objects = join(opts.dir, "sha256");
    this.tmp = join(opts.dir, "tmp");
    this.emit = opts.onEvent ?? (() => {});
  }

  /** Create the layout, drop partial downloads left by a crash, learn what is cached. */
  async init(): Promise<void> {
    await mkdir(this.objects, { recursive: true });
    await rm(this.tmp, { recursive: true, force: true });
    await mkdir(this.tmp, { recursive: true });
    for (const name of await readdir(this.objects)) {
      if (!SHA256_RE.test(name)) continue;
      const st = await stat(join(this.objects, name));
      this.sizes.set(name, st.size);
      this.lastUsed.set(name, st.atimeMs);
    }
  }

  /** The image if cached, without fetching. */
  async lookup(sha256: string): Promise<CachedImage | null> {
    if (!SHA256_RE.test(sha256)) return null;
    const path = join(this.objects, sha256);
    try {
      const st = await stat(path);
      this.lastUsed.set(sha256, Date.now());
      this.sizes.set(sha256, st.size);
      return { sha256, path, size: st.size };
    } catch {
      return null;
    }
  }

  /**
   * Whether the image is in the cache as far as this process knows (stored, found at start-up
   * or by a lookup, not evicted since), without touching the disk: the HTTP server's memory
   * copy of an image is served only while this holds.
   */
  has(sha256: string): boolean {
    return this.sizes.has(sha256);
  }

  /** The image, pulled through from the fetcher on a miss; null if nobody has it. */
  async get(sha256: string): Promise<CachedImage | null> {
    const hit = await this.lookup(sha256);
    const fetch = this.opts.fetch;
    if (hit || !fetch) return hit;
    // Many nodes booting at once ask for the same image: one download serves them all.
    let pull = this.pulls.get(sha256);
    if (!pull) {
      pull = (async () => {
        const source = await fetch(sha256);
        return source ? this.put(sha256, source) : null;
      })().finally(() => this.pulls.delete(sha256));
      this.pulls.set(sha256, pull);
    }
    return pull;
  }

  /** Store bytes under their hash; rejects (and keeps nothing) when they do not match. */
  put(sha256: string, source: ByteSource): Promise<CachedImage> {
    if (!SHA256_RE.test(sha256)) return Promise.reject(new TypeError("not a sha256"));
    const running = this.inflight.get(sha256);
    if (running) return running;
    const p = this.write(sha256, source).finally(() => this.inflight.delete(sha256));
    this.inflight.set(sha256, p);
    return p;
  }

  private async write(sha256: string, source: ByteSource): Promise<CachedImage> {
    const started = performance.now();
    const part = join(this.tmp, `${sha256}.${randomBytes(4).toString("hex")}`);
    const fh = await open(part, "wx", 0o644);
    const hash = createHash("sha256");
    let bytes = 0;
    let nextProgress = this.opts.progressEvery ?? 64 << 20;
    try {
      for await (const chunk of source) {
        hash.update(chunk);
        await fh.write(chunk);
        bytes += chunk.length;
        if (bytes >= nextProgress) {
          this.emit({ type: "progress", sha256, bytes });
          nextProgress += this.opts.progressEvery ?? 64 << 20;
        }
      }
      await fh.sync();
    } catch (e) {
      await fh.close();
      await rm(part, { force: true });
      throw e;
    }
    await fh.close();
    const got = hash.digest("hex");
    if (got !== sha256) {
      await rm(part, { force: true });
      this.emit({ type: "rejected", sha256, got });
      throw new ImageHashMismatch(`image ${sha256} arrived with sha256 ${got}`);
    }
    const path = join(this.objects, sha256);
    await rename(part, path);
    await this.syncDir(this.objects);
    this.sizes.set(sha256, bytes);
    this.lastUsed.set(sha256, Date.now());
    this.emit({ type: "stored", sha256, bytes, ms: performance.now() - started });
    await this.evict();
    return { sha256, path, size: bytes };
  }

  /** Keep an image from eviction while it is being served. Returns the release function. */
  pin(sha256: string): () => void {
    this.pins.set(sha256, (this.pins.get(sha256) ?? 0) + 1);
    this.lastUsed.set(sha256, Date.now());
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.pins.get(sha256) ?? 1) - 1;
      if (n <= 0) this.pins.delete(sha256);
      else this.pins.set(sha256, n);
    };
  }

  get totalBytes(): number {
    let t = 0;
    for (const s of this.sizes.values()) t += s;
    return t;
  }

  /** Drop least recently used, unpinned images until under maxBytes. */
  async evict(): Promise<void> {
    const max = this.opts.maxBytes;
    if (max === undefined) return;
    let total = this.totalBytes;
    const order = [...this.sizes.keys()].sort((a, b) => (this.lastUsed.get(a) ?? 0) - (this.lastUsed.get(b) ?? 0));
    for (const sha of order) {
      if (total <= max) break;
      if (this.pins.has(sha) || this.inflight.has(sha)) continue;
      const bytes = this.sizes.get(sha) ?? 0;
      // An open read stream keeps the unlinked inode alive, so even a racing reader finishes.
      await rm(join(this.objects, sha), { force: true });
      this.sizes.delete(sha);
      this.lastUsed.delete(sha);
      total -= bytes;
      this.emit({ type: "evicted", sha256: sha, bytes });
    }
  }

  private async syncDir(dir: string): Promise<void> {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}
