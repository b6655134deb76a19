// IPMI 1.5 session wrapper (IPMI 2.0 §13.6). We only send it session-less with auth type
// none, for Get Channel Authentication Capabilities before RMCP+ starts: 1.5's MD5/MD2
// authentication is not offered, by design.
import { IpmiDecodeError, need } from "./errors";
import { RMCP_CLASS_IPMI, decodeRmcpHeader, encodeRmcpHeader } from "./rmcp";

export const AUTH_TYPE_NONE = 0x00;
export const AUTH_TYPE_RMCP_PLUS = 0x06;

export interface V15Packet {
  authType: number;
  seq: number;
  sessionId: number;
  /** 16 bytes when authType is not none. */
  authCode?: Buffer;
  payload: Buffer;
}

export function encodeV15(p: V15Packet): Buffer {
  const head = Buffer.alloc(9);
  head[0] = p.authType;
  head.writeUInt32LE(p.seq >>> 0, 1);
  head.writeUInt32LE(p.sessionId >>> 0, 5);
  const parts = [encodeRmcpHeader(), head];
  if (p.authType !== AUTH_TYPE_NONE) {
    if (p.authCode?.length !== 16) throw new IpmiDecodeError("IPMI 1.5 auth code must be 16 bytes");
    parts.push(p.authCode);
  }
  parts.push(Buffer.from([p.payload.length]), p.payload);
  return Buffer.concat(parts);
}

export function decodeV15(buf: Buffer): V15Packet {
  const { header, body } = decodeRmcpHeader(buf);
  if (header.messageClass !== RMCP_CLASS_IPMI) throw new IpmiDecodeError("not an IPMI RMCP message");
  need(body, 10, "IPMI 1.5 session header");
  const authType = body[0]!;
  if (authType === AUTH_TYPE_RMCP_PLUS) throw new IpmiDecodeError("RMCP+ packet, not IPMI 1.5");
  let off = 9;
  let authCode: Buffer | undefined;
  if (authType !== AUTH_TYPE_NONE) {
    need(body, 26, "IPMI 1.5 auth code");
    authCode = Buffer.from(body.subarray(9, 25));
    off = 25;
  }
  const len = body[off]!;
  need(body, off + 1 + len, "IPMI 1.5 payload");
  return {
    authType,
    seq: body.readUInt32LE(1),
    sessionId: body.readUInt32LE(5),
    ...(authCode ? { authCode } : {}),
    payload: Buffer.from(body.subarray(off + 1, off + 1 + len)),
  };
}
