// files/ through the MAAS facade as Juju's MAAS provider storage uses it (gomaasapi: a raw
// multipart upload, `?op=` always) and as the maas CLI sends it (base64 parts); per-owner
// isolation and the anonymous key URL as MAAS's src/maasserver/api/files.py has them.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { makeUser } from "./helpers";
import { maas, maasKey } from "./maas-helpers";

let admin: string;
let op: string;
let other: string;
let viewer: string;

const FILES = () => (env as unknown as { FILES: R2Bucket }).FILES;

beforeAll(async () => {
  admin = await maasKey(await makeUser("f-admin", [["admin", null]]));
  op = await maasKey(await makeUser("f-op", [["operator", null]]));
  other = await maasKey(await makeUser("f-other", [["operator", null]]));
  viewer = await maasKey(await makeUser("f-viewer", [["viewer", null]]));
});

/** Every byte value, then some text: what a tarball or a YAML file would carry. */
function content(tag: string): Uint8Array {
  const tail = new TextEncoder().encode(`\r\n--not-a-boundary\r\n${tag}\n`);
  const u = new Uint8Array(256 + tail.length);
  for (let i = 0; i < 256; i++) u[i] = i;
  u.set(tail, 256);
  return u;
}

const b64decode = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
/** Large arrays are compared by digest: vitest's deep equality is slow on megabytes. */
const digest = async (u: Uint8Array) => [...new Uint8Array(await crypto.subtle.digest("SHA-256", u))].map((b) => b.toString(16).padStart(2, "0")).join("");
const names = (r: { json: { filename: string }[] }) => r.json.map((f) => f.filename);

/** The two shapes a file upload comes in: gomaasapi's raw parts, the CLI's base64 parts. */
const UPLOADS = [
  { client: "gomaasapi", encoding: "gomultipart" },
  { client: "maas CLI", encoding: "multipart" },
] as const;

