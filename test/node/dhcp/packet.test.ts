// Codec: golden decodes of packets captured from dhclient, udhcpc and perfdhcp (and our own
// replies to them), round trips, and the framing cases real ROMs and broken clients produce.
// Regenerate the golden file with UPDATE_GOLDEN=1 after an intended change.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DhcpDecodeError, type DhcpPacket, decode, emptyOptions, encode, encodeTlvs, MAGIC_COOKIE, MessageType, macOf } from "../../../appliance/dhcp/packet";
import { render } from "./render";

const fixtures = join(import.meta.dirname, "fixtures");
const captured = JSON.parse(readFileSync(join(fixtures, "captured.json"), "utf8")) as {
  name: string;
  hex: string;
}[];

function request(over: Partial<DhcpPacket> = {}): DhcpPacket {
  const options = emptyOptions();
  options.messageType = MessageType.Discover;
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x12345678,
    secs: 3,
    flags: 0x8000,
    ciaddr: "0.0.0.0",
    yiaddr: "0.0.0.0",
    siaddr: "0.0.0.0",
    giaddr: "0.0.0.0",
    chaddr: Buffer.concat([Buffer.from("525400aabbcc", "hex"), Buffer.alloc(10)]),
    sname: "",
    file: "",
    options,
    ...over,
  };
}

/** A raw packet: BOOTP header from `request()`, then the given option bytes verbatim. */
function rawWithOptions(optionBytes: number[]): Buffer {
  const head = encode(request()).subarray(0, 240);
  return Buffer.concat([head, Buffer.from(optionBytes)]);
}

describe("golden captures", () => {
  const goldenPath = join(fixtures, "captured.parsed.json");
  const decoded = captured.map((c) => ({ name: c.name, packet: render(decode(Buffer.from(c.hex, "hex"))) }));

  it("decodes every captured packet as recorded", () => {
    if (process.env.UPDATE_GOLDEN) writeFileSync(goldenPath, `${JSON.stringify(decoded, null, 1)}\n`);
    expect(existsSync(goldenPath)).toBe(true);
    expect(decoded).toEqual(JSON.parse(readFileSync(goldenPath, "utf8")));
  });

  it("re-encodes every captured packet to an equivalent packet", () => {
    for (const c of captured) {
      const p = decode(Buffer.from(c.hex, "hex"));
      expect(render(decode(encode(p))), c.name).toEqual(render(p));
    }
  });

  it("reads the fields the boot decision needs from the real clients", () => {
    const byName = new Map(captured.map((c) => [c.name, decode(Buffer.from(c.hex, "hex"))]));
    const dhclient = byName.get("dhclient DISCOVER (PXE arch 7)")!;
    expect(dhclient.options.messageType).toBe(MessageType.Discover);
    expect(dhclient.options.clientArch).toEqual([7]);
    expect(dhclient.options.vendorClass).toBe("PXEClient:Arch:00007:UNDI:003016");
    const udhcpc = byName.get("udhcpc DISCOVER (user class iPXE, arch 0)")!;
    expect(udhcpc.options.userClass).toBe("iPXE");
    expect(udhcpc.options.clientId?.[0]).toBe(1);
    const relayed = byName.get("perfdhcp relayed DISCOVER")!;
    expect(relayed.giaddr).not.toBe("0.0.0.0");
    const offer = byName.get("ours OFFER to udhcpc")!;
    expect(offer.options.bootfileName).toMatch(/^http:\/\/.*:5248\/boot\.ipxe$/);
    expect(offer.options.ipxe?.toString("hex")).toBe("b00101");
  });
});

