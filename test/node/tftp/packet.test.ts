import { describe, expect, it } from "vitest";
import { decode, encode, ErrorCode, type Packet, Op, TftpDecodeError } from "../../../appliance/tftp/packet";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("TFTP codec", () => {
  const samples: Packet[] = [
    { op: Op.RRQ, filename: "undionly.kpxe", mode: "octet", options: {} },
    { op: Op.RRQ, filename: "grub/x86_64-efi/normal.mod", mode: "netascii", options: { tsize: "0", blksize: "1468" } },
    { op: Op.WRQ, filename: "up.bin", mode: "octet", options: { windowsize: "64", timeout: "3" } },
    { op: Op.DATA, block: 1, data: new Uint8Array([1, 2, 3]) },
    { op: Op.DATA, block: 65535, data: new Uint8Array(0) },
    { op: Op.ACK, block: 0 },
    { op: Op.ACK, block: 65535 },
    { op: Op.ERROR, code: ErrorCode.FILE_NOT_FOUND, message: "file not found" },
    { op: Op.ERROR, code: ErrorCode.OPTION_REFUSED, message: "" },
    { op: Op.OACK, options: { blksize: "1468", tsize: "1048576", windowsize: "64" } },
    { op: Op.OACK, options: {} },
  ];
  for (const p of samples) {
    it(`round-trips ${JSON.stringify(p, (_k, v) => (v instanceof Uint8Array ? hex(v) : v))}`, () => {
      const wire = encode(p);
      const back = decode(wire);
      if (p.op === Op.DATA && back.op === Op.DATA) {
        expect(back.block).toBe(p.block);
        expect(hex(back.data)).toBe(hex(p.data));
      } else expect(back).toEqual(p);
      expect(hex(encode(back))).toBe(hex(wire));
    });
  }

  it("encodes an RRQ byte for byte as RFC 1350 + RFC 2347 lay it out", () => {
    const wire = encode({ op: Op.RRQ, filename: "a", mode: "octet", options: { blksize: "1468" } });
    expect(hex(wire)).toBe(Buffer.from("\x00\x01a\x00octet\x00blksize\x001468\x00", "latin1").toString("hex"));
  });

  it("reads option names and the mode case-insensitively, first duplicate wins", () => {
    const p = decode(Buffer.from("\x00\x01f\x00OCTET\x00BlkSize\x00512\x00blksize\x009\x00", "latin1"));
    expect(p).toEqual({ op: Op.RRQ, filename: "f", mode: "octet", options: { blksize: "512" } });
  });

  it("accepts an ERROR without its final NUL (hurried clients)", () => {
    expect(decode(Buffer.from("\x00\x05\x00\x08User aborted", "latin1"))).toEqual({ op: Op.ERROR, code: 8, message: "User aborted" });
  });

  it("accepts padded ACKs", () => {
    expect(decode(Buffer.from([0, 4, 0, 7, 0, 0, 0, 0]))).toEqual({ op: Op.ACK, block: 7 });
  });

  const bad: [string, number[] | string][] = [
    ["empty", []],
    ["one byte", [0]],
    ["unknown opcode", [0, 9, 0, 0]],
    ["opcode 0", [0, 0]],
    ["short ACK", [0, 4, 1]],
    ["short DATA", [0, 3, 0]],
    ["short ERROR", [0, 5, 0]],
    ["RRQ without mode", "\x00\x01file\x00"],
    ["RRQ unterminated", "\x00\x01file\x00octet"],
    ["RRQ unknown mode", "\x00\x01file\x00binary\x00"],
    ["RRQ with a NUL smuggled into the name", "\x00\x01ipxe.efi\x00../../etc/passwd\x00octet\x00"],
    ["option without value", "\x00\x01f\x00octet\x00blksize\x00"],
    ["empty option name", "\x00\x01f\x00octet\x00\x00512\x00"],
  ];
  for (const [name, bytes] of bad) {
    it(`rejects ${name}`, () => {
      const buf = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : Buffer.from(bytes);
      expect(() => decode(buf)).toThrow(TftpDecodeError);
    });
  }

  it("refuses to encode a NUL inside a string", () => {
    expect(() => encode({ op: Op.RRQ, filename: "a\0b", mode: "octet", options: {} })).toThrow(TypeError);
  });
});
