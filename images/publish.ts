// Writes images as a simplestreams mirror (what MAAS regions sync from): the streams JSON is built
// by pure functions and checked against shared/simplestreams.ts before anything is written, so
// the region's reader and this writer cannot disagree; the files are hard-linked (copied across
// file systems) into a MAAS-like layout; the index and products files are signed with gpg.
// `npm run images -- publish` (images/publish-cli.ts) and the test mirror rig both use it.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  createReadStream,
  existsSync,
  linkSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  readdirSync,
  rmdirSync,
} from "node:fs";
import { dirname, join } from "node:path";
import {
  INDEX_FORMAT,
  IndexFile,
  MAAS_DATATYPE,
  PRODUCTS_FORMAT,
  ProductsFile,
  SIGNED_INDEX,
  type StreamsProduct,
  UNSIGNED_INDEX,
} from "../shared/simplestreams";

/** MAAS's own content ids read `com.ubuntu.maas:<stream>:v3:download`; a site's builds get a stream of their own. */
export const DEFAULT_CONTENT_ID = "com.ubuntu.maas:plinth:v3:download";
export const DEFAULT_SUBARCH = "generic";

export interface PublishFile {
  ftype: string;
  /** Local path of the bytes. */
  file: string;
}

/** One version of one product, as the operator (or a test) hands it over. */
export interface PublishProduct {
  os: string;
  release: string;
  arch: string;
  subarch?: string;
  label?: string;
  release_title?: string;
  version: string;
  files: PublishFile[];
}

/** A file as it lands in the mirror. */
export interface StagedItem {
  ftype: string;
  path: string;
  sha256: string;
  size: number;
}

export interface StagedProduct extends Omit<PublishProduct, "files"> {
  items: StagedItem[];
}

const safeSegment = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$/;

function checkSegment(what: string, v: string): string {
  if (!safeSegment.test(v)) throw new Error(`${what} '${v}' is not a plain name (letters, digits, . _ + ~ -)`);
  return v;
}

/** The product name, in MAAS's `com.ubuntu.maas.<stream>:v3:boot:<release>:<arch>:<subarch>` shape, with the OS in front of the release. */
export function productName(contentId: string, p: Pick<PublishProduct, "os" | "release" | "arch" | "subarch">): string {
  const [prefix = "com.ubuntu.maas", stream = "plinth"] = contentId.split(":");
  return `${prefix}.${stream}:v3:boot:${p.os}-${p.release}:${p.arch}:${p.subarch ?? DEFAULT_SUBARCH}`;
}

export function productsPath(contentId: string): string {
  return `streams/v1/${contentId}.json`;
}

/** Where an item lives in the mirror, like images.maas.io's `<release>/<arch>/<version>/<subarch>/<label>/<ftype>`. */
export function itemPath(p: Omit<PublishProduct, "files">, ftype: string): string {
  return [p.os, p.release, p.arch, p.version, p.subarch ?? DEFAULT_SUBARCH, p.label ?? "stable", ftype]
    .map((s, i) => checkSegment(["os", "release", "arch", "version", "subarch", "label", "ftype"][i]!, s))
    .join("/");
}

/** The date simplestreams writes in `updated` (RFC 2822 style). */
export function streamsDate(d: Date): string {
  return d.toUTCString().replace("GMT", "+0000");
}

/**
 * The products file for `staged` merged into `previous` (a version already published stays,
 * unless it is the same version, which is replaced), keeping the newest `keep` versions of each
 * product when given. Versions sort as strings: MAAS's are dates (20240101, 20240101.1).
 */
export function buildProducts(staged: StagedProduct[], o: { contentId: string; updated: string; previous?: ProductsFile; keep?: number }): ProductsFile {
  const products: Record<string, StreamsProduct> = structuredClone(o.previous?.products ?? {});
  for (const s of staged) {
    const name = productName(o.contentId, s);
    const items = Object.fromEntries(s.items.map((i) => [i.ftype, { ftype: i.ftype, path: i.path, sha256: i.sha256, size: i.size }]));
    const version = { items, ...(s.label ? { label: s.label } : {}) };
    const prev = products[name];
    products[name] = {
      ...(prev ?? {}),
      os: s.os,
      release: s.release,
      arch: s.arch,
      subarch: s.subarch ?? DEFAULT_SUBARCH,
      subarches: s.subarch ?? DEFAULT_SUBARCH,
      label: s.label ?? "stable",
      ...(s.release_title ? { release_title: s.release_title } : {}),
      versions: { ...(prev?.versions ?? {}), [s.version]: version },
    };
  }
  if (o.keep !== undefined) {
    for (const p of Object.values(products)) {
      const order = Object.keys(p.versions).sort();
      for (const v of order.slice(0, Math.max(0, order.length - o.keep))) delete p.versions[v];
    }
  }
  return ProductsFile.parse({ content_id: o.contentId, datatype: MAAS_DATATYPE, format: PRODUCTS_FORMAT, updated: o.updated, products });
}

export function buildIndex(products: ProductsFile, updated: string): IndexFile {
  return IndexFile.parse({
    format: INDEX_FORMAT,
    updated,
    index: {
      [products.content_id]: {
        datatype: MAAS_DATATYPE,
        format: PRODUCTS_FORMAT,
        path: productsPath(products.content_id),
        products: Object.keys(products.products).sort(),
        updated,
      },
    },
  });
}

/** Every mirror path the products file refers to. */
export function referencedPaths(products: ProductsFile): Set<string> {
  const out = new Set<string>();
  for (const p of Object.values(products.products)) for (const v of Object.values(p.versions)) for (const i of Object.values(v.items)) out.add(i.path);
  return out;
}

