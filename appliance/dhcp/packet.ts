// DHCPv4 wire codec (RFC 2131 header, RFC 2132 options, RFC 3396 long options, option
// overload of sname/file). Pure: no sockets, no policy. Decoding is strict about framing and
// lenient about content, because real ROMs send odd but harmless things (pad runs, a
// missing END); anything that cannot be framed throws DhcpDecodeError and is dropped upstream.
import { intToIp, ipToInt } from "./ip";

export const MAGIC_COOKIE = 0x63825363;
const HEADER_LEN = 236;
// BOOTP relays and some PXE ROMs ignore replies shorter than a BOOTP packet.
const MIN_PACKET = 300;

export enum MessageType {
  Discover = 1,
  Offer = 2,
  Request = 3,
  Decline = 4,
  Ack = 5,
  Nak = 6,
  Release = 7,
  Inform = 8,
}

/** Options we read or write by name; everything else stays in `other`, keyed by number. */
export interface DhcpOptions {
  subnetMask?: string; // DHCP option 1.
  routers?: string[]; // DHCP option 3.
  dnsServers?: string[]; // DHCP option 6.
  hostname?: string; // DHCP option 12.
  domainName?: string; // DHCP option 15.
  broadcastAddress?: string; // DHCP option 28.
  vendorSpecific?: Buffer; // DHCP option 43 (PXE: encapsulated, RFC 4578 / PXE 2.1).
  requestedIp?: string; // DHCP option 50.
  leaseTime?: number; // DHCP option 51, seconds.
  overload?: number; // DHCP option 52 (1 = file, 2 = sname, 3 = both carry options).
  messageType?: MessageType; // DHCP option 53.
  serverId?: string; // DHCP option 54.
  parameterRequestList?: number[]; // DHCP option 55.
  message?: string; // DHCP option 56.
  maxMessageSize?: number; // DHCP option 57.
  renewalTime?: number; // DHCP option 58 (T1).
  rebindingTime?: number; // DHCP option 59 (T2).
  vendorClass?: string; // DHCP option 60 ("PXEClient:Arch:…", "HTTPClient:…").
  clientId?: Buffer; // DHCP option 61.
  tftpServer?: string; // DHCP option 66.
  bootfileName?: string; // DHCP option 67.
  userClass?: string; // DHCP option 77 (iPXE sends the bare string "iPXE", not RFC 3004 framing).
  relayAgentInfo?: Buffer; // DHCP option 82, echoed back verbatim (RFC 3046).
  clientArch?: number[]; // DHCP option 93 (RFC 4578: 0 BIOS, 7/9 UEFI x64, 16 UEFI x64 HTTP).
  clientNdi?: Buffer; // DHCP option 94.
  clientMachineId?: Buffer; // DHCP option 97 (type 0 + 16-byte UUID).
  ipxe?: Buffer; // DHCP option 175, iPXE's encapsulated options (176 = no-pxedhcp).
  other: Map<number, Buffer>;
}

export interface DhcpPacket {
  op: 1 | 2; // BOOTREQUEST / BOOTREPLY
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number; // bit 15 = broadcast
  ciaddr: string;
  yiaddr: string;
  siaddr: string; // next-server: where the client fetches the boot file over TFTP
  giaddr: string;
  chaddr: Buffer; // 16 bytes as on the wire; the MAC is the first hlen bytes
  sname: string;
  file: string;
  options: DhcpOptions;
}

export const BROADCAST_FLAG = 0x8000;

export class DhcpDecodeError extends Error {
  constructor(
    message: string,
    /** Whatever header fields were readable, for the log line. */
    readonly partial: { xid?: number; mac?: string } = {},
  ) {
    super(message);
  }
}

export function macOf(p: Pick<DhcpPacket, "chaddr" | "hlen">): string {
  const n = Math.min(p.hlen, 16);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(p.chaddr[i]!.toString(16).padStart(2, "0"));
  return parts.join(":");
}

