// A deployed node's OAuth credentials for the MAAS metadata API, derived from its deployment's
// token. Why derived rather than stored: the region already rotates the token per deployment
// and clears it at release, and the rack already holds it in its snapshot, so both sides know
// the same credentials with no new column, migration or snapshot field, and the credentials
// stop working exactly when the token does. They are secrets for the node only: no API returns
// them. Pure and platform-neutral (Web Crypto, as workerd and Node both provide it).

export interface NodeCredentials {
  consumerKey: string;
  tokenKey: string;
  tokenSecret: string;
}

// The slice of Web Crypto used here: shared/ compiles without platform types.
interface HmacSubtle {
  importKey(format: "raw", key: Uint8Array, algorithm: { name: "HMAC"; hash: "SHA-256" }, extractable: false, usages: ["sign"]): Promise<unknown>;
  sign(algorithm: "HMAC", key: unknown, data: Uint8Array): Promise<ArrayBuffer>;
}

function subtle(): HmacSubtle {
  const c = (globalThis as unknown as { crypto?: { subtle?: HmacSubtle } }).crypto;
  if (!c?.subtle) throw new Error("Web Crypto (crypto.subtle) is not available");
  return c.subtle;
}

/** Versioned labels: changing the derivation later means a new label, never a silent change. */
const LABELS = {
  consumerKey: "plinth/node-oauth/v1/consumer-key",
  tokenKey: "plinth/node-oauth/v1/token-key",
  tokenSecret: "plinth/node-oauth/v1/token-secret",
};
/** MAAS's own lengths (piston's KEY_SIZE 18, SECRET_SIZE 32), so nothing downstream is surprised. */
const KEY_LENGTH = 18;
const SECRET_LENGTH = 32;

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** 256 bits as base62 digits: 43 of them, of which we take the first `length` (≤ 190 bits). */
function base62(bytes: Uint8Array, length: number): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = "";
  for (let i = 0; i < length; i++) {
    out += BASE62[Number(n % 62n)];
    n /= 62n;
  }
  return out;
}

/** Tokens and labels are ASCII (the snapshot's schema says so), which spares a TextEncoder shared/ has no type for. */
function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (ch) => ch.charCodeAt(0));
}

const TOKEN_RE = /^[A-Za-z0-9]{16,64}$/;

export async function nodeCredentials(deployToken: string): Promise<NodeCredentials> {
  if (!TOKEN_RE.test(deployToken)) throw new Error("a deployment token is 16 to 64 letters and digits");
  const s = subtle();
  const key = await s.importKey("raw", ascii(deployToken), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const derive = async (label: string, length: number) => base62(new Uint8Array(await s.sign("HMAC", key, ascii(label))), length);
  const [consumerKey, tokenKey, tokenSecret] = await Promise.all([
    derive(LABELS.consumerKey, KEY_LENGTH),
    derive(LABELS.tokenKey, KEY_LENGTH),
    derive(LABELS.tokenSecret, SECRET_LENGTH),
  ]);
  return { consumerKey, tokenKey, tokenSecret };
}
