// Content-addressed image cache: <dir>/sha256/<hex>. A file only ever appears under that name
// after its bytes were hashed and matched (written to <dir>/tmp, fsynced, then renamed), so a
// reader can never see a partial or corrupt image. Filled from the region (pull-through or
// pre-sync); bounded by evicting the least recently used images that nobody is reading.
// A download from the region is kept as <dir>/tmp/<hex>.part (fsynced now and then), so a rack
// restarted mid-download re-hashes what it has and asks the region for the rest only.
import { createHash, type Hash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";

export const SHA256_RE = /^[0-9a-f]{64}$/;

/**
 * Where images come from on a miss: the region's image store, over the tunnel or HTTPS. `from`:
 * the bytes the cache already holds; a fetcher that can resume answers with the rest and says
 * where it starts (a plain byte source means the whole image, from byte 0).
 */
export type ImageFetcher = (sha256: string, o?: { from: number }) => Promise<ByteSource | FetchedImage | null>;

export interface FetchedImage {
  body: ByteSource;
  /** Offset of the body's first byte in the image. */
  start: number;
  /** The whole image's size, when the source said. */
  total?: number;
}

export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export type CacheEvent =
  | { type: "started"; sha256: string; bytes: number; total: number | null; resumed: boolean }
  | { type: "progress"; sha256: string; bytes: number; total?: number | null }
  | { type: "stored"; sha256: string; bytes: number; ms: number }
  | { type: "rejected"; sha256: string; got: string }
  | { type: "failed"; sha256: string; bytes: number; error: string }
  | { type: "discarded"; sha256: string; bytes: number; why: string }
  | { type: "evicted"; sha256: string; bytes: number };

/** fsync a partial download at least every this many bytes: what a crash can cost us again. */
const PART_SYNC_BYTES = 32 << 20;
/** Bytes gathered into one positional writev of a download. */
const WRITE_BATCH = 1 << 20;
/** Progress events at most this often (besides every `progressEvery` bytes). */
const PROGRESS_MS = 1000;

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
  /** Resumable downloads in tmp: bytes held, as of the last progress. */
  private readonly parts = new Map<string, number>();
  private readonly emit: (e: CacheEvent) => void;

  constructor(private readonly opts: ImageCacheOptions) {
    this.objects = join(opts.dir, "sha256");
    this.tmp = join(opts.dir, "tmp");
    this.emit = opts.onEvent ?? (() => {});
  }

  /**
   * Create the layout, learn what is cached, and drop what a crash left in tmp except resumable
   * downloads (<hex>.part of an image not cached yet): those are checked when resumed.
   */
  async init(): Promise<void> {
    await mkdir(this.objects, { recursive: true });
    await mkdir(this.tmp, { recursive: true });
    for (const name of await readdir(this.objects)) {
      if (!SHA256_RE.test(name)) continue;
      const st = await stat(join(this.objects, name));
      this.sizes.set(name, st.size);
      this.lastUsed.set(name, st.atimeMs);
    }
    for (const name of await readdir(this.tmp)) {
      const sha = name.endsWith(".part") ? name.slice(0, -5) : "";
      if (SHA256_RE.test(sha) && !this.sizes.has(sha)) {
        this.parts.set(sha, (await stat(join(this.tmp, name))).size);
        continue;
      }
      await rm(join(this.tmp, name), { recursive: true, force: true });
    }
  }

  /** Downloads that were cut and will resume when the image is asked for again. */
  partials(): { sha256: string; bytes: number }[] {
    return [...this.parts].map(([sha256, bytes]) => ({ sha256, bytes }));
  }

  /** Every cached image as this process knows it. */
  list(): { sha256: string; size: number }[] {
    return [...this.sizes].map(([sha256, size]) => ({ sha256, size }));
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
      pull = this.pull(sha256, fetch).finally(() => this.pulls.delete(sha256));
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

  /**
   * A download from the fetcher into tmp/<hex>.part, resumed from what is there. A resumed
   * part whose whole does not hash right may have been the culprit: it is dropped and the
   * image fetched once more from byte 0 before the download counts as failed.
   */
  private async pull(sha256: string, fetch: ImageFetcher): Promise<CachedImage | null> {
    const started = performance.now();
    const part = join(this.tmp, `${sha256}.part`);
    try {
      for (let attempt = 0; ; attempt++) {
        const { hash, bytes: have } = await this.rehash(part);
        if (have > 0 && hash.copy().digest("hex") === sha256) return await this.commit(sha256, part, have, started);
        const got = await fetch(sha256, { from: have });
        if (!got) {
          await rm(part, { force: true });
          this.parts.delete(sha256);
          return null;
        }
        const f: FetchedImage = isFetched(got) ? got : { body: got, start: 0 };
        if (f.start !== 0 && f.start !== have) throw new Error(`the source resumed image ${sha256} at byte ${f.start}, not ${have}`);
        const resumed = f.start > 0;
        if (!resumed && have > 0) this.emit({ type: "discarded", sha256, bytes: have, why: "the source sent the whole image again" });
        const h = resumed ? hash : createHash("sha256");
        const total = f.total ?? null;
        this.emit({ type: "started", sha256, bytes: f.start, total, resumed });
        const bytes = await this.append(sha256, part, f, h, total);
        const digest = h.digest("hex");
        if (digest === sha256) return await this.commit(sha256, part, bytes, started);
        await rm(part, { force: true });
        this.parts.delete(sha256);
        if (resumed && attempt === 0) {
          this.emit({ type: "discarded", sha256, bytes, why: `the resumed download hashed to ${digest}` });
          continue;
        }
        this.emit({ type: "rejected", sha256, got: digest });
        throw new ImageHashMismatch(`image ${sha256} arrived with sha256 ${digest}`);
      }
    } catch (e) {
      let bytes = 0;
      try {
        bytes = (await stat(part)).size;
      } catch {
        bytes = 0;
      }
      this.emit({ type: "failed", sha256, bytes, error: e instanceof Error ? e.message : String(e) });
      throw e;
    }
  }

  /** Hash what a partial download holds (nothing: an empty hash). */
  private async rehash(part: string): Promise<{ hash: Hash; bytes: number }> {
    const hash = createHash("sha256");
    let bytes = 0;
    try {
      for await (const chunk of createReadStream(part, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      return { hash: createHash("sha256"), bytes: 0 };
    }
    return { hash, bytes };
  }

  /**
   * Writes the body at its offset of the part file, fsyncing as it goes; returns the part's size.
   * The body's small chunks are gathered into one writev of WRITE_BATCH bytes, and that write
   * runs while the next chunks arrive and hash: one syscall per 64 KiB chunk, each awaited
   * before the next hash, held the rack to a fifth of what its disk and hash can do.
   */
  private async append(sha256: string, part: string, f: FetchedImage, hash: Hash, total: number | null): Promise<number> {
    const fh = await open(part, f.start > 0 ? "r+" : "w", 0o644);
    let inflight: Promise<unknown> = Promise.resolve();
    try {
      if (f.start === 0) await fh.truncate(0);
      let bytes = f.start;
      let synced = bytes;
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      let at = bytes;
      const flush = async () => {
        await inflight;
        if (batchBytes === 0) return;
        const want = batchBytes;
        const pos = at;
        inflight = fh.writev(batch, pos).then((r) => {
          if (r.bytesWritten !== want) throw new Error(`short write at byte ${pos} of ${part}: ${r.bytesWritten} of ${want}`);
        });
        // Awaited at the next flush; until then a failure must not count as unhandled.
        inflight.catch(() => {});
        at += batchBytes;
        batch = [];
        batchBytes = 0;
      };
      const every = this.opts.progressEvery ?? 64 << 20;
      let nextProgress = bytes + every;
      let lastProgress = performance.now();
      for await (const chunk of f.body) {
        hash.update(chunk);
        batch.push(chunk);
        batchBytes += chunk.length;
        bytes += chunk.length;
        if (batchBytes >= WRITE_BATCH) await flush();
        if (bytes - synced >= PART_SYNC_BYTES) {
          await flush();
          await inflight;
          await fh.datasync();
          synced = bytes;
        }
        const now = performance.now();
        if (bytes >= nextProgress || now - lastProgress >= PROGRESS_MS) {
          this.parts.set(sha256, bytes);
          this.emit({ type: "progress", sha256, bytes, total });
          while (nextProgress <= bytes) nextProgress += every;
          lastProgress = now;
        }
      }
      await flush();
      await inflight;
      await fh.sync();
      return bytes;
    } finally {
      // A failed body leaves a write possibly in flight: it must land (or fail) before the close.
      await inflight.catch(() => {});
      await fh.close();
    }
  }

  private async commit(sha256: string, part: string, bytes: number, started: number): Promise<CachedImage> {
    const path = join(this.objects, sha256);
    await rename(part, path);
    this.parts.delete(sha256);
    await this.syncDir(this.objects);
    this.sizes.set(sha256, bytes);
    this.lastUsed.set(sha256, Date.now());
    this.emit({ type: "stored", sha256, bytes, ms: performance.now() - started });
    await this.evict();
    return { sha256, path, size: bytes };
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

function isFetched(x: ByteSource | FetchedImage): x is FetchedImage {
  return typeof (x as FetchedImage).start === "number" && "body" in x;
}
