// The image sync's pure parts inside workerd (selection filtering, the signature check with a
// key made here by openpgp, refusals of bad mirror files) and its API against the real D1 and
// the real ImageSync Durable Object. The sync against a real mirror is test/node/images/image-sync.test.ts.
import { env } from "cloudflare:workers";
import * as openpgp from "openpgp";
import { beforeAll, describe, expect, it } from "vitest";
import { scheduledImport } from "../../cloud/domain/image-sync";
import { mirrorRoot, readSource, selects, type Selection, wantedProducts } from "../../cloud/images/simplestreams";
import { fingerprints, readKeyring } from "../../cloud/images/keyring";
import { verifyClearsigned } from "../../cloud/images/signature";
import { ProductsFile } from "../../shared/simplestreams";
import { call, makeUser } from "./helpers";

const ALL_OF = { arches: ["*"], subarches: ["*"], labels: ["*"] };
const hex = (c: string) => c.repeat(64);

const products = ProductsFile.parse({
  content_id: "com.ubuntu.maas:test:v3:download",
  datatype: "image-downloads",
  format: "products:1.0",
  products: {
    "noble-amd64": {
      os: "ubuntu",
      release: "noble",
      arch: "amd64",
      subarch: "generic",
      versions: {
        "20261101": { items: { root: { ftype: "root-tgz", path: "noble/amd64/20261101/root.tgz", sha256: hex("1"), size: 10 } } },
        "20261201": {
          label: "stable",
          items: {
            kernel: { ftype: "boot-kernel", path: "noble/amd64/20261201/kernel", sha256: hex("2"), size: 5 },
            root: { ftype: "root-tgz", path: "noble/amd64/20261201/root.tgz", sha256: hex("3"), size: 11 },
          },
        },
      },
    },
    "noble-arm64": {
      os: "ubuntu",
      release: "noble",
      arch: "arm64",
      versions: { "20261201": { items: { root: { ftype: "root-tgz", path: "noble/arm64/root.tgz", sha256: hex("4"), size: 12 } } } },
    },
    "noble-hwe": {
      os: "ubuntu",
      release: "noble",
      arch: "amd64",
      subarch: "hwe-24.04",
      label: "candidate",
      versions: { "20261201": { items: { root: { ftype: "root-tgz", path: "noble/hwe/root.tgz", sha256: hex("5"), size: 13 } } } },
    },
    "jammy-amd64": {
      os: "ubuntu",
      release: "jammy",
      arch: "amd64",
      versions: { "20261201": { items: { root: { ftype: "root-tgz", path: "jammy/root.tgz", sha256: hex("6"), size: 14 } } } },
    },
  },
});

const names = (sels: Selection[]) =>
  wantedProducts(1, "http://mirror.test/", products, sels)
    .map((p) => `${p.os}/${p.release} ${p.architecture} ${p.label}`)
    .sort();

describe("selections", () => {
  it("take the newest version of exactly the products they name", () => {
    expect(names([{ os: "ubuntu", release: "noble", ...ALL_OF }])).toEqual([
      "ubuntu/noble amd64/generic stable",
      "ubuntu/noble amd64/hwe-24.04 candidate",
      "ubuntu/noble arm64/generic ",
    ]);
    expect(names([{ os: "ubuntu", release: "noble", ...ALL_OF, arches: ["amd64"], subarches: ["generic"] }])).toEqual(["ubuntu/noble amd64/generic stable"]);
    expect(names([{ os: "ubuntu", release: "noble", ...ALL_OF, labels: ["candidate"] }])).toEqual(["ubuntu/noble amd64/hwe-24.04 candidate"]);
    expect(names([{ os: "centos", release: "noble", ...ALL_OF }])).toEqual([]);
    const [noble] = wantedProducts(1, "http://mirror.test/base/", products, [
      { os: "ubuntu", release: "noble", ...ALL_OF, arches: ["amd64"], subarches: ["generic"] },
    ]);
    expect(noble!.version).toBe("20261201");
    expect(noble!.items.map((i) => i.url).sort()).toEqual([
      "http://mirror.test/base/noble/amd64/20261201/kernel",
      "http://mirror.test/base/noble/amd64/20261201/root.tgz",
    ]);
  });

  it("match subarch 'generic' for products naming none", () => {
    expect(selects({ os: "ubuntu", release: "noble", ...ALL_OF, subarches: ["generic"] }, { os: "ubuntu", release: "noble", arch: "arm64" })).toBe(true);
  });

  it("read the mirror root from either form of source URL", () => {
    expect(mirrorRoot("http://m.test/maas/streams/v1/index.sjson")).toBe("http://m.test/maas/");
    expect(mirrorRoot("http://m.test/maas")).toBe("http://m.test/maas/");
  });
});

