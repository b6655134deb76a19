// boot-sources/ and their selections/ through the MAAS facade, called as python-libmaas's
// viscera BootSources / BootSourceSelections call them (multipart, base64 parts, the keyring a
// file part, "" for what it lacks, lists as repeated fields), and as gomaasapi reads them.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { KEY_A_ARMORED, KEYRING_AB_BASE64 } from "./boot-source-keys";
import { makeUser } from "./helpers";
import { maas, maasKey } from "./maas-helpers";

let admin: string;
let viewer: string;
beforeAll(async () => {
  admin = await maasKey(await makeUser("mbs-admin", [["admin", null]]));
  viewer = await maasKey(await makeUser("mbs-viewer", [["viewer", null]]));
});

const binaryAB = Uint8Array.from(atob(KEYRING_AB_BASE64), (c) => c.charCodeAt(0));
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/;

describe("boot-sources/ as python-libmaas calls it", () => {
  it("BootSources.create with a keyring file, read, BootSource.read, delete", async () => {
    // BootSources.create(url, keyring_data=open(..., "rb")): keyring_filename "" and the file part.
    const c = await maas(admin, "POST", "boot-sources/", {
      query: { op: "" },
      encoding: "multipart",
      form: { url: "http://libmaas-a.test/streams/v1/", keyring_filename: "" },
      files: { keyring_data: binaryAB },
    });
    expect(c.status, c.text).toBe(201);
    expect(c.json).toEqual({
      id: expect.any(Number),
      url: "http://libmaas-a.test/streams/v1/",
      keyring_filename: "",
      keyring_data: KEYRING_AB_BASE64,
      skip_keyring_verification: false,
      created: expect.stringMatching(ISO),
      updated: expect.stringMatching(ISO),
      resource_uri: `/MAAS/api/2.0/boot-sources/${c.json.id}/`,
    });
    const list = await maas(viewer, "GET", "boot-sources/", { style: "libmaas" });
    expect(list.status).toBe(200);
    expect(list.json.find((s: { id: number }) => s.id === c.json.id)).toEqual(c.json);
    const one = await maas(viewer, "GET", `boot-sources/${c.json.id}/`, { style: "libmaas" });
    expect(one.json).toEqual(c.json);

    // An armoured key as the file (what `gpg --armor --export` writes) is stored as MAAS stores it: binary.
    const armored = await maas(admin, "POST", "boot-sources/", {
      query: { op: "" },
      encoding: "multipart",
      form: { url: "http://libmaas-b.test/", keyring_filename: "" },
      files: { keyring_data: new TextEncoder().encode(KEY_A_ARMORED) },
    });
    expect(armored.status, armored.text).toBe(201);
    const back = Uint8Array.from(atob(armored.json.keyring_data), (ch) => ch.charCodeAt(0));
    expect(back[0]! & 0x80).toBe(0x80); // an OpenPGP packet tag, not armour text
    const api = await env.DB.prepare("SELECT id FROM boot_sources WHERE url = 'http://libmaas-b.test/'").first<{ id: number }>();
    expect(api!.id).toBe(armored.json.id);

    // PUT changes what it names.
    const u = await maas(admin, "PUT", `boot-sources/${armored.json.id}/`, { encoding: "multipart", form: { keyring_filename: "ubuntu.gpg" } });
    expect(u.status, u.text).toBe(200);
    expect(u.json).toMatchObject({ url: "http://libmaas-b.test/", keyring_filename: "ubuntu.gpg", keyring_data: armored.json.keyring_data });

    expect((await maas(viewer, "DELETE", `boot-sources/${c.json.id}/`, { style: "libmaas" })).status).toBe(403);
    expect((await maas(admin, "DELETE", `boot-sources/${c.json.id}/`, { style: "libmaas" })).status).toBe(204);
    const gone = await maas(viewer, "GET", `boot-sources/${c.json.id}/`);
    expect(gone.status).toBe(404);
    expect(gone.text).toBe("No BootSource matches the given query.");
    await maas(admin, "DELETE", `boot-sources/${armored.json.id}/`);
  });

  it("refuses what MAAS's form refuses, as field errors: no keyring, bad keyring, bad URL, a URL taken", async () => {
    // BootSources.create(url) with neither keyring: libmaas sends both as "".
    const none = await maas(admin, "POST", "boot-sources/", {
      query: { op: "" },
      encoding: "multipart",
      form: { url: "http://libmaas-none.test/", keyring_filename: "", keyring_data: "" },
    });
    expect(none.status).toBe(400);
    expect(Object.keys(none.json)).toEqual(["keyring_data"]);
    const file = await maas(admin, "POST", "boot-sources/", {
      encoding: "multipart",
      form: { url: "http://libmaas-none.test/", keyring_filename: "/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg" },
    });
    expect(file.status).toBe(400);
    expect(file.json.keyring_data[0]).toContain("keyring_data");
    const skip = await maas(admin, "POST", "boot-sources/", { form: { url: "http://libmaas-none.test/", skip_keyring_verification: "true" } });
    expect(skip.status, skip.text).toBe(201);
    expect(skip.json).toMatchObject({ keyring_data: "", skip_keyring_verification: true });

    const bad = await maas(admin, "POST", "boot-sources/", {
      encoding: "multipart",
      form: { url: "http://libmaas-bad.test/" },
      files: { keyring_data: new Uint8Array([1, 2, 3, 4]) },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.keyring_data).toHaveLength(1);
    const badUrl = await maas(admin, "POST", "boot-sources/", { form: { url: "gopher://x/", keyring_data: KEYRING_AB_BASE64 } });
    expect(badUrl.status).toBe(400);
    expect(Object.keys(badUrl.json)).toEqual(["url"]);
    const taken = await maas(admin, "POST", "boot-sources/", { form: { url: "http://libmaas-none.test/", keyring_data: KEYRING_AB_BASE64 } });
    expect(taken.status).toBe(400);
    expect(taken.json).toEqual({ url: ["Boot source with this Url already exists."] });
    expect((await maas(viewer, "POST", "boot-sources/", { form: { url: "http://viewer.test/", skip_keyring_verification: "true" } })).status).toBe(403);
    await maas(admin, "DELETE", `boot-sources/${skip.json.id}/`);
  });
});

describe("boot-sources/{id}/selections/ as python-libmaas calls it", () => {
  it("BootSourceSelections.create/read, BootSourceSelection.read/delete, PUT", async () => {
    const src = (await maas(admin, "POST", "boot-sources/", { form: { url: "http://libmaas-sel.test/", keyring_data: KEYRING_AB_BASE64 } })).json;
    // BootSourceSelections.create(source, "ubuntu", "noble", arches=["amd64", "arm64"]): the rest ["*"].
    const c = await maas(admin, "POST", `boot-sources/${src.id}/selections/`, {
      query: { op: "" },
      encoding: "multipart",
      form: [
        ["os", "ubuntu"],
        ["release", "noble"],
        ["arches", "amd64"],
        ["arches", "arm64"],
        ["subarches", "*"],
        ["labels", "*"],
      ],
    });
    expect(c.status, c.text).toBe(200);
    expect(c.json).toEqual({
      boot_source_id: src.id,
      id: expect.any(Number),
      os: "ubuntu",
      release: "noble",
      arches: ["amd64", "arm64"],
      subarches: ["*"],
      labels: ["*"],
      resource_uri: `/MAAS/api/2.0/boot-sources/${src.id}/selections/${c.json.id}/`,
    });
    const dup = await maas(admin, "POST", `boot-sources/${src.id}/selections/`, { encoding: "multipart", form: { os: "ubuntu", release: "noble" } });
    expect(dup.status).toBe(400);
    expect(dup.json.__all__).toHaveLength(1);
    expect((await maas(admin, "POST", `boot-sources/${src.id}/selections/`, { form: { os: "ubuntu", release: "bad release" } })).status).toBe(400);
    expect((await maas(admin, "POST", "boot-sources/999999/selections/", { form: { os: "ubuntu", release: "noble" } })).status).toBe(404);

    const j = await maas(admin, "POST", `boot-sources/${src.id}/selections/`, { form: { os: "ubuntu", release: "jammy", arches: "amd64" } });
    expect(j.json).toMatchObject({ arches: ["amd64"], subarches: ["*"], labels: ["*"] });

    const list = await maas(viewer, "GET", `boot-sources/${src.id}/selections/`, { style: "libmaas" });
    expect(list.json.map((s: { release: string }) => s.release)).toEqual(["noble", "jammy"]);
    expect((await maas(viewer, "GET", `boot-sources/${src.id}/selections/${c.json.id}/`)).json).toEqual(c.json);

    const u = await maas(admin, "PUT", `boot-sources/${src.id}/selections/${c.json.id}/`, { form: [["arches", "amd64"]] });
    expect(u.status, u.text).toBe(200);
    expect(u.json).toMatchObject({ release: "noble", arches: ["amd64"] });

    expect((await maas(viewer, "DELETE", `boot-sources/${src.id}/selections/${j.json.id}/`)).status).toBe(403);
    expect((await maas(admin, "DELETE", `boot-sources/${src.id}/selections/${j.json.id}/`)).status).toBe(204);
    const gone = await maas(viewer, "GET", `boot-sources/${src.id}/selections/${j.json.id}/`);
    expect(gone.status).toBe(404);
    // The /api/v1 view of the same rows.
    const { results } = await env.DB.prepare("SELECT os, release, arches FROM boot_source_selections WHERE source_id = ?").bind(src.id).all();
    expect(results).toEqual([{ os: "ubuntu", release: "noble", arches: '["amd64"]' }]);
    await maas(admin, "DELETE", `boot-sources/${src.id}/`);
  });

  it("the import ops are a global admin's", async () => {
    for (const op of ["import", "stop_import"]) expect((await maas(viewer, "POST", "boot-resources/", { query: { op } })).status, op).toBe(403);
  });

  it("describe/ lists the handlers with the paths MAAS uses", async () => {
    const d = await maas(viewer, "GET", "describe/");
    const paths = (d.json.resources as { auth: { path: string } | null }[]).flatMap((r) => (r.auth ? [r.auth.path] : []));
    for (const p of ["boot-sources/", "boot-sources/{id}/", "boot-sources/{boot_source_id}/selections/", "boot-sources/{boot_source_id}/selections/{id}/"]) {
      expect(paths).toContain(`/MAAS/api/2.0/${p}`);
    }
  });
});
