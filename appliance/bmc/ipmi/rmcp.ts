// RMCP (DMTF ASF 2.0 §3.2.2): the 4-byte header in front of every IPMI-over-LAN datagram,
// and the ASF presence ping/pong used to tell "nothing listening" from "not IPMI".
import { IpmiDecodeError, need } from "./errors";

export const RMCP_VERSION = 0x06;
/** 0xff: no RMCP ACK wanted; IPMI carries its own sequencing. */
export const RMCP_SEQ_NO_ACK = 0xff;
export const RMCP_CLASS_ASF = 0x06;
export const RMCP_CLASS_IPMI = 0x07;
const ASF_IANA = 4542;
const ASF_PING = 0x80;
const ASF_PONG = 0x40;

export interface RmcpHeader {
  seq: number;
  messageClass: number;
}

export function encodeRmcpHeader(h: RmcpHeader = { seq: RMCP_SEQ_NO_ACK, messageClass: RMCP_CLASS_IPMI }): Buffer {
  return Buffer.from([RMCP_VERSION, 0x00, h.seq, h.messageClass]);
}

export function decodeRmcpHeader(buf: Buffer): { header: RmcpHeader; body: Buffer } {
  need(buf, 4, "RMCP header");
  if (buf[0] !== RMCP_VERSION) throw new IpmiDecodeError(`RMCP version 0x${buf[0]?.toString(16)}`);
  // Bit 7 of the class marks an RMCP ACK; IPMI never asks for one.
  return { header: { seq: buf[2]!, messageClass: buf[3]! & 0x1f }, body: buf.subarray(4) };
}

export interface AsfPong {
  tag: number;
  iana: number;
  oem: number;
  entities: number;
  interactions: number;
}

export function encodeAsfPing(tag: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(ASF_IANA, 0);
  b[4] = ASF_PING;
  b[5] = tag;
  return Buffer.concat([encodeRmcpHeader({ seq: RMCP_SEQ_NO_ACK, messageClass: RMCP_CLASS_ASF }), b]);
}

export function decodeAsfPong(buf: Buffer): AsfPong {
  const { header, body } = decodeRmcpHeader(buf);
  if (header.messageClass !== RMCP_CLASS_ASF) throw new IpmiDecodeError("not an ASF message");
  need(body, 8 + 16, "ASF pong");
  if (body[4] !== ASF_PONG) throw new IpmiDecodeError(`ASF message type 0x${body[4]?.toString(16)}`);
  return {
    tag: body[5]!,
    iana: body.readUInt32BE(8),
    oem: body.readUInt32BE(12),
    entities: body[16]!,
    interactions: body[17]!,
  };
}
