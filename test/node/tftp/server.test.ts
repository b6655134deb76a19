// The server on loopback against a scripted client: the cases real clients never produce
// on demand (duplicate ACKs, aborts, silence, rollover at tiny block sizes).
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { firstOf, rootProvider, virtualProvider } from "../../../appliance/tftp/files";
import { ErrorCode, Op, type Packet } from "../../../appliance/tftp/packet";
import type { RtoPolicy } from "../../../appliance/tftp/rto";
import { type TftpEvent, TftpServer } from "../../../appliance/tftp/server";
import { RawClient } from "./raw-client";

const dir = mkdtempSync(join(tmpdir(), "plinth-tftp-srv-"));
const pattern = (n: number) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
};
const small = pattern(1000);
const even = pattern(1024);
writeFileSync(join(dir, "small.bin"), small);
writeFileSync(join(dir, "even.bin"), even);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Retransmission far beyond any test: what arrives is exactly what the protocol asked for. */
const patient: RtoPolicy = { minMs: 30_000, defaultMaxMs: 30_000, backoffCapMs: 30_000, maxRetries: 1 };
const eager: RtoPolicy = { minMs: 20, defaultMaxMs: 50, backoffCapMs: 200, maxRetries: 3 };

let server: TftpServer | null = null;
const clients: RawClient[] = [];
const events: TftpEvent[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = null;
  events.length = 0;
});

async function start(rto: RtoPolicy, extra: Map<string, Uint8Array> = new Map()): Promise<number> {
  server = new TftpServer({
    provider: firstOf(virtualProvider(extra), rootProvider(dir)),
    address: "127.0.0.1",
    port: 0,
    rto,
    onEvent: (e) => events.push(e),
  });
  return (await server.listen()).port;
}

async function client(port: number): Promise<RawClient> {
  const c = await new RawClient(port).open();
  clients.push(c);
  return c;
}

function ended(): Promise<Extract<TftpEvent, { type: "end" }>> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      const e = events.find((x) => x.type === "end");
      if (e && e.type === "end") {
        clearInterval(t);
        resolve(e);
      }
    }, 5);
  });
}

function asData(p: Packet) {
  if (p.op !== Op.DATA) throw new Error(`expected DATA, got ${JSON.stringify(p)}`);
  return p;
}

