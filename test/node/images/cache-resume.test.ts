// The rack's image cache resuming a download: a real HTTP server that answers as the region's
// image route does (200 whole, 206 for a Range, 416 past the end), the real region source with
// a credential file, and cache instances standing for the appliance before and after a restart.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CacheEvent, ImageCache } from "../../../appliance/images/cache";
import { regionImageSource } from "../../../appliance/images/region-source";
import { ImageStateReporter } from "../../../appliance/images/reporter";
import { StateDir } from "../../../appliance/state/dir";
import { parseByteRange } from "../../../cloud/http/byte-range";
import type { EventInput } from "../../../shared/tunnel/events";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const base = mkdtempSync(join(tmpdir(), "plinth-cache-resume-"));
const image = randomBytes(3 << 20);
const hex = sha(image);
const RACK = "abcdefabcdef";

let server: Server;
let url = "";
/** The Range header of every request, null when none. */
let ranges: (string | null)[] = [];
/** When set, the next whole-image answer stops after this many bytes (a cut link). */
let cutAfter: number | null = null;

beforeAll(async () => {
  server = createServer((req, res) => {
    ranges.push(req.headers.range ?? null);
    if (req.url !== `/api/v1/racks/${RACK}/images/${hex}` || req.headers.authorization !== "Bearer rack-credential-0123456789") {
      res.writeHead(404).end();
      return;
    }
    const r = parseByteRange(req.headers.range, image.length);
    if (r.kind === "bad") {
      res.writeHead(416, { "content-range": `bytes */${image.length}`, "content-type": "application/json" }).end('{"error":"range"}');
      return;
    }
    const [start, len] = r.kind === "range" ? [r.offset, r.length] : [0, image.length];
    const headers: Record<string, string> = { "content-length": String(len) };
    if (r.kind === "range") headers["content-range"] = `bytes ${start}-${start + len - 1}/${image.length}`;
    res.writeHead(r.kind === "range" ? 206 : 200, headers);
    if (cutAfter !== null && r.kind === "none") {
      const n = cutAfter;
      cutAfter = null;
      res.write(image.subarray(0, n), () => setTimeout(() => res.destroy(), 50));
      return;
    }
    res.end(image.subarray(start, start + len));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(base, { recursive: true, force: true });
});

let n = 0;
function rack(): { dir: string; state: string } {
  const state = join(base, `rack${++n}`);
  mkdirSync(state, { recursive: true });
  new StateDir(state).writeCredential({
    region: url,
    rackId: RACK,
    credential: "rack-credential-0123456789",
    site: "default",
    hostname: "rack",
    enrolledAt: Date.now(),
  });
  return { dir: join(state, "images"), state };
}

function cache(r: { dir: string; state: string }, events: CacheEvent[] = []): ImageCache {
  return new ImageCache({ dir: r.dir, fetch: regionImageSource({ stateDir: r.state }), onEvent: (e) => events.push(e) });
}

const part = (r: { dir: string }) => join(r.dir, "tmp", `${hex}.part`);

describe("image cache resume", () => {
  it("keeps a download cut mid-way and continues it with a Range request after a restart", async () => {
    const r = rack();
    ranges = [];
    cutAfter = 1 << 20;
    const first = cache(r);
    await first.init();
    await expect(first.get(hex)).rejects.toThrow();
    expect(existsSync(join(r.dir, "sha256", hex))).toBe(false);
    const kept = statSync(part(r)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(image.length);

    // The restarted appliance: a new cache over the same directory.
    const events: CacheEvent[] = [];
    const again = cache(r, events);
    await again.init();
    expect(readdirSync(join(r.dir, "tmp"))).toEqual([`${hex}.part`]);
    const got = await again.get(hex);
    expect(got?.size).toBe(image.length);
    expect(ranges).toEqual([null, `bytes=${kept}-`]);
    expect(sha(readFileSync(join(r.dir, "sha256", hex)))).toBe(hex);
    expect(readdirSync(join(r.dir, "tmp"))).toEqual([]);
    expect(events.find((e) => e.type === "started")).toMatchObject({ bytes: kept, total: image.length, resumed: true });
  });

  it("discards a corrupted partial and downloads the image again from byte 0", async () => {
    const r = rack();
    const bad = Buffer.from(image.subarray(0, 1 << 20));
    bad[1000] = (bad[1000] ?? 0) ^ 0xff;
    mkdirSync(join(r.dir, "tmp"), { recursive: true });
    writeFileSync(part(r), bad);
    ranges = [];
    const events: CacheEvent[] = [];
    const c = cache(r, events);
    await c.init();
    expect((await c.get(hex))?.size).toBe(image.length);
    expect(ranges).toEqual([`bytes=${1 << 20}-`, null]);
    expect(events.some((e) => e.type === "discarded")).toBe(true);
    expect(sha(readFileSync(join(r.dir, "sha256", hex)))).toBe(hex);
  });

  it("starts over when the partial is longer than the image (416)", async () => {
    const r = rack();
    mkdirSync(join(r.dir, "tmp"), { recursive: true });
    writeFileSync(part(r), Buffer.concat([image, Buffer.from("trailing junk")]));
    ranges = [];
    const c = cache(r);
    await c.init();
    expect((await c.get(hex))?.size).toBe(image.length);
    expect(ranges).toEqual([`bytes=${image.length + 13}-`, null]);
  });

  it("finishes a partial that is already whole without asking the region", async () => {
    const r = rack();
    mkdirSync(join(r.dir, "tmp"), { recursive: true });
    writeFileSync(part(r), image);
    ranges = [];
    const c = cache(r);
    await c.init();
    expect((await c.get(hex))?.size).toBe(image.length);
    expect(ranges).toEqual([]);
  });

  it("drops a partial of an image it already holds, and anything else in tmp", async () => {
    const r = rack();
    const c = cache(r);
    await c.init();
    await c.get(hex);
    writeFileSync(part(r), image.subarray(0, 10));
    writeFileSync(join(r.dir, "tmp", `${hex}.1a2b3c4d`), "put in flight");
    await cache(r).init();
    expect(readdirSync(join(r.dir, "tmp"))).toEqual([]);
  });
});

describe("image state reporter", () => {
  const h = (c: string) => c.repeat(64);
  function rig(online = true) {
    const sent: EventInput[] = [];
    let now = 0;
    const state = { online };
    const rep = new ImageStateReporter({
      emit: async (e) => sent.push(e),
      online: () => state.online,
      cached: () => [{ sha256: h("a"), size: 10 }],
      now: () => now,
    });
    return { sent, rep, state, tick: (ms: number) => (now += ms) };
  }
  const data = (e: EventInput) => (e.type === "images.state" ? e.data : null);

  it("reports a download's start, throttled progress, and the end", () => {
    const { sent, rep, tick } = rig();
    rep.note({ type: "started", sha256: h("b"), bytes: 0, total: 1000, resumed: false });
    rep.note({ type: "progress", sha256: h("b"), bytes: 50, total: 1000 });
    rep.note({ type: "progress", sha256: h("b"), bytes: 120, total: 1000 });
    tick(500);
    rep.note({ type: "progress", sha256: h("b"), bytes: 150, total: 1000 });
    tick(3000);
    rep.note({ type: "progress", sha256: h("b"), bytes: 160, total: 1000 });
    rep.note({ type: "stored", sha256: h("b"), bytes: 1000, ms: 1 });
    rep.note({ type: "failed", sha256: h("c"), bytes: 5, error: "the region answered 500" });
    rep.note({ type: "evicted", sha256: h("b"), bytes: 1000 });
    expect(
      sent.map((e) =>
        data(e)!
          .images.map((i) => `${i.state}:${i.bytes}`)
          .join(),
      ),
    ).toEqual(["downloading:0", "downloading:120", "downloading:160", "present:1000", "failed:5", "evicted:0"]);
    expect(data(sent[4]!)!.images[0]!.error).toBe("the region answered 500");
  });

  it("sends a full report on every (re)connection and nothing while offline", () => {
    const { sent, rep, state } = rig(false);
    rep.start();
    rep.note({ type: "started", sha256: h("b"), bytes: 0, total: 1000, resumed: false });
    expect(sent).toEqual([]);
    state.online = true;
    (rep as unknown as { check(): void }).check();
    rep.stop();
    expect(sent.map(data)).toEqual([
      {
        full: true,
        images: [
          { sha256: h("a"), state: "present", bytes: 10, total: 10 },
          { sha256: h("b"), state: "downloading", bytes: 0, total: 1000 },
        ],
      },
    ]);
  });
});