describe("round trip", () => {
  it("keeps every named option", () => {
    const p = request({ op: 2, yiaddr: "10.0.0.9", siaddr: "10.0.0.1", giaddr: "10.1.0.1", file: "undionly.kpxe" });
    Object.assign(p.options, {
      messageType: MessageType.Ack,
      subnetMask: "255.255.255.0",
      routers: ["10.0.0.1", "10.0.0.2"],
      dnsServers: ["10.0.0.53"],
      hostname: "node-1",
      domainName: "maas",
      broadcastAddress: "10.0.0.255",
      vendorSpecific: Buffer.from([6, 1, 8, 255]),
      requestedIp: "10.0.0.9",
      leaseTime: 3600,
      serverId: "10.0.0.1",
      parameterRequestList: [1, 3, 6, 66, 67],
      message: "hello",
      maxMessageSize: 1500,
      renewalTime: 1800,
      rebindingTime: 3150,
      vendorClass: "PXEClient",
      clientId: Buffer.from("01525400aabbcc", "hex"),
      tftpServer: "10.0.0.1",
      bootfileName: "undionly.kpxe",
      userClass: "iPXE",
      relayAgentInfo: Buffer.from("0104deadbeef", "hex"),
      clientArch: [7, 0],
      clientNdi: Buffer.from([1, 3, 16]),
      clientMachineId: Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 7)]),
      ipxe: Buffer.from([176, 1, 1]),
    });
    p.options.other.set(119, Buffer.from("0461626364", "hex"));
    expect(render(decode(encode(p)))).toEqual(render(p));
  });

  it("pads replies to the 300-byte BOOTP minimum and ends options with END", () => {
    const b = encode(request());
    expect(b.length).toBe(300);
    expect(b.readUInt32BE(236)).toBe(MAGIC_COOKIE);
    expect(b[243]).toBe(255);
  });

  it("splits options over 255 bytes and joins them back (RFC 3396)", () => {
    const p = request();
    p.options.other.set(224, Buffer.alloc(600, 0xab));
    const b = encode(p);
    expect(decode(b).options.other.get(224)).toEqual(Buffer.alloc(600, 0xab));
    expect(encodeTlvs([[224, Buffer.alloc(600)]]).length).toBe(600 + 3 * 2);
  });

  it("formats the MAC from chaddr and hlen", () => {
    expect(macOf(request())).toBe("52:54:00:aa:bb:cc");
  });
});

describe("framing", () => {
  it("skips pad bytes anywhere between options", () => {
    const p = decode(rawWithOptions([0, 0, 53, 1, 1, 0, 0, 0, 60, 3, 80, 88, 69, 0, 255]));
    expect(p.options.messageType).toBe(MessageType.Discover);
    expect(p.options.vendorClass).toBe("PXE");
  });

  it("accepts options that run to the end without END", () => {
    expect(decode(rawWithOptions([53, 1, 3, 50, 4, 10, 0, 0, 7])).options.requestedIp).toBe("10.0.0.7");
  });

  it("ignores bytes after END", () => {
    expect(decode(rawWithOptions([53, 1, 1, 255, 12, 200])).options.hostname).toBeUndefined();
  });

  it("reads overloaded file and sname fields (option 52)", () => {
    const b = rawWithOptions([53, 1, 1, 52, 1, 3, 255]);
    Buffer.from([12, 4, 110, 111, 100, 101, 255]).copy(b, 108); // hostname in file
    Buffer.from([15, 4, 109, 97, 97, 115, 255]).copy(b, 44); // domain in sname
    const p = decode(b);
    expect(p.options.hostname).toBe("node");
    expect(p.options.domainName).toBe("maas");
    expect(p.file).toBe("");
  });

  it("decodes a parameter request list holding option 60 (crashed the npm dhcp package)", () => {
    expect(decode(rawWithOptions([53, 1, 1, 55, 5, 1, 3, 60, 66, 67, 255])).options.parameterRequestList).toEqual([1, 3, 60, 66, 67]);
  });

  it("reads user class in RFC 3004 framing too", () => {
    expect(decode(rawWithOptions([77, 5, 4, 105, 80, 88, 69, 255])).options.userClass).toBe("iPXE");
  });

  const bad: [string, Buffer][] = [
    ["empty", Buffer.alloc(0)],
    ["short header", Buffer.alloc(100, 1)],
    ["no cookie", Buffer.alloc(300, 1)],
    ["bad op", Buffer.from(rawWithOptions([255]).map((x, i) => (i === 0 ? 7 : x)))],
    ["option overruns", rawWithOptions([53, 1, 1, 12, 40, 65])],
    ["option without length", rawWithOptions([53, 1, 1, 12])],
    ["bad message type length", rawWithOptions([53, 2, 1, 1, 255])],
    ["bad address length", rawWithOptions([53, 1, 1, 50, 3, 1, 2, 3, 255])],
    ["odd arch list", rawWithOptions([53, 1, 1, 93, 3, 0, 0, 7, 255])],
  ];
  for (const [name, b] of bad) {
    it(`rejects ${name} with a DhcpDecodeError`, () => {
      expect(() => decode(b)).toThrow(DhcpDecodeError);
    });
  }

  it("keeps xid and MAC of a rejected packet for the log line", () => {
    try {
      decode(rawWithOptions([53, 1, 1, 12, 40, 65]));
      expect.unreachable();
    } catch (e) {
      expect((e as DhcpDecodeError).partial).toEqual({ xid: 0x12345678, mac: "52:54:00:aa:bb:cc" });
    }
  });
});
