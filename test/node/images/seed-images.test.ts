// `npm run seed` stores the images a checkout built, bytes and all, into the local region, so
// MAAS clients find a deployable boot resource; run twice, it stores nothing again. A scratch
// images/build (a small testdisk and an "os" build with its manifest) stands in for real
// builds, which take root and minutes; the region's own D1 and R2 are real (wrangler's proxy).
import type { D1Database, R2Bucket } from "@cloudflare/workers-types";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getPlatformProxy } from "wrangler";
import { afterAll, expect, it } from "vitest";
import { applyMigrations, ensureDevVars } from "../../../scripts/region-local.mjs";
import { seed } from "../../../scripts/seed-data";

const work = mkdtempSync(join(tmpdir(), "plinth-seed-img-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

it("stores each built image under its sha256 with a row that names it, once", async () => {
  const root = join(work, "checkout");
  const build = join(root, "images", "build");
  mkdirSync(join(build, "os", "debian-bookworm"), { recursive: true });
  const disk = randomBytes(1 << 20);
  const tgz = randomBytes(3 << 20);
  writeFileSync(join(build, "testdisk.raw.zst"), disk);
  writeFileSync(join(build, "os", "debian-bookworm", "root.tgz"), tgz);
  writeFileSync(join(build, "os", "debian-bookworm", "manifest.json"), JSON.stringify({ os: "debian", series: "bookworm", arch: "amd64" }));
  const stateDir = join(work, "state");
  const { vars } = ensureDevVars(stateDir);
  applyMigrations(stateDir);
  const lines: string[] = [];
  // As `npm run seed` runs it: machines only into an empty region, images every time.
  const run = () =>
    seed({ machines: 1, sites: 1, stateDir, secretKey: vars.PLINTH_SECRET_KEY, images: true, imagesRoot: root, log: (s) => lines.push(s), onlyIfEmpty: true });
  expect(await run()).toMatchObject({ machines: 1, existing: 0 });
  expect(lines).toContain("image custom/testdisk raw.zst: stored (1 MiB)");
  expect(lines).toContain("image debian/bookworm tgz: stored (3 MiB)");
  lines.length = 0;
  expect(await run()).toEqual({ machines: 0, sites: 0, existing: 1 });
  expect(lines.filter((l) => l.startsWith("image "))).toEqual(["image custom/testdisk raw.zst: already there", "image debian/bookworm tgz: already there"]);

  const proxy = await getPlatformProxy<{ DB: D1Database; IMAGES: R2Bucket }>({
    configPath: join(import.meta.dirname, "../../../wrangler.toml"),
    persist: { path: join(stateDir, "wrangler", "v3") },
  });
  try {
    const { results } = await proxy.env.DB.prepare("SELECT osystem, series, architecture, format, sha256, size FROM boot_images ORDER BY id").all();
    const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    expect(results).toEqual([
      { osystem: "custom", series: "testdisk", architecture: "amd64/generic", format: "raw.zst", sha256: sha(disk), size: disk.length },
      { osystem: "debian", series: "bookworm", architecture: "amd64/generic", format: "tgz", sha256: sha(tgz), size: tgz.length },
    ]);
    const obj = await proxy.env.IMAGES.get(`sha256/${sha(tgz)}`);
    expect(Buffer.from(await obj!.arrayBuffer()).equals(tgz)).toBe(true);
  } finally {
    await proxy.dispose();
  }
}, 180_000);
