// RMCP+ Open Session Request/Response (IPMI 2.0 §13.17–13.18): the console proposes one
// algorithm of each kind and learns the BMC's session ID.
import { IpmiDecodeError, need } from "./errors";

export interface Algorithms {
  auth: number;
  integrity: number;
  confidentiality: number;
}

export interface OpenSessionRequest extends Algorithms {
  tag: number;
  /** 0 asks for the highest privilege the proposed algorithms allow. */
  maxPrivilege: number;
  consoleSessionId: number;
}

export interface OpenSessionResponse extends Partial<Algorithms> {
  tag: number;
  status: number;
  /** ipmi_sim answers 0 here whatever was asked: never trust it, Set Session Privilege decides. */
  maxPrivilege: number;
  consoleSessionId: number;
  bmcSessionId: number;
}

/** The 8 bytes every Open Session and RAKP message starts with: tag, status or privilege, 2 reserved, a session ID. */
export function messageHead(tag: number, second: number, sessionId: number): Buffer {
  const head = Buffer.alloc(8);
  head[0] = tag;
  head[1] = second;
  head.writeUInt32LE(sessionId >>> 0, 4);
  return head;
}

function algorithm(type: number, alg: number): Buffer {
  return Buffer.from([type, 0, 0, 8, alg, 0, 0, 0]);
}

function readAlgorithm(buf: Buffer, off: number, type: number): number {
  if (buf[off] !== type) throw new IpmiDecodeError(`algorithm payload type ${buf[off]} at ${off}, want ${type}`);
  return buf[off + 4]! & 0x3f;
}

export function encodeOpenSessionRequest(r: OpenSessionRequest): Buffer {
  const algorithms = [algorithm(0, r.auth), algorithm(1, r.integrity), algorithm(2, r.confidentiality)];
  return Buffer.concat([messageHead(r.tag, r.maxPrivilege, r.consoleSessionId), ...algorithms]);
}

export function decodeOpenSessionRequest(buf: Buffer): OpenSessionRequest {
  need(buf, 32, "Open Session Request");
  return {
    tag: buf[0]!,
    maxPrivilege: buf[1]! & 0x0f,
    consoleSessionId: buf.readUInt32LE(4),
    auth: readAlgorithm(buf, 8, 0),
    integrity: readAlgorithm(buf, 16, 1),
    confidentiality: readAlgorithm(buf, 24, 2),
  };
}

export function encodeOpenSessionResponse(r: OpenSessionResponse): Buffer {
  // Error responses stop after the status byte (ipmi_sim) or the session IDs (spec).
  if (r.status !== 0) return Buffer.from([r.tag, r.status]);
  const head = Buffer.alloc(12);
  head[0] = r.tag;
  head[1] = r.status;
  head[2] = r.maxPrivilege;
  head.writeUInt32LE(r.consoleSessionId >>> 0, 4);
  head.writeUInt32LE(r.bmcSessionId >>> 0, 8);
  return Buffer.concat([head, algorithm(0, r.auth ?? 0), algorithm(1, r.integrity ?? 0), algorithm(2, r.confidentiality ?? 0)]);
}

export function decodeOpenSessionResponse(buf: Buffer): OpenSessionResponse {
  need(buf, 2, "Open Session Response");
  const status = buf[1]!;
  if (status !== 0 || buf.length < 36) {
    return {
      tag: buf[0]!,
      status,
      maxPrivilege: buf[2] ?? 0,
      consoleSessionId: buf.length >= 8 ? buf.readUInt32LE(4) : 0,
      bmcSessionId: buf.length >= 12 ? buf.readUInt32LE(8) : 0,
    };
  }
  return {
    tag: buf[0]!,
    status,
    maxPrivilege: buf[2]! & 0x0f,
    consoleSessionId: buf.readUInt32LE(4),
    bmcSessionId: buf.readUInt32LE(8),
    auth: readAlgorithm(buf, 12, 0),
    integrity: readAlgorithm(buf, 20, 1),
    confidentiality: readAlgorithm(buf, 28, 2),
  };
}
