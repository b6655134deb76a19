// Reading a boot source's mirror: its index (signed, unless the operator said skip_verify), the
// image-downloads product files the index lists, and the newest version of each product the
// source's selections want. Pure reading: nothing is stored here (cloud/domain/image-import.ts does).
import {
  IndexFile,
  MAAS_DATATYPE,
  PRODUCTS_FORMAT,
  ProductsFile,
  ROOT_FTYPES,
  SIGNED_INDEX,
  type StreamsItem,
  type StreamsProduct,
  UNSIGNED_INDEX,
} from "../../shared/simplestreams";
import { readKeyring } from "./keyring";
import { type Keyring, unverifiedText, verifyClearsigned } from "./signature";

export interface SourceRow {
  id: number;
  url: string;
  keyring_data: string | null;
  skip_verify: number | boolean;
}

export interface Selection {
  os: string;
  release: string;
  arches: string[];
  subarches: string[];
  labels: string[];
}

export interface WantedItem extends StreamsItem {
  /** Absolute URL of the item on the mirror. */
  url: string;
}

/** The newest version of one selected product, as the region stores it. */
export interface WantedProduct {
  source_id: number;
  product: string;
  os: string;
  release: string;
  /** boot_images.architecture: arch/subarch ("generic" when the product names none). */
  architecture: string;
  label: string;
  version: string;
  items: WantedItem[];
}

export type SourceRead = { ok: true; products: WantedProduct[] } | { ok: false; reason: string };

/** Bounds a mirror file the region reads into memory (indexes and product files, not images). */
const MAX_METADATA_BYTES = 32 * 1024 * 1024;

/** The mirror root of a source URL: the URL itself, or what precedes streams/v1/index.(s)json. */
export function mirrorRoot(url: string): string {
  const u = new URL(url);
  u.search = "";
  u.hash = "";
  u.pathname = u.pathname.replace(/streams\/v1\/index\.s?json$/, "");
  if (!u.pathname.endsWith("/")) u.pathname += "/";
  return u.toString();
}

const matches = (wanted: string[], value: string) => wanted.includes("*") || wanted.includes(value);

/** Whether a selection takes a product (with the label of the version considered). */
export function selects(sel: Selection, p: { os: string; release: string; arch: string; subarch?: string; label?: string }): boolean {
  return (
    sel.os === p.os &&
    (sel.release === "*" || sel.release === p.release) &&
    matches(sel.arches, p.arch) &&
    matches(sel.subarches, p.subarch || "generic") &&
    matches(sel.labels, p.label || "")
  );
}

/** The newest version key: simplestreams versions are date-like strings that sort as text. */
export function newestVersion(p: StreamsProduct): string | null {
  const keys = Object.keys(p.versions).sort();
  return keys.length ? keys[keys.length - 1]! : null;
}

/** The ftype of the version's deployable root item, or null when it has none. */
export function rootFtype(items: { ftype: string }[]): string | null {
  for (const ftype of Object.keys(ROOT_FTYPES)) if (items.some((i) => i.ftype === ftype)) return ftype;
  return null;
}

/** The products of one products file the selections want, at their newest version. */
export function wantedProducts(sourceId: number, root: string, file: ProductsFile, selections: Selection[]): WantedProduct[] {
  const out: WantedProduct[] = [];
  for (const [name, p] of Object.entries(file.products)) {
    const version = newestVersion(p);
    if (!version) continue;
    const v = p.versions[version]!;
    const label = v.label ?? p.label ?? "";
    if (!selections.some((s) => selects(s, { ...p, label }))) continue;
    out.push({
      source_id: sourceId,
      product: name,
      os: p.os,
      release: p.release,
      architecture: `${p.arch}/${p.subarch || "generic"}`,
      label,
      version,
      items: Object.values(v.items).map((i) => ({ ...i, url: new URL(i.path, root).toString() })),
    });
  }
  return out;
}

type Fetcher = (url: string) => Promise<Response>;

class Refused extends Error {}

