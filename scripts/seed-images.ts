// `npm run seed` also stores the images this checkout has built (images/build: the testdisk,
// and each `npm run images -- os …` output), bytes and all, so a development region has
// something every MAAS client can deploy (Juju refuses a region without boot resources). The
// same content-addressed layout the region's upload uses: R2 key sha256/<hex>, one row each.
import type { D1Database, R2Bucket } from "@cloudflare/workers-types";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The store's name for an image's bytes: cloud/domain/images.ts imageKey (not imported: it needs the Workers types). */
const imageKey = (sha256: string) => `sha256/${sha256}`;
/** Larger images go up in parts of this size (R2 parts but the last must be equal and at least 5 MiB). */
const PART = 32 * 2 ** 20;

export interface BuiltImage {
  osystem: string;
  series: string;
  architecture: string;
  format: string;
  file: string;
}

/** What images/build holds that a deployment can write. */
export function builtImages(root: string): BuiltImage[] {
  const out: BuiltImage[] = [];
  const build = join(root, "images", "build");
  const testdisk = join(build, "testdisk.raw.zst");
  if (existsSync(testdisk)) out.push({ osystem: "custom", series: "testdisk", architecture: "amd64/generic", format: "raw.zst", file: testdisk });
  const os = join(build, "os");
  for (const dir of existsSync(os) ? readdirSync(os).sort() : []) {
    const manifest = join(os, dir, "manifest.json");
    const tgz = join(os, dir, "root.tgz");
    if (!existsSync(manifest) || !existsSync(tgz)) continue;
    const m = JSON.parse(readFileSync(manifest, "utf8")) as { os: string; series: string; arch: string };
    out.push({ osystem: m.os, series: m.series, architecture: `${m.arch}/generic`, format: "tgz", file: tgz });
  }
  return out;
}

/** Stores each built image unless the region already has those bytes under that name; returns what it stored. */
export async function seedImages(db: D1Database, store: R2Bucket, images: BuiltImage[], log: (s: string) => void): Promise<string[]> {
  const stored: string[] = [];
  for (const img of images) {
    const name = `${img.osystem}/${img.series} ${img.format}`;
    // Read once: the same bytes are hashed and, unless already there, stored.
    const bytes = readFileSync(img.file);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const have = await db
      .prepare("SELECT sha256 FROM boot_images WHERE osystem = ? AND series = ? AND architecture = ?")
      .bind(img.osystem, img.series, img.architecture)
      .first<{ sha256: string | null }>();
    if (have?.sha256 === sha256) {
      log(`image ${name}: already there`);
      continue;
    }
    const size = bytes.length;
    // A plain Uint8Array: the platform proxy cannot pass a Node Buffer. A file this size has its
    // own ArrayBuffer (only small reads share Node's pool), so the view holds just its bytes.
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    if (size <= PART) {
      // One put: the local R2 checks it against the sha256 as the upload does.
      await store.put(imageKey(sha256), view, { sha256, httpMetadata: { contentType: "application/octet-stream" } });
    } else {
      // In parts: one put of a few hundred MiB through the platform proxy failed with EPIPE when
      // the host was busy. The sha256 above names the key; the parts carry no checksum of their own.
      const upload = await store.createMultipartUpload(imageKey(sha256), { httpMetadata: { contentType: "application/octet-stream" } });
      const parts = [];
      for (let off = 0, n = 1; off < size; off += PART, n++) parts.push(await upload.uploadPart(n, view.subarray(off, Math.min(off + PART, size))));
      await upload.complete(parts);
    }
    await db.batch([
      db
        .prepare("INSERT INTO boot_images (osystem, series, architecture, kind, format) VALUES (?, ?, ?, 'uploaded', ?) ON CONFLICT DO NOTHING")
        .bind(img.osystem, img.series, img.architecture, img.format),
      db
        .prepare("UPDATE boot_images SET sha256 = ?, size = ?, format = ?, url = NULL WHERE osystem = ? AND series = ? AND architecture = ?")
        .bind(sha256, size, img.format, img.osystem, img.series, img.architecture),
    ]);
    stored.push(name);
    log(`image ${name}: stored (${Math.round(size / 2 ** 20)} MiB)`);
  }
  return stored;
}
