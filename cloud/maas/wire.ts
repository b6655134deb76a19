// MAAS wire conventions: form bodies (urlencoded or multipart, parts possibly base64
// transfer-encoded), repeated keys for lists, text/plain errors and {field: [msgs]} for
// validation. MAAS clients parse these shapes literally, so they differ from /api/v1's.
import { z } from "zod";
import { ApiError } from "../http/errors";
import { MAX_BODY_BYTES } from "../http/validate";

export const API = "/MAAS/api/2.0";

/** An error answered the way MAAS answers it: text/plain, or JSON for field errors. */
export class MaasError extends Error {
  constructor(
    readonly status: number,
    readonly body: string | Record<string, string[]>,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body === "string" ? body : JSON.stringify(body));
  }
}

export const badRequest = (msg: string) => new MaasError(400, msg);
export const fieldError = (field: string, msg: string) => new MaasError(400, { [field]: [msg] });
export const notFound = (what: string) => new MaasError(404, `No ${what} matches the given query.`);
export const forbidden = (msg = "You do not have permission to perform this action.") => new MaasError(403, msg);

export function errorResponse(err: unknown): Response {
  const e = toMaasError(err);
  const json = typeof e.body !== "string";
  const headers: Record<string, string> = { "content-type": json ? "application/json" : "text/plain; charset=utf-8", ...e.headers };
  return new Response(json ? JSON.stringify(e.body) : e.body, { status: e.status, headers });
}

function addField(fields: Record<string, string[]>, key: string, msg: string) {
  fields[key] = [...(fields[key] ?? []), msg];
}

function toMaasError(err: unknown): MaasError {
  if (err instanceof MaasError) return err;
  if (err instanceof ApiError) {
    const headers = { ...(err.headers ?? {}) };
    // A lost compare-and-set is worth retrying; gomaasapi retries a 409 only with Retry-After.
    if (err.code === "concurrent_change") headers["retry-after"] = "1";
    if (err.status === 400 && Array.isArray(err.details)) {
      const fields: Record<string, string[]> = {};
      for (const d of err.details as { path?: string; message?: string }[]) addField(fields, d.path || "__all__", d.message ?? "invalid");
      if (Object.keys(fields).length) return new MaasError(400, fields, headers);
    }
    return new MaasError(err.status, err.message, headers);
  }
  const msg = String((err as Error)?.message ?? err);
  if (/UNIQUE constraint failed/i.test(msg)) return new MaasError(400, { __all__: ["An object with this name or address already exists."] });
  if (/FOREIGN KEY constraint failed/i.test(msg)) return new MaasError(400, "The object is in use or refers to something that does not exist.");
  console.error("MAAS facade: unhandled error", err);
  return new MaasError(500, "Internal server error.");
}

/** Request parameters: every key may repeat; file parts keep their bytes. */
export class Params {
  constructor(
    readonly values: Map<string, string[]> = new Map(),
    readonly files: Map<string, Uint8Array> = new Map(),
  ) {}
  add(k: string, v: string) {
    const list = this.values.get(k);
    if (list) list.push(v);
    else this.values.set(k, [v]);
  }
  get(k: string): string | undefined {
    return this.values.get(k)?.[0];
  }
  all(k: string): string[] {
    return this.values.get(k) ?? [];
  }
  has(k: string): boolean {
    return this.values.has(k);
  }
  keys(): string[] {
    return [...this.values.keys()];
  }
  /** A plain object for zod: keys listed in `lists` (or given twice) become arrays. */
  object(lists: readonly string[] = []): Record<string, string | string[]> {
    // No prototype: a field named "__proto__" is a field, not a setter that drops it or (given
    // twice, an array) swaps the object's prototype. Found by the fast-check fuzzer.
    const out: Record<string, string | string[]> = Object.create(null);
    for (const [k, vs] of this.values) out[k] = lists.includes(k) || vs.length > 1 ? vs : vs[0]!;
    return out;
  }
}

/** How much of a request body a handler reads, and what it answers beyond that (413). */
export interface BodyLimit {
  bytes: number;
  message: string;
}

const DEFAULT_LIMIT: BodyLimit = { bytes: MAX_BODY_BYTES, message: `Request body over ${MAX_BODY_BYTES} bytes.` };