export function emptyOptions(): DhcpOptions {
  return { other: new Map() };
}

function readIp(b: Buffer, off: number): string {
  return intToIp(b.readUInt32BE(off));
}

function cString(b: Buffer): string {
  const z = b.indexOf(0);
  return b.subarray(0, z === -1 ? b.length : z).toString("latin1");
}

/** Collect option bytes per code, concatenating repeats (RFC 3396). */
function scanOptions(b: Buffer, into: Map<number, Buffer[]>, where: string): void {
  let i = 0;
  while (i < b.length) {
    const code = b[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) return;
    if (i + 1 >= b.length) throw new DhcpDecodeError(`option ${code} in ${where} has no length byte`);
    const len = b[i + 1]!;
    if (i + 2 + len > b.length) throw new DhcpDecodeError(`option ${code} in ${where} overruns the packet`);
    const list = into.get(code);
    const val = b.subarray(i + 2, i + 2 + len);
    if (list) list.push(val);
    else into.set(code, [val]);
    i += 2 + len;
  }
  // A missing END is common in ROMs and harmless: the options simply ran to the end.
}

function ipList(v: Buffer, code: number): string[] {
  if (v.length % 4 !== 0 || v.length === 0) throw new DhcpDecodeError(`option ${code} is not a list of IPv4 addresses`);
  const out: string[] = [];
  for (let i = 0; i < v.length; i += 4) out.push(readIp(v, i));
  return out;
}

function oneIp(v: Buffer, code: number): string {
  if (v.length !== 4) throw new DhcpDecodeError(`option ${code} must be 4 bytes`);
  return readIp(v, 0);
}

function u32(v: Buffer, code: number): number {
  if (v.length !== 4) throw new DhcpDecodeError(`option ${code} must be 4 bytes`);
  return v.readUInt32BE(0);
}

/** RFC 3004 framing when it parses exactly, otherwise the raw string (what iPXE sends). */
function userClassOf(v: Buffer): string {
  const parts: string[] = [];
  let i = 0;
  while (i < v.length) {
    const len = v[i]!;
    if (len === 0 || i + 1 + len > v.length) return v.toString("latin1");
    parts.push(v.subarray(i + 1, i + 1 + len).toString("latin1"));
    i += 1 + len;
  }
  return parts.join(",");
}

function toOptions(raw: Map<number, Buffer[]>): DhcpOptions {
  const o = emptyOptions();
  for (const [code, chunks] of raw) {
    const v = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    switch (code) {
      case 1:
        o.subnetMask = oneIp(v, code);
        break;
      case 3:
        o.routers = ipList(v, code);
        break;
      case 6:
        o.dnsServers = ipList(v, code);
        break;
      case 12:
        o.hostname = v.toString("latin1");
        break;
      case 15:
        o.domainName = v.toString("latin1");
        break;
      case 28:
        o.broadcastAddress = oneIp(v, code);
        break;
      case 43:
        o.vendorSpecific = Buffer.from(v);
        break;
      case 50:
        o.requestedIp = oneIp(v, code);
        break;
      case 51:
        o.leaseTime = u32(v, code);
        break;
      case 52:
        if (v.length !== 1) throw new DhcpDecodeError("option 52 must be 1 byte");
        o.overload = v[0]!;
        break;
      case 53:
        if (v.length !== 1) throw new DhcpDecodeError("option 53 must be 1 byte");
        o.messageType = v[0]! as MessageType;
        break;
      case 54:
        o.serverId = oneIp(v, code);
        break;
      case 55:
        o.parameterRequestList = [...v];
        break;
      case 56:
        o.message = v.toString("latin1");
        break;
      case 57:
        if (v.length !== 2) throw new DhcpDecodeError("option 57 must be 2 bytes");
        o.maxMessageSize = v.readUInt16BE(0);
        break;
      case 58:
        o.renewalTime = u32(v, code);
        break;
      case 59:
        o.rebindingTime = u32(v, code);
        break;
      case 60:
        o.vendorClass = v.toString("latin1");
        break;
      case 61:
        o.clientId = Buffer.from(v);
        break;
      case 66:
        o.tftpServer = cString(v);
        break;
      case 67:
        o.bootfileName = cString(v);
        break;
      case 77:
        o.userClass = userClassOf(v);
        break;
      case 82:
        o.relayAgentInfo = Buffer.from(v);
        break;
      case 93: {
        if (v.length % 2 !== 0 || v.length === 0) throw new DhcpDecodeError("option 93 must be a list of 16-bit types");
        const arch: number[] = [];
        for (let i = 0; i < v.length; i += 2) arch.push(v.readUInt16BE(i));
        o.clientArch = arch;
        break;
      }
      case 94:
        o.clientNdi = Buffer.from(v);
        break;
      case 97:
        o.clientMachineId = Buffer.from(v);
        break;
      case 175:
        o.ipxe = Buffer.from(v);
        break;
      default:
        o.other.set(code, Buffer.from(v));
    }
  }
  return o;
}

