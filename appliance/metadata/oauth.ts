// OAuth 1.0 (RFC 5849) request verification as the MAAS metadata API needs it: cloud-init signs
// with PLAINTEXT, other MAAS clients with HMAC-SHA1, always in an "Authorization: OAuth ..."
// header. Pure: the caller finds the secrets for the token the header names.
// Why no timestamp or nonce check: PLAINTEXT over the provisioning network's plain HTTP gives no
// replay protection anyway, and MAAS itself accepts what cloud-init sends, clock skew included.
import { createHmac, timingSafeEqual } from "node:crypto";

export type OAuthParams = Readonly<Record<string, string>>;

/** RFC 5849 3.6: everything but ALPHA, DIGIT, "-", ".", "_" and "~" is percent-encoded. */
export function percentEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function percentDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

const PARAM_RE = /^\s*([A-Za-z0-9_.~%-]+)\s*=\s*"([^"]*)"\s*$/;
/** A generous bound: a real header is a few hundred bytes. */
const MAX_HEADER = 4096;

/** The protocol parameters of an "Authorization: OAuth ..." header; null when it is not one. */
export function parseAuthorization(header: string | undefined): OAuthParams | null {
  if (header === undefined || header.length > MAX_HEADER) return null;
  const m = /^\s*OAuth\s+(.*)$/is.exec(header);
  if (!m) return null;
  const out: Record<string, string> = {};
  for (const part of m[1]!.split(",")) {
    if (part.trim() === "") continue;
    const p = PARAM_RE.exec(part);
    if (!p) return null;
    const name = percentDecode(p[1]!);
    const value = percentDecode(p[2]!);
    if (name === null || value === null || Object.hasOwn(out, name)) return null;
    out[name] = value;
  }
  return out;
}

/** The request as the client signed it. */
export interface SignedRequest {
  method: string;
  /** Absolute URL with the query, e.g. "http://10.0.0.2:5248/MAAS/metadata/latest/user-data". */
  url: string;
  params: OAuthParams;
  /** RFC 5849 3.4.1.3.1: an application/x-www-form-urlencoded body's parameters are signed too. */
  formParams?: readonly (readonly [string, string])[];
}

export interface Secrets {
  consumerSecret: string;
  tokenSecret: string;
}

/** RFC 5849 3.4.1: the signature base string of the request. */
export function signatureBaseString(req: SignedRequest): string {
  const u = new URL(req.url);
  // 3.4.1.2: lower-case scheme and host, default port left out, no query or fragment.
  const port = u.port === "" || (u.protocol === "http:" && u.port === "80") || (u.protocol === "https:" && u.port === "443") ? "" : `:${u.port}`;
  const base = `${u.protocol.toLowerCase()}//${u.hostname.toLowerCase()}${port}${u.pathname}`;
  // 3.4.1.3: query parameters and the protocol parameters, signature and realm excepted.
  const pairs: [string, string][] = [];
  for (const [k, v] of new URLSearchParams(u.search)) pairs.push([percentEncode(k), percentEncode(v)]);
  for (const [k, v] of req.formParams ?? []) pairs.push([percentEncode(k), percentEncode(v)]);
  for (const [k, v] of Object.entries(req.params)) if (k !== "oauth_signature" && k !== "realm") pairs.push([percentEncode(k), percentEncode(v)]);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const normalized = pairs.map(([k, v]) => `${k}=${v}`).join("&");
  return `${req.method.toUpperCase()}&${percentEncode(base)}&${percentEncode(normalized)}`;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export type Verdict = { ok: true } | { ok: false; reason: string };

/** Checks the signature of a request whose token the caller has already matched to `secrets`. */
export function verifySignature(req: SignedRequest, secrets: Secrets): Verdict {
  const p = req.params;
  const signature = p["oauth_signature"];
  if (signature === undefined) return { ok: false, reason: "no oauth_signature" };
  if (p["oauth_version"] !== undefined && p["oauth_version"] !== "1.0") return { ok: false, reason: "unsupported oauth_version" };
  const key = `${percentEncode(secrets.consumerSecret)}&${percentEncode(secrets.tokenSecret)}`;
  switch (p["oauth_signature_method"]) {
    case "PLAINTEXT":
      return sameText(signature, key) ? { ok: true } : { ok: false, reason: "wrong signature" };
    case "HMAC-SHA1": {
      const expected = createHmac("sha1", key).update(signatureBaseString(req)).digest("base64");
      return sameText(signature, expected) ? { ok: true } : { ok: false, reason: "wrong signature" };
    }
    default:
      return { ok: false, reason: "unsupported oauth_signature_method" };
  }
}
