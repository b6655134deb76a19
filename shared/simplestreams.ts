// Simplestreams, as MAAS image mirrors publish it (images.maas.io, or a site's own mirror written
// by `npm run images -- publish`): streams/v1/index.sjson (clearsigned) or index.json lists
// product files; each product file lists products (one OS release, arch and subarch), their
// versions (a date-like string), and each version's items (kernel, initrd, root image) with
// path, sha256 and size. The region reads it (cloud/images/), the publisher writes it; both
// through these schemas, so they cannot drift apart. Unknown fields are kept out of the way
// (z.looseObject), as real mirrors carry many the region does not need.
import { z } from "zod";

/** The streams the region reads: MAAS's image downloads, in the products:1.0 format. */
export const MAAS_DATATYPE = "image-downloads";
export const PRODUCTS_FORMAT = "products:1.0";
export const INDEX_FORMAT = "index:1.0";
/** Where a mirror's index lives, relative to the source URL (MAAS's boot source URLs end in /streams/v1/index.sjson or at the mirror root). */
export const SIGNED_INDEX = "streams/v1/index.sjson";
export const UNSIGNED_INDEX = "streams/v1/index.json";

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "a lower-case hex sha256");
/** A mirror-relative path: no scheme, no "..", no leading "/". */
export const mirrorPath = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes("..") && !/^[a-z]+:/i.test(p), "a path relative to the mirror, without '..'");

export const StreamsItem = z.looseObject({
  ftype: z.string().min(1).max(64),
  path: mirrorPath,
  sha256,
  size: z.number().int().nonnegative(),
});
export type StreamsItem = z.infer<typeof StreamsItem>;

export const StreamsVersion = z.looseObject({
  items: z.record(z.string().max(128), StreamsItem),
  label: z.string().max(64).optional(),
});

export const StreamsProduct = z.looseObject({
  os: z.string().min(1).max(64),
  release: z.string().min(1).max(64),
  arch: z.string().min(1).max(32),
  subarch: z.string().max(64).optional(),
  label: z.string().max(64).optional(),
  release_title: z.string().max(128).optional(),
  versions: z.record(z.string().min(1).max(64), StreamsVersion),
});
export type StreamsProduct = z.infer<typeof StreamsProduct>;

export const ProductsFile = z.looseObject({
  content_id: z.string().min(1).max(256),
  datatype: z.string().max(64).optional(),
  format: z.literal(PRODUCTS_FORMAT),
  updated: z.string().max(64).optional(),
  products: z.record(z.string().min(1).max(256), StreamsProduct),
});
export type ProductsFile = z.infer<typeof ProductsFile>;

export const IndexFile = z.looseObject({
  format: z.literal(INDEX_FORMAT),
  updated: z.string().max(64).optional(),
  index: z.record(
    z.string().min(1).max(256),
    z.looseObject({
      datatype: z.string().max(64).optional(),
      format: z.string().max(64).optional(),
      path: mirrorPath,
      products: z.array(z.string().max(256)).optional(),
      updated: z.string().max(64).optional(),
    }),
  ),
});
export type IndexFile = z.infer<typeof IndexFile>;

/**
 * The item of a version that is the deployable root image, and the boot_images format it is
 * stored as. Order matters: a product offering several takes the first.
 */
export const ROOT_FTYPES: Record<string, string> = {
  "root-dd.zst": "raw.zst",
  "root-dd.xz": "raw.xz",
  "root-dd.gz": "raw.gz",
  "root-dd": "raw",
  "root-tgz": "tgz",
  "root-txz": "txz",
};
