// `npm run images -- publish`: the real command (images/build.sh → images/publish-cli.ts) writes
// a mirror whose streams pass the shared schemas, whose items are the built bytes, and whose
// index and products files gpg verifies with the operator's key; re-publishing adds versions
// and --keep trims them; unsigned only when asked.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildIndex, buildProducts, productName } from "../../../images/publish";
import { builtProducts } from "../../../images/publish-cli";
import { IndexFile, ProductsFile, ROOT_FTYPES, SIGNED_INDEX, UNSIGNED_INDEX } from "../../../shared/simplestreams";
import { throwawayKey } from "./mirror-rig";

const repo = resolve(import.meta.dirname, "../../..");
let tmp = "";
let home = "";
let key = { fingerprint: "", keyring: "" };

function publish(args: string[]): { code: number | null; out: string } {
  const r = spawnSync("bash", [join(repo, "images/build.sh"), "publish", ...args], {
    encoding: "utf8",
    cwd: repo,
    timeout: 120_000,
    env: { ...process.env, INIT_CWD: repo },
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

function sha256(path: string): string {
  return execFileSync("sha256sum", [path], { encoding: "utf8" }).split(" ")[0]!;
}

function gpgVerify(file: string): boolean {
  const r = spawnSync("gpg", ["--homedir", home, "--batch", "--status-fd", "1", "--verify", file], { encoding: "utf8" });
  return r.status === 0 && r.stdout.includes(`VALIDSIG ${key.fingerprint}`);
}

function read(dir: string): { index: IndexFile; products: ProductsFile } {
  const index = IndexFile.parse(JSON.parse(readFileSync(join(dir, UNSIGNED_INDEX), "utf8")));
  const entry = Object.values(index.index)[0]!;
  return { index, products: ProductsFile.parse(JSON.parse(readFileSync(join(dir, entry.path), "utf8"))) };
}

/** Writes as the image builds do: a new file renamed into place, so published hard links keep the old bytes. */
function put(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** A build directory shaped like images/build: the boot environment's manifest and one OS image. */
function fixture(dir: string, seed: string): string {
  mkdirSync(join(dir, "os/debian-bookworm"), { recursive: true });
  const boot: Record<string, { size: number; sha256: string }> = {};
  for (const f of ["vmlinuz", "initrd.img", "testdisk.raw", "testdisk.raw.zst"]) {
    put(join(dir, f), `${seed} ${f} ${randomBytes(2000).toString("hex")}`);
    boot[f] = { size: statSync(join(dir, f)).size, sha256: sha256(join(dir, f)) };
  }
  put(join(dir, "manifest.json"), JSON.stringify({ kernel_version: "6.1.0-test", files: boot }));
  const os = join(dir, "os/debian-bookworm");
  put(join(os, "root.tgz"), `${seed} root ${randomBytes(5000).toString("hex")}`);
  put(
    join(os, "manifest.json"),
    JSON.stringify({
      os: "debian",
      series: "bookworm",
      arch: "amd64",
      files: { "root.tgz": { size: statSync(join(os, "root.tgz")).size, sha256: sha256(join(os, "root.tgz")) } },
    }),
  );
  return dir;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "plinth-publish-"));
  home = join(tmp, "gnupg");
  mkdirSync(home, { mode: 0o700 });
  key = throwawayKey(home);
});

afterAll(() => {
  spawnSync("gpgconf", ["--homedir", home, "--kill", "gpg-agent"]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("npm run images -- publish", () => {
  it("refuses to publish unsigned unless told, and bad options, with the reason", () => {
    const from = fixture(join(tmp, "build0"), "zero");
    const r = publish([join(tmp, "m0"), "--from", from]);
    expect(r.code).toBe(2);
    expect(r.out).toContain("--unsigned");
    expect(existsSync(join(tmp, "m0"))).toBe(false);
    expect(publish([join(tmp, "m0"), "--from", from, "--key", key.fingerprint, "--keep", "0"]).code).toBe(2);
    expect(publish([join(tmp, "m0"), "--from", join(tmp, "nothing"), "--unsigned"]).out).toContain("nothing built");
    const u = publish([join(tmp, "m0"), "--from", from, "--unsigned"]);
    expect(u.code, u.out).toBe(0);
    expect(existsSync(join(tmp, "m0", UNSIGNED_INDEX))).toBe(true);
    expect(existsSync(join(tmp, "m0", SIGNED_INDEX))).toBe(false);
  });

  // Always a fixture shaped like images/build: `npm test` builds images/build in the background
  // while this file runs, so the real directory may be half written here.
  it("publishes a build directory as a signed mirror the schemas accept", () => {
    const from = fixture(join(tmp, "build1"), "one");
    const dir = join(tmp, "m1");
    const r = publish([dir, "--from", from, "--key", key.fingerprint, "--homedir", home]);
    expect(r.code, r.out).toBe(0);
    expect(gpgVerify(join(dir, SIGNED_INDEX))).toBe(true);
    const { index, products } = read(dir);
    const entry = Object.values(index.index)[0]!;
    expect(gpgVerify(join(dir, entry.path.replace(/\.json$/, ".sjson")))).toBe(true);
    expect(entry.products).toEqual(Object.keys(products.products).sort());
    expect(products.content_id).toBe("com.ubuntu.maas:plinth:v3:download");
    const testdisk = products.products[productName(products.content_id, { os: "plinth", release: "testdisk", arch: "amd64" })];
    expect(testdisk, r.out).toBeDefined();
    const bootManifest = JSON.parse(readFileSync(join(from, "manifest.json"), "utf8")) as { files: Record<string, { sha256: string; size: number }> };
    const v = Object.values(testdisk!.versions)[0]!;
    expect(v.items["boot-kernel"]).toMatchObject(bootManifest.files.vmlinuz!);
    expect(v.items["root-dd"]).toMatchObject(bootManifest.files["testdisk.raw"]!);
    for (const p of Object.values(products.products)) {
      // Every product offers something the region can deploy.
      for (const ver of Object.values(p.versions)) expect(Object.keys(ver.items).some((f) => f in ROOT_FTYPES)).toBe(true);
      for (const ver of Object.values(p.versions)) for (const item of Object.values(ver.items)) expect(statSync(join(dir, item.path)).size).toBe(item.size);
    }
    const debian = products.products[productName(products.content_id, { os: "debian", release: "bookworm", arch: "amd64" })];
    expect(debian, r.out).toBeDefined();
    const root = Object.values(debian!.versions)[0]!.items["root-tgz"]!;
    expect(sha256(join(dir, root.path))).toBe(root.sha256);
  });

  it("re-publishing adds a version, keeps older ones, and --keep trims to the newest", () => {
    const from = fixture(join(tmp, "build2"), "first");
    const dir = join(tmp, "m2");
    const sign = ["--key", key.fingerprint, "--homedir", home];
    expect(publish([dir, "--from", from, ...sign]).code).toBe(0);
    const name = productName("com.ubuntu.maas:plinth:v3:download", { os: "debian", release: "bookworm", arch: "amd64" });
    const first = Object.keys(read(dir).products.products[name]!.versions);
    expect(first).toHaveLength(1);
    // Same bytes again: nothing new.
    expect(publish([dir, "--from", from, ...sign]).out).toContain("already published");
    expect(Object.keys(read(dir).products.products[name]!.versions)).toEqual(first);
    // A rebuild the same day becomes <date>.1; one of a later day its date.
    fixture(from, "second");
    expect(publish([dir, "--from", from, ...sign]).code).toBe(0);
    expect(Object.keys(read(dir).products.products[name]!.versions).sort()).toEqual([first[0], `${first[0]}.1`]);
    fixture(from, "third");
    const later = new Date(Date.now() + 3 * 86400_000);
    utimesSync(join(from, "os/debian-bookworm/manifest.json"), later, later);
    const r = publish([dir, "--from", from, ...sign, "--keep", "2"]);
    expect(r.code, r.out).toBe(0);
    const versions = Object.keys(read(dir).products.products[name]!.versions).sort();
    expect(versions).toEqual([`${first[0]}.1`, later.toISOString().slice(0, 10).replaceAll("-", "")]);
    // The trimmed version's files are gone, the kept ones are there.
    expect(existsSync(join(dir, `debian/bookworm/amd64/${first[0]}/generic/stable/root-tgz`))).toBe(false);
    const kept = read(dir).products.products[name]!.versions;
    for (const v of versions) expect(sha256(join(dir, kept[v]!.items["root-tgz"]!.path))).toBe(kept[v]!.items["root-tgz"]!.sha256);
    expect(gpgVerify(join(dir, SIGNED_INDEX))).toBe(true);
  });

  it("builds streams the shared schemas accept, and refuses unsafe names", () => {
    const products = buildProducts(
      [{ os: "debian", release: "bookworm", arch: "amd64", version: "20260101", items: [{ ftype: "root-tgz", path: "a/b", sha256: "0".repeat(64), size: 1 }] }],
      { contentId: "com.example.maas:site:v3:download", updated: "x" },
    );
    expect(Object.keys(buildIndex(products, "x").index)).toEqual(["com.example.maas:site:v3:download"]);
    expect(() =>
      buildProducts(
        [
          {
            os: "debian",
            release: "bookworm",
            arch: "amd64",
            version: "1",
            items: [{ ftype: "root-tgz", path: "../etc/passwd", sha256: "0".repeat(64), size: 1 }],
          },
        ],
        {
          contentId: "c:d:v3:download",
          updated: "x",
        },
      ),
    ).toThrow();
    const bad = publish([join(tmp, "m3"), "--from", fixture(join(tmp, "build3"), "x"), "--unsigned", "--version", "../x"]);
    expect(bad.code).toBe(2);
    expect(existsSync(join(tmp, "m3"))).toBe(false);
    expect(builtProducts(join(tmp, "build3")).map((p) => `${p.os}/${p.release}`)).toEqual(["debian/bookworm", "plinth/testdisk"]);
  });
});
