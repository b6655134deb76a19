// The region's image store: declared in D1, bytes in R2 under their sha256 (checked by the
// store on upload), downloaded by racks with their own credential.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { BASE, call, makeUser } from "./helpers";
import { enrolRack } from "./tunnel-helpers";

let admin = "";
let oper = "";
let rack: { rackId: string; credential: string };

async function sha256(bytes: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function upload(key: string, id: number, bytes: Uint8Array, sha: string) {
  return SELF.fetch(`${BASE}/boot-images/${id}/content`, {
    method: "PUT",
    headers: { authorization: `Bearer ${key}`, "x-content-sha256": sha, "content-type": "application/octet-stream", "content-length": String(bytes.length) },
    body: bytes,
  });
}

beforeAll(async () => {
  admin = await makeUser("img-admin", [["admin", null]]);
  oper = await makeUser("img-oper", [["operator", null]]);
  rack = await enrolRack(admin, "default", "rack-images");
});

describe("boot images", () => {
  // Over the 256 KiB JSON limit on purpose: uploads stream to the store.
  const bytes = new Uint8Array(600 * 1024);
  for (let o = 0; o < bytes.length; o += 65536) crypto.getRandomValues(bytes.subarray(o, o + 65536));
  let id = 0;
  let sha = "";

  it("declares an image (admin only), refuses a duplicate and bad names", async () => {
    expect((await call(oper, "POST", "/boot-images", { osystem: "custom", series: "testdisk", format: "raw.zst" })).status).toBe(403);
    const r = await call(admin, "POST", "/boot-images", { osystem: "custom", series: "testdisk", format: "raw.zst" });
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({ osystem: "custom", series: "testdisk", architecture: "amd64/generic", format: "raw.zst", sha256: null, size: 0 });
    id = r.json.id;
    expect((await call(admin, "POST", "/boot-images", { osystem: "custom", series: "testdisk" })).status).toBe(409);
    const bad = await call(admin, "POST", "/boot-images", { osystem: "Bad Name", series: "x", format: "iso" });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("invalid_request");
  });

  it("refuses bytes that do not match the stated sha256 and keeps nothing", async () => {
    sha = await sha256(bytes);
    const wrong = "0".repeat(64);
    const r = await upload(admin, id, bytes, wrong);
    expect(r.status).toBe(400);
    expect(((await r.json()) as any).error.message).toMatch(/do not match/);
    expect(await env.IMAGES.head(`sha256/${wrong}`)).toBeNull();
    expect((await call(admin, "GET", `/boot-images/${id}`)).json.sha256).toBeNull();
  });

  it("needs the sha256 header and an admin", async () => {
    const noSha = await SELF.fetch(`${BASE}/boot-images/${id}/content`, { method: "PUT", headers: { authorization: `Bearer ${admin}` }, body: bytes });
    expect(noSha.status).toBe(400);
    expect((await upload(oper, id, bytes, sha)).status).toBe(403);
  });

  it("stores the bytes under their sha256 and lists the image with its hash and size", async () => {
    const r = await upload(admin, id, bytes, sha);
    expect(r.status, await r.clone().text()).toBe(200);
    expect(await r.json()).toMatchObject({ id, sha256: sha, size: bytes.length });
    const list = await call(oper, "GET", "/boot-images");
    expect(list.json.items).toEqual(expect.arrayContaining([expect.objectContaining({ id, sha256: sha, size: bytes.length })]));
    const obj = await env.IMAGES.get(`sha256/${sha}`);
    expect(obj?.size).toBe(bytes.length);
    await obj?.arrayBuffer();
  });

  it("lets the rack download it with its credential, byte for byte", async () => {
    const r = await SELF.fetch(`${BASE}/racks/${rack.rackId}/images/${sha}`, { headers: { authorization: `Bearer ${rack.credential}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get("etag")).toBe(`"${sha}"`);
    expect(await sha256(new Uint8Array(await r.arrayBuffer()))).toBe(sha);
  });

  it("refuses a download without the rack's credential, a user key, or an unlisted hash", async () => {
    const none = await SELF.fetch(`${BASE}/racks/${rack.rackId}/images/${sha}`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/plinth-rack/);
    await none.arrayBuffer();
    const user = await SELF.fetch(`${BASE}/racks/${rack.rackId}/images/${sha}`, { headers: { authorization: `Bearer ${admin}` } });
    expect(user.status).toBe(401);
    await user.arrayBuffer();
    const other = await SELF.fetch(`${BASE}/racks/${rack.rackId}/images/${"a".repeat(64)}`, { headers: { authorization: `Bearer ${rack.credential}` } });
    expect(other.status).toBe(404);
    await other.arrayBuffer();
    const bad = await SELF.fetch(`${BASE}/racks/${rack.rackId}/images/..%2f..%2fetc`, { headers: { authorization: `Bearer ${rack.credential}` } });
    expect(bad.status).toBe(400);
    await bad.arrayBuffer();
  });

  it("puts the image in the racks' config snapshot manifest", async () => {
    const { buildSnapshot } = await import("../../cloud/tunnel/config");
    const snap = await buildSnapshot(env.DB, rack.rackId);
    expect(snap?.images).toEqual(
      expect.arrayContaining([expect.objectContaining({ osystem: "custom", series: "testdisk", sha256: sha, size: bytes.length, format: "raw.zst" })]),
    );
  });

  it("deletes the image and its bytes", async () => {
    const r = await call(admin, "DELETE", `/boot-images/${id}`);
    expect(r.status).toBe(204);
    expect(await env.IMAGES.head(`sha256/${sha}`)).toBeNull();
    expect((await call(admin, "GET", `/boot-images/${id}`)).status).toBe(404);
  });
});
