// TFTP wire format (RFC 1350) with the option extension (RFC 2347). Pure: no sockets, no
// files, so the golden fixtures and the fuzzer exercise exactly what the server parses.

export const Op = {
  RRQ: 1,
  WRQ: 2,
  DATA: 3,
  ACK: 4,
  ERROR: 5,
  OACK: 6,
} as const;

/** RFC 1350 error codes, plus 8 from RFC 2347 (option negotiation refused). */
export const ErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;

/** Option names are case-insensitive (RFC 2347): keys are stored lower-cased, in wire order. */
export type Options = Record<string, string>;

export interface RequestPacket {
  op: typeof Op.RRQ | typeof Op.WRQ;
  filename: string;
  /** Lower-cased: "octet", "netascii" or "mail". */
  mode: string;
  options: Options;
}
export interface DataPacket {
  op: typeof Op.DATA;
  /** The 16-bit wire block number (wraps to 0 after 65535). */
  block: number;
  data: Uint8Array;
}
export interface AckPacket {
  op: typeof Op.ACK;
  block: number;
}
export interface ErrorPacket {
  op: typeof Op.ERROR;
  code: number;
  message: string;
}
export interface OackPacket {
  op: typeof Op.OACK;
  options: Options;
}
export type Packet = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

export class TftpDecodeError extends Error {
  override name = "TftpDecodeError";
}

const MODES = new Set(["octet", "netascii", "mail"]);

/** Strings on the wire are NUL-terminated netascii; latin1 keeps every byte round-trippable. */
function readStrings(buf: Uint8Array, start: number): string[] {
  const out: string[] = [];
  let i = start;
  while (i < buf.length) {
    const end = buf.indexOf(0, i);
    if (end < 0) throw new TftpDecodeError("string not NUL-terminated");
    out.push(Buffer.from(buf.buffer, buf.byteOffset + i, end - i).toString("latin1"));
    i = end + 1;
  }
  return out;
}

function readOptions(strings: string[]): Options {
  if (strings.length % 2 !== 0) throw new TftpDecodeError("option without a value");
  // No prototype: an option named "__proto__" is an option like any other, not a setter that
  // silently drops it (found by the fast-check fuzzer).
  const options: Options = Object.create(null);
  for (let i = 0; i < strings.length; i += 2) {
    const name = strings[i]!.toLowerCase();
    if (name === "") throw new TftpDecodeError("empty option name");
    // RFC 2347 leaves duplicates undefined; the first one wins, as in tftp-hpa.
    if (!Object.hasOwn(options, name)) options[name] = strings[i + 1]!;
  }
  return options;
}

export function decode(buf: Uint8Array): Packet {
  if (buf.length < 2) throw new TftpDecodeError("short packet");
  const op = (buf[0]! << 8) | buf[1]!;
  switch (op) {
    case Op.RRQ:
    case Op.WRQ: {
      const strings = readStrings(buf, 2);
      if (strings.length < 2) throw new TftpDecodeError("request without filename and mode");
      const mode = strings[1]!.toLowerCase();
      if (!MODES.has(mode)) throw new TftpDecodeError(`unknown mode ${JSON.stringify(strings[1])}`);
      return { op, filename: strings[0]!, mode, options: readOptions(strings.slice(2)) };
    }
    case Op.DATA:
      if (buf.length < 4) throw new TftpDecodeError("short DATA");
      return { op, block: (buf[2]! << 8) | buf[3]!, data: buf.subarray(4) };
    case Op.ACK:
      // Some PXE ROMs pad ACKs; the block number is all that matters.
      if (buf.length < 4) throw new TftpDecodeError("short ACK");
      return { op, block: (buf[2]! << 8) | buf[3]! };
    case Op.ERROR: {
      if (buf.length < 4) throw new TftpDecodeError("short ERROR");
      const end = buf.indexOf(0, 4);
      // Clients in a hurry (OVMF's tsize probe among them) may omit the final NUL.
      const msgEnd = end < 0 ? buf.length : end;
      const message = Buffer.from(buf.buffer, buf.byteOffset + 4, msgEnd - 4).toString("latin1");
      return { op, code: (buf[2]! << 8) | buf[3]!, message };
    }
    case Op.OACK:
      return { op, options: readOptions(readStrings(buf, 2)) };
    default:
      throw new TftpDecodeError(`unknown opcode ${op}`);
  }
}

function strings(parts: string[]): Buffer[] {
  return parts.map((s) => {
    if (s.includes("\0")) throw new TypeError("TFTP strings cannot contain NUL");
    return Buffer.from(`${s}\0`, "latin1");
  });
}

function opcode(op: number, extra = 0): Buffer {
  const b = Buffer.alloc(2 + extra);
  b.writeUInt16BE(op, 0);
  return b;
}

function optionStrings(options: Options): string[] {
  return Object.entries(options).flat();
}

export function encode(p: Packet): Buffer {
  switch (p.op) {
    case Op.RRQ:
    case Op.WRQ:
      return Buffer.concat([opcode(p.op), ...strings([p.filename, p.mode, ...optionStrings(p.options)])]);
    case Op.DATA:
      return Buffer.concat([dataHeader(p.block), p.data]);
    case Op.ACK: {
      const b = opcode(p.op, 2);
      b.writeUInt16BE(p.block & 0xffff, 2);
      return b;
    }
    case Op.ERROR: {
      const b = opcode(p.op, 2);
      b.writeUInt16BE(p.code, 2);
      return Buffer.concat([b, ...strings([p.message])]);
    }
    case Op.OACK:
      return Buffer.concat([opcode(p.op), ...strings(optionStrings(p.options))]);
  }
}

/** The 4-byte DATA header alone, so the sender can hand header and file slice to sendmsg unjoined. */
export function dataHeader(block: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt16BE(Op.DATA, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export function errorPacket(code: number, message: string): Buffer {
  return encode({ op: Op.ERROR, code, message });
}
