// 100,000 random and mutated packets through the decoder and option negotiation, then a
// share of them at a live server, which must keep serving. Seeded: a failure reproduces.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { rootProvider } from "../../../appliance/tftp/files";
import { negotiate } from "../../../appliance/tftp/options";
import { decode, Op, TftpDecodeError } from "../../../appliance/tftp/packet";
import { TftpServer } from "../../../appliance/tftp/server";
import { RawClient } from "./raw-client";

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "fixtures");
const golden = readdirSync(fixtures)
  .filter((f) => f.endsWith(".hex"))
  .map((f) => Buffer.from(readFileSync(join(fixtures, f), "utf8").trim(), "hex"));

function packets(seed: number, count: number): Buffer[] {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const words = ["blksize", "tsize", "timeout", "windowsize", "octet", "netascii", "0", "65464", "1468", "99999999999", "../", "\0", ""];
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const kind = int(4);
    if (kind === 0) {
      out.push(Buffer.from(Array.from({ length: int(64) }, () => int(256))));
    } else if (kind === 1) {
      const b = Buffer.from(golden[int(golden.length)]!);
      for (let m = 1 + int(4); m > 0; m--) {
        const at = int(b.length);
        b[at] = b[at]! ^ (1 << int(8));
      }
      out.push(b);
    } else if (kind === 2) {
      const b = golden[int(golden.length)]!;
      out.push(Buffer.concat([b.subarray(0, int(b.length + 1)), Buffer.from(Array.from({ length: int(8) }, () => int(256)))]));
    } else {
      const parts = [String.fromCharCode(0, 1 + int(6))];
      for (let n = int(9); n > 0; n--) parts.push(words[int(words.length)]! + (rnd() < 0.8 ? "\0" : ""));
      out.push(Buffer.from(parts.join(""), "latin1"));
    }
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), "plinth-tftp-fuzz-"));
writeFileSync(join(dir, "ipxe.efi"), Buffer.alloc(3000, 7));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("TFTP fuzzing", () => {
  it("100,000 packets: decode returns a packet or throws TftpDecodeError, negotiation stays in range", () => {
    let decoded = 0;
    for (const p of packets(0x5eed, 100_000)) {
      let d: ReturnType<typeof decode>;
      try {
        d = decode(p);
      } catch (e) {
        expect(e).toBeInstanceOf(TftpDecodeError);
        continue;
      }
      decoded++;
      if (d.op === Op.RRQ || d.op === Op.WRQ || d.op === Op.OACK) {
        const n = negotiate(d.options, 1000);
        expect(n.blksize >= 8 && n.blksize <= 65464).toBe(true);
        expect(n.windowsize >= 1 && n.windowsize <= 512).toBe(true);
        expect(n.timeout === null || (n.timeout >= 1 && n.timeout <= 255)).toBe(true);
      }
    }
    expect(decoded).toBeGreaterThan(10_000);
  });

  it("a live server survives 20,000 of them and still serves a file", async () => {
    const server = new TftpServer({
      provider: rootProvider(dir),
      address: "127.0.0.1",
      port: 0,
      rto: { minMs: 10, defaultMaxMs: 20, backoffCapMs: 40, maxRetries: 1 },
    });
    const { port } = await server.listen();
    const c = await new RawClient(port).open();
    try {
      const all = packets(0xf00d, 20_000);
      for (let i = 0; i < all.length; i += 200) {
        for (const p of all.slice(i, i + 200)) c.sock.send(p, port, "127.0.0.1");
        await new Promise((r) => setTimeout(r, 2));
      }
      const probe = await new RawClient(port).open();
      // The flood may still fill the socket buffer: like a real client, resend the RRQ until answered.
      const rrq = () => probe.request({ op: Op.RRQ, filename: "ipxe.efi", mode: "octet", options: { blksize: "1500" } });
      rrq();
      const resend = setInterval(rrq, 500);
      const first = await probe.next();
      clearInterval(resend);
      expect(first).toEqual({ op: Op.OACK, options: { blksize: "1500" } });
      probe.send({ op: Op.ACK, block: 0 });
      for (let b = 1; b <= 3; b++) {
        const d = await probe.next();
        expect(d).toMatchObject({ op: Op.DATA, block: b });
        probe.send({ op: Op.ACK, block: b });
      }
      probe.close();
    } finally {
      c.close();
      await server.close();
    }
  });
});
