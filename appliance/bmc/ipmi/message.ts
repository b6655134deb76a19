// IPMI LAN message (IPMI 2.0 §13.8): the addressed command inside every session payload,
// with the two two's-complement checksums BMCs verify before anything else.
import { IpmiDecodeError, need } from "./errors";

/** BMC's responder address on IPMB. */
export const BMC_SLAVE_ADDR = 0x20;
/** Remote console software ID: what ipmitool and most consoles use. */
export const REMOTE_CONSOLE_SWID = 0x81;

export interface IpmiRequest {
  netFn: number;
  cmd: number;
  /** 6-bit requester sequence, echoed by the BMC: how a response finds its request. */
  seq: number;
  data: Buffer;
  rsAddr?: number;
  rqAddr?: number;
  rsLun?: number;
  rqLun?: number;
}

export interface IpmiResponse {
  netFn: number;
  cmd: number;
  seq: number;
  completionCode: number;
  data: Buffer;
  rqAddr: number;
  rsAddr: number;
  rqLun: number;
  rsLun: number;
}

export function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

export function encodeRequest(r: IpmiRequest): Buffer {
  const head = Buffer.from([r.rsAddr ?? BMC_SLAVE_ADDR, (r.netFn << 2) | (r.rsLun ?? 0)]);
  const body = Buffer.concat([Buffer.from([r.rqAddr ?? REMOTE_CONSOLE_SWID, ((r.seq & 0x3f) << 2) | (r.rqLun ?? 0), r.cmd]), r.data]);
  return Buffer.concat([head, Buffer.from([checksum(head)]), body, Buffer.from([checksum(body)])]);
}

function verify(buf: Buffer): void {
  need(buf, 7, "IPMI message");
  if (checksum(buf.subarray(0, 2)) !== buf[2]) throw new IpmiDecodeError("IPMI header checksum");
  if (checksum(buf.subarray(3, buf.length - 1)) !== buf[buf.length - 1]) throw new IpmiDecodeError("IPMI data checksum");
}

export function decodeRequest(buf: Buffer): IpmiRequest {
  verify(buf);
  return {
    rsAddr: buf[0]!,
    netFn: buf[1]! >> 2,
    rsLun: buf[1]! & 3,
    rqAddr: buf[3]!,
    seq: buf[4]! >> 2,
    rqLun: buf[4]! & 3,
    cmd: buf[5]!,
    data: Buffer.from(buf.subarray(6, buf.length - 1)),
  };
}

export function encodeResponse(r: IpmiResponse): Buffer {
  const head = Buffer.from([r.rqAddr, (r.netFn << 2) | r.rqLun]);
  const body = Buffer.concat([Buffer.from([r.rsAddr, ((r.seq & 0x3f) << 2) | r.rsLun, r.cmd, r.completionCode]), r.data]);
  return Buffer.concat([head, Buffer.from([checksum(head)]), body, Buffer.from([checksum(body)])]);
}

export function decodeResponse(buf: Buffer): IpmiResponse {
  verify(buf);
  need(buf, 8, "IPMI response");
  return {
    rqAddr: buf[0]!,
    netFn: buf[1]! >> 2,
    rqLun: buf[1]! & 3,
    rsAddr: buf[3]!,
    seq: buf[4]! >> 2,
    rsLun: buf[4]! & 3,
    cmd: buf[5]!,
    completionCode: buf[6]!,
    data: Buffer.from(buf.subarray(7, buf.length - 1)),
  };
}