describe("TFTP server (loopback)", () => {
  it("serves a file in 512-byte blocks without options (RFC 1350)", async () => {
    const c = await client(await start(patient));
    c.request({ op: Op.RRQ, filename: "small.bin", mode: "octet", options: {} });
    const d1 = asData(await c.next());
    expect(d1.block).toBe(1);
    expect(d1.data.length).toBe(512);
    c.send({ op: Op.ACK, block: 1 });
    const d2 = asData(await c.next());
    expect(d2.block).toBe(2);
    expect(Buffer.concat([d1.data, d2.data]).equals(small)).toBe(true);
    c.send({ op: Op.ACK, block: 2 });
    const end = await ended();
    expect(end.result).toEqual({ ok: true, bytes: 1000, retransmits: 0, segments: 0 });
  });

  it("ends a file of whole blocks with an empty block", async () => {
    const c = await client(await start(patient));
    c.request({ op: Op.RRQ, filename: "even.bin", mode: "octet", options: {} });
    for (let b = 1; b <= 2; b++) {
      expect(asData(await c.next()).data.length).toBe(512);
      c.send({ op: Op.ACK, block: b });
    }
    const last = asData(await c.next());
    expect(last).toMatchObject({ block: 3 });
    expect(last.data.length).toBe(0);
    c.send({ op: Op.ACK, block: 3 });
    expect((await ended()).result.ok).toBe(true);
  });

  it("negotiates with an OACK and waits for ACK 0", async () => {
    const c = await client(await start(patient));
    c.request({ op: Op.RRQ, filename: "small.bin", mode: "octet", options: { blksize: "1468", tsize: "0", bogus: "1" } });
    expect(await c.next()).toEqual({ op: Op.OACK, options: { blksize: "1468", tsize: "1000" } });
    c.send({ op: Op.ACK, block: 0 });
    const d = asData(await c.next());
    expect(Buffer.from(d.data).equals(small)).toBe(true);
    c.send({ op: Op.ACK, block: 1 });
    expect((await ended()).result.ok).toBe(true);
  });

  it("answers OVMF's tsize probe (error 8 after the OACK) cleanly, then serves the real request", async () => {
    const port = await start(patient);
    const probe = await client(port);
    probe.request({ op: Op.RRQ, filename: "small.bin", mode: "octet", options: { tsize: "0" } });
    expect(await probe.next()).toEqual({ op: Op.OACK, options: { tsize: "1000" } });
    probe.send({ op: Op.ERROR, code: ErrorCode.OPTION_REFUSED, message: "User aborted" });
    const end = await ended();
    expect(end.result).toMatchObject({ ok: false, reason: "client-error", code: 8 });
    expect(server!.activeTransfers).toBe(0);
    events.length = 0;
    const real = await client(port);
    real.request({ op: Op.RRQ, filename: "small.bin", mode: "octet", options: { blksize: "1024" } });
    expect(await real.next()).toEqual({ op: Op.OACK, options: { blksize: "1024" } });
    real.send({ op: Op.ACK, block: 0 });
    expect(asData(await real.next()).data.length).toBe(1000);
    real.send({ op: Op.ACK, block: 1 });
    expect((await ended()).result.ok).toBe(true);
  });

  it("ignores duplicate ACKs: every block goes out once (no sorcerer's apprentice)", async () => {
    const big = pattern(50 * 512 + 17);
    const c = await client(await start(patient, new Map([["dup.bin", big]])));
    c.request({ op: Op.RRQ, filename: "dup.bin", mode: "octet", options: {} });
    const got: Buffer[] = [];
    for (let b = 1; ; b++) {
      const d = asData(await c.next());
      expect(d.block).toBe(b);
      got.push(Buffer.from(d.data));
      c.send({ op: Op.ACK, block: b });
      c.send({ op: Op.ACK, block: b });
      if (b > 1) c.send({ op: Op.ACK, block: b - 1 });
      if (d.data.length < 512) break;
    }
    expect((await ended()).result.ok).toBe(true);
    expect(Buffer.concat(got).equals(big)).toBe(true);
    expect(c.received).toBe(51);
  });

  it("retransmits with backoff when the ACK never comes, then gives up with an error", async () => {
    const c = await client(await start(eager));
    c.request({ op: Op.RRQ, filename: "small.bin", mode: "octet", options: {} });
    const seen: Packet[] = [];
    for (;;) {
      const p = await c.next();
      seen.push(p);
      if (p.op === Op.ERROR) break;
    }
    expect(seen.slice(0, 4).every((p) => p.op === Op.DATA && p.block === 1)).toBe(true);
    expect(seen.length).toBe(5); // 1 + maxRetries resends, then ERROR
    expect((await ended()).result).toMatchObject({ ok: false, reason: "timeout", retransmits: 3 });
  });

  it("resends a lost block after a retransmission timeout and completes", async () => {
    const c = await client(await start(eager));
    c.request({ op: Op.RRQ, filename: "small.bin", mode: "octet", options: {} });
    expect(asData(await c.next()).block).toBe(1); // "lost": no ACK
    expect(asData(await c.next()).block).toBe(1);
    c.send({ op: Op.ACK, block: 1 });
    expect(asData(await c.next()).block).toBe(2);
    c.send({ op: Op.ACK, block: 2 });
    const end = await ended();
    expect(end.result).toMatchObject({ ok: true, retransmits: 1 });
  });

  it("slides the window back to the first block after a mid-window ACK (RFC 7440 loss)", async () => {
    const data = pattern(10 * 100);
    const c = await client(await start(patient, new Map([["w.bin", data]])));
    c.request({ op: Op.RRQ, filename: "w.bin", mode: "octet", options: { blksize: "100", windowsize: "4" } });
    expect((await c.next()).op).toBe(Op.OACK);
    c.send({ op: Op.ACK, block: 0 });
    const w1 = [await c.next(), await c.next(), await c.next(), await c.next()].map(asData);
    expect(w1.map((d) => d.block)).toEqual([1, 2, 3, 4]);
    c.send({ op: Op.ACK, block: 2 }); // 3 was "lost"
    const w2 = [await c.next(), await c.next(), await c.next(), await c.next()].map(asData);
    expect(w2.map((d) => d.block)).toEqual([3, 4, 5, 6]);
    c.send({ op: Op.ACK, block: 6 });
    const w3 = [await c.next(), await c.next(), await c.next(), await c.next()].map(asData);
    expect(w3.map((d) => d.block)).toEqual([7, 8, 9, 10]);
    c.send({ op: Op.ACK, block: 10 });
    const last = asData(await c.next());
    expect(last.block).toBe(11);
    expect(last.data.length).toBe(0);
    c.send({ op: Op.ACK, block: 11 });
    expect((await ended()).result.ok).toBe(true);
    const all = [...w1.slice(0, 2), ...w2, ...w3].map((d) => Buffer.from(d.data));
    expect(Buffer.concat(all).equals(data)).toBe(true);
  });

  it("rolls block numbers over from 65535 to 0", async () => {
    const blk = 8;
    const data = pattern(blk * 65540 + 3);
    const c = await client(await start(patient, new Map([["roll.bin", data]])));
    c.request({ op: Op.RRQ, filename: "roll.bin", mode: "octet", options: { blksize: String(blk), windowsize: "64" } });
    expect((await c.next()).op).toBe(Op.OACK);
    c.send({ op: Op.ACK, block: 0 });
    const out = Buffer.alloc(data.length);
    const wire: number[] = [];
    let abs = 0;
    for (;;) {
      const d = asData(await c.next());
      abs++;
      expect(d.block).toBe(abs & 0xffff);
      if (abs >= 65534 && abs <= 65538) wire.push(d.block);
      Buffer.from(d.data).copy(out, (abs - 1) * blk);
      const last = d.data.length < blk;
      if (abs % 64 === 0 || last) c.send({ op: Op.ACK, block: d.block });
      if (last) break;
    }
    expect(wire).toEqual([65534, 65535, 0, 1, 2]);
    expect(abs).toBe(65541);
    expect(out.equals(data)).toBe(true);
    // Whole windows per send (native/udp-gso.ts), and the OACK, longer than a 12-byte
    // segment, still arrived whole: a stray piece of it would have failed decode above.
    expect((await ended()).result).toMatchObject({ ok: true, segments: 64 });
  });

  it("answers errors: unknown file, write request, traversal, bad request", async () => {
    const port = await start(patient);
    const cases: [Packet | Buffer, number][] = [
      [{ op: Op.RRQ, filename: "missing.bin", mode: "octet", options: {} }, ErrorCode.FILE_NOT_FOUND],
      [{ op: Op.WRQ, filename: "small.bin", mode: "octet", options: {} }, ErrorCode.ACCESS_VIOLATION],
      [{ op: Op.RRQ, filename: "../../../etc/passwd", mode: "octet", options: {} }, ErrorCode.ACCESS_VIOLATION],
      [{ op: Op.RRQ, filename: "/../etc/passwd", mode: "octet", options: {} }, ErrorCode.ACCESS_VIOLATION],
      // A leading slash is the root (tftpd-hpa -s): not refused, just not there.
      [{ op: Op.RRQ, filename: "/etc/passwd", mode: "octet", options: {} }, ErrorCode.FILE_NOT_FOUND],
      [Buffer.from("\x00\x01small.bin\x00\x00../etc\x00", "latin1"), ErrorCode.ILLEGAL_OPERATION],
      // Unknown opcodes (RFC 1350: "Illegal TFTP operation").
      [Buffer.from([0, 9, 1, 2, 3]), ErrorCode.ILLEGAL_OPERATION],
      [Buffer.from([0, 0]), ErrorCode.ILLEGAL_OPERATION],
      [Buffer.from([0xff, 0xff, 0]), ErrorCode.ILLEGAL_OPERATION],
    ];
    for (const [req, code] of cases) {
      const c = await client(port);
      if (Buffer.isBuffer(req)) c.sock.send(req, port, "127.0.0.1");
      else c.request(req);
      const p = await c.next();
      expect(p).toMatchObject({ op: Op.ERROR, code });
    }
  });

  it("serves netascii with converted line endings", async () => {
    const c = await client(await start(patient, new Map([["t.txt", Buffer.from("a\nb\n")]])));
    c.request({ op: Op.RRQ, filename: "t.txt", mode: "netascii", options: { tsize: "0" } });
    expect(await c.next()).toEqual({ op: Op.OACK, options: { tsize: "6" } });
    c.send({ op: Op.ACK, block: 0 });
    expect(Buffer.from(asData(await c.next()).data).toString()).toBe("a\r\nb\r\n");
    c.send({ op: Op.ACK, block: 1 });
    expect((await ended()).result.ok).toBe(true);
  });

  it("runs many transfers at once, each on its own port", async () => {
    const data = pattern(200_000);
    const port = await start(patient, new Map([["m.bin", data]]));
    const one = async () => {
      const c = await client(port);
      c.request({ op: Op.RRQ, filename: "m.bin", mode: "octet", options: { blksize: "1400", windowsize: "8" } });
      expect((await c.next()).op).toBe(Op.OACK);
      c.send({ op: Op.ACK, block: 0 });
      const parts: Buffer[] = [];
      for (let n = 1; ; n++) {
        const d = asData(await c.next());
        parts.push(Buffer.from(d.data));
        const last = d.data.length < 1400;
        if (n % 8 === 0 || last) c.send({ op: Op.ACK, block: d.block });
        if (last) break;
      }
      return { tid: c.tid, sha: createHash("sha256").update(Buffer.concat(parts)).digest("hex") };
    };
    const results = await Promise.all(Array.from({ length: 20 }, one));
    const want = createHash("sha256").update(data).digest("hex");
    expect(results.every((r) => r.sha === want)).toBe(true);
    expect(new Set(results.map((r) => r.tid)).size).toBe(20);
  });
});