/** A mirror in memory, served to readSource as a fetcher would. */
function serve(files: Record<string, string>) {
  return async (u: string) => {
    const path = new URL(u).pathname.slice(1);
    return path in files ? new Response(files[path]) : new Response("not found", { status: 404 });
  };
}

describe("signed sources", () => {
  let key: { privateKey: openpgp.PrivateKey; publicKey: string };
  let other: string;
  const index = JSON.stringify({
    format: "index:1.0",
    index: { test: { datatype: "image-downloads", format: "products:1.0", path: "streams/v1/test.json" } },
  });
  const sign = async (text: string) => openpgp.sign({ message: await openpgp.createCleartextMessage({ text }), signingKeys: key.privateKey });

  beforeAll(async () => {
    const k = await openpgp.generateKey({ type: "ecc", curve: "ed25519Legacy", userIDs: [{ name: "mirror", email: "m@plinth.invalid" }], format: "object" });
    key = { privateKey: k.privateKey, publicKey: k.publicKey.armor() };
    other = (await openpgp.generateKey({ type: "ecc", curve: "ed25519Legacy", userIDs: [{ name: "other" }], format: "armored" })).publicKey;
  });

  const source = (keyring: string | null, skip = false) => ({ id: 1, url: "http://mirror.test/", keyring_data: keyring, skip_verify: skip });
  const sel: Selection[] = [{ os: "ubuntu", release: "noble", ...ALL_OF }];

  it("verify with the keyring, armored or binary", async () => {
    const signed = await sign(index);
    const ok = await verifyClearsigned(signed, (await readKeyring(key.publicKey)).keys);
    expect(ok.ok).toBe(true);
    const binary = (await openpgp.readKey({ armoredKey: key.publicKey })).write();
    const b64 = btoa(String.fromCharCode(...binary));
    const { keys } = await readKeyring(b64);
    expect(fingerprints(keys)).toEqual([key.privateKey.getFingerprint().toUpperCase()]);
    expect((await verifyClearsigned(signed, keys)).ok).toBe(true);
  });

  it("read a whole signed mirror", async () => {
    const files = {
      "streams/v1/index.sjson": await sign(index),
      "streams/v1/test.sjson": await sign(JSON.stringify(products)),
    };
    const r = await readSource(source(key.publicKey), sel, serve(files));
    expect(r.ok && r.products.map((p) => p.product).sort()).toEqual(["noble-amd64", "noble-arm64", "noble-hwe"]);
  });

  it("refuse the whole source on a bad or missing signature, with the reason", async () => {
    const signed = await sign(index);
    const tampered = signed.replace('"index:1.0"', '"index:1.0" ');
    const products1 = await sign(JSON.stringify(products));
    const cases: [Record<string, string>, string | null, RegExp][] = [
      [{ "streams/v1/index.sjson": tampered, "streams/v1/test.sjson": products1 }, key.publicKey, /index\.sjson: bad signature/],
      [{ "streams/v1/index.sjson": signed, "streams/v1/test.sjson": products1 }, other, /index\.sjson: bad signature/],
      [{ "streams/v1/index.sjson": index, "streams/v1/test.sjson": products1 }, key.publicKey, /index\.sjson: not a clearsigned/],
      // An unsigned index next to the signed one is never read by a verifying source.
      [{ "streams/v1/index.json": index, "streams/v1/test.sjson": products1 }, key.publicKey, /index\.sjson: not found/],
      // The products file must be signed too.
      [{ "streams/v1/index.sjson": signed, "streams/v1/test.json": JSON.stringify(products) }, key.publicKey, /test\.sjson: listed by the index but not found/],
      [{ "streams/v1/index.sjson": signed, "streams/v1/test.sjson": products1 }, null, /no keyring/],
    ];
    for (const [files, keyring, reason] of cases) {
      const r = await readSource(source(keyring), sel, serve(files));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(reason);
    }
  });

  it("refuse bad JSON and files that are not simplestreams", async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ "streams/v1/index.json": "{not json" }, /index\.json: not JSON/],
      [{ "streams/v1/index.json": '{"format":"index:2.0","index":{}}' }, /index\.json: not a simplestreams file \(format/],
      [{ "streams/v1/index.json": index, "streams/v1/test.json": '{"format":"products:1.0"}' }, /test\.json: not a simplestreams file/],
      [
        {
          "streams/v1/index.json": index,
          "streams/v1/test.json": JSON.stringify({
            ...products,
            products: {
              x: {
                os: "ubuntu",
                release: "noble",
                arch: "amd64",
                versions: { "1": { items: { r: { ftype: "root-tgz", path: "../etc/passwd", sha256: hex("1"), size: 1 } } } },
              },
            },
          }),
        },
        /without '\.\.'/,
      ],
    ];
    for (const [files, reason] of cases) {
      const r = await readSource(source(null, true), sel, serve(files));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(reason);
    }
    // skip_verify reads the unsigned index.
    const r = await readSource(source(null, true), sel, serve({ "streams/v1/index.json": index, "streams/v1/test.json": JSON.stringify(products) }));
    expect(r.ok).toBe(true);
  });
});

