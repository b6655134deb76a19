// OAuth 1.0a PLAINTEXT as MAAS clients send it. The key is consumer:token:secret with an
// empty consumer secret, so the signature is "&<secret>" (URL-escaped "%26<secret>").
// Clients differ in realm (none, "", "OAuth", "MAAS+API") and parameter order: neither matters.
import { authenticateBearer, authenticateMaas } from "../auth/keys";
import type { Caller } from "../auth/roles";
import type { Db } from "../db/client";
import { MaasError, type Params } from "./wire";

export const UNAUTHORIZED = () => new MaasError(401, "Authorization Error: Invalid API key.", { "www-authenticate": 'OAuth realm="MAAS API"' });

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, "%20"));
  } catch {
    return s;
  }
}

/** The oauth_* parameters from the Authorization header, or null if there is no OAuth header. */
export function parseOAuthHeader(header: string): Map<string, string> | null {
  const m = /^\s*OAuth\s+(.*)$/is.exec(header);
  if (!m) return null;
  const out = new Map<string, string>();
  for (const pair of m[1]!.matchAll(/([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g)) {
    out.set(pair[1]!, decode(pair[2] ?? pair[3] ?? ""));
  }
  return out;
}

/**
 * The caller, null for an anonymous request, or a 401/400. OAuth parameters come from the
 * header, else from the query string or the form body (piston accepts all three).
 */
export async function authenticate(db: Db, header: string | undefined, params: Params): Promise<Caller | null> {
  const bearer = /^\s*Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (bearer) {
    const caller = await authenticateBearer(db, bearer[1]!);
    if (!caller) throw UNAUTHORIZED();
    return caller;
  }
  let oauth = header ? parseOAuthHeader(header) : null;
  if (!oauth && params.has("oauth_token")) {
    oauth = new Map();
    for (const k of params.keys()) if (k.startsWith("oauth_")) oauth.set(k, params.get(k)!);
  }
  if (!oauth) return null;
  const ts = oauth.get("oauth_timestamp");
  if (ts !== undefined && !/^\d+$/.test(ts)) throw new MaasError(400, "Invalid oauth_timestamp: must be an integer.");
  const method = oauth.get("oauth_signature_method") ?? "PLAINTEXT";
  const consumer = oauth.get("oauth_consumer_key") ?? "";
  const token = oauth.get("oauth_token") ?? "";
  const sig = oauth.get("oauth_signature") ?? "";
  if (method.toUpperCase() !== "PLAINTEXT" || !consumer || !token || !sig.includes("&")) throw UNAUTHORIZED();
  // "<consumer secret>&<token secret>"; MAAS keys have an empty consumer secret.
  const [consumerSecret, secret] = [sig.slice(0, sig.indexOf("&")), sig.slice(sig.indexOf("&") + 1)];
  if (consumerSecret !== "" || !secret) throw UNAUTHORIZED();
  const caller = await authenticateMaas(db, consumer, token, secret);
  if (!caller) throw UNAUTHORIZED();
  return caller;
}
