// What racks hold of the region's images: `images.state` events over the real tunnel land in
// rack_images (a change upserts, a full report replaces), RACK_IMAGE_STATE events tell an
// operator about present/failed/evicted once per change, GET /racks/:id/images and the MAAS
// facade's list_boot_images show it, and the download route answers Range requests.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { RackEvent } from "../../shared/tunnel/events";
import { applyRackEvents } from "../../cloud/domain/racks/rack-events";
import { BASE, call, makeUser } from "./helpers";
import { maas, maasKey } from "./maas-helpers";
import { connect, enrolRack } from "./tunnel-helpers";

let admin = "";
let viewer = "";
let outsider = "";
let rackId = "";
let credential = "";
let imageId = 0;
let sha = "";
const bytes = new Uint8Array(300 * 1024);
for (let o = 0; o < bytes.length; o += 65536) crypto.getRandomValues(bytes.subarray(o, o + 65536));

const hex = (c: string) => c.repeat(64);
let seq = 0;
const state = (full: boolean, images: Extract<RackEvent, { type: "images.state" }>["data"]["images"]): RackEvent => ({
  seq: ++seq,
  at: Date.now(),
  type: "images.state",
  data: { full, images },
});

async function digest(b: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", b))].map((x) => x.toString(16).padStart(2, "0")).join("");
}

const rows = async () =>
  (await env.DB.prepare("SELECT sha256, state, bytes, total, error FROM rack_images WHERE rack_id = ? ORDER BY sha256").bind(rackId).all()).results;
const told = async () =>
  (
    await env.DB.prepare("SELECT level, description FROM events WHERE type = 'RACK_IMAGE_STATE' AND actor = ? ORDER BY id").bind(`rack:${rackId}`).all<{
      level: string;
      description: string;
    }>()
  ).results;

