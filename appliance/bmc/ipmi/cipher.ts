// RMCP+ cipher suites and their cryptography (IPMI 2.0 §13.28–13.29, §22.15.2).
// Only suites with authentication, integrity and AES confidentiality are offered: 3 (SHA-1)
// and 17 (SHA-256). Suite 0 (no authentication) is refused, whatever the BMC says.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { IpmiDecodeError } from "./errors";

export const AUTH_NONE = 0x00;
export const AUTH_HMAC_SHA1 = 0x01;
export const AUTH_HMAC_MD5 = 0x02;
export const AUTH_HMAC_SHA256 = 0x03;
export const INTEGRITY_NONE = 0x00;
export const INTEGRITY_HMAC_SHA1_96 = 0x01;
export const INTEGRITY_HMAC_SHA256_128 = 0x04;
export const CONFIDENTIALITY_NONE = 0x00;
export const CONFIDENTIALITY_AES_CBC_128 = 0x01;

export interface CipherSuite {
  id: number;
  auth: number;
  integrity: number;
  confidentiality: number;
  /** Hash behind RAKP, SIK, K1/K2 and the integrity HMAC. */
  hash: "sha1" | "sha256";
  /** Bytes of HMAC kept in RAKP4's integrity check value and in each packet's auth code. */
  truncate: number;
}

export const SUITES: Record<3 | 17, CipherSuite> = {
  3: {
    id: 3,
    auth: AUTH_HMAC_SHA1,
    integrity: INTEGRITY_HMAC_SHA1_96,
    confidentiality: CONFIDENTIALITY_AES_CBC_128,
    hash: "sha1",
    truncate: 12,
  },
  17: {
    id: 17,
    auth: AUTH_HMAC_SHA256,
    integrity: INTEGRITY_HMAC_SHA256_128,
    confidentiality: CONFIDENTIALITY_AES_CBC_128,
    hash: "sha256",
    truncate: 16,
  },
};

export function suiteFor(auth: number, integrity: number, confidentiality: number): CipherSuite | undefined {
  return Object.values(SUITES).find((s) => s.auth === auth && s.integrity === integrity && s.confidentiality === confidentiality);
}

export function hmac(hash: CipherSuite["hash"], key: Buffer, ...parts: Buffer[]): Buffer {
  const h = createHmac(hash, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/**
 * Kuid: the user password, zero-padded to 20 bytes (IPMI 2.0 passwords are at most 20).
 * HMAC pads short keys with zeros anyway, so this only matters for the length check.
 */
export function userKey(password: string): Buffer {
  const pw = Buffer.from(password, "utf8");
  if (pw.length > 20) throw new IpmiDecodeError("IPMI 2.0 passwords are at most 20 bytes");
  return Buffer.concat([pw, Buffer.alloc(20 - pw.length)]);
}

export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface SessionKeys {
  sik: Buffer;
  k1: Buffer;
  k2: Buffer;
}

/**
 * SIK = HMAC_Kg(Rm | Rc | role | ulen | uname); K1, K2 = HMAC_SIK(0x01 × 20), HMAC_SIK(0x02 × 20).
 * The constants are 20 bytes for SHA-256 too (IPMI 2.0 §13.32; ipmitool and BMCs agree).
 */
export function deriveKeys(suite: CipherSuite, kg: Buffer, consoleRandom: Buffer, bmcRandom: Buffer, role: number, user: Buffer): SessionKeys {
  const sik = hmac(suite.hash, kg, consoleRandom, bmcRandom, Buffer.from([role, user.length]), user);
  return { sik, k1: hmac(suite.hash, sik, Buffer.alloc(20, 0x01)), k2: hmac(suite.hash, sik, Buffer.alloc(20, 0x02)) };
}

/** The per-packet auth code: HMAC_K1 over the signed bytes, truncated (SHA1-96, SHA256-128). */
export function integrityCode(suite: CipherSuite, k1: Buffer, signed: Buffer): Buffer {
  return hmac(suite.hash, k1, signed).subarray(0, suite.truncate);
}

/**
 * AES-CBC-128 payload (§13.29): IV | E(data | 01 02 … n | n), the pad making a whole
 * number of 16-byte blocks. The key is the first 16 bytes of K2.
 */
export function encryptPayload(k2: Buffer, data: Buffer, iv: Buffer = randomBytes(16)): Buffer {
  const padLen = (16 - ((data.length + 1) % 16)) % 16;
  const pad = Buffer.alloc(padLen + 1);
  for (let i = 0; i < padLen; i++) pad[i] = i + 1;
  pad[padLen] = padLen;
  const c = createCipheriv("aes-128-cbc", k2.subarray(0, 16), iv).setAutoPadding(false);
  return Buffer.concat([iv, c.update(Buffer.concat([data, pad])), c.final()]);
}

export function decryptPayload(k2: Buffer, payload: Buffer): Buffer {
  if (payload.length < 32 || payload.length % 16 !== 0) throw new IpmiDecodeError("AES-CBC payload length");
  const d = createDecipheriv("aes-128-cbc", k2.subarray(0, 16), payload.subarray(0, 16)).setAutoPadding(false);
  const plain = Buffer.concat([d.update(payload.subarray(16)), d.final()]);
  const padLen = plain[plain.length - 1]!;
  if (padLen > 15) throw new IpmiDecodeError("AES-CBC pad length");
  return plain.subarray(0, plain.length - 1 - padLen);
}
