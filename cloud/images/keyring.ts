// OpenPGP keyrings of boot sources, read one way for both readers: the boot-source API that
// checks and stores what an operator sends, and the sync that verifies a mirror with what was
// stored. Accepted: ASCII armour (gpg exports may be concatenated), base64 of a binary keyring
// (as MAAS clients send it and as Plinth stores it), or the binary bytes (a file upload).
// openpgp runs on WebCrypto, so this works the same in workerd and in Node.
import { type PublicKey, readKeys, unarmor } from "openpgp";

/** Why a keyring is refused, in words an operator can act on. */
export class KeyringError extends Error {}

export interface ReadKeyring {
  /** The binary packets the operator sent (only the armour taken off). */
  bytes: Uint8Array;
  keys: PublicKey[];
}

export function toBase64(u: Uint8Array): string {
  let s = "";
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(s: string): Uint8Array | null {
  const t = s.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 === 1) return null;
  try {
    return Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const ARMOR_BLOCK = /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g;

/** The binary packets of every armoured public key block in the text. */
async function dearmor(text: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (const block of text.match(ARMOR_BLOCK) ?? []) {
    try {
      parts.push((await unarmor(block)).data as Uint8Array);
    } catch (e) {
      throw new KeyringError(`the armoured key does not decode: ${String((e as Error).message ?? e).slice(0, 200)}`);
    }
  }
  if (parts.length === 0) throw new KeyringError("no complete PUBLIC KEY BLOCK in the armoured text");
  return concat(parts);
}

const privateKey = () => new KeyringError("this is a private key: send the public key only, and keep this one secret");

/** The public keys of a keyring; a KeyringError says why one is refused. Private keys are refused, never echoed. */
export async function readKeyring(input: string | Uint8Array): Promise<ReadKeyring> {
  let text: string | null = typeof input === "string" ? input : null;
  if (typeof input !== "string") {
    const head = new TextDecoder().decode(input.subarray(0, 64 * 1024));
    // Armour, or a base64 text file of a keyring, uploaded as a file.
    if (/-----BEGIN PGP/.test(head) || /^[A-Za-z0-9+/=\s]+$/.test(head)) text = new TextDecoder().decode(input);
  }
  let bytes: Uint8Array;
  if (text !== null) {
    if (/-----BEGIN PGP PRIVATE KEY BLOCK-----/.test(text)) throw privateKey();
    if (/-----BEGIN PGP PUBLIC KEY BLOCK-----/.test(text)) bytes = await dearmor(text);
    else {
      const b = fromBase64(text);
      if (!b) throw new KeyringError("the keyring is neither ASCII-armoured OpenPGP nor base64 of a binary keyring");
      bytes = b;
    }
  } else bytes = input as Uint8Array;
  if (bytes.length === 0) throw new KeyringError("the keyring is empty");
  let keys: Awaited<ReturnType<typeof readKeys>>;
  try {
    keys = await readKeys({ binaryKeys: bytes });
  } catch (e) {
    throw new KeyringError(`the keyring holds no OpenPGP public key: ${String((e as Error).message ?? e).slice(0, 200)}`);
  }
  if (keys.length === 0) throw new KeyringError("the keyring holds no OpenPGP public key");
  if (keys.some((k) => k.isPrivate())) throw privateKey();
  return { bytes, keys: keys as PublicKey[] };
}

/** Upper-case hex fingerprints of the keyring's primary keys. */
export function fingerprints(keys: PublicKey[]): string[] {
  return keys.map((k) => k.getFingerprint().toUpperCase());
}