async function until<T>(what: string, f: () => Promise<T | null | undefined | false>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const download = (headers: Record<string, string> = {}) =>
  SELF.fetch(`${BASE}/racks/${rackId}/images/${sha}`, { headers: { authorization: `Bearer ${credential}`, ...headers } });

beforeAll(async () => {
  admin = await makeUser("rimg-admin", [["admin", null]]);
  viewer = await makeUser("rimg-viewer", [["viewer", "rimg-site"]]);
  outsider = await makeUser("rimg-outsider", [["viewer", "rimg-elsewhere"]]);
  ({ rackId, credential } = await enrolRack(admin, "rimg-site", "rimg-rack"));
  const img = await call(admin, "POST", "/boot-images", { osystem: "custom", series: "rimg", format: "raw.zst" });
  expect(img.status, img.text).toBe(201);
  imageId = img.json.id;
  sha = await digest(bytes);
  const put = await SELF.fetch(`${BASE}/boot-images/${imageId}/content`, {
    method: "PUT",
    headers: { authorization: `Bearer ${admin}`, "x-content-sha256": sha, "content-type": "application/octet-stream", "content-length": String(bytes.length) },
    body: bytes,
  });
  expect(put.status, await put.text()).toBe(200);
});

describe("rack image state", () => {
  it("a rack's report over the tunnel lands in rack_images and shows in GET /racks/:id/images", async () => {
    const rack = await connect(rackId, credential, { journal: "rimg-j1" });
    rack.send({
      t: "event",
      v: 1,
      events: [{ ...state(false, [{ sha256: sha, state: "downloading", bytes: 1000, total: bytes.length }]), seq: 1 }],
    });
    expect((await rack.next((m) => m.t === "ack")).upTo).toBe(1);
    await until("the row", async () => (await rows()).length === 1);
    const r = await call(viewer, "GET", `/racks/${rackId}/images`);
    expect(r.status, r.text).toBe(200);
    expect(r.json.items).toEqual([
      {
        sha256: sha,
        state: "downloading",
        bytes: 1000,
        total: bytes.length,
        error: null,
        updated_at: expect.any(Number),
        images: [{ id: imageId, osystem: "custom", series: "rimg", architecture: "amd64/generic" }],
      },
    ]);
    expect((await call(viewer, "GET", `/racks/${rackId}`)).json.images).toEqual({ present: 0, downloading: 1, failed: 0 });
    // A downloading image tells no operator anything yet.
    expect(await told()).toEqual([]);
    rack.ws.close(1000);
  });

  it("present, failed and evicted write RACK_IMAGE_STATE once per change", async () => {
    await applyRackEvents(env.DB, rackId, [state(false, [{ sha256: sha, state: "present", bytes: bytes.length, total: bytes.length }])]);
    await applyRackEvents(env.DB, rackId, [state(false, [{ sha256: hex("b"), state: "failed", bytes: 10, total: 99, error: "the region answered 500" }])]);
    // Repeated (a full report after a reconnection): no new event.
    await applyRackEvents(env.DB, rackId, [
      state(true, [
        { sha256: sha, state: "present", bytes: bytes.length, total: bytes.length },
        { sha256: hex("b"), state: "failed", bytes: 10, total: 99, error: "the region answered 500" },
      ]),
    ]);
    const t = await told();
    expect(t.map((e) => e.level)).toEqual(["INFO", "ERROR"]);
    expect(t[0]!.description).toMatch(/holds image [0-9a-f]{12}/);
    expect(t[1]!.description).toContain("the region answered 500");
    // rows() is in sha256 order, and this image's sha256 comes from random bytes.
    const bySha = (a: { sha256: string }, b: { sha256: string }) => (a.sha256 < b.sha256 ? -1 : 1);
    expect(await rows()).toEqual(
      [
        { sha256: sha, state: "present", bytes: bytes.length, total: bytes.length, error: null },
        { sha256: hex("b"), state: "failed", bytes: 10, total: 99, error: "the region answered 500" },
      ].sort(bySha),
    );
    expect((await call(admin, "GET", `/racks/${rackId}`)).json.images).toEqual({ present: 1, downloading: 0, failed: 1 });
    await applyRackEvents(env.DB, rackId, [state(false, [{ sha256: sha, state: "evicted", bytes: 0, total: bytes.length }])]);
    expect((await told()).at(-1)!.description).toContain("evicted");
  });

  it("a full report replaces the rack's rows", async () => {
    await applyRackEvents(env.DB, rackId, [state(true, [{ sha256: hex("c"), state: "downloading", bytes: 5, total: 50 }])]);
    expect(await rows()).toEqual([{ sha256: hex("c"), state: "downloading", bytes: 5, total: 50, error: null }]);
    await applyRackEvents(env.DB, rackId, [state(true, [])]);
    expect(await rows()).toEqual([]);
  });

  it("refuses a malformed report at the tunnel and stores nothing", async () => {
    const rack = await connect(rackId, credential, { journal: "rimg-j2" });
    rack.send({
      t: "event",
      v: 1,
      events: [{ seq: 1, at: 1, type: "images.state", data: { full: true, images: [{ sha256: "../etc", state: "gone", bytes: -1, total: 0 }] } }],
    });
    const err = await rack.next((m) => m.t === "error");
    expect(err.code).toBeTruthy();
    expect(await rows()).toEqual([]);
    rack.ws.close(1000);
  });

  it("only the rack's site reads it; an unknown rack is 404", async () => {
    expect((await call(outsider, "GET", `/racks/${rackId}/images`)).status).toBe(404);
    expect((await call(null, "GET", `/racks/${rackId}/images`)).status).toBe(401);
    expect((await call(admin, "GET", "/racks/zzzzzzzzzzzz/images")).status).toBe(404);
  });

  it("MAAS list_boot_images: out-of-sync, syncing, then synced", async () => {
    const key = await maasKey(admin);
    const list = () => maas(key, "GET", `rackcontrollers/${rackId}/`, { query: { op: "list_boot_images" } });
    const a = await list();
    expect(a.status, a.text).toBe(200);
    expect(a.json).toMatchObject({ connected: false, status: "unknown", images: [] });
    await applyRackEvents(env.DB, rackId, [state(true, [{ sha256: sha, state: "downloading", bytes: 5, total: bytes.length }])]);
    const rack = await connect(rackId, credential, { journal: "rimg-j3" });
    await until("connected", async () => (await call(admin, "GET", `/racks/${rackId}`)).json.connected);
    const b = await list();
    expect(b.json).toMatchObject({ connected: true, status: "syncing", images: [] });
    await applyRackEvents(env.DB, rackId, [state(true, [{ sha256: sha, state: "present", bytes: bytes.length, total: bytes.length }])]);
    const c = await list();
    expect(c.json.connected).toBe(true);
    expect(c.json.images).toContainEqual(expect.objectContaining({ osystem: "custom", release: "rimg", architecture: "amd64", subarchitecture: "generic" }));
    // Every image of the region with bytes must be there for "synced" (other test files' images may not be).
    const others = await env.DB.prepare("SELECT count(*) AS n FROM boot_images WHERE sha256 IS NOT NULL AND sha256 != ?").bind(sha).first<{ n: number }>();
    expect(c.json.status).toBe(others!.n ? "out-of-sync" : "synced");
    await applyRackEvents(env.DB, rackId, [state(true, [])]);
    expect((await list()).json).toMatchObject({ status: "out-of-sync", images: [] });
    rack.ws.close(1000);
  });
});

describe("rack image download ranges", () => {
  it("answers a whole download with accept-ranges", async () => {
    const r = await download();
    expect(r.status).toBe(200);
    expect(r.headers.get("accept-ranges")).toBe("bytes");
    expect(new Uint8Array(await r.arrayBuffer())).toEqual(bytes);
  });

  it("answers bytes=N- with 206 and the rest of the image", async () => {
    const from = 100_000;
    const r = await download({ range: `bytes=${from}-` });
    expect(r.status).toBe(206);
    expect(r.headers.get("content-range")).toBe(`bytes ${from}-${bytes.length - 1}/${bytes.length}`);
    expect(r.headers.get("content-length")).toBe(String(bytes.length - from));
    expect(new Uint8Array(await r.arrayBuffer())).toEqual(bytes.subarray(from));
  });

  it("answers a closed range and a suffix range", async () => {
    const a = await download({ range: "bytes=10-19" });
    expect(a.status).toBe(206);
    expect(a.headers.get("content-range")).toBe(`bytes 10-19/${bytes.length}`);
    expect(new Uint8Array(await a.arrayBuffer())).toEqual(bytes.subarray(10, 20));
    const b = await download({ range: "bytes=-5" });
    expect(b.status).toBe(206);
    expect(new Uint8Array(await b.arrayBuffer())).toEqual(bytes.subarray(bytes.length - 5));
  });

  it("answers 416 with the size for a range past the end or a malformed one", async () => {
    for (const range of [`bytes=${bytes.length}-`, "bytes=5-2", "bytes=0-1,4-5", "items=0-1", "bytes=-0"]) {
      const r = await download({ range });
      expect(r.status, range).toBe(416);
      expect(r.headers.get("content-range")).toBe(`bytes */${bytes.length}`);
      expect(((await r.json()) as any).error.code).toBe("range_not_satisfiable");
    }
  });

  it("still needs the rack credential and a listed image", async () => {
    const r = await SELF.fetch(`${BASE}/racks/${rackId}/images/${sha}`, { headers: { range: "bytes=0-" } });
    expect(r.status).toBe(401);
    await r.arrayBuffer();
    const other = await SELF.fetch(`${BASE}/racks/${rackId}/images/${hex("d")}`, { headers: { authorization: `Bearer ${credential}`, range: "bytes=0-" } });
    expect(other.status).toBe(404);
    await other.arrayBuffer();
  });
});
