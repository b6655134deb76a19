// Stored bytes and the rows that name them: boot images (D1 boot_images, bytes in the IMAGES
// bucket under their sha256) and the MAAS facade's files (D1 maas_files, bytes in FILES). The
// one writer of both; callers check roles and validate input first. Neither has ever had audit
// events, so none are written here.
import type { UserRef } from "./users";

/** Boot images are content-addressed: every rack's cache and the store agree on names. */
export const imageKey = (sha256: string) => `sha256/${sha256}`;

export interface ImageRow {
  id: number;
  osystem: string;
  series: string;
  architecture: string;
  kind: string;
  format: string;
  sha256: string | null;
  size: number;
  created_at: number;
}
export const IMAGE_COLUMNS = "id, osystem, series, architecture, kind, format, sha256, size, created_at";

export interface NewImage {
  osystem: string;
  series: string;
  architecture: string;
  format: string;
}

/** A declared image, without bytes yet; null when one of that name and architecture exists. */
export async function declareImage(db: D1Database, img: NewImage): Promise<ImageRow | null> {
  return db
    .prepare(
      `INSERT INTO boot_images (osystem, series, architecture, kind, format) VALUES (?, ?, ?, 'uploaded', ?) ON CONFLICT DO NOTHING RETURNING ${IMAGE_COLUMNS}`,
    )
    .bind(img.osystem, img.series, img.architecture, img.format)
    .first<ImageRow>();
}

export type StoredImage = { ok: true; row: ImageRow } | { ok: false; problem: "mismatch"; detail: string } | { ok: false; problem: "short" };

/**
 * Streams an image's bytes into the store and points the row at them. The store checks the
 * sha256 as the bytes land, so an object under a sha256 name is never partial or corrupt.
 */
export async function storeImageContent(
  db: D1Database,
  store: R2Bucket,
  imageId: number,
  sha256: string,
  body: ReadableStream,
  length: number,
): Promise<StoredImage> {
  let stored: R2Object | null;
  try {
    stored = await store.put(imageKey(sha256), body, { sha256, httpMetadata: { contentType: "application/octet-stream" } });
  } catch (e) {
    // R2 refuses a body whose hash differs from the one given: nothing was stored.
    return { ok: false, problem: "mismatch", detail: String((e as Error).message) };
  }
  if (!stored || stored.size !== length) return { ok: false, problem: "short" };
  const row = await db
    .prepare(`UPDATE boot_images SET sha256 = ?, size = ?, url = NULL WHERE id = ? RETURNING ${IMAGE_COLUMNS}`)
    .bind(sha256, stored.size, imageId)
    .first<ImageRow>();
  return { ok: true, row: row! };
}

/** The image's row, and its bytes when no other image has them. */
export async function deleteImage(db: D1Database, store: R2Bucket, img: { id: number; sha256: string | null }): Promise<void> {
  await db.prepare("DELETE FROM boot_images WHERE id = ?").bind(img.id).run();
  if (!img.sha256) return;
  const other = await db.prepare("SELECT 1 FROM boot_images WHERE sha256 = ?").bind(img.sha256).first();
  if (!other) await store.delete(imageKey(img.sha256));
}

/**
 * Stores a MAAS file, or replaces the content of the owner's file of that name. New bytes go
 * under a new object name, then the row points at them in one batch that also reads the object
 * it replaces: readers see the old file or the new one, never neither.
 */
export async function storeFile(db: D1Database, store: R2Bucket, owner: UserRef, filename: string, bytes: Uint8Array): Promise<void> {
  const object = `maas-files/${crypto.randomUUID()}`;
  await store.put(object, bytes, { httpMetadata: { contentType: "application/octet-stream" }, customMetadata: { owner: owner.username, filename } });
  let replaced: string | undefined;
  try {
    const [old] = await db.batch([
      db.prepare("SELECT object FROM maas_files WHERE owner_id = ? AND filename = ?").bind(owner.id, filename),
      db
        .prepare(
          `INSERT INTO maas_files (owner_id, filename, key, object, size) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (owner_id, filename) DO UPDATE SET object = excluded.object, size = excluded.size, updated_at = (unixepoch('subsec') * 1000)`,
        )
        .bind(owner.id, filename, crypto.randomUUID(), object, bytes.length),
    ]);
    replaced = (old?.results[0] as { object: string } | undefined)?.object;
  } catch (e) {
    await store.delete(object).catch(() => {});
    throw e;
  }
  if (replaced) await store.delete(replaced);
}

/** False when the owner has no file of that name. */
export async function deleteFile(db: D1Database, store: R2Bucket, ownerId: number, filename: string): Promise<boolean> {
  const row = await db
    .prepare("DELETE FROM maas_files WHERE owner_id = ? AND filename = ? RETURNING object")
    .bind(ownerId, filename)
    .first<{ object: string }>();
  if (!row) return false;
  await store.delete(row.object);
  return true;
}
