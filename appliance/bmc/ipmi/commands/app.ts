// Application netFn (0x06) commands the session layer needs (IPMI 2.0 ch. 20, 22).
import { IpmiDecodeError, need } from "../errors";

export const NETFN_APP = 0x06;
export const CMD_GET_DEVICE_ID = 0x01;
export const CMD_GET_CHANNEL_AUTH_CAPABILITIES = 0x38;
export const CMD_SET_SESSION_PRIVILEGE = 0x3b;
export const CMD_CLOSE_SESSION = 0x3c;
export const CMD_GET_CHANNEL_CIPHER_SUITES = 0x54;

export const PRIV_CALLBACK = 1;
export const PRIV_USER = 2;
export const PRIV_OPERATOR = 3;
export const PRIV_ADMIN = 4;
export type Privilege = "user" | "operator" | "admin";
export const PRIVILEGES: Record<Privilege, number> = { user: PRIV_USER, operator: PRIV_OPERATOR, admin: PRIV_ADMIN };

/** This channel (0x0e). */
export const CURRENT_CHANNEL = 0x0e;

/** Bit 7 asks for IPMI 2.0 extended data, so the reply says whether RMCP+ is there. */
export function channelAuthCapabilitiesRequest(privilege: number, channel = CURRENT_CHANNEL): Buffer {
  return Buffer.from([0x80 | channel, privilege]);
}

export interface ChannelAuthCapabilities {
  channel: number;
  /** IPMI 1.5 auth types (bit mask): none=0x01, md2=0x02, md5=0x04, straight=0x10, OEM=0x20. */
  authTypes: number;
  ipmi20: boolean;
  ipmi15: boolean;
  anonymousLogin: boolean;
  perMessageAuth: boolean;
  userLevelAuth: boolean;
  oemId: number;
}

export function parseChannelAuthCapabilities(data: Buffer): ChannelAuthCapabilities {
  need(data, 8, "Get Channel Auth Capabilities response");
  const ext = (data[1]! & 0x80) !== 0;
  return {
    channel: data[0]!,
    authTypes: data[1]! & 0x3f,
    ipmi20: ext && (data[3]! & 0x02) !== 0,
    ipmi15: !ext || (data[3]! & 0x01) !== 0,
    anonymousLogin: (data[2]! & 0x01) !== 0,
    perMessageAuth: (data[2]! & 0x10) === 0,
    userLevelAuth: (data[2]! & 0x08) === 0,
    oemId: data[4]! | (data[5]! << 8) | (data[6]! << 16),
  };
}

export interface DeviceId {
  deviceId: number;
  deviceRevision: number;
  providesSdrs: boolean;
  available: boolean;
  firmware: string;
  ipmiVersion: string;
  manufacturerId: number;
  productId: number;
}

export function parseDeviceId(data: Buffer): DeviceId {
  need(data, 11, "Get Device ID response");
  const minor = data[3]!;
  // Minor firmware revision is BCD.
  const minorStr = `${minor >> 4}${minor & 0x0f}`;
  return {
    deviceId: data[0]!,
    deviceRevision: data[1]! & 0x0f,
    providesSdrs: (data[1]! & 0x80) !== 0,
    available: (data[2]! & 0x80) === 0,
    firmware: `${data[2]! & 0x7f}.${minorStr}`,
    ipmiVersion: `${data[4]! & 0x0f}.${data[4]! >> 4}`,
    manufacturerId: data[6]! | (data[7]! << 8) | ((data[8]! & 0x0f) << 16),
    productId: data[9]! | (data[10]! << 8),
  };
}

export function closeSessionRequest(bmcSessionId: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(bmcSessionId >>> 0);
  return b;
}

/** Get Channel Cipher Suites, one 16-byte page of the "by cipher suite" list. */
export function channelCipherSuitesRequest(page: number, channel = CURRENT_CHANNEL): Buffer {
  return Buffer.from([channel, 0x00, 0x80 | (page & 0x3f)]);
}

/**
 * Parses the concatenated record bytes (after the channel byte of each page) into suite
 * IDs with their algorithms. Records start 0xc0 (standard) or 0xc1 (OEM, 3-byte IANA).
 */
export function parseCipherSuiteRecords(bytes: Buffer): { id: number; algorithms: number[] }[] {
  const out: { id: number; algorithms: number[] }[] = [];
  let i = 0;
  while (i < bytes.length) {
    const start = bytes[i]!;
    if (start !== 0xc0 && start !== 0xc1) throw new IpmiDecodeError(`cipher suite record start 0x${start.toString(16)}`);
    need(bytes, i + 2, "cipher suite record");
    const id = bytes[i + 1]!;
    i += start === 0xc1 ? 5 : 2;
    const algorithms: number[] = [];
    while (i < bytes.length && bytes[i]! < 0xc0) algorithms.push(bytes[i++]!);
    out.push({ id, algorithms });
  }
  return out;
}
