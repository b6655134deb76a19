// DHCP (appliance/dhcp/packet.ts), the parser every packet on the site's broadcast domain meets:
// any bytes decode to a packet or throw DhcpDecodeError, a decoded packet re-encodes to bytes
// that decode to the same packet, and packets we build survive encode and decode unchanged.
// (test/node/dhcp/fuzz.test.ts also drives both handlers with 100,000 seeded packets.)
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DhcpDecodeError, type DhcpOptions, type DhcpPacket, decode, encode } from "../../../appliance/dhcp/packet";
import { bytes, expectOnly, runs, TIMEOUT } from "./fuzz";

const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join("."));
// Header strings and text options are latin1 on the wire; NUL ends a header string.
const text = (maxLength: number) => fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength });
const blob = (maxLength = 300) => fc.uint8Array({ maxLength }).map((u) => Buffer.from(u));

// Not userClass: it is read as RFC 3004 framing when it parses as that, and only ever read, so a
// raw string we would write is not what comes back; the bytes property above covers it.
const options: fc.Arbitrary<DhcpOptions> = fc
  .record(
    {
      messageType: fc.integer({ min: 1, max: 8 }),
      subnetMask: ip,
      routers: fc.array(ip, { minLength: 1, maxLength: 4 }),
      dnsServers: fc.array(ip, { minLength: 1, maxLength: 4 }),
      hostname: text(300),
      requestedIp: ip,
      leaseTime: fc.nat(0xffffffff),
      serverId: ip,
      parameterRequestList: fc.array(fc.nat(255), { maxLength: 40 }),
      maxMessageSize: fc.nat(0xffff),
      vendorClass: text(80),
      clientId: blob(40),
      clientArch: fc.array(fc.nat(0xffff), { minLength: 1, maxLength: 4 }),
      clientMachineId: blob(17),
      relayAgentInfo: blob(60),
    },
    { requiredKeys: [] },
  )
  .map((o) => ({ ...o, other: new Map<number, Buffer>() }) as DhcpOptions);

const packet: fc.Arbitrary<DhcpPacket> = fc.record({
  op: fc.constantFrom(1 as const, 2 as const),
  htype: fc.nat(255),
  hlen: fc.nat(16),
  hops: fc.nat(255),
  xid: fc.nat(0xffffffff),
  secs: fc.nat(0xffff),
  flags: fc.nat(0xffff),
  ciaddr: ip,
  yiaddr: ip,
  siaddr: ip,
  giaddr: ip,
  chaddr: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((u) => Buffer.from(u)),
  sname: text(63),
  file: text(127),
  options,
});

describe("DHCP packet codec (fast-check)", () => {
  it(
    "any bytes: a packet or DhcpDecodeError, and a decoded packet round-trips through encode",
    () => {
      fc.assert(
        fc.property(bytes(packet.map(encode), 700), (b) => {
          const r = expectOnly(() => decode(b), DhcpDecodeError);
          if ("value" in r) expect(decode(encode(r.value))).toEqual(r.value);
        }),
        runs(2000),
      );
    },
    TIMEOUT,
  );

  it(
    "packets we build decode to themselves",
    () => {
      fc.assert(
        fc.property(packet, (p) => {
          expect(decode(encode(p))).toEqual(p);
        }),
        runs(400),
      );
    },
    TIMEOUT,
  );
});
