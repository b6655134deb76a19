// The test mirror rig itself: its signed index verifies with Debian's gpg (clearsigned) and sqv
// (the detached signature), stops verifying once tampered with, and serves from its namespace
// to the host the very bytes its products file describes.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IndexFile, ProductsFile, SIGNED_INDEX, UNSIGNED_INDEX } from "../../../shared/simplestreams";
import { type Mirror, startMirror } from "./mirror-rig";

let m: Mirror;
let tmp = "";
let kernel = "";
let root = "";

function curl(url: string, out: string): void {
  execFileSync("curl", ["-fsS", "--max-time", "20", "-o", out, url]);
}

function sha256(path: string): string {
  return execFileSync("sha256sum", [path], { encoding: "utf8" }).split(" ")[0]!;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "plinth-mirror-test-"));
  kernel = join(tmp, "vmlinuz");
  root = join(tmp, "root.tgz");
  writeFileSync(kernel, randomBytes(100_000));
  writeFileSync(root, randomBytes(3_000_000));
  m = await startMirror({
    ns: "plmir-",
    products: [
      {
        os: "debian",
        release: "bookworm",
        arch: "amd64",
        version: "20260101",
        files: [
          { ftype: "boot-kernel", file: kernel },
          { ftype: "root-tgz", file: root },
        ],
      },
    ],
  });
});

