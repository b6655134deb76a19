// OpenPGP for boot sources: a source's keyring (armored public keys, or base64 of a binary
// keyring as MAAS stores keyring files) and the clearsigned simplestreams files it must sign.
// openpgp runs on WebCrypto, so this works the same in workerd and in Node.
import * as openpgp from "openpgp";

export type Keyring = openpgp.PublicKey[];

/** The keys of keyring_data; throws with a reason an operator can act on. */
export async function readKeyring(data: string): Promise<Keyring> {
  const text = data.trim();
  if (text.length === 0) throw new Error("the keyring is empty");
  if (text.includes("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
    return (await openpgp.readKeys({ armoredKeys: text })) as Keyring;
  }
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(text.replace(/\s+/g, "")), (ch) => ch.charCodeAt(0));
  } catch {
    throw new Error("the keyring is neither armored OpenPGP keys nor base64 of a binary keyring");
  }
  return (await openpgp.readKeys({ binaryKeys: bytes })) as Keyring;
}

/** Upper-case hex fingerprints of the keyring's primary keys. */
export function fingerprints(keys: Keyring): string[] {
  return keys.map((k) => k.getFingerprint().toUpperCase());
}

export type Verified = { ok: true; text: string; signer: string } | { ok: false; reason: string };

/**
 * The signed text of a clearsigned file, only when a key of the keyring made a valid signature
 * over it: the caller must never read the file's content any other way when verifying.
 */
export async function verifyClearsigned(armored: string, keys: Keyring): Promise<Verified> {
  let message: openpgp.CleartextMessage;
  try {
    message = await openpgp.readCleartextMessage({ cleartextMessage: armored });
  } catch (e) {
    return { ok: false, reason: `not a clearsigned OpenPGP message (${(e as Error).message})` };
  }
  try {
    const result = await openpgp.verify({ message, verificationKeys: keys, expectSigned: true });
    const sig = result.signatures[0];
    if (!sig) return { ok: false, reason: "the file carries no signature" };
    await sig.verified;
    return { ok: true, text: result.data as string, signer: sig.keyID.toHex().toUpperCase() };
  } catch (e) {
    return { ok: false, reason: `bad signature: ${(e as Error).message}` };
  }
}

/** The text of a clearsigned file without checking it: only for sources marked skip_verify. */
export async function unverifiedText(armored: string): Promise<string> {
  const message = await openpgp.readCleartextMessage({ cleartextMessage: armored });
  return message.getText();
}
