// Boot sources and selections through /api/v1: keyrings made by real gpg (armoured, and a
// binary keyring in base64) parsed to their fingerprints, a source without a keyring refused
// unless skip_verify says so, duplicates refused, every change audited once, and a global
// admin the only writer.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { KEY_A_ARMORED, KEY_A_FPR, KEY_B_FPR, KEYRING_AB_BASE64 } from "./boot-source-keys";
import { call, makeUser } from "./helpers";

let admin = "";
let viewer = "";

beforeAll(async () => {
  admin = await makeUser("bs-admin", [["admin", null]]);
  viewer = await makeUser("bs-viewer", [["viewer", null]]);
});

const events = async (like: string) =>
  (
    await env.DB.prepare("SELECT type, level, actor, description FROM events WHERE type LIKE ? ORDER BY id")
      .bind(like)
      .all<{ type: string; description: string }>()
  ).results;

describe("boot sources", () => {
  it("creates, reads, changes and deletes a source; keyrings parse to their fingerprints; each change audited", async () => {
    const a = await call(admin, "POST", "/boot-sources", { url: "http://mirror-a.test/streams/v1/", keyring_data: KEY_A_ARMORED, keyring_filename: "a.asc" });
    expect(a.status, JSON.stringify(a.json)).toBe(201);
    expect(a.json).toMatchObject({
      url: "http://mirror-a.test/streams/v1/",
      keyring_filename: "a.asc",
      keyring_fingerprints: [KEY_A_FPR],
      skip_verify: false,
      selections: [],
    });
    const stored = await env.DB.prepare("SELECT keyring_data FROM boot_sources WHERE id = ?").bind(a.json.id).first<{ keyring_data: string }>();
    // Stored as base64 of the binary key, whatever form it came in.
    expect(stored!.keyring_data).toMatch(/^[A-Za-z0-9+/]+=*$/);

    const b = await call(admin, "POST", "/boot-sources", { url: "https://mirror-b.test/", keyring_data: KEYRING_AB_BASE64 });
    expect(b.status, JSON.stringify(b.json)).toBe(201);
    expect(b.json.keyring_fingerprints).toEqual([KEY_A_FPR, KEY_B_FPR]);

    const list = await call(viewer, "GET", "/boot-sources");
    expect(list.status).toBe(200);
    expect(list.json.items.map((s: { url: string }) => s.url)).toEqual(expect.arrayContaining(["http://mirror-a.test/streams/v1/", "https://mirror-b.test/"]));
    expect((await call(viewer, "GET", `/boot-sources/${a.json.id}`)).json.keyring_fingerprints).toEqual([KEY_A_FPR]);

    const p = await call(admin, "PATCH", `/boot-sources/${b.json.id}`, { keyring_data: KEY_A_ARMORED, url: "https://mirror-b2.test/" });
    expect(p.status, JSON.stringify(p.json)).toBe(200);
    expect(p.json).toMatchObject({ url: "https://mirror-b2.test/", keyring_fingerprints: [KEY_A_FPR] });
    expect(p.json.updated_at).toBeGreaterThanOrEqual(b.json.updated_at);

    expect((await call(admin, "DELETE", `/boot-sources/${b.json.id}`)).status).toBe(204);
    expect((await call(admin, "DELETE", `/boot-sources/${b.json.id}`)).status).toBe(404);
    expect((await call(viewer, "GET", `/boot-sources/${b.json.id}`)).status).toBe(404);

    const ev = await events("boot_source.%");
    expect(ev.map((e) => e.type)).toEqual(["boot_source.created", "boot_source.created", "boot_source.updated", "boot_source.deleted"]);
    expect(ev[0]).toMatchObject({ level: "AUDIT", actor: "bs-admin" });
    expect(ev[0]!.description).toContain(KEY_A_FPR);
    expect(ev[2]!.description).toContain("https://mirror-b.test/ -> https://mirror-b2.test/");
    await call(admin, "DELETE", `/boot-sources/${a.json.id}`);
  });

  it("refuses a source without a keyring unless skip_verify is true, bad URLs, bad keyrings, private keys and duplicates", async () => {
    const none = await call(admin, "POST", "/boot-sources", { url: "http://nokey.test/" });
    expect(none.status).toBe(400);
    expect(none.json.error.message).toMatch(/keyring.*skip_verify/);
    expect((await call(admin, "POST", "/boot-sources", { url: "http://nokey.test/", skip_verify: false })).status).toBe(400);
    const skip = await call(admin, "POST", "/boot-sources", { url: "http://nokey.test/", skip_verify: true });
    expect(skip.status).toBe(201);
    expect(skip.json).toMatchObject({ skip_verify: true, keyring_fingerprints: [] });
    // Taking skip_verify back off with no keyring would leave an unverifiable source.
    expect((await call(admin, "PATCH", `/boot-sources/${skip.json.id}`, { skip_verify: false })).status).toBe(400);
    expect((await call(admin, "PATCH", `/boot-sources/${skip.json.id}`, { skip_verify: false, keyring_data: KEY_A_ARMORED })).status).toBe(200);
    expect((await call(admin, "PATCH", `/boot-sources/${skip.json.id}`, { keyring_data: null })).status).toBe(400);

    for (const url of ["ftp://x.test/", "file:///etc/passwd", "not a url", "http://"]) {
      const r = await call(admin, "POST", "/boot-sources", { url, skip_verify: true });
      expect(r.status, url).toBe(400);
    }
    const garbage = await call(admin, "POST", "/boot-sources", {
      url: "http://bad.test/",
      keyring_data: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n",
    });
    expect(garbage.status).toBe(400);
    expect(garbage.json.error.details[0].path).toBe("keyring_data");
    expect((await call(admin, "POST", "/boot-sources", { url: "http://bad.test/", keyring_data: "%%% not base64" })).status).toBe(400);
    expect((await call(admin, "POST", "/boot-sources", { url: "http://bad.test/", keyring_data: btoa("hello, not a key") })).status).toBe(400);
    const priv = await call(admin, "POST", "/boot-sources", {
      url: "http://bad.test/",
      keyring_data: "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxyz\n-----END PGP PRIVATE KEY BLOCK-----\n",
    });
    expect(priv.status).toBe(400);
    expect(priv.json.error.message).toContain("private key");
    expect(priv.text).not.toContain("xyz");
    expect((await call(admin, "POST", "/boot-sources", { url: "http://bad.test/", skip_verify: true, extra: 1 })).status).toBe(400);

    const dup = await call(admin, "POST", "/boot-sources", { url: "http://nokey.test/", keyring_data: KEY_A_ARMORED });
    expect(dup.status).toBe(409);
    const other = await call(admin, "POST", "/boot-sources", { url: "http://other.test/", skip_verify: true });
    expect((await call(admin, "PATCH", `/boot-sources/${other.json.id}`, { url: "http://nokey.test/" })).status).toBe(409);
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM boot_sources WHERE url LIKE 'http://bad.test%'").first<{ n: number }>())!.n).toBe(0);

    for (const [m, path, body] of [
      ["POST", "/boot-sources", { url: "http://viewer.test/", skip_verify: true }],
      ["PATCH", `/boot-sources/${other.json.id}`, { url: "http://viewer.test/" }],
      ["DELETE", `/boot-sources/${other.json.id}`, undefined],
      ["POST", `/boot-sources/${other.json.id}/selections`, { os: "ubuntu", release: "noble" }],
    ] as const) {
      expect((await call(viewer, m, path, body)).status, `${m} ${path}`).toBe(403);
    }
    expect((await call(admin, "GET", "/boot-sources/abc")).status).toBe(404);
    for (const id of [skip.json.id, other.json.id]) await call(admin, "DELETE", `/boot-sources/${id}`);
  });
});

