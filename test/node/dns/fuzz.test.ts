// 100,000 random and mutated queries straight into the handler (what the sockets run), and a
// few thousand over a real socket on loopback: no throw, no crash, and never an authoritative
// or non-empty answer for a name outside the zones served (recursion is off here: no upstream).
import { createSocket } from "node:dgram";
import dnsPacket from "dns-packet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DnsHandler } from "../../../appliance/dns/handler";
import { DnsServer } from "../../../appliance/dns/server";
import { siteDns } from "./fixture";

// A seeded generator: a failure reproduces.
let seed = 0x2545f491;
const rnd = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
};
const int = (n: number) => Math.floor(rnd() * n);

const NAMES = [
  "node-1.maas",
  "NODE-2.MAAS",
  "maas",
  "nope.maas",
  "www.maas",
  "many.maas",
  "big.maas",
  "x.lab.maas",
  "a.wild.maas",
  "2.0.77.10.in-addr.arpa",
  "sub.maas",
  "example.com",
  "evil.test",
  "maas.example.com",
  "",
];
const TYPES = ["A", "AAAA", "TXT", "MX", "SRV", "NS", "SOA", "PTR", "CNAME", "ANY", "AXFR", "IXFR", "OPT", "UNKNOWN_65000"] as const;

function valid(): Buffer {
  const q: dnsPacket.Packet = {
    type: "query",
    id: int(65536),
    flags: int(2) ? dnsPacket.RECURSION_DESIRED : 0,
    questions: [{ name: NAMES[int(NAMES.length)]!, type: TYPES[int(TYPES.length)]! as dnsPacket.RecordType }],
    additionals: int(2) ? [{ type: "OPT", name: ".", udpPayloadSize: int(5000), flags: int(2) ? dnsPacket.DNSSEC_OK : 0 } as unknown as dnsPacket.Answer] : [],
  };
  return dnsPacket.encode(q);
}

function mutate(b: Buffer): Buffer {
  const m = Buffer.from(b);
  switch (int(8)) {
    case 0: // bit flips
      for (let i = 0, n = 1 + int(6); i < n; i++) m[int(m.length)]! ^= 1 << int(8);
      return m;
    case 1: // truncation
      return m.subarray(0, int(m.length));
    case 2: // random length of garbage
      return Buffer.from(Array.from({ length: int(600) }, () => int(256)));
    case 3: // bad counts
      m.writeUInt16BE(int(65536), 4 + 2 * int(4));
      return m;
    case 4: {
      // a compression pointer loop in the question, or pointing at itself
      const at = 12;
      return Buffer.concat([m.subarray(0, at), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    }
    case 5: // a pointer loop in the additional section
      m.writeUInt16BE(1, 10);
      return Buffer.concat([m, Buffer.from([0xc0, m.length, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0])]);
    case 6: // random opcode and flags
      m.writeUInt16BE(int(65536), 2);
      return m;
    default: // garbage appended, or a label longer than 63
      if (int(2)) return Buffer.concat([m, Buffer.from(Array.from({ length: int(40) }, () => int(256)))]);
      m[12] = 64 + int(128);
      return m;
  }
}

const ours = (name: string) => /(^|\.)(maas|77\.10\.in-addr\.arpa)$/.test(name.toLowerCase());

function check(reply: Buffer, query: Buffer): void {
  let d: dnsPacket.DecodedPacket;
  try {
    d = dnsPacket.decode(reply);
  } catch {
    throw new Error(`undecodable reply to ${query.toString("hex")}: ${reply.toString("hex")}`);
  }
  const qn = d.questions?.[0]?.name ?? "";
  const answered = d.flag_aa || (d.answers?.length ?? 0) > 0 || (d.authorities?.length ?? 0) > 0;
  if (answered && !ours(qn === "." ? "" : qn)) throw new Error(`answered for a zone not served: ${qn} (query ${query.toString("hex")})`);
}

describe("fuzz", () => {
  it("100,000 random and mutated queries into the handler", () => {
    const h = new DnsHandler({ axfrAllow: ["127.0.0.0/8"], log: () => {} });
    h.load(siteDns(), ["10.77.0.0/16"]);
    let replies = 0;
    for (let i = 0; i < 100_000; i++) {
      const q = i % 10 === 0 ? valid() : mutate(valid());
      const tcp = i % 7 === 0;
      const out = h.handle(q, { address: i % 3 ? "10.77.0.9" : "127.0.0.1", tcp });
      if (out === null) continue;
      expect(out instanceof Promise).toBe(false); // no upstream: nothing is forwarded
      for (const b of Array.isArray(out) ? out : [out as Buffer]) {
        check(b, q);
        if (!tcp) expect(b.length).toBeLessThanOrEqual(1232);
        replies++;
      }
    }
    expect(replies).toBeGreaterThan(50_000);
    expect(h.counters.queries).toBe(100_000);
  }, 60_000);

  describe("over a socket", () => {
    let s: DnsServer;
    beforeAll(async () => {
      s = await DnsServer.start({ listen: [{ address: "127.0.0.1", port: 0 }], log: () => {} });
      await s.load(siteDns(), []);
    });
    afterAll(async () => {
      await s.close();
    });

    it("3,000 over UDP, then a valid query is still answered", async () => {
      const port = s.addresses[0]!.port;
      const c = createSocket("udp4");
      const got: Buffer[] = [];
      c.on("message", (m) => got.push(m));
      await new Promise<void>((r) => c.bind(0, "127.0.0.1", () => r()));
      const sent: Buffer[] = [];
      for (let i = 0; i < 3000; i++) {
        const q = mutate(valid());
        sent.push(q);
        c.send(q, port, "127.0.0.1");
        if (i % 50 === 0) await new Promise((r) => setTimeout(r, 10));
      }
      await new Promise((r) => setTimeout(r, 300));
      for (const m of got) check(m, Buffer.alloc(0));
      const probe = dnsPacket.encode({ type: "query", id: 4242, questions: [{ name: "node-1.maas", type: "A" }] });
      const answer = new Promise<Buffer>((r) => c.on("message", (m) => m.readUInt16BE(0) === 4242 && r(m)));
      c.send(probe, port, "127.0.0.1");
      expect(dnsPacket.decode(await answer).answers?.[0]).toMatchObject({ name: "node-1.maas", data: "10.77.0.3" });
      c.close();
      // Loopback may drop a little of a burst; the server must have seen nearly all of it.
      expect(s.counters.queries).toBeGreaterThanOrEqual(2900);
    });
  });
});
