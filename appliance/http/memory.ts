// Hot images held whole in memory, bounded by a byte budget, least recently used out first.
//
// Why: a rack boots many nodes from the same few kernels and initrds. Streaming each request
// from disk costs a threadpool hop and a page-cache → user copy per 256 KiB read, on top of the
// user → socket copy; on 2 cores that was about 1 CPU-second per GiB served, against nginx's
// sendfile at about 0.25 (bench/http.ts, issue 4). A response from memory is one Buffer view
// handed to the socket: libuv writes it as the socket drains (that is the backpressure: the
// kernel takes what fits, the rest waits in place, nothing is copied or read ahead), so no
// per-request fs call, no threadpool hop and no JavaScript per chunk. Measured about 0.25
// CPU-seconds per GiB, nginx's figure.
//
// Entries are filled in the background after a disk hit (that request is served from disk),
// once per image however many requests race. A response keeps its view alive after eviction,
// so the resident total can briefly exceed the budget by what in-flight responses still hold;
// the bytes are immutable (content-addressed), so an evicted view is never wrong.
import { readFile } from "node:fs/promises";

export interface MemoryCacheOptions {
  /** Budget in bytes for all entries together; 0 disables the cache. */
  maxBytes: number;
  /** Largest single file admitted (default: maxBytes / 2, so one image cannot flush the rest). */
  maxFileBytes?: number;
}

export class MemoryImageCache {
  /** Insertion order is recency: a hit moves the entry to the end. */
  private readonly entries = new Map<string, Buffer>();
  private readonly loading = new Map<string, Promise<void>>();
  private total = 0;
  readonly maxBytes: number;
  readonly maxFileBytes: number;

  constructor(opts: MemoryCacheOptions) {
    this.maxBytes = Math.max(0, opts.maxBytes);
    this.maxFileBytes = Math.min(opts.maxFileBytes ?? Math.floor(this.maxBytes / 2), this.maxBytes);
  }

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The bytes if held, marking them most recently used. */
  get(key: string): Buffer | undefined {
    const b = this.entries.get(key);
    if (b === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, b);
    return b;
  }

  /** Whether a file of this size would be admitted at all. */
  admits(size: number): boolean {
    return size > 0 && size <= this.maxFileBytes;
  }

  /**
   * Read a file into memory in the background (one read per key, however many callers).
   * Resolves when it is held, or was not admitted, or could not be read: this is a cache,
   * the disk path stays the truth.
   */
  load(key: string, path: string, size: number): Promise<void> {
    if (this.entries.has(key) || !this.admits(size)) return Promise.resolve();
    let p = this.loading.get(key);
    if (!p) {
      p = readFile(path)
        .then((b) => {
          if (b.length === size) this.set(key, b);
        })
        .catch(() => {})
        .finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  set(key: string, bytes: Buffer): void {
    if (!this.admits(bytes.length)) return;
    this.delete(key);
    this.entries.set(key, bytes);
    this.total += bytes.length;
    for (const [k, b] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.entries.delete(k);
      this.total -= b.length;
    }
  }

  delete(key: string): void {
    const b = this.entries.get(key);
    if (b === undefined) return;
    this.entries.delete(key);
    this.total -= b.length;
  }
}
