// TFTP (appliance/tftp): the packet decoder, option negotiation and the path rules, each at the
// edge where a firmware's request arrives. Any bytes decode to a packet or throw
// TftpDecodeError and re-encode to the same packet; negotiation never throws and stays within
// its limits; a requested name maps to segments inside the root or is refused with TftpRefusal.
// (test/node/tftp/fuzz.test.ts also sends seeded packets at a live server.)
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { safeSegments, TftpRefusal } from "../../../appliance/tftp/files";
import { DEFAULT_LIMITS, negotiate } from "../../../appliance/tftp/options";
import { decode, encode, Op, type Packet, TftpDecodeError } from "../../../appliance/tftp/packet";
import { bytes, expectOnly, runs, TIMEOUT } from "./fuzz";

// Wire strings are NUL-terminated latin1: any byte but NUL.
const wire = (maxLength: number) => fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength });
const optionName = fc.oneof(
  fc.constantFrom("blksize", "tsize", "timeout", "windowsize", "BLKSIZE", "__proto__", "constructor"),
  wire(12).filter((s) => s.length > 0),
);
const optionValue = fc.oneof(fc.nat().map(String), fc.constantFrom("0", "8", "65464", "65535", "99999999999", "-1", ""), wire(12));
const options = fc
  .array(fc.tuple(optionName, optionValue), { maxLength: 6 })
  .map((pairs) => Object.fromEntries(pairs.map(([k, v]) => [k.toLowerCase(), v]).reverse()) as Record<string, string>);

const packet: fc.Arbitrary<Packet> = fc.oneof(
  fc.record({
    op: fc.constantFrom(Op.RRQ, Op.WRQ),
    filename: wire(200),
    mode: fc.constantFrom("octet", "netascii", "mail"),
    options,
  }),
  fc.record({ op: fc.constant(Op.DATA), block: fc.nat(0xffff), data: fc.uint8Array({ maxLength: 600 }) }),
  fc.record({ op: fc.constant(Op.ACK), block: fc.nat(0xffff) }),
  fc.record({ op: fc.constant(Op.ERROR), code: fc.nat(0xffff), message: wire(100) }),
  fc.record({ op: fc.constant(Op.OACK), options }),
);

/** The comparable form: DATA's bytes as a plain array, so a Buffer and a Uint8Array compare equal. */
function plain(p: Packet): unknown {
  return p.op === Op.DATA ? { ...p, data: [...p.data] } : p;
}

describe("TFTP regressions found by the fuzzer", () => {
  it("keeps an option named __proto__ instead of dropping it through the prototype setter", () => {
    const p = decode(Buffer.from("\x00\x06__proto__\x000\x00blksize\x001468\x00", "latin1"));
    expect(p.op === Op.OACK && Object.getOwnPropertyDescriptor(p.options, "__proto__")?.value).toBe("0");
    expect(p.op === Op.OACK && p.options["blksize"]).toBe("1468");
  });
});

describe("TFTP (fast-check)", () => {
  it(
    "any bytes: a packet or TftpDecodeError, and a decoded packet re-encodes to itself",
    () => {
      fc.assert(
        fc.property(bytes(packet.map(encode), 700), (b) => {
          const r = expectOnly(() => decode(b), TftpDecodeError);
          if ("value" in r) expect(plain(decode(encode(r.value)))).toEqual(plain(r.value));
        }),
        runs(3000),
      );
    },
    TIMEOUT,
  );

  it(
    "packets we build decode to themselves",
    () => {
      fc.assert(
        fc.property(packet, (p) => {
          expect(plain(decode(encode(p)))).toEqual(plain(p));
        }),
        runs(1000),
      );
    },
    TIMEOUT,
  );

  it(
    "negotiation never throws and acknowledges only what the limits allow",
    () => {
      fc.assert(
        fc.property(options, fc.option(fc.nat(), { nil: null }), (requested, size) => {
          const n = negotiate(requested, size, DEFAULT_LIMITS);
          expect(n.blksize).toBeGreaterThanOrEqual(8);
          expect(n.blksize).toBeLessThanOrEqual(DEFAULT_LIMITS.maxBlksize);
          expect(n.windowsize).toBeGreaterThanOrEqual(1);
          expect(n.windowsize).toBeLessThanOrEqual(DEFAULT_LIMITS.maxWindowsize);
          for (const k of Object.keys(n.oack ?? {})) expect(Object.hasOwn(requested, k)).toBe(true);
          // curl refuses "tsize 0": an empty file is never offered with it.
          if (n.oack?.["tsize"] !== undefined) expect(n.oack["tsize"]).toBe(String(size));
          expect(n.oack?.["tsize"]).not.toBe("0");
        }),
        runs(2000),
      );
    },
    TIMEOUT,
  );

  it(
    "a requested name maps inside the root or is refused with TftpRefusal",
    () => {
      const part = fc.oneof(fc.constantFrom("..", ".", "", "/", "\\", "a", "..\\", "../", "%2e%2e", "\0"), wire(8));
      const name = fc.oneof(
        wire(300),
        fc.array(part, { maxLength: 12 }).map((a) => a.join("")),
      );
      fc.assert(
        fc.property(name, (n) => {
          const r = expectOnly(() => safeSegments(n), TftpRefusal);
          if ("error" in r) return;
          expect(r.value.length).toBeGreaterThan(0);
          for (const s of r.value) {
            expect(s).not.toMatch(/^\.{0,2}$/);
            expect(s).not.toMatch(/[/\\\0]/);
          }
        }),
        runs(3000),
      );
    },
    TIMEOUT,
  );
});