/** The body's bytes, refused with 413 past the limit whether or not a length was declared. */
async function readLimited(req: Request, limit: BodyLimit): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  const len = declared === null ? null : Number(declared);
  if (len !== null && len > limit.bytes) throw new MaasError(413, limit.message);
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  // With a declared length the bytes go straight into one buffer: large uploads are not held twice.
  const known = len !== null && Number.isSafeInteger(len) && len >= 0 ? new Uint8Array(len) : null;
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (total + value.length > limit.bytes || (known && total + value.length > known.length)) {
      await reader.cancel().catch(() => {});
      throw new MaasError(
        total + value.length > limit.bytes ? 413 : 400,
        total + value.length > limit.bytes ? limit.message : "The body is longer than its Content-Length.",
      );
    }
    if (known) known.set(value, total);
    else chunks.push(value);
    total += value.length;
  }
  if (known) return known.subarray(0, total);
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

export async function readBody(req: Request, limit: BodyLimit = DEFAULT_LIMIT): Promise<Params> {
  const p = new Params();
  if (req.method === "GET" || req.method === "HEAD") return p;
  const buf = await readLimited(req, limit);
  if (buf.length === 0) return p;
  const type = req.headers.get("content-type") ?? "";
  if (/^multipart\/form-data/i.test(type)) {
    const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(type);
    if (!m) throw badRequest("multipart body without a boundary");
    parseMultipart(buf, m[1] ?? m[2]!, p);
  } else if (/^application\/json/i.test(type)) {
    // Not a MAAS client convention, but harmless: flat JSON objects are read as forms.
    let obj: unknown;
    try {
      obj = JSON.parse(new TextDecoder().decode(buf));
    } catch {
      throw badRequest("malformed JSON body");
    }
    if (!obj || typeof obj !== "object" || Array.isArray(obj)) throw badRequest("a JSON body must be an object");
    for (const [k, v] of Object.entries(obj)) for (const x of Array.isArray(v) ? v : [v]) p.add(k, typeof x === "string" ? x : JSON.stringify(x));
  } else {
    for (const [k, v] of new URLSearchParams(new TextDecoder().decode(buf))) p.add(k, v);
  }
  return p;
}

