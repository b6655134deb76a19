// The MAAS API's request bodies (cloud/maas/wire.ts), read from anything a client posts:
// multipart (parts possibly base64), urlencoded and JSON. The module is pure (no Workers-only
// imports), so it runs here. Any body with any content type gives Params or a MaasError (a 4xx
// the client reads), never another exception; bodies we encode read back to what was encoded;
// and form parsing keeps every key, odd names included.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { MaasError, type Params, parse, readBody } from "../../../cloud/maas/wire";
import { runs, TIMEOUT } from "./fuzz";

const CRLF = "\r\n";
const name = fc.oneof(fc.constantFrom("hostname", "mac_addresses", "__proto__", "constructor", "toString", "a b", "é", ""), fc.string({ maxLength: 12 }));
// Values as a form carries them: no NUL or lone surrogate (TextDecoder would replace it).
const value = fc.string({ unit: "grapheme", maxLength: 40 });
const fields = fc.array(fc.tuple(name, value), { maxLength: 8 });
// Clients escape a quote or line break in a part's name; unescaped it is not one name.
const partName = name.filter((n) => !/["\r\n]/.test(n));
const files = fc.array(fc.tuple(partName, fc.uint8Array({ maxLength: 200 }), fc.boolean()), { maxLength: 3 });
const boundary = fc.stringMatching(/^[A-Za-z0-9'()+_,.\-=?]{1,40}$/);

/** A multipart body as Python's requests or Go's mime/multipart write it; base64 parts when asked. */
function multipart(b: string, fs: [string, string][], parts: [string, Uint8Array, boolean][], newline = CRLF): Uint8Array {
  const chunks: Uint8Array[] = [];
  const text = (s: string) => chunks.push(new TextEncoder().encode(s));
  for (const [k, v] of fs) text(`--${b}${newline}Content-Disposition: form-data; name="${k}"${newline}${newline}${v}${newline}`);
  for (const [k, data, b64] of parts) {
    text(`--${b}${newline}Content-Disposition: form-data; name="${k}"; filename="f"${newline}`);
    if (b64) text(`Content-Transfer-Encoding: base64${newline}${newline}${Buffer.from(data).toString("base64")}${newline}`);
    else {
      text(`Content-Type: application/octet-stream${newline}${newline}`);
      chunks.push(data);
      text(newline);
    }
  }
  text(`--${b}--${newline}`);
  return Buffer.concat(chunks);
}

function post(body: Uint8Array | string, type: string | null): Request {
  return new Request("http://region/MAAS/api/2.0/machines/", { method: "POST", body, headers: type === null ? {} : { "content-type": type } });
}

async function readOrMaasError(req: Request): Promise<Params | MaasError> {
  try {
    return await readBody(req);
  } catch (e) {
    if (e instanceof MaasError) return e;
    throw e;
  }
}

/** Fields with the same key in wire order, as Params keeps them (files by name, the last wins). */
function expected(fs: [string, string][]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [k, v] of fs) m.set(k, [...(m.get(k) ?? []), v]);
  return m;
}

// A body as it may arrive: one we encode, then cut, spliced or flipped; or random bytes.
const contentType = fc.oneof(
  boundary.map((b) => `multipart/form-data; boundary=${b}`),
  boundary.map((b) => `multipart/form-data; boundary="${b}"`),
  fc.constantFrom("multipart/form-data", "application/x-www-form-urlencoded", "application/json", "text/plain", "MULTIPART/FORM-DATA; boundary=--"),
  fc.constant(null),
);
const mangled = fc
  .tuple(boundary, fields, files, fc.constantFrom(CRLF, "\n"), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }), fc.option(fc.nat()))
  .map(([b, fs, parts, nl, flips, cut]) => {
    const body = Buffer.from(multipart(b, fs, parts, nl));
    for (const [at, byte] of flips) if (body.length) body[at % body.length] = byte;
    return { body: cut === null ? body : body.subarray(0, cut % (body.length + 1)), type: `multipart/form-data; boundary=${b}` };
  });
const anyBody = fc.oneof(
  mangled,
  fc.record({ body: fc.uint8Array({ maxLength: 400 }), type: contentType }),
  fc.record({ body: fc.oneof(fc.json(), fc.string({ maxLength: 200 })).map((s) => new TextEncoder().encode(s)), type: contentType }),
);

describe("MAAS body regressions found by the fuzzer", () => {
  it("keeps a form field named __proto__, given once or twice, as a field", async () => {
    const p = await readBody(post("__proto__=a&hostname=h&__proto__=b", "application/x-www-form-urlencoded"));
    const o = p.object();
    expect(Object.keys(o).sort()).toEqual(["__proto__", "hostname"]);
    expect(Object.getOwnPropertyDescriptor(o, "__proto__")?.value).toEqual(["a", "b"]);
    expect(o["hostname"]).toBe("h");
  });
});

describe("MAAS request bodies (fast-check)", () => {
  it(
    "any body and content type: Params or a MaasError",
    async () => {
      await fc.assert(
        fc.asyncProperty(anyBody, async ({ body, type }) => {
          const r = await readOrMaasError(post(body, type));
          if (r instanceof MaasError) expect(r.status).toBeGreaterThanOrEqual(400);
        }),
        runs(1000),
      );
    },
    TIMEOUT,
  );

  it(
    "multipart bodies we encode (CRLF or bare LF, base64 parts or not) read back to their fields and files",
    async () => {
      await fc.assert(
        fc.asyncProperty(boundary, fc.array(fc.tuple(partName, value), { maxLength: 8 }), files, fc.constantFrom(CRLF, "\n"), async (b, fs, parts, nl) => {
          // A value holding the delimiter line would end its part early: no client sends that.
          fc.pre(fs.every(([, v]) => !v.includes(`--${b}`)));
          // With bare LF line ends, content ending in CR is read as ending a CRLF line, as it must
          // be for the CRLF bodies every real client sends.
          fc.pre(nl === CRLF || (fs.every(([, v]) => !v.endsWith("\r")) && parts.every(([, d, b64]) => b64 || d.at(-1) !== 13)));
          const p = await readBody(post(multipart(b, fs, parts, nl), `multipart/form-data; boundary="${b}"`));
          expect(p.values).toEqual(expected(fs));
          const want = new Map(parts.map(([k, data]) => [k, Buffer.from(data).toString("hex")]));
          expect(new Map([...p.files].map(([k, v]) => [k, Buffer.from(v).toString("hex")]))).toEqual(want);
        }),
        runs(600),
      );
    },
    TIMEOUT,
  );

  it(
    "urlencoded bodies read back to their fields, every key reaches the schema, and parse gives a value or a MaasError",
    async () => {
      const schema = z.object({ hostname: z.string().max(10).optional(), mac_addresses: z.array(z.string()).optional() });
      await fc.assert(
        fc.asyncProperty(fields, async (fs) => {
          const p = await readBody(post(new URLSearchParams(fs).toString(), "application/x-www-form-urlencoded"));
          expect(p.values).toEqual(expected(fs));
          expect(Object.keys(p.object()).sort()).toEqual([...expected(fs).keys()].sort());
          try {
            parse(schema, p, ["mac_addresses"]);
          } catch (e) {
            if (!(e instanceof MaasError)) throw e;
          }
        }),
        runs(600),
      );
    },
    TIMEOUT,
  );
});
