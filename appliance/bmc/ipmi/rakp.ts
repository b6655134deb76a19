// RAKP messages 1–4 (IPMI 2.0 §13.20–13.23) and the key-exchange codes each carries.
// SIDm is the console's session ID, SIDc the BMC's; Rm/Rc the two randoms; ROLEm the
// privilege byte exactly as sent in RAKP1 (with its name-only-lookup bit).
import { type CipherSuite, hmac } from "./cipher";
import { need } from "./errors";
import { messageHead } from "./open-session";

/** RAKP1 role bit: look the user up by name only, not by name and privilege. */
export const NAME_ONLY_LOOKUP = 0x10;

export interface Rakp1 {
  tag: number;
  bmcSessionId: number;
  consoleRandom: Buffer;
  role: number;
  user: Buffer;
}

export interface Rakp2 {
  tag: number;
  status: number;
  consoleSessionId: number;
  bmcRandom: Buffer;
  bmcGuid: Buffer;
  authCode: Buffer;
}

export interface Rakp3 {
  tag: number;
  status: number;
  bmcSessionId: number;
  authCode: Buffer;
}

export interface Rakp4 {
  tag: number;
  status: number;
  consoleSessionId: number;
  integrityCheck: Buffer;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export function encodeRakp1(m: Rakp1): Buffer {
  const head = Buffer.alloc(28);
  head[0] = m.tag;
  head.writeUInt32LE(m.bmcSessionId >>> 0, 4);
  m.consoleRandom.copy(head, 8, 0, 16);
  head[24] = m.role;
  head[27] = m.user.length;
  return Buffer.concat([head, m.user]);
}

export function decodeRakp1(buf: Buffer): Rakp1 {
  need(buf, 28, "RAKP1");
  const len = buf[27]!;
  need(buf, 28 + len, "RAKP1 user name");
  return {
    tag: buf[0]!,
    bmcSessionId: buf.readUInt32LE(4),
    consoleRandom: Buffer.from(buf.subarray(8, 24)),
    role: buf[24]!,
    user: Buffer.from(buf.subarray(28, 28 + len)),
  };
}

export function encodeRakp2(m: Rakp2): Buffer {
  return Buffer.concat([messageHead(m.tag, m.status, m.consoleSessionId), m.bmcRandom, m.bmcGuid, m.authCode]);
}

export function decodeRakp2(buf: Buffer): Rakp2 {
  need(buf, 8, "RAKP2");
  const full = buf.length >= 40;
  return {
    tag: buf[0]!,
    status: buf[1]!,
    consoleSessionId: buf.readUInt32LE(4),
    bmcRandom: Buffer.from(full ? buf.subarray(8, 24) : []),
    bmcGuid: Buffer.from(full ? buf.subarray(24, 40) : []),
    authCode: Buffer.from(full ? buf.subarray(40) : []),
  };
}

export function encodeRakp3(m: Rakp3): Buffer {
  return Buffer.concat([messageHead(m.tag, m.status, m.bmcSessionId), m.authCode]);
}

export function decodeRakp3(buf: Buffer): Rakp3 {
  need(buf, 8, "RAKP3");
  return { tag: buf[0]!, status: buf[1]!, bmcSessionId: buf.readUInt32LE(4), authCode: Buffer.from(buf.subarray(8)) };
}

export function encodeRakp4(m: Rakp4): Buffer {
  return Buffer.concat([messageHead(m.tag, m.status, m.consoleSessionId), m.integrityCheck]);
}

export function decodeRakp4(buf: Buffer): Rakp4 {
  need(buf, 8, "RAKP4");
  return {
    tag: buf[0]!,
    status: buf[1]!,
    consoleSessionId: buf.readUInt32LE(4),
    integrityCheck: Buffer.from(buf.subarray(8)),
  };
}

/** Everything both sides know once RAKP2 has arrived. */
export interface Exchange {
  suite: CipherSuite;
  consoleSessionId: number;
  bmcSessionId: number;
  consoleRandom: Buffer;
  bmcRandom: Buffer;
  bmcGuid: Buffer;
  role: number;
  user: Buffer;
}

function roleUser(x: Exchange): Buffer {
  return Buffer.concat([Buffer.from([x.role, x.user.length]), x.user]);
}

/** RAKP2 code: HMAC_Kuid(SIDm | SIDc | Rm | Rc | GUIDc | ROLEm | ULEN | UNAME). Proves the BMC knows the password. */
export function rakp2Code(x: Exchange, kuid: Buffer): Buffer {
  return hmac(x.suite.hash, kuid, u32(x.consoleSessionId), u32(x.bmcSessionId), x.consoleRandom, x.bmcRandom, x.bmcGuid, roleUser(x));
}

/** RAKP3 code: HMAC_Kuid(Rc | SIDm | ROLEm | ULEN | UNAME). Proves the console knows it. */
export function rakp3Code(x: Exchange, kuid: Buffer): Buffer {
  return hmac(x.suite.hash, kuid, x.bmcRandom, u32(x.consoleSessionId), roleUser(x));
}

/** RAKP4 integrity check value: HMAC_SIK(Rm | SIDc | GUIDc), truncated like the packet auth codes. */
export function rakp4Check(x: Exchange, sik: Buffer): Buffer {
  return hmac(x.suite.hash, sik, x.consoleRandom, u32(x.bmcSessionId), x.bmcGuid).subarray(0, x.suite.truncate);
}