async function fetchText(fetcher: Fetcher, url: string): Promise<string | null> {
  let r: Response;
  try {
    r = await fetcher(url);
  } catch (e) {
    throw new Refused(`fetching ${url} failed: ${(e as Error).message}`);
  }
  if (r.status === 404) {
    await r.body?.cancel();
    return null;
  }
  if (!r.ok) {
    await r.body?.cancel();
    throw new Refused(`fetching ${url} answered HTTP ${r.status}`);
  }
  const length = Number(r.headers.get("content-length") ?? 0);
  if (length > MAX_METADATA_BYTES) {
    await r.body?.cancel();
    throw new Refused(`${url} is larger than ${MAX_METADATA_BYTES} bytes`);
  }
  const text = await r.text();
  if (text.length > MAX_METADATA_BYTES) throw new Refused(`${url} is larger than ${MAX_METADATA_BYTES} bytes`);
  return text;
}

/** A mirror file's JSON: verified when it is clearsigned (.sjson) and the source verifies. */
async function readJsonFile(fetcher: Fetcher, url: string, keys: Keyring | null): Promise<unknown | null> {
  if (keys && !url.endsWith(".sjson")) throw new Refused(`${url}: not a signed (.sjson) file, and the source verifies signatures`);
  const raw = await fetchText(fetcher, url);
  if (raw === null) return null;
  let text = raw;
  if (url.endsWith(".sjson")) {
    if (keys) {
      const v = await verifyClearsigned(raw, keys);
      if (!v.ok) throw new Refused(`${url}: ${v.reason}`);
      text = v.text;
    } else {
      try {
        text = await unverifiedText(raw);
      } catch (e) {
        throw new Refused(`${url}: not a clearsigned file (${(e as Error).message})`);
      }
    }
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Refused(`${url}: not JSON (${(e as Error).message})`);
  }
}

function parse<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } },
  value: unknown,
  url: string,
): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  throw new Refused(`${url}: not a simplestreams file (${first ? `${first.path.join(".") || "(root)"}: ${first.message}` : "invalid"})`);
}

/**
 * Reads a source: the index, then every image-downloads product file, verified against the
 * source's keyring unless skip_verify. Any refusal (fetch, signature, JSON, schema) refuses the
 * whole source, with the reason; a source is never half-read.
 */
export async function readSource(source: SourceRow, selections: Selection[], fetcher: Fetcher = (u) => fetch(u)): Promise<SourceRead> {
  try {
    const root = mirrorRoot(source.url);
    const skip = Boolean(source.skip_verify);
    let keys: Keyring | null = null;
    if (!skip) {
      if (!source.keyring_data) throw new Refused("the source has no keyring and is not marked skip_verify");
      try {
        keys = (await readKeyring(source.keyring_data)).keys;
      } catch (e) {
        throw new Refused(`the source's keyring is unreadable: ${(e as Error).message}`);
      }
    }
    // A verifying source reads only the signed index: an unsigned one next to it proves nothing.
    const candidates = skip ? [UNSIGNED_INDEX, SIGNED_INDEX] : [SIGNED_INDEX];
    let indexJson: unknown = null;
    let indexUrl = "";
    for (const path of candidates) {
      indexUrl = new URL(path, root).toString();
      indexJson = await readJsonFile(fetcher, indexUrl, keys);
      if (indexJson !== null) break;
    }
    if (indexJson === null) throw new Refused(`${indexUrl}: not found (HTTP 404)`);
    const index = parse(IndexFile, indexJson, indexUrl);
    const products: WantedProduct[] = [];
    for (const entry of Object.values(index.index)) {
      if (entry.datatype !== MAAS_DATATYPE || (entry.format !== undefined && entry.format !== PRODUCTS_FORMAT)) continue;
      // A signed index vouches for nothing an unsigned products file says: when verifying,
      // the products file is read from its clearsigned twin (mirrors publish both) or not at all.
      const listed = new URL(entry.path, root).toString();
      const url = keys && listed.endsWith(".json") ? listed.replace(/\.json$/, ".sjson") : listed;
      const json = await readJsonFile(fetcher, url, keys);
      if (json === null) throw new Refused(`${url}: listed by the index but not found (HTTP 404)`);
      products.push(...wantedProducts(source.id, root, parse(ProductsFile, json, url), selections));
    }
    return { ok: true, products };
  } catch (e) {
    if (e instanceof Refused) return { ok: false, reason: e.message };
    throw e;
  }
}