afterAll(async () => {
  await m?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function gpgVerify(file: string): { ok: boolean; out: string } {
  const home = mkdtempSync(join(tmp, "verify-"));
  writeFileSync(join(home, "key.asc"), m.keyring);
  execFileSync("gpg", ["--homedir", home, "--batch", "--import", join(home, "key.asc")], { stdio: "ignore" });
  const r = spawnSync("gpg", ["--homedir", home, "--batch", "--status-fd", "1", "--verify", file], { encoding: "utf8" });
  spawnSync("gpgconf", ["--homedir", home, "--kill", "gpg-agent"]);
  return { ok: r.status === 0 && r.stdout.includes(`VALIDSIG ${m.fingerprint}`), out: r.stdout + r.stderr };
}

function sqv(sig: string, file: string): { ok: boolean; out: string } {
  const key = join(tmp, "key.asc");
  writeFileSync(key, m.keyring);
  const r = spawnSync("sqv", ["--keyring", key, sig, file], { encoding: "utf8" });
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

describe("test mirror rig", () => {
  it("publishes a signed index that gpg and sqv verify, and serves items from the namespace", () => {
    expect(m.url).toMatch(/^http:\/\/10\.\d+\.\d+\.2:80\/$/);
    expect(m.keyring).toContain("BEGIN PGP PUBLIC KEY BLOCK");
    const sjson = join(tmp, "index.sjson");
    curl(`${m.url}${SIGNED_INDEX}`, sjson);
    const v = gpgVerify(sjson);
    expect(v.ok, v.out).toBe(true);
    const json = join(tmp, "index.json");
    const sig = join(tmp, "index.json.gpg");
    curl(`${m.url}${UNSIGNED_INDEX}`, json);
    curl(`${m.url}${UNSIGNED_INDEX}.gpg`, sig);
    const s = sqv(sig, json);
    expect(s.ok, s.out).toBe(true);

    const index = IndexFile.parse(JSON.parse(readFileSync(json, "utf8")));
    const entry = Object.values(index.index)[0]!;
    const productsFile = join(tmp, "products.json");
    curl(`${m.url}${entry.path}`, productsFile);
    const signedProducts = join(tmp, "products.sjson");
    curl(`${m.url}${entry.path.replace(/\.json$/, ".sjson")}`, signedProducts);
    expect(gpgVerify(signedProducts).ok).toBe(true);
    const products = ProductsFile.parse(JSON.parse(readFileSync(productsFile, "utf8")));
    expect(Object.keys(products.products)).toEqual(entry.products);
    const product = Object.values(products.products)[0]!;
    expect(product).toMatchObject({ os: "debian", release: "bookworm", arch: "amd64" });
    const item = product.versions["20260101"]!.items["root-tgz"]!;
    expect(item.size).toBe(3_000_000);
    const got = join(tmp, "root.got");
    curl(`${m.url}${item.path}`, got);
    expect(sha256(got)).toBe(item.sha256);
    expect(item.sha256).toBe(sha256(root));
  });

  it("serves a byte range (a resumed download)", () => {
    const item = JSON.parse(
      readFileSync(join(m.dir, "streams/v1", readFileSync(join(m.dir, UNSIGNED_INDEX), "utf8").match(/"path": "streams\/v1\/([^"]+)"/)![1]!), "utf8"),
    ).products;
    const path = (Object.values(item)[0] as { versions: Record<string, { items: Record<string, { path: string }> }> }).versions["20260101"]!.items["root-tgz"]!
      .path;
    const out = execFileSync("curl", ["-fsS", "--max-time", "20", "-r", "1000-1009", `${m.url}${path}`]);
    expect(out.equals(readFileSync(root).subarray(1000, 1010))).toBe(true);
  });

  it("re-publishes a new set and re-signs it", async () => {
    await m.publish([
      { os: "debian", release: "bookworm", arch: "amd64", version: "20260101", files: [{ ftype: "root-tgz", file: root }] },
      { os: "debian", release: "bookworm", arch: "amd64", version: "20260202", files: [{ ftype: "root-tgz", file: kernel }] },
    ]);
    const sjson = join(tmp, "index2.sjson");
    curl(`${m.url}${SIGNED_INDEX}`, sjson);
    expect(gpgVerify(sjson).ok).toBe(true);
    const products = ProductsFile.parse(
      JSON.parse(
        readFileSync(join(m.dir, Object.values(IndexFile.parse(JSON.parse(readFileSync(join(m.dir, UNSIGNED_INDEX), "utf8"))).index)[0]!.path), "utf8"),
      ),
    );
    const product = Object.values(products.products)[0]!;
    expect(Object.keys(product.versions).sort()).toEqual(["20260101", "20260202"]);
    // The dropped kernel item is gone from the mirror.
    expect(
      spawnSync("curl", ["-fsS", "--max-time", "20", "-o", "/dev/null", `${m.url}debian/bookworm/amd64/20260101/generic/stable/boot-kernel`]).status,
    ).not.toBe(0);
  });

  it("fails verification after tamperIndex, with the signature kept", async () => {
    const before = readFileSync(join(m.dir, SIGNED_INDEX), "utf8");
    await m.tamperIndex();
    const after = readFileSync(join(m.dir, SIGNED_INDEX), "utf8");
    expect(after.length).toBe(before.length);
    expect(after.slice(after.indexOf("-----BEGIN PGP SIGNATURE"))).toBe(before.slice(before.indexOf("-----BEGIN PGP SIGNATURE")));
    const sjson = join(tmp, "tampered.sjson");
    curl(`${m.url}${SIGNED_INDEX}`, sjson);
    const v = gpgVerify(sjson);
    expect(v.ok, v.out).toBe(false);
    expect(v.out).toContain("BADSIG");
    const json = join(tmp, "tampered.json");
    const sig = join(tmp, "tampered.json.gpg");
    curl(`${m.url}${UNSIGNED_INDEX}`, json);
    curl(`${m.url}${UNSIGNED_INDEX}.gpg`, sig);
    expect(sqv(sig, json).ok).toBe(false);
    // Still the same JSON shape: a reader must refuse it for the signature alone.
    expect(IndexFile.safeParse(JSON.parse(readFileSync(json, "utf8"))).success).toBe(true);
  });

  it("serves an unsigned mirror when asked (sign: false): index.json only, no key", async () => {
    const u = await startMirror({
      ns: "plmir-",
      sign: false,
      products: [{ os: "debian", release: "bookworm", arch: "amd64", version: "1", files: [{ ftype: "root-tgz", file: root }] }],
    });
    try {
      expect(u.keyring).toBe("");
      curl(`${u.url}${UNSIGNED_INDEX}`, join(tmp, "u.json"));
      expect(IndexFile.safeParse(JSON.parse(readFileSync(join(tmp, "u.json"), "utf8"))).success).toBe(true);
      expect(spawnSync("curl", ["-fsS", "--max-time", "20", "-o", "/dev/null", `${u.url}${SIGNED_INDEX}`]).status).not.toBe(0);
    } finally {
      await u.stop();
    }
  });

  it("stop() removes the namespace", async () => {
    const ns = m.ns;
    await m.stop();
    expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toContain(ns);
    m = undefined as unknown as Mirror;
  });
});