describe("API", () => {
  let admin = "";
  let viewer = "";
  beforeAll(async () => {
    admin = await makeUser("sync-admin", [["admin", null]]);
    viewer = await makeUser("sync-viewer", [["viewer", null]]);
  });

  async function finished(id: number) {
    for (let i = 0; i < 100; i++) {
      const s = await call(viewer, "GET", "/image-sync");
      if (s.json.sync?.id === id && !s.json.running) return s.json.sync;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("the sync did not finish");
  }

  it("runs a sync in the background, one at a time, and says how it ended", async () => {
    const first = await call(viewer, "GET", "/image-sync");
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ running: false, items: [] });
    expect((await call(viewer, "POST", "/image-sync")).status).toBe(403);
    expect((await call(admin, "DELETE", "/image-sync")).json).toEqual({ stopped: false });
    // A source that refuses (nothing listens there): the sync fails with the reason.
    await env.DB.prepare("INSERT INTO boot_sources (url, skip_verify) VALUES ('http://127.0.0.1:9/', 1)").run();
    await env.DB.prepare("INSERT INTO boot_source_selections (source_id, os, release) SELECT id, 'ubuntu', 'noble' FROM boot_sources").run();
    const r = await call(admin, "POST", "/image-sync");
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ started: true, sync: { state: "running", trigger: "manual", actor: "sync-admin" } });
    const again = await call(admin, "POST", "/image-sync");
    if (again.json.started === false) expect(again.json.sync.id).toBe(r.json.sync.id);
    const done = await finished(again.json.sync.id);
    expect(done.state).toBe("failed");
    expect(done.error).toMatch(/source http:\/\/127\.0\.0\.1:9\/ refused: fetching .*index\.json failed/);
    const events = (await call(admin, "GET", "/events?type=IMAGE_SYNC_FAILED")).json.items;
    expect(events[0].description).toMatch(/refused/);
    await env.DB.prepare("DELETE FROM boot_sources").run();
    // With no source, a sync has nothing to do and completes.
    const empty = await call(admin, "POST", "/image-sync");
    expect(await finished(empty.json.sync.id)).toMatchObject({ state: "complete", items_total: 0, error: null });
  });

  it("syncs on the schedule: with a source, once the last sync is older than the interval, unless turned off", async () => {
    const count = async () => (await env.DB.prepare("SELECT count(*) AS n FROM image_syncs").first<{ n: number }>())!.n;
    const later = (h: number) => Date.now() + h * 3600_000;
    const n = await count();
    await scheduledImport(env, later(10));
    expect(await count(), "no source, no sync").toBe(n);
    // A source without selections: its sync has nothing to fetch.
    await env.DB.prepare("INSERT INTO boot_sources (url, skip_verify) VALUES ('http://127.0.0.1:9/cron/', 1)").run();
    await scheduledImport(env, Date.now());
    expect(await count(), "the last sync just finished").toBe(n);
    await scheduledImport({ ...env, PLINTH_IMAGE_SYNC_INTERVAL_S: "0" }, later(10));
    expect(await count(), "turned off").toBe(n);
    await scheduledImport(env, later(2));
    expect(await count()).toBe(n + 1);
    const last = await env.DB.prepare("SELECT id, trigger, actor FROM image_syncs ORDER BY id DESC LIMIT 1").first<{
      id: number;
      trigger: string;
      actor: string;
    }>();
    expect(last).toMatchObject({ trigger: "schedule", actor: "region" });
    expect(await finished(last!.id)).toMatchObject({ state: "complete" });
    await env.DB.prepare("DELETE FROM boot_sources").run();
  });
});