describe("Juju's provider storage flow", () => {
  for (const { client, encoding } of UPLOADS) {
    it(`${client}: add, list with prefix, get, read as JSON, anonymous key URL, overwrite, delete`, async () => {
      const model = `model-${encoding}`;
      const state = content(`${model} provider-state`);
      const tools = content(`${model} tools`);
      // gomaasapi's AddFile: POST files/?op= (create); older providers send op=add.
      const a = await maas(op, "POST", "files/", { query: { op: "" }, encoding, form: { filename: `${model}-provider-state` }, files: { file: state } });
      expect(a.status).toBe(201);
      expect(a.text).toBe("");
      const b = await maas(op, "POST", "files/", {
        query: { op: "add" },
        encoding,
        form: { filename: `${model}-tools/releases/juju.tgz` },
        files: { file: tools },
      });
      expect(b.status).toBe(201);
      await maas(op, "POST", "files/", { query: { op: "" }, encoding, form: { filename: `zz-${model}-other` }, files: { file: new Uint8Array() } });

      const list = await maas(op, "GET", "files/", { query: { prefix: `${model}-` } });
      expect(list.status).toBe(200);
      expect(names(list)).toEqual([`${model}-provider-state`, `${model}-tools/releases/juju.tgz`]);
      expect(list.json[1]).toEqual({
        filename: `${model}-tools/releases/juju.tgz`,
        owner: "f-op",
        resource_uri: `/MAAS/api/2.0/files/${model}-tools/releases/juju.tgz/`,
        anon_resource_uri: expect.stringMatching(/^\/MAAS\/api\/2\.0\/files\/\?op=get_by_key&key=[0-9a-f-]{36}$/),
      });
      const all = names(await maas(op, "GET", "files/"));
      expect(all).toEqual([...all].sort());
      expect(all).toContain(`zz-${model}-other`);

      // op=get: the raw bytes.
      const got = await maas(op, "GET", "files/", { query: { op: "get", filename: `${model}-provider-state` } });
      expect(got.status).toBe(200);
      expect(got.bytes).toEqual(state);
      expect((await maas(op, "GET", "files/", { query: { op: "get", filename: `zz-${model}-other` } })).bytes).toEqual(new Uint8Array());

      // files/{filename}/: JSON with the content base64, slashes in the name kept in the URL.
      const obj = await maas(op, "GET", list.json[1].resource_uri);
      expect(obj.status).toBe(200);
      expect(obj.headers.get("content-type")).toMatch(/^application\/json/);
      expect(obj.json).toMatchObject({
        filename: `${model}-tools/releases/juju.tgz`,
        owner: "f-op",
        resource_uri: list.json[1].resource_uri,
        anon_resource_uri: list.json[1].anon_resource_uri,
      });
      expect(b64decode(obj.json.content)).toEqual(tools);

      // Juju's agents read through the key URL without credentials.
      const anon = await maas(null, "GET", obj.json.anon_resource_uri);
      expect(anon.status).toBe(200);
      expect(anon.bytes).toEqual(tools);

      // Storing the name again replaces the content and keeps the key; the old bytes go.
      const before = (await FILES().list({ prefix: "maas-files/" })).objects.length;
      const newer = content(`${model} provider-state v2`);
      expect(
        (await maas(op, "POST", "files/", { query: { op: "" }, encoding, form: { filename: `${model}-provider-state` }, files: { file: newer } })).status,
      ).toBe(201);
      expect((await FILES().list({ prefix: "maas-files/" })).objects.length).toBe(before);
      expect((await maas(op, "GET", "files/", { query: { op: "get", filename: `${model}-provider-state` } })).bytes).toEqual(newer);
      expect((await maas(op, "GET", "files/", { query: { prefix: `${model}-provider` } })).json[0].anon_resource_uri).toBe(list.json[0].anon_resource_uri);

      // Delete by object URL and on the collection (filename in the query), as MAAS has both.
      const d1 = await maas(op, "DELETE", list.json[1].resource_uri);
      expect(d1.status).toBe(204);
      expect(d1.text).toBe("");
      const gone = await maas(op, "GET", list.json[1].resource_uri);
      expect(gone.status).toBe(404);
      expect(gone.text).toBe("Not Found");
      expect(gone.headers.get("workaround")).toBe("bug1123986");
      expect((await maas(null, "GET", obj.json.anon_resource_uri)).status).toBe(404);
      expect((await maas(op, "DELETE", "files/", { query: { filename: `${model}-provider-state` } })).status).toBe(204);
      expect((await maas(op, "DELETE", "files/", { query: { filename: `${model}-provider-state` } })).status).toBe(404);
      expect((await maas(op, "DELETE", `files/zz-${model}-other/`)).status).toBe(204);
      expect(names(await maas(op, "GET", "files/", { query: { prefix: `${model}-` } }))).toEqual([]);
      expect((await FILES().list({ prefix: "maas-files/" })).objects.length).toBe(before - 3);
    });
  }

  it("urlencoded (gomaasapi without a file part) and other malformed uploads: MAAS's 400s", async () => {
    let r = await maas(op, "POST", "files/", { query: { op: "" }, form: { filename: "no-file" } });
    expect(r.status).toBe(400);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(r.text).toBe("File not supplied");
    r = await maas(op, "POST", "files/", { query: { op: "" }, encoding: "multipart", files: { file: content("x") } });
    expect(r.text).toBe("Filename not supplied");
    r = await maas(op, "POST", "files/", {
      query: { op: "" },
      encoding: "multipart",
      form: { filename: "two" },
      files: { file: content("x"), file2: content("y") },
    });
    expect(r.status).toBe(400);
    expect(r.text).toBe("Exactly one file must be supplied");
    r = await maas(op, "POST", "files/", { query: { op: "" }, encoding: "gomultipart", form: { filename: "a/../b" }, files: { file: content("x") } });
    expect(r.status).toBe(400);
    expect(r.json).toHaveProperty("filename");
    r = await maas(op, "POST", "files/", { query: { op: "" }, encoding: "gomultipart", form: { filename: "x".repeat(256) }, files: { file: content("x") } });
    expect(r.json).toHaveProperty("filename");
    expect((await maas(op, "GET", "files/", { query: { op: "get" } })).text).toBe("No provided filename!");
    expect((await maas(op, "GET", "files/", { query: { op: "get", filename: "missing" } })).text).toBe("File not found");
    expect((await maas(op, "GET", "files/", { query: { op: "get_by_key" } })).status).toBe(400);
    expect((await maas(null, "GET", "files/", { query: { op: "get_by_key", key: "00000000-0000-0000-0000-000000000000" } })).status).toBe(404);
    expect((await maas(op, "DELETE", "files/")).text).toBe("No provided filename!");
    expect((await maas(op, "PUT", "files/", { form: { filename: "x" } })).status).toBe(405);
  });

  it(`a last segment "op-…" is a file name unless the handler has that op (MAAS 3.8's path form)`, async () => {
    const c = content("op");
    expect(
      (await maas(op, "POST", "files/", { query: { op: "" }, encoding: "gomultipart", form: { filename: "pathop/op-state" }, files: { file: c } })).status,
    ).toBe(201);
    const obj = await maas(op, "GET", "files/pathop/op-state/");
    expect(obj.status).toBe(200);
    expect(obj.json.resource_uri).toBe("/MAAS/api/2.0/files/pathop/op-state/");
    expect(b64decode(obj.json.content)).toEqual(c);
    expect((await maas(op, "GET", "files/op-get/", { query: { filename: "pathop/op-state" } })).bytes).toEqual(c);
    expect((await maas(op, "DELETE", "files/pathop/op-state/")).status).toBe(204);
  });

  it("a few MiB of random bytes come back whole, raw and as streamed base64", async () => {
    const big = new Uint8Array(3 * 1024 * 1024 + 7);
    for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
    expect(
      (await maas(op, "POST", "files/", { query: { op: "" }, encoding: "multipart", form: { filename: "big-random" }, files: { file: big } })).status,
    ).toBe(201);
    const raw = await maas(op, "GET", "files/", { query: { op: "get", filename: "big-random" } });
    expect(raw.headers.get("content-length")).toBe(String(big.length));
    const want = await digest(big);
    expect(await digest(raw.bytes)).toBe(want);
    expect(await digest(b64decode((await maas(op, "GET", "files/big-random/")).json.content))).toBe(want);
    expect((await maas(op, "DELETE", "files/big-random/")).status).toBe(204);
  });

  it("32 MiB is stored; a byte more is 413 with a clear message, and nothing is stored", async () => {
    const big = new Uint8Array(32 * 1024 * 1024 + 1);
    const r = await maas(op, "POST", "files/", { query: { op: "" }, encoding: "gomultipart", form: { filename: "too-big" }, files: { file: big } });
    expect(r.status).toBe(413);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(r.text).toBe("The file is over 32 MiB, the largest Plinth stores.");
    expect((await maas(op, "GET", "files/", { query: { prefix: "too-big" } })).json).toEqual([]);
    const ok = await maas(op, "POST", "files/", {
      query: { op: "" },
      encoding: "gomultipart",
      form: { filename: "just-fits" },
      files: { file: big.subarray(1) },
    });
    expect(ok.status).toBe(201);
    expect((await maas(op, "DELETE", "files/just-fits/")).status).toBe(204);
  }, 60_000);
});

