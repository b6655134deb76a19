// Request parsing at the trust boundary: every body and query goes through a strict zod schema,
// and anything else is a 4xx with the error shape, never an exception that escapes.
import type { Context } from "hono";
import { z } from "zod";
import { ApiError, badRequest } from "./errors";

export const MAX_BODY_BYTES = 256 * 1024;

type Issue = z.core.$ZodIssue;

/**
 * A union that failed says only "Invalid input"; what the caller needs is why its value failed
 * the branch it was meant for: the branch that got past type checks (a list parameter's single
 * value, say, refused by name) if one did.
 */
function flatten(i: Issue, at: PropertyKey[] = []): Issue[] {
  const path = [...at, ...i.path];
  if (i.code !== "invalid_union" || !("errors" in i) || !i.errors.length) return [{ ...i, path }];
  const branch = i.errors.find((b) => b.some((x) => x.code !== "invalid_type")) ?? null;
  if (!branch) return [{ ...i, path }];
  return branch.flatMap((x) => flatten(x, path));
}

function issues(err: z.ZodError) {
  return err.issues.flatMap((i) => flatten(i)).map((i) => ({ path: i.path.join("."), message: i.message, code: i.code }));
}

export async function readJson<T extends z.ZodType>(c: Context, schema: T): Promise<z.output<T>> {
  const len = Number(c.req.header("content-length") ?? "0");
  if (len > MAX_BODY_BYTES) throw new ApiError(413, "payload_too_large", `request body over ${MAX_BODY_BYTES} bytes`);
  const text = await c.req.text();
  if (new TextEncoder().encode(text).length > MAX_BODY_BYTES) {
    throw new ApiError(413, "payload_too_large", `request body over ${MAX_BODY_BYTES} bytes`);
  }
  let raw: unknown = {};
  if (text.trim() !== "") {
    const type = c.req.header("content-type") ?? "";
    if (!/^application\/json\b/i.test(type)) throw new ApiError(415, "unsupported_media_type", "send the body as application/json");
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw badRequest("malformed JSON body", { parser: String((e as Error).message) });
    }
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw badRequest("the request body is not valid", issues(r.error));
  return r.data;
}

/** Query strings: repeated keys become arrays, single ones strings. */
export function readQuery<T extends z.ZodType>(c: Context, schema: T): z.output<T> {
  const url = new URL(c.req.url);
  const raw: Record<string, string | string[]> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const all = url.searchParams.getAll(key);
    raw[key] = all.length > 1 ? all : all[0]!;
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw badRequest("the query string is not valid", issues(r.error));
  return r.data;
}

/** A query value that may be given once or repeated. */
export const listParam = <T extends z.ZodType<unknown, string>>(item: T) =>
  z.union([z.array(item), item]).transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);

export const intParam = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Names of sites, zones, pools, tags, users: no spaces or punctuation that would need quoting. */
export const nameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-' only");
export const hostnameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i, "a DNS label: letters, digits and inner '-'")
  // Hostnames are DNS labels: case-insensitive, kept lower-case so lookups and prefix search agree.
  .transform((h) => h.toLowerCase());
export const macSchema = z
  .string()
  .regex(/^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i, "a MAC address like 52:54:00:12:34:56")
  .transform((m) => m.toLowerCase().replaceAll("-", ":"));
export const systemIdSchema = z.string().regex(/^[a-z0-9]{6}$/, "a 6-character system_id");
