// Hot images in memory (appliance/http/memory.ts): the byte budget and LRU eviction, one read
// per image, and the HTTP semantics when a response comes from memory: Range, validators,
// HEAD, the disk cache's pin while a response is in flight, and disk eviction winning.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { get as httpGet, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryImageCache } from "../../../appliance/http/memory";
import { BootHttpServer } from "../../../appliance/http/server";
import { ImageCache } from "../../../appliance/images/cache";

const dir = mkdtempSync(join(tmpdir(), "plinth-http-mem-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("MemoryImageCache", () => {
  it("stays within its budget, evicting the least recently used", () => {
    const m = new MemoryImageCache({ maxBytes: 300, maxFileBytes: 150 });
    m.set("a", Buffer.alloc(100));
    m.set("b", Buffer.alloc(100));
    m.set("c", Buffer.alloc(100));
    expect(m.bytes).toBe(300);
    m.get("a"); // a is now the most recent: b goes first
    m.set("d", Buffer.alloc(100));
    expect([m.has("a"), m.has("b"), m.has("c"), m.has("d")]).toEqual([true, false, true, true]);
    m.set("e", Buffer.alloc(150));
    expect(m.bytes).toBeLessThanOrEqual(300);
    expect(m.has("c")).toBe(false);
    expect(m.has("e")).toBe(true);
  });

  it("admits nothing larger than maxFileBytes (default half the budget), nothing at all with a budget of 0", () => {
    const m = new MemoryImageCache({ maxBytes: 1000 });
    expect(m.maxFileBytes).toBe(500);
    m.set("big", Buffer.alloc(501));
    expect(m.has("big")).toBe(false);
    const off = new MemoryImageCache({ maxBytes: 0 });
    off.set("x", Buffer.alloc(1));
    expect(off.size).toBe(0);
    expect(off.admits(1)).toBe(false);
  });

  it("loads a file once for concurrent callers, and shrugs off a missing or changed file", async () => {
    const path = join(dir, "blob");
    const data = randomBytes(10_000);
    writeFileSync(path, data);
    const m = new MemoryImageCache({ maxBytes: 100_000 });
    await Promise.all([m.load("k", path, data.length), m.load("k", path, data.length), m.load("k", path, data.length)]);
    expect(m.get("k")?.equals(data)).toBe(true);
    expect(m.bytes).toBe(data.length);
    await m.load("missing", join(dir, "nope"), 10);
    await m.load("short", path, data.length + 1);
    expect([m.has("missing"), m.has("short")]).toEqual([false, false]);
  });
});