const B64_VALUES = (() => {
  const t = new Int8Array(256).fill(-1);
  for (const [i, ch] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"].entries()) t[ch.charCodeAt(0)] = i;
  return t;
})();

/**
 * Decodes base64 text in place (the output never outruns the input), skipping whitespace as
 * MIME line-wraps it; padding optional, as atob. Null when the text is not base64. In place,
 * so an uploaded file part is not held twice.
 */
export function decodeBase64InPlace(u: Uint8Array): Uint8Array | null {
  let acc = 0;
  let bits = 0;
  let o = 0;
  let n = 0;
  let pad = 0;
  for (let i = 0; i < u.length; i++) {
    const c = u[i]!;
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    if (c === 61) {
      pad++;
      continue;
    }
    const v = B64_VALUES[c]!;
    if (v < 0 || pad) return null;
    acc = ((acc << 6) | v) & 0xffff;
    bits += 6;
    n++;
    if (bits >= 8) {
      bits -= 8;
      u[o++] = (acc >> bits) & 0xff;
    }
  }
  if (n % 4 === 1 || pad > 2 || (pad && (n + pad) % 4 !== 0)) return null;
  return u.subarray(0, o);
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0]!;
  const last = hay.length - needle.length;
  // The native scan for the first byte does the bulk of the work on large uploads.
  for (let i = hay.indexOf(first, from); i !== -1 && i <= last; i = hay.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

function parseMultipart(buf: Uint8Array, boundary: string, out: Params) {
  const enc = new TextEncoder();
  const delim = enc.encode(`--${boundary}`);
  const dec = new TextDecoder();
  let pos = indexOf(buf, delim, 0);
  if (pos < 0) throw badRequest("multipart body without its boundary");
  for (;;) {
    pos += delim.length;
    if (buf[pos] === 45 && buf[pos + 1] === 45) return; // "--": the closing delimiter
    if (buf[pos] === 13) pos += 2;
    else if (buf[pos] === 10) pos += 1;
    const next = indexOf(buf, delim, pos);
    if (next < 0) throw badRequest("truncated multipart body");
    let part = buf.subarray(pos, next);
    // The CRLF before the delimiter belongs to the delimiter.
    if (part.length >= 2 && part[part.length - 2] === 13 && part[part.length - 1] === 10) part = part.subarray(0, part.length - 2);
    else if (part.length >= 1 && part[part.length - 1] === 10) part = part.subarray(0, part.length - 1);
    let headEnd = indexOf(part, enc.encode("\r\n\r\n"), 0);
    let skip = 4;
    if (headEnd < 0) {
      headEnd = indexOf(part, enc.encode("\n\n"), 0);
      skip = 2;
    }
    if (headEnd < 0) throw badRequest("multipart part without headers");
    const headers = new Map<string, string>();
    for (const line of dec.decode(part.subarray(0, headEnd)).split(/\r?\n/)) {
      const i = line.indexOf(":");
      if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    let body = part.subarray(headEnd + skip);
    const disp = headers.get("content-disposition") ?? "";
    const name = /\bname="([^"]*)"/i.exec(disp)?.[1] ?? /\bname=([^;\s]+)/i.exec(disp)?.[1];
    if (name !== undefined) {
      if ((headers.get("content-transfer-encoding") ?? "").toLowerCase() === "base64") {
        const decoded = decodeBase64InPlace(body);
        if (!decoded) throw fieldError(name, "the part is not valid base64");
        body = decoded;
      }
      if (/\bfilename=/i.test(disp)) out.files.set(name, body);
      else out.add(name, dec.decode(body));
    }
    pos = next;
  }
}

/** Merges query and body (body wins for the same key; MAAS reads POST/PUT params from the body). */
export function requestParams(url: URL, body: Params, method: string): Params {
  const p = new Params();
  const fromQuery = method === "GET" || method === "DELETE" || method === "HEAD";
  for (const k of new Set(url.searchParams.keys())) if (fromQuery || !body.has(k)) for (const v of url.searchParams.getAll(k)) p.add(k, v);
  for (const [k, vs] of body.values) for (const v of vs) p.add(k, v);
  for (const [k, f] of body.files) p.files.set(k, f);
  return p;
}

/** Parses params with a zod schema; failures answer 400 {field: [messages]} as MAAS forms do. */
type Undefaulted<S extends z.ZodRawShape> = { [K in keyof S]: S[K] extends z.ZodDefault<infer I> ? I : S[K] };

/**
 * A PUT's body: every field optional and none defaulted. MAAS keeps what a PUT does not send
 * (Terraform sends only what changed); `.partial()` alone would still apply create's defaults.
 */
export function patchOf<S extends z.ZodRawShape>(schema: z.ZodObject<S>): z.ZodObject<{ [K in keyof S]: z.ZodOptional<Undefaulted<S>[K]> }> {
  const shape = Object.fromEntries(Object.entries(schema.shape).map(([k, v]) => [k, v instanceof z.ZodDefault ? v.unwrap() : v]));
  return z.object(shape).partial() as never;
}

export function parse<T extends z.ZodType>(schema: T, p: Params, lists: readonly string[] = []): z.output<T> {
  const r = schema.safeParse(p.object(lists));
  if (r.success) return r.data;
  const fields: Record<string, string[]> = {};
  for (const i of r.error.issues) addField(fields, i.path.map(String).join(".") || "__all__", i.message);
  throw new MaasError(400, fields);
}

/** MAAS form booleans: true/false, 1/0, on/off, yes/no. */
export const boolParam = z.string().transform((s, ctx) => {
  const v = s.trim().toLowerCase();
  if (["true", "1", "on", "yes"].includes(v)) return true;
  if (["false", "0", "off", "no", ""].includes(v)) return false;
  ctx.addIssue({ code: "custom", message: `"${s}" is not a boolean` });
  return z.NEVER;
});

export const list = <T extends z.ZodType>(item: T) => z.union([z.array(item), item]).transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);

export const intParam = (min: number, max: number) =>
  z
    .string()
    .regex(/^\s*-?\d+\s*$/, "Enter a whole number.")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

export const numParam = (min: number, max: number) =>
  z
    .string()
    .regex(/^\s*-?\d+(\.\d+)?\s*$/, "Enter a number.")
    .transform(Number)
    .pipe(z.number().min(min).max(max));

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

export const deleted = () => new Response(null, { status: 204 });

/** A minimal BSON document of binary fields: what op=details answers (lshw and lldp XML). */
export function bsonBinaries(fields: Record<string, Uint8Array>): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const [k, v] of Object.entries(fields)) {
    const key = enc.encode(k);
    const el = new Uint8Array(1 + key.length + 1 + 4 + 1 + v.length);
    const dv = new DataView(el.buffer);
    el[0] = 0x05;
    el.set(key, 1);
    let o = 1 + key.length + 1;
    dv.setInt32(o, v.length, true);
    o += 4;
    el[o++] = 0x00;
    el.set(v, o);
    parts.push(el);
  }
  const total = 4 + parts.reduce((s, p) => s + p.length, 0) + 1;
  const out = new Uint8Array(total);
  new DataView(out.buffer).setInt32(0, total, true);
  let o = 4;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  out[o] = 0;
  return out;
}