export function decode(buf: Buffer): DhcpPacket {
  if (buf.length < HEADER_LEN + 4) {
    const partial = buf.length >= 8 ? { xid: buf.readUInt32BE(4) } : {};
    throw new DhcpDecodeError(`packet too short (${buf.length} bytes)`, partial);
  }
  const hlen = buf[2]!;
  const chaddr = Buffer.from(buf.subarray(28, 44));
  const partial = { xid: buf.readUInt32BE(4), mac: macOf({ chaddr, hlen }) };
  const op = buf[0]!;
  if (op !== 1 && op !== 2) throw new DhcpDecodeError(`bad op ${op}`, partial);
  if (hlen > 16) throw new DhcpDecodeError(`bad hlen ${hlen}`, partial);
  if (buf.readUInt32BE(HEADER_LEN) !== MAGIC_COOKIE) throw new DhcpDecodeError("no DHCP magic cookie", partial);

  const raw = new Map<number, Buffer[]>();
  try {
    scanOptions(buf.subarray(HEADER_LEN + 4), raw, "options");
    const overload = raw.get(52)?.[0]?.[0] ?? 0;
    // RFC 2131 §4.1: with overload, the file field then the sname field continue the options.
    if (overload & 1) scanOptions(buf.subarray(108, 236), raw, "file");
    if (overload & 2) scanOptions(buf.subarray(44, 108), raw, "sname");
    const options = toOptions(raw);
    return {
      op,
      htype: buf[1]!,
      hlen,
      hops: buf[3]!,
      xid: partial.xid,
      secs: buf.readUInt16BE(8),
      flags: buf.readUInt16BE(10),
      ciaddr: readIp(buf, 12),
      yiaddr: readIp(buf, 16),
      siaddr: readIp(buf, 20),
      giaddr: readIp(buf, 24),
      chaddr,
      sname: overload & 2 ? "" : cString(buf.subarray(44, 108)),
      file: overload & 1 ? "" : cString(buf.subarray(108, 236)),
      options,
    };
  } catch (e) {
    if (e instanceof DhcpDecodeError) throw new DhcpDecodeError(e.message, partial);
    throw e;
  }
}

function ipBytes(ips: string[]): Buffer {
  const b = Buffer.alloc(ips.length * 4);
  ips.forEach((ip, i) => {
    b.writeUInt32BE(ipToInt(ip), i * 4);
  });
  return b;
}