describe("images served from memory", () => {
  const MiB = 1 << 20;
  // a is larger than the socket buffers of a client that stops reading can hold (loopback's
  // tcp_rmem may autotune to 32 MiB, plus 4 MiB of send buffer), so such a response stays open.
  const a = randomBytes(48 * MiB);
  const b = randomBytes(8 * MiB);
  const c = randomBytes(8 * MiB);
  let cache: ImageCache;
  let server: BootHttpServer;
  let base: string;

  beforeAll(async () => {
    // Room on disk for a and b; c then evicts the least recently used unpinned one.
    cache = new ImageCache({ dir: join(dir, "cache"), maxBytes: 60 * MiB });
    await cache.init();
    await cache.put(sha(a), [a]);
    await cache.put(sha(b), [b]);
    server = new BootHttpServer({ host: "127.0.0.1", port: 0, images: cache, intents: () => null, memoryBytes: 96 * MiB });
    base = `http://127.0.0.1:${(await server.listen()).port}`;
  });
  afterAll(async () => {
    await server?.close();
  });

  async function fetchBytes(path: string, headers: Record<string, string> = {}, method = "GET") {
    const r = await fetch(base + path, { headers, method });
    return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
  }

  it("serves the first request from disk and keeps the image in memory for the next", async () => {
    expect(server.memory.has(sha(a))).toBe(false);
    const first = await fetchBytes(`/images/${sha(a)}`);
    expect(sha(first.body)).toBe(sha(a));
    await until(() => server.memory.has(sha(a)));
    const second = await fetchBytes(`/images/${sha(a)}/initrd`);
    expect(second.status).toBe(200);
    expect(second.headers.get("content-length")).toBe(String(a.length));
    expect(second.headers.get("etag")).toBe(`"${sha(a)}"`);
    expect(sha(second.body)).toBe(sha(a));
  });

  it("answers ranges, validators and HEAD from memory exactly as from disk", async () => {
    await until(() => server.memory.has(sha(a)));
    const etag = `"${sha(a)}"`;
    const part = await fetchBytes(`/images/${sha(a)}`, { Range: "bytes=1000-1999999" });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 1000-1999999/${a.length}`);
    expect(part.body.equals(a.subarray(1000, 2_000_000))).toBe(true);
    const tail = await fetchBytes(`/images/${sha(a)}`, { Range: "bytes=-5" });
    expect(tail.body.equals(a.subarray(a.length - 5))).toBe(true);
    expect((await fetchBytes(`/images/${sha(a)}`, { Range: `bytes=${a.length}-` })).status).toBe(416);
    expect((await fetchBytes(`/images/${sha(a)}`, { "If-None-Match": etag })).status).toBe(304);
    // If-Range with a stale validator: the whole current file, not a piece of it.
    const stale = await fetchBytes(`/images/${sha(a)}`, { Range: "bytes=0-9", "If-Range": '"other"' });
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBe(a.length);
    const fresh = await fetchBytes(`/images/${sha(a)}`, { Range: "bytes=0-9", "If-Range": etag });
    expect(fresh.status).toBe(206);
    expect(fresh.body.equals(a.subarray(0, 10))).toBe(true);
    const head = await fetchBytes(`/images/${sha(a)}`, {}, "HEAD");
    expect(head.headers.get("content-length")).toBe(String(a.length));
    expect(head.body.length).toBe(0);
  });

  it("pins the image on disk while a response from memory is in flight, and releases it after", async () => {
    await until(() => server.memory.has(sha(a)));
    // A client that stops reading: the response stays open until we resume.
    const res = await new Promise<IncomingMessage>((resolve, reject) => httpGet(`${base}/images/${sha(a)}`, resolve).on("error", reject));
    res.pause();
    await new Promise((r) => setTimeout(r, 50));
    await cache.lookup(sha(b)); // b is now more recent than a: a would go first if it were not pinned
    await cache.put(sha(c), [c]);
    expect(await cache.lookup(sha(a))).not.toBeNull();
    expect(await cache.lookup(sha(b))).toBeNull();
    const parts: Buffer[] = [];
    res.on("data", (d: Buffer) => parts.push(d));
    res.resume();
    await new Promise((r) => res.on("end", r));
    expect(sha(Buffer.concat(parts))).toBe(sha(a));
    // Released: the next store evicts a, now the least recently used.
    await new Promise((r) => setTimeout(r, 20));
    await cache.lookup(sha(c));
    await cache.put(sha(b), [b]);
    expect(await cache.lookup(sha(a))).toBeNull();
  });

  it("does not serve from memory an image the disk cache has evicted", async () => {
    // a was evicted from disk above while still held in memory.
    expect(server.memory.has(sha(a))).toBe(true);
    const r = await fetchBytes(`/images/${sha(a)}`);
    expect(r.status).toBe(404);
    expect(server.memory.has(sha(a))).toBe(false);
  });

  it("keeps nothing in memory with memoryBytes: 0", async () => {
    const off = new BootHttpServer({ host: "127.0.0.1", port: 0, images: cache, intents: () => null, memoryBytes: 0 });
    const url = `http://127.0.0.1:${(await off.listen()).port}/images/${sha(c)}`;
    try {
      for (let i = 0; i < 2; i++) expect(sha(Buffer.from(await (await fetch(url)).arrayBuffer()))).toBe(sha(c));
      await new Promise((r) => setTimeout(r, 50));
      expect(off.memory.size).toBe(0);
    } finally {
      await off.close();
    }
  });
});
