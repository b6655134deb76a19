// BMC parameters at rest: AES-GCM under PLINTH_SECRET_KEY (a Worker secret; `npm start`
// generates a development key). Stored as "v1:<iv>:<ciphertext>", both base64.
import { ApiError } from "../http/errors";
import { b64, unb64 } from "./crypto";

// Spelled this way (not CryptoKey) so Node-side scripts that seed encrypted data type-check too.
type AesKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const keys = new Map<string, Promise<AesKey>>();

function key(secret: string | undefined): Promise<AesKey> {
  if (!secret) throw new ApiError(500, "misconfigured", "PLINTH_SECRET_KEY is not set: BMC secrets cannot be stored");
  let k = keys.get(secret);
  if (!k) {
    const raw = unb64(secret);
    if (raw.length !== 32) throw new ApiError(500, "misconfigured", "PLINTH_SECRET_KEY must be 32 bytes, base64");
    k = crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    keys.set(secret, k);
  }
  return k;
}

export async function encryptJson(secret: string | undefined, value: unknown, aad: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(aad) },
    await key(secret),
    new TextEncoder().encode(JSON.stringify(value)),
  );
  return `v1:${b64(iv)}:${b64(ct)}`;
}

/** `aad` binds a ciphertext to its machine, so one machine's blob cannot be pasted onto another. */
export async function decryptJson(secret: string | undefined, stored: string, aad: string): Promise<unknown> {
  const [v, iv, ct] = stored.split(":");
  if (v !== "v1" || !iv || !ct) throw new ApiError(500, "corrupt_secret", "stored BMC parameters are unreadable");
  let pt: ArrayBuffer;
  try {
    pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv: unb64(iv), additionalData: new TextEncoder().encode(aad) }, await key(secret), unb64(ct));
  } catch {
    // Wrong key, tampering, or a blob that belongs to another machine.
    throw new ApiError(500, "corrupt_secret", "stored BMC parameters do not decrypt: re-enter them");
  }
  return JSON.parse(new TextDecoder().decode(pt));
}
