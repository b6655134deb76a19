import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type CacheEvent, ImageCache, ImageHashMismatch } from "../../../appliance/images/cache";

const base = mkdtempSync(join(tmpdir(), "plinth-cache-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
let n = 0;
const newDir = () => join(base, `c${++n}`);

async function* chunks(data: Buffer, size = 64 << 10, gate?: Promise<void>): AsyncIterable<Uint8Array> {
  for (let i = 0; i < data.length; i += size) {
    if (i > 0 && gate) await gate;
    yield data.subarray(i, i + size);
  }
}

describe("image cache", () => {
  it("stores by sha256 after verifying, and finds it again after a restart", async () => {
    const dir = newDir();
    const c = new ImageCache({ dir });
    await c.init();
    const data = randomBytes(300_000);
    const img = await c.put(sha(data), chunks(data));
    expect(img.size).toBe(data.length);
    expect(readFileSync(img.path).equals(data)).toBe(true);
    const again = new ImageCache({ dir });
    await again.init();
    expect((await again.lookup(sha(data)))?.size).toBe(data.length);
  });

  it("rejects bytes that do not match and keeps nothing", async () => {
    const dir = newDir();
    const events: CacheEvent[] = [];
    const c = new ImageCache({ dir, onEvent: (e) => events.push(e) });
    await c.init();
    const data = randomBytes(1000);
    const wrong = sha(Buffer.from("something else"));
    await expect(c.put(wrong, chunks(data))).rejects.toThrow(ImageHashMismatch);
    expect(await c.lookup(wrong)).toBeNull();
    expect(readdirSync(join(dir, "sha256"))).toEqual([]);
    expect(readdirSync(join(dir, "tmp"))).toEqual([]);
    expect(events.some((e) => e.type === "rejected")).toBe(true);
  });

  it("never shows a partial file while a download is in flight", async () => {
    const dir = newDir();
    const c = new ImageCache({ dir });
    await c.init();
    const data = randomBytes(1 << 20);
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const put = c.put(sha(data), chunks(data, 1 << 16, gate));
    await new Promise((r) => setTimeout(r, 20));
    expect(await c.lookup(sha(data))).toBeNull();
    expect(existsSync(join(dir, "sha256", sha(data)))).toBe(false);
    open();
    await put;
    expect(await c.lookup(sha(data))).not.toBeNull();
  });

  it("pulls through once for many concurrent requests", async () => {
    const data = randomBytes(200_000);
    let fetches = 0;
    const c = new ImageCache({
      dir: newDir(),
      fetch: async (h) => {
        fetches++;
        return h === sha(data) ? chunks(data) : null;
      },
    });
    await c.init();
    const got = await Promise.all(Array.from({ length: 10 }, () => c.get(sha(data))));
    expect(fetches).toBe(1);
    expect(got.every((g) => g?.size === data.length)).toBe(true);
    expect(await c.get(sha(Buffer.from("unknown")))).toBeNull();
  });

  it("drops partial downloads left by a crash on start-up", async () => {
    const dir = newDir();
    mkdirSync(join(dir, "tmp"), { recursive: true });
    writeFileSync(join(dir, "tmp", "deadbeef.part"), "partial");
    const c = new ImageCache({ dir });
    await c.init();
    expect(readdirSync(join(dir, "tmp"))).toEqual([]);
  });

  it("evicts the least recently used unpinned images beyond maxBytes", async () => {
    const events: CacheEvent[] = [];
    const c = new ImageCache({ dir: newDir(), maxBytes: 250_000, onEvent: (e) => events.push(e) });
    await c.init();
    const a = randomBytes(100_000);
    const b = randomBytes(100_000);
    const d = randomBytes(100_000);
    await c.put(sha(a), chunks(a));
    await new Promise((r) => setTimeout(r, 5));
    await c.put(sha(b), chunks(b));
    const release = c.pin(sha(a));
    await new Promise((r) => setTimeout(r, 5));
    await c.put(sha(d), chunks(d));
    // a is older than b but pinned (being served): b goes.
    expect(await c.lookup(sha(b))).toBeNull();
    expect(await c.lookup(sha(a))).not.toBeNull();
    expect(events.filter((e) => e.type === "evicted").map((e) => e.sha256)).toEqual([sha(b)]);
    release();
  });

  it("logs progress on long downloads", async () => {
    const events: CacheEvent[] = [];
    const c = new ImageCache({ dir: newDir(), progressEvery: 100_000, onEvent: (e) => events.push(e) });
    await c.init();
    const data = randomBytes(350_000);
    await c.put(sha(data), chunks(data, 10_000));
    expect(events.filter((e) => e.type === "progress").map((e) => e.type === "progress" && e.bytes)).toEqual([100_000, 200_000, 300_000]);
  });
});
