// Boot images: the region's image store. Rows live in D1 (boot_images); bytes live in R2 under
// their sha256, so every rack's content-addressed cache and the store agree on names. Uploads
// state their sha256 up front and R2 checks it as the bytes land, so a store object is never a
// partial or corrupt file. Racks download with their own credential, never a user's key.
import type { Hono } from "hono";
import { z } from "zod";
import { IMAGE_FORMATS } from "../../shared/images";
import { isGlobalAdmin } from "../auth/roles";
import { refuseRack } from "../auth/throttle";
import { authenticateRack } from "../domain/racks/credentials";
import { pushConfigAfter } from "../domain/racks/commands";
import type { AppEnv } from "../http/context";
import { ApiError, badRequest, conflict, forbidden, notFound } from "../http/errors";
import { parseByteRange } from "../http/byte-range";
import { def } from "../http/openapi";
import { readJson } from "../http/validate";
import { declareImage, deleteImage, IMAGE_COLUMNS as COLS, type ImageRow, imageKey, storeImageContent } from "../domain/images";

export type { ImageRow } from "../domain/images";

/** Largest single upload: R2's single-PUT limit is 5 GiB. */
export const MAX_IMAGE_BYTES = 5 * 1024 ** 3;
const SHA256 = /^[0-9a-f]{64}$/;
const word = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, "lower-case letters, digits, '.', '_' and '-'");

const ImageBody = z.strictObject({
  osystem: word,
  series: word,
  architecture: z
    .string()
    .max(64)
    .regex(/^[a-z0-9_]+\/[a-z0-9_.-]+$/, "like amd64/generic")
    .default("amd64/generic"),
  format: z.enum(IMAGE_FORMATS).default("raw.zst"),
});

export function imageRoutes(app: Hono<AppEnv>) {
  const admin = (c: Parameters<Parameters<typeof def>[4]>[0]) => {
    if (!isGlobalAdmin(c.get("caller"))) throw forbidden("managing boot images needs a global admin");
  };
  const find = async (db: D1Database, id: string) => {
    if (!/^\d{1,9}$/.test(id)) throw notFound("boot image");
    const row = await db.prepare(`SELECT ${COLS} FROM boot_images WHERE id = ?`).bind(Number(id)).first<ImageRow>();
    if (!row) throw notFound("boot image");
    return row;
  };

  def(app, "get", "/boot-images", { summary: "List boot images", tag: "boot images" }, async (c) => {
    const { results } = await c.env.DB.prepare(`SELECT ${COLS} FROM boot_images ORDER BY id`).all<ImageRow>();
    return c.json({ items: results });
  });

  def(app, "get", "/boot-images/:id", { summary: "Read a boot image", tag: "boot images" }, async (c) => c.json(await find(c.env.DB, c.req.param("id") ?? "")));

  def(
    app,
    "post",
    "/boot-images",
    { summary: "Declare a boot image (then PUT its content)", tag: "boot images", body: ImageBody, status: 201, roles: "admin" },
    async (c) => {
      admin(c);
      const b = await readJson(c, ImageBody);
      const row = await declareImage(c.env.DB, b);
      if (!row) throw conflict(`a boot image ${b.osystem}/${b.series} for ${b.architecture} exists already`);
      return c.json(row, 201);
    },
  );

  // The body is the image itself, streamed into R2: the 256 KiB JSON limit does not apply here
  // (cloud/app.ts exempts this path), R2's own limit does.
  def(
    app,
    "put",
    "/boot-images/:id/content",
    { summary: "Upload a boot image's bytes (X-Content-SHA256 required, checked by the store)", tag: "boot images", roles: "admin", status: 200 },
    async (c) => {
      admin(c);
      const img = await find(c.env.DB, c.req.param("id") ?? "");
      const sha256 = (c.req.header("x-content-sha256") ?? "").toLowerCase();
      if (!SHA256.test(sha256)) throw badRequest("send the image's sha256 as X-Content-SHA256 (64 hex digits)");
      const length = Number(c.req.header("content-length") ?? "NaN");
      if (!Number.isSafeInteger(length) || length <= 0) throw new ApiError(400, "length_required", "send the image with a Content-Length");
      if (length > MAX_IMAGE_BYTES) throw new ApiError(413, "payload_too_large", `an image may be at most ${MAX_IMAGE_BYTES} bytes`);
      if (!c.req.raw.body) throw badRequest("the request has no body");
      const stored = await storeImageContent(c.env.DB, c.env.IMAGES, img.id, sha256, c.req.raw.body, length);
      if (!stored.ok && stored.problem === "mismatch") {
        throw badRequest("the uploaded bytes do not match X-Content-SHA256, or the upload was cut short", { store: stored.detail.slice(0, 200) });
      }
      if (!stored.ok) throw badRequest("the upload was cut short");
      // Racks pre-fetch what their snapshot lists: a new image reaches every site's cache now.
      await pushConfigAfter(c.env, null, "an image upload");
      return c.json(stored.row);
    },
  );

  def(
    app,
    "delete",
    "/boot-images/:id",
    { summary: "Delete a boot image (its bytes go when no other image has them)", tag: "boot images", roles: "admin", status: 204 },
    async (c) => {
      admin(c);
      const img = await find(c.env.DB, c.req.param("id") ?? "");
      await deleteImage(c.env.DB, c.env.IMAGES, img);
      return c.body(null, 204);
    },
  );
}

/** Racks fill their caches from here (pull-through on a node's first request, or pre-sync). */
export function rackImageRoutes(app: Hono<AppEnv>) {
  def(
    app,
    "get",
    "/racks/:rackId/images/:sha256",
    { summary: "Download an image by sha256 (rack credential)", tag: "racks", roles: "the rack credential" },
    async (c) => {
      const rackId = c.req.param("rackId") ?? "";
      const sha256 = c.req.param("sha256") ?? "";
      const auth = await authenticateRack(c.env.DB, c.req.header("authorization"), rackId);
      if (!auth.ok) await refuseRack(c, auth);
      if (!SHA256.test(sha256)) throw badRequest("expected a lower-case hex sha256");
      // Only images the region lists: the store is not a general file server.
      const listed = await c.env.DB.prepare("SELECT 1 FROM boot_images WHERE sha256 = ?").bind(sha256).first();
      const headers = { "content-type": "application/octet-stream", "accept-ranges": "bytes", etag: `"${sha256}"` };
      const rangeHeader = c.req.header("range");
      if (rangeHeader === undefined) {
        const obj = listed ? await c.env.IMAGES.get(imageKey(sha256)) : null;
        if (!obj) throw notFound("image");
        return new Response(obj.body, { headers: { ...headers, "content-length": String(obj.size) } });
      }
      // A rack resuming a download: the size first, to check the range against it.
      const head = listed ? await c.env.IMAGES.head(imageKey(sha256)) : null;
      if (!head) throw notFound("image");
      const range = parseByteRange(rangeHeader, head.size);
      if (range.kind !== "range")
        throw new ApiError(
          416,
          "range_not_satisfiable",
          `the range "${rangeHeader.slice(0, 64)}" is not one range within the image's ${head.size} bytes`,
          {
            size: head.size,
          },
          { "content-range": `bytes */${head.size}` },
        );
      const obj = await c.env.IMAGES.get(imageKey(sha256), { range: { offset: range.offset, length: range.length } });
      if (!obj) throw notFound("image");
      const end = range.offset + range.length - 1;
      return new Response(obj.body, {
        status: 206,
        headers: { ...headers, "content-length": String(range.length), "content-range": `bytes ${range.offset}-${end}/${head.size}` },
      });
    },
  );
}