function u32Bytes(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** Options as (code, value) pairs in wire order: 53 first, as some ROMs expect. */
export function optionPairs(o: DhcpOptions): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  const add = (code: number, v: Buffer | undefined) => {
    if (v) out.push([code, v]);
  };
  const str = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, "latin1"));
  if (o.messageType !== undefined) add(53, Buffer.from([o.messageType]));
  if (o.serverId) add(54, ipBytes([o.serverId]));
  if (o.leaseTime !== undefined) add(51, u32Bytes(o.leaseTime));
  if (o.renewalTime !== undefined) add(58, u32Bytes(o.renewalTime));
  if (o.rebindingTime !== undefined) add(59, u32Bytes(o.rebindingTime));
  if (o.subnetMask) add(1, ipBytes([o.subnetMask]));
  if (o.routers?.length) add(3, ipBytes(o.routers));
  if (o.dnsServers?.length) add(6, ipBytes(o.dnsServers));
  add(12, str(o.hostname));
  add(15, str(o.domainName));
  if (o.broadcastAddress) add(28, ipBytes([o.broadcastAddress]));
  add(43, o.vendorSpecific);
  if (o.requestedIp) add(50, ipBytes([o.requestedIp]));
  if (o.overload !== undefined) add(52, Buffer.from([o.overload]));
  if (o.parameterRequestList) add(55, Buffer.from(o.parameterRequestList));
  add(56, str(o.message));
  if (o.maxMessageSize !== undefined) {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(o.maxMessageSize);
    add(57, b);
  }
  add(60, str(o.vendorClass));
  add(61, o.clientId);
  add(66, str(o.tftpServer));
  add(67, str(o.bootfileName));
  add(77, str(o.userClass));
  if (o.clientArch) {
    const b = Buffer.alloc(o.clientArch.length * 2);
    o.clientArch.forEach((a, i) => {
      b.writeUInt16BE(a, i * 2);
    });
    add(93, b);
  }
  add(94, o.clientNdi);
  add(97, o.clientMachineId);
  add(175, o.ipxe);
  for (const [code, v] of o.other) add(code, v);
  // RFC 3046: the relay agent option goes last so relays can strip it cheaply.
  add(82, o.relayAgentInfo);
  return out;
}

/** Encode TLVs, splitting values over 255 bytes into repeated options (RFC 3396). */
export function encodeTlvs(pairs: [number, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  for (const [code, v] of pairs) {
    if (v.length === 0) {
      parts.push(Buffer.from([code, 0]));
      continue;
    }
    for (let i = 0; i < v.length; i += 255) {
      const chunk = v.subarray(i, i + 255);
      parts.push(Buffer.from([code, chunk.length]), chunk);
    }
  }
  return Buffer.concat(parts);
}

function writeCString(buf: Buffer, off: number, max: number, s: string, field: string): void {
  const b = Buffer.from(s, "latin1");
  if (b.length > max - 1) throw new Error(`${field} "${s}" longer than ${max - 1} bytes`);
  b.copy(buf, off);
}

export function encode(p: DhcpPacket): Buffer {
  const opts = encodeTlvs(optionPairs(p.options));
  const len = Math.max(MIN_PACKET, HEADER_LEN + 4 + opts.length + 1);
  const buf = Buffer.alloc(len);
  buf[0] = p.op;
  buf[1] = p.htype;
  buf[2] = p.hlen;
  buf[3] = p.hops;
  buf.writeUInt32BE(p.xid >>> 0, 4);
  buf.writeUInt16BE(p.secs, 8);
  buf.writeUInt16BE(p.flags, 10);
  buf.writeUInt32BE(ipToInt(p.ciaddr), 12);
  buf.writeUInt32BE(ipToInt(p.yiaddr), 16);
  buf.writeUInt32BE(ipToInt(p.siaddr), 20);
  buf.writeUInt32BE(ipToInt(p.giaddr), 24);
  p.chaddr.copy(buf, 28, 0, Math.min(16, p.chaddr.length));
  writeCString(buf, 44, 64, p.sname, "sname");
  writeCString(buf, 108, 128, p.file, "file");
  buf.writeUInt32BE(MAGIC_COOKIE, HEADER_LEN);
  opts.copy(buf, HEADER_LEN + 4);
  buf[HEADER_LEN + 4 + opts.length] = 255;
  return buf;
}