describe("files belong to their owner", () => {
  it("another user, an admin included, neither lists, reads nor deletes them; the same name is theirs to use; the key URL works for anyone", async () => {
    const mine = content("mine");
    const theirs = content("theirs");
    expect(
      (await maas(op, "POST", "files/", { query: { op: "" }, encoding: "gomultipart", form: { filename: "iso-shared" }, files: { file: mine } })).status,
    ).toBe(201);
    const key = (await maas(op, "GET", "files/", { query: { prefix: "iso-shared" } })).json[0].anon_resource_uri as string;
    for (const k of [other, admin, viewer]) {
      expect(names(await maas(k, "GET", "files/", { query: { prefix: "iso-" } }))).toEqual([]);
      expect((await maas(k, "GET", "files/", { query: { op: "get", filename: "iso-shared" } })).status).toBe(404);
      expect((await maas(k, "GET", "files/iso-shared/")).status).toBe(404);
      expect((await maas(k, "DELETE", "files/iso-shared/")).status).toBe(404);
      expect((await maas(k, "DELETE", "files/", { query: { filename: "iso-shared" } })).status).toBe(404);
      // Holding the key is what gives access, as in MAAS.
      expect((await maas(k, "GET", key)).bytes).toEqual(mine);
    }
    expect(
      (await maas(other, "POST", "files/", { query: { op: "" }, encoding: "multipart", form: { filename: "iso-shared" }, files: { file: theirs } })).status,
    ).toBe(201);
    expect((await maas(other, "GET", "files/", { query: { op: "get", filename: "iso-shared" } })).bytes).toEqual(theirs);
    expect((await maas(op, "GET", "files/", { query: { op: "get", filename: "iso-shared" } })).bytes).toEqual(mine);
    const theirKey = (await maas(other, "GET", "files/iso-shared/")).json.anon_resource_uri;
    expect(theirKey).not.toBe(key);
    expect((await maas(other, "DELETE", "files/iso-shared/")).status).toBe(204);
    expect((await maas(op, "GET", "files/iso-shared/")).status).toBe(200);
  });

  it("anonymous callers only get by key; a bad key is 401", async () => {
    expect((await maas(null, "GET", "files/")).status).toBe(401);
    expect((await maas(null, "GET", "files/", { query: { op: "get", filename: "iso-shared" } })).status).toBe(401);
    expect((await maas(null, "GET", "files/iso-shared/")).status).toBe(401);
    expect(
      (await maas(null, "POST", "files/", { query: { op: "" }, encoding: "gomultipart", form: { filename: "anon" }, files: { file: content("a") } })).status,
    ).toBe(401);
    expect((await maas("bad:bad:bad", "GET", "files/")).status).toBe(401);
    // Unsigned, a large upload is refused before it is read past the API's usual limit.
    const big = await maas(null, "POST", "files/", {
      query: { op: "" },
      encoding: "gomultipart",
      form: { filename: "anon" },
      files: { file: new Uint8Array(1024 * 1024) },
    });
    expect(big.status).toBe(413);
  });

  it("describe/ lists FilesHandler (get_by_key anonymous too) and FileHandler", async () => {
    const d = await maas(null, "GET", "describe/");
    const files = d.json.resources.find((x: { name: string }) => x.name === "FilesHandler");
    expect(files.auth.path).toBe("/MAAS/api/2.0/files/");
    expect(files.auth.actions.map((a: { name: string }) => a.name)).toEqual(["add", "create", "delete", "get", "get_by_key", "read"]);
    expect(files.anon.actions.map((a: { name: string }) => a.name)).toEqual(["get_by_key"]);
    const file = d.json.resources.find((x: { name: string }) => x.name === "FileHandler");
    expect(file.auth).toMatchObject({ path: "/MAAS/api/2.0/files/{filename}/", params: ["filename"] });
    expect(file.auth.actions.map((a: { name: string }) => a.name)).toEqual(["delete", "read"]);
  });
});