// ---- I/O ----

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/**
 * Hard-links (copies when it cannot) each file into `dir` at its mirror path; returns what was
 * staged. Links are safe because the image builds replace their outputs by rename, never in place:
 * a published version keeps its bytes after a rebuild.
 */
export async function stageProducts(dir: string, products: PublishProduct[]): Promise<StagedProduct[]> {
  const out: StagedProduct[] = [];
  for (const { files, ...p } of products) {
    const items: StagedItem[] = [];
    for (const f of files) {
      const path = itemPath(p, checkSegment("ftype", f.ftype));
      const dest = join(dir, path);
      mkdirSync(dirname(dest), { recursive: true });
      rmSync(dest, { force: true });
      try {
        linkSync(f.file, dest);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EXDEV" && (e as NodeJS.ErrnoException).code !== "EPERM") throw e;
        copyFileSync(f.file, dest);
      }
      items.push({ ftype: f.ftype, path, sha256: await sha256File(dest), size: statSync(dest).size });
    }
    out.push({ ...p, items });
  }
  return out;
}

export interface SignWith {
  /** gpg's --local-user: a key id, fingerprint or user id in the keyring. */
  key: string;
  /** gpg's --homedir, when the key is not in the default keyring. */
  homedir?: string;
}

function gpg(sign: SignWith, args: string[]): void {
  execFileSync("gpg", [...(sign.homedir ? ["--homedir", sign.homedir] : []), "--batch", "--yes", "--local-user", sign.key, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
}

/** `file.json` → `file.sjson` (clearsigned) and `file.json.gpg` (detached), as simplestreams mirrors publish both. */
export function signJson(jsonPath: string, sign: SignWith): void {
  const sjson = jsonPath.replace(/\.json$/, ".sjson");
  gpg(sign, ["--armor", "--digest-algo", "SHA512", "--output", `${sjson}.tmp`, "--clearsign", jsonPath]);
  renameSync(`${sjson}.tmp`, sjson);
  gpg(sign, ["--digest-algo", "SHA512", "--output", `${jsonPath}.gpg.tmp`, "--detach-sign", jsonPath]);
  renameSync(`${jsonPath}.gpg.tmp`, `${jsonPath}.gpg`);
}

function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

function readPrevious(dir: string, contentId: string): ProductsFile | undefined {
  const path = join(dir, productsPath(contentId));
  if (!existsSync(path)) return undefined;
  return ProductsFile.parse(JSON.parse(readFileSync(path, "utf8")));
}

/** Deletes item files no longer referenced, and the directories that leaves empty. */
function prune(dir: string, before: Set<string>, after: Set<string>): string[] {
  const removed: string[] = [];
  for (const p of before) {
    if (after.has(p)) continue;
    rmSync(join(dir, p), { force: true });
    removed.push(p);
    let d = dirname(join(dir, p));
    while (d.startsWith(join(dir, "/")) && existsSync(d) && readdirSync(d).length === 0) {
      rmdirSync(d);
      d = dirname(d);
    }
  }
  return removed;
}

export interface PublishOptions {
  contentId?: string;
  /** Signs with this key; without it the mirror is unsigned (index.json only) and any old signatures are removed. */
  sign?: SignWith;
  /** Keep only the newest N versions of each product. */
  keep?: number;
  /** Replace what the mirror offered instead of adding to it. */
  replace?: boolean;
  now?: Date;
}

export interface PublishResult {
  index: IndexFile;
  products: ProductsFile;
  removed: string[];
}

/** Stages `products` into the mirror at `dir`, rewrites its streams and signs them. */
export async function publishMirror(dir: string, products: PublishProduct[], o: PublishOptions = {}): Promise<PublishResult> {
  const contentId = o.contentId ?? DEFAULT_CONTENT_ID;
  const updated = streamsDate(o.now ?? new Date());
  const previous = o.replace ? undefined : readPrevious(dir, contentId);
  const before = o.replace ? new Set(listFiles(dir)) : previous ? referencedPaths(previous) : new Set<string>();
  const staged = await stageProducts(dir, products);
  const productsFile = buildProducts(staged, { contentId, updated, previous, keep: o.keep });
  const index = buildIndex(productsFile, updated);
  const removed = prune(dir, before, referencedPaths(productsFile));
  const pPath = join(dir, productsPath(contentId));
  const iPath = join(dir, UNSIGNED_INDEX);
  writeAtomic(pPath, `${JSON.stringify(productsFile, null, 1)}\n`);
  writeAtomic(iPath, `${JSON.stringify(index, null, 1)}\n`);
  for (const path of [pPath, iPath]) {
    if (o.sign) signJson(path, o.sign);
    else for (const stale of [path.replace(/\.json$/, ".sjson"), `${path}.gpg`]) rmSync(stale, { force: true });
  }
  if (o.sign && !existsSync(join(dir, SIGNED_INDEX))) throw new Error("gpg did not write the signed index");
  return { index, products: productsFile, removed };
}

/** Item files under `dir` (everything outside streams/), as mirror paths. */
function listFiles(dir: string, sub = ""): string[] {
  if (!existsSync(join(dir, sub))) return [];
  const out: string[] = [];
  for (const e of readdirSync(join(dir, sub), { withFileTypes: true })) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (rel === "streams") continue;
    if (e.isDirectory()) out.push(...listFiles(dir, rel));
    else out.push(rel);
  }
  return out;
}
