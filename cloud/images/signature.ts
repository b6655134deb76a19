// OpenPGP for boot sources: the clearsigned simplestreams files a source's keyring (read by
// ./keyring.ts) must sign. openpgp runs on WebCrypto, so this works the same in workerd and in Node.
import * as openpgp from "openpgp";

export type Keyring = openpgp.PublicKey[];

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