describe("selections", () => {
  it("adds, lists, changes and removes selections, with words or '*' only and one per (os, release)", async () => {
    const src = (await call(admin, "POST", "/boot-sources", { url: "http://sel.test/", keyring_data: KEY_A_ARMORED })).json;
    const s = await call(admin, "POST", `/boot-sources/${src.id}/selections`, { os: "ubuntu", release: "noble", arches: ["amd64", "arm64"] });
    expect(s.status, JSON.stringify(s.json)).toBe(201);
    expect(s.json).toEqual({ id: s.json.id, source_id: src.id, os: "ubuntu", release: "noble", arches: ["amd64", "arm64"], subarches: ["*"], labels: ["*"] });
    const s2 = await call(admin, "POST", `/boot-sources/${src.id}/selections`, {
      os: "ubuntu",
      release: "jammy",
      arches: ["*"],
      labels: ["stable", "candidate"],
    });
    expect(s2.status).toBe(201);
    expect((await call(admin, "POST", `/boot-sources/${src.id}/selections`, { os: "ubuntu", release: "noble" })).status).toBe(409);

    for (const bad of [
      { os: "ubuntu", release: "no ble" },
      { os: "", release: "noble" },
      { os: "ubuntu", release: "x", arches: [] },
      { os: "ubuntu", release: "x", arches: ["*", "amd64"] },
      { os: "ubuntu", release: "x", subarches: ["hwe/22"] },
      { os: "ubuntu", release: "x", labels: ["a;b"] },
      { os: "ubuntu" },
    ]) {
      const r = await call(admin, "POST", `/boot-sources/${src.id}/selections`, bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
    }
    expect((await call(admin, "POST", "/boot-sources/999999/selections", { os: "ubuntu", release: "noble" })).status).toBe(404);

    const list = await call(viewer, "GET", `/boot-sources/${src.id}/selections`);
    expect(list.json.items.map((x: { release: string }) => x.release)).toEqual(["noble", "jammy"]);
    expect((await call(viewer, "GET", `/boot-sources/${src.id}`)).json.selections).toHaveLength(2);
    expect((await call(viewer, "GET", `/boot-sources/${src.id}/selections/${s.json.id}`)).json.release).toBe("noble");

    const p = await call(admin, "PATCH", `/boot-sources/${src.id}/selections/${s.json.id}`, { arches: ["amd64"], subarches: ["ga-24.04", "hwe-24.04"] });
    expect(p.status).toBe(200);
    expect(p.json).toMatchObject({ release: "noble", arches: ["amd64"], subarches: ["ga-24.04", "hwe-24.04"] });
    expect((await call(admin, "PATCH", `/boot-sources/${src.id}/selections/${s.json.id}`, { release: "jammy" })).status).toBe(409);

    expect((await call(admin, "DELETE", `/boot-sources/${src.id}/selections/${s2.json.id}`)).status).toBe(204);
    expect((await call(admin, "GET", `/boot-sources/${src.id}/selections/${s2.json.id}`)).status).toBe(404);

    const ev = await events("boot_source_selection.%");
    expect(ev.map((e) => e.type)).toEqual([
      "boot_source_selection.created",
      "boot_source_selection.created",
      "boot_source_selection.updated",
      "boot_source_selection.deleted",
    ]);
    expect(ev[0]!.description).toContain("ubuntu/noble");

    // Deleting the source takes its selections with it.
    expect((await call(admin, "DELETE", `/boot-sources/${src.id}`)).status).toBe(204);
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM boot_source_selections WHERE source_id = ?").bind(src.id).first<{ n: number }>())!.n).toBe(0);
  });
});
