// The native UDP segmentation helper (appliance/native/udp_gso.c) against the real kernel:
// built, segmenting one send into datagrams on their boundaries, refusing what it must.
import { createSocket, type Socket } from "node:dgram";
import { openSync, closeSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../tunnel/rig";
import { directSender, disableSegmentation, enableSegmentation, GSO_ADDON_PATH, gsoBinding, socketFd } from "../../../appliance/native/udp-gso";

const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

async function pair(): Promise<{ tx: Socket; rx: Socket; got: Buffer[] }> {
  const rx = createSocket("udp4");
  const tx = createSocket("udp4");
  sockets.push(rx, tx);
  const got: Buffer[] = [];
  rx.on("message", (m) => got.push(m));
  await new Promise<void>((r) => rx.bind(0, "127.0.0.1", () => r()));
  await new Promise<void>((r) => tx.bind(0, "127.0.0.1", () => tx.connect(rx.address().port, "127.0.0.1", () => r())));
  return { tx, rx, got };
}

describe("UDP segmentation helper", () => {
  it("is built (npm ci / npm test run scripts/build-native.mjs; it needs a C compiler)", () => {
    expect(gsoBinding(), `${GSO_ADDON_PATH} missing: run node scripts/build-native.mjs`).not.toBeNull();
  });

  it("cuts one send into datagrams of the segment size, the last one shorter", async () => {
    const { tx, got } = await pair();
    expect(enableSegmentation(tx, 100)).toBe(64);
    const buf = Buffer.alloc(100 * 5 + 37);
    for (let i = 0; i < buf.length; i++) buf[i] = i % 100 === 0 ? i / 100 : 0xee;
    tx.send(buf);
    await until("six datagrams", async () => got.length >= 6, 200, 5);
    expect(got.map((g) => g.length)).toEqual([100, 100, 100, 100, 100, 37]);
    expect(got.map((g) => g[0])).toEqual([0, 1, 2, 3, 4, 5]);
    // Off again: a long send leaves whole.
    disableSegmentation(tx);
    got.length = 0;
    tx.send(buf);
    await until("one datagram", async () => got.length >= 1, 200, 5);
    expect(got.map((g) => g.length)).toEqual([537]);
  });

  it("reads the connected route's MTU, and stays off when only one segment fits a send", async () => {
    const { tx } = await pair();
    // Loopback's device MTU is 65536; an IPv4 route's is capped at IP_MAX_MTU.
    expect(gsoBinding()!.pathMtu(socketFd(tx)!)).toBe(65535);
    // 40000-byte segments fit loopback's MTU, but only one fits a 65507-byte send.
    expect(enableSegmentation(tx, 40_000)).toBe(0);
    // (A segment beyond a 1500 MTU is refused in interop.test.ts, over a veth pair.)
  });

  it("answers -errno for a descriptor that is not a UDP socket, and throws on bad arguments", () => {
    const b = gsoBinding()!;
    const fd = openSync("/dev/null", "r");
    try {
      expect(b.setSegment(fd, 1472)).toBeLessThan(0);
      expect(b.pathMtu(fd)).toBeLessThan(0);
    } finally {
      closeSync(fd);
    }
    expect(() => b.setSegment(-1, 10)).toThrow(TypeError);
    expect(() => (b.setSegment as unknown as (x: string) => number)("x")).toThrow(TypeError);
    expect(() => b.setSegment(3, 70_000)).toThrow(TypeError);
  });
});

describe("sendSlab", () => {
  it("sends each slot's bytes to its address slot", async () => {
    const b = gsoBinding()!;
    const rx = createSocket("udp4");
    sockets.push(rx);
    const got: Buffer[] = [];
    rx.on("message", (m) => got.push(m));
    await new Promise<void>((r) => rx.bind(0, "127.0.0.1", () => r()));
    const fd = b.udpOpen(4, "127.0.0.1", 0);
    try {
      // The receiver's address in slot 1 of addrs, as recvBatch would have left a sender there.
      const addrs = Buffer.alloc(28 * 2);
      addrs.writeUInt16LE(2, 28);
      addrs.writeUInt16BE(rx.address().port, 28 + 2);
      Buffer.from([127, 0, 0, 1]).copy(addrs, 28 + 4);
      const slab = Buffer.alloc(64 * 2);
      slab.fill(1, 0, 10);
      slab.fill(2, 64, 64 + 33);
      expect(b.sendSlab(fd, slab, 64, Int32Array.of(10, 33), addrs, Int32Array.of(1, 1), 2)).toBe(2);
      await until("two datagrams", async () => got.length >= 2, 200, 5);
      expect(got.map((g) => [g.length, g[0]])).toEqual([
        [10, 1],
        [33, 2],
      ]);
      expect(() => b.sendSlab(fd, slab, 64, Int32Array.of(65), addrs, Int32Array.of(1), 1)).toThrow(TypeError);
      expect(() => b.sendSlab(fd, slab, 64, Int32Array.of(1, 1, 1), addrs, Int32Array.of(1, 1, 1), 3)).toThrow(TypeError);
    } finally {
      b.closeFd(fd);
    }
  });
});

describe("directSender (lock-step TFTP's send)", () => {
  it("sends one datagram per call on the connected socket, reusing its buffer", async () => {
    const { tx, got } = await pair();
    const d = directSender(tx, 100)!;
    expect(d).not.toBeNull();
    for (const n of [1, 2]) {
      d.pkt.fill(n, 0, 40);
      expect(d.send(40)).toBe(40);
    }
    await until("two datagrams", async () => got.length >= 2, 200, 5);
    expect(got.map((g) => [g.length, g[0]])).toEqual([
      [40, 1],
      [40, 2],
    ]);
    expect(() => d.send(101)).toThrow(TypeError);
  });

  it("leaves a closed peer's port to dgram's error event, as the transfer expects (ECONNREFUSED)", async () => {
    const { tx, rx } = await pair();
    const errors: string[] = [];
    tx.on("error", (e) => errors.push((e as NodeJS.ErrnoException).code ?? ""));
    const d = directSender(tx, 10)!;
    await new Promise<void>((r) => rx.close(() => r()));
    sockets.splice(sockets.indexOf(rx), 1);
    const answers = new Set<number>();
    for (let i = 0; i < 20 && errors.length === 0; i++) {
      answers.add(d.send(10));
      await new Promise((r) => setTimeout(r, 5));
    }
    // The ICMP error is reported once: to the socket's reader, or to a send racing it.
    expect(errors.length > 0 || answers.has(-111)).toBe(true);
    expect([...answers].every((a) => a === 10 || a === -111)).toBe(true);
  });
});
