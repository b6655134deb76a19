// RMCP+ session header and trailer (IPMI 2.0 §13.6, table 13-8). Payload bytes are carried
// as given (already encrypted when `encrypted`); the integrity code covers everything from
// the auth type byte through "next header", padded with 0xff to a 4-byte boundary.
import { IpmiDecodeError, need } from "./errors";
import { RMCP_CLASS_IPMI, decodeRmcpHeader, encodeRmcpHeader } from "./rmcp";
import { AUTH_TYPE_RMCP_PLUS } from "./session-v15";

export const PAYLOAD_IPMI = 0x00;
export const PAYLOAD_SOL = 0x01;
export const PAYLOAD_OEM = 0x02;
export const PAYLOAD_OPEN_SESSION_REQUEST = 0x10;
export const PAYLOAD_OPEN_SESSION_RESPONSE = 0x11;
export const PAYLOAD_RAKP1 = 0x12;
export const PAYLOAD_RAKP2 = 0x13;
export const PAYLOAD_RAKP3 = 0x14;
export const PAYLOAD_RAKP4 = 0x15;

/** The "next header" byte of the trailer: always 0x07 (RMCP IPMI class). */
const NEXT_HEADER = 0x07;

export interface V20Packet {
  payloadType: number;
  encrypted: boolean;
  authenticated: boolean;
  sessionId: number;
  seq: number;
  payload: Buffer;
  oem?: { iana: number; payloadId: number };
}

export interface DecodedV20 extends V20Packet {
  /** Bytes the integrity code covers (auth type … next header); empty when unauthenticated. */
  signed: Buffer;
  authCode: Buffer;
}

/** `integrity` computes the auth code over the signed bytes; a Buffer is used verbatim (fixtures). */
export function encodeV20(p: V20Packet, integrity?: ((signed: Buffer) => Buffer) | Buffer): Buffer {
  const oem = p.payloadType === PAYLOAD_OEM;
  const head = Buffer.alloc(oem ? 18 : 12);
  head[0] = AUTH_TYPE_RMCP_PLUS;
  head[1] = (p.encrypted ? 0x80 : 0) | (p.authenticated ? 0x40 : 0) | (p.payloadType & 0x3f);
  let off = 2;
  if (oem) {
    if (!p.oem) throw new IpmiDecodeError("OEM payload without IANA/payload id");
    head.writeUInt32LE(p.oem.iana, 2);
    head.writeUInt16LE(p.oem.payloadId, 6);
    off = 8;
  }
  head.writeUInt32LE(p.sessionId >>> 0, off);
  head.writeUInt32LE(p.seq >>> 0, off + 4);
  head.writeUInt16LE(p.payload.length, off + 8);
  if (!p.authenticated) return Buffer.concat([encodeRmcpHeader(), head, p.payload]);
  if (!integrity) throw new IpmiDecodeError("authenticated packet needs an integrity algorithm");
  const padLen = (4 - ((head.length + p.payload.length + 2) % 4)) % 4;
  const signed = Buffer.concat([head, p.payload, Buffer.alloc(padLen, 0xff), Buffer.from([padLen, NEXT_HEADER])]);
  const code = typeof integrity === "function" ? integrity(signed) : integrity;
  return Buffer.concat([encodeRmcpHeader(), signed, code]);
}

export function isV20(buf: Buffer): boolean {
  return buf.length > 4 && buf[4] === AUTH_TYPE_RMCP_PLUS;
}

export function decodeV20(buf: Buffer): DecodedV20 {
  const { header, body } = decodeRmcpHeader(buf);
  if (header.messageClass !== RMCP_CLASS_IPMI) throw new IpmiDecodeError("not an IPMI RMCP message");
  need(body, 12, "RMCP+ session header");
  if (body[0] !== AUTH_TYPE_RMCP_PLUS) throw new IpmiDecodeError("not an RMCP+ packet");
  const payloadType = body[1]! & 0x3f;
  const encrypted = (body[1]! & 0x80) !== 0;
  const authenticated = (body[1]! & 0x40) !== 0;
  let off = 2;
  let oem: V20Packet["oem"];
  if (payloadType === PAYLOAD_OEM) {
    need(body, 18, "RMCP+ OEM session header");
    oem = { iana: body.readUInt32LE(2), payloadId: body.readUInt16LE(6) };
    off = 8;
  }
  const sessionId = body.readUInt32LE(off);
  const seq = body.readUInt32LE(off + 4);
  const len = body.readUInt16LE(off + 8);
  const start = off + 10;
  need(body, start + len, "RMCP+ payload");
  const payload = Buffer.from(body.subarray(start, start + len));
  let signed = Buffer.alloc(0);
  let authCode = Buffer.alloc(0);
  if (authenticated) {
    // The trailer is parsed from the payload end: pad bytes, pad length, next header, code.
    let p = start + len;
    while (p < body.length && body[p] === 0xff) p++;
    need(body, p + 2, "RMCP+ session trailer");
    const padLen = body[p]!;
    if (padLen !== p - (start + len) || body[p + 1] !== NEXT_HEADER) throw new IpmiDecodeError("RMCP+ trailer pad");
    signed = Buffer.from(body.subarray(0, p + 2));
    authCode = Buffer.from(body.subarray(p + 2));
  }
  return {
    payloadType,
    encrypted,
    authenticated,
    sessionId,
    seq,
    payload,
    ...(oem ? { oem } : {}),
    signed,
    authCode,
  };
}
