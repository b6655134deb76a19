// 100,000 random and mutated packets (mutations of the captured golden packets and of
// well-formed requests) through the decoder and both handlers. Nothing may throw except
// DhcpDecodeError, and the lease database must stay consistent, in memory and after replay.
// Seeded, so a failure reproduces; no npm fuzzing library is available here, so the
// generator is a small one of our own.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SnapshotBootDecider } from "../../../appliance/dhcp/boot";
import { parseSnapshot } from "../../../appliance/dhcp/config";
import type { Handle, Incoming } from "../../../appliance/dhcp/handler";
import { inCidr, ipToInt, parseCidr } from "../../../appliance/dhcp/ip";
import { Leases } from "../../../appliance/dhcp/leases";
import { silentLogger } from "../../../appliance/log";
import { DhcpDecodeError, decode, encode, type MessageType } from "../../../appliance/dhcp/packet";
import { ProxyHandler } from "../../../appliance/dhcp/proxy";
import { ReservationHandler } from "../../../appliance/dhcp/reservation";
import { Topology } from "../../../appliance/dhcp/topology";
import { clientPacket } from "./packets";

const TOTAL = 100_000;
const dir = mkdtempSync(join(tmpdir(), "plinth-fuzz-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// mulberry32: tiny, fast, seedable.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const snap = parseSnapshot({
  subnets: [
    { cidr: "10.0.0.0/24", gateway: "10.0.0.1", dynamicRanges: [{ start: "10.0.0.100", end: "10.0.0.163" }] },
    { cidr: "10.9.0.0/24", dynamicRanges: [{ start: "10.9.0.10", end: "10.9.0.20" }] },
  ],
  reservations: [{ mac: "52:54:00:00:00:01", ip: "10.0.0.50" }],
});
const ranges = snap.subnets.flatMap((s) => s.dynamicRanges.map((r) => [ipToInt(r.start), ipToInt(r.end)] as const));
const captured = (JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", "captured.json"), "utf8")) as { hex: string }[]).map((c) =>
  Buffer.from(c.hex, "hex"),
);

describe("fuzz", () => {
  it(`survives ${TOTAL} random and mutated packets with a consistent lease database`, { timeout: 300_000 }, async () => {
    const path = join(dir, "leases.jsonl");
    const { leases } = await Leases.open(path, { compactAfter: 2000 });
    leases.setSubnets(snap.subnets, ["10.0.0.2"]);
    const deps = {
      snapshot: () => snap,
      topology: () => new Topology(snap),
      boot: new SnapshotBootDecider(snap),
      emit: () => {},
      log: silentLogger,
    };
    const handlers: Handle[] = [new ReservationHandler(deps, leases), new ProxyHandler(deps)];
    const r = rng(0x5eed);
    const int = (n: number) => Math.floor(r() * n);
    const macs = Array.from({ length: 300 }, (_, i) => `52:54:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`);
    const types = [1, 3, 4, 7, 8];
    const wellFormed = (): Buffer => {
      // Mostly addresses in or near the ranges, so REQUESTs really bind, move and collide.
      const ip = int(3) ? `10.0.0.${95 + int(75)}` : `10.${int(2) ? 0 : 9}.0.${int(256)}`;
      const hex = clientPacket(
        macs[int(macs.length)]!,
        types[int(types.length)]! as MessageType,
        {
          requestedIp: int(2) ? ip : undefined,
          serverId: int(3) === 0 ? "10.0.0.9" : int(2) ? "10.0.0.2" : undefined,
          clientArch: int(2) ? [int(20)] : undefined,
          vendorClass: int(2) ? "PXEClient:Arch:00000:UNDI:002001" : undefined,
          userClass: int(4) === 0 ? "iPXE" : undefined,
          parameterRequestList: [1, 3, 60, 66, 67],
        },
        { ciaddr: int(3) === 0 ? ip : "0.0.0.0", giaddr: int(5) === 0 ? "10.9.0.1" : "0.0.0.0" },
      );
      return Buffer.from(hex, "hex");
    };
    const mutate = (b: Buffer): Buffer => {
      const c = Buffer.from(b);
      const n = 1 + int(8);
      for (let i = 0; i < n; i++) {
        const k = int(4);
        if (k === 0) c[int(c.length)] = int(256);
        else if (k === 1 && c.length > 240) c[240 + int(c.length - 240)] = [0, 255, 53, 52, 55, 93][int(6)]!;
        else if (k === 2) return c.subarray(0, int(c.length + 1));
        else {
          const at = int(c.length);
          c[at] = c[at]! ^ (1 << int(8));
        }
      }
      return c;
    };
    const packet = (): Buffer => {
      const k = int(10);
      if (k < 4) return wellFormed();
      if (k < 7) return mutate(wellFormed());
      if (k < 9) return mutate(captured[int(captured.length)]!);
      return Buffer.from(Array.from({ length: int(600) }, () => int(256)));
    };

    const iface = { name: "eth0", addresses: ["10.0.0.2"] };
    let decoded = 0;
    let pending: Promise<unknown>[] = [];
    for (let i = 0; i < TOTAL; i++) {
      const buf = packet();
      let p: ReturnType<typeof decode>;
      try {
        p = decode(buf);
      } catch (e) {
        if (!(e instanceof DhcpDecodeError)) throw e;
        continue;
      }
      decoded++;
      const req: Incoming = { packet: p, from: { address: "10.0.0.77", port: 68 }, iface, port: int(4) === 0 ? 4011 : 67 };
      for (const h of handlers) {
        const out = await Promise.resolve(h.handle(req)).catch((e: unknown) => {
          throw new Error(`handler threw on packet ${buf.toString("hex")}: ${String(e)}`);
        });
        if (out) pending.push(Promise.resolve(encode(out.packet)));
      }
      if (pending.length > 1000) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
    expect(decoded).toBeGreaterThan(TOTAL / 3);

    const check = (l: Leases) => {
      const byKey = new Map<string, string>();
      for (const [ip, lease] of l.activeLeases()) {
        const n = ipToInt(ip);
        const allowed = ranges.some(([a, b]) => n >= a && n <= b) || ip === "10.0.0.50";
        expect(allowed, `${ip} outside every range`).toBe(true);
        expect(inCidr(parseCidr("10.0.0.0/8"), n)).toBe(true);
        if (lease.state === "bound") {
          const other = byKey.get(`${lease.key}@${ip.split(".").slice(0, 3).join(".")}`);
          expect(other, `${lease.key} holds two addresses in one subnet`).toBeUndefined();
          byKey.set(`${lease.key}@${ip.split(".").slice(0, 3).join(".")}`, ip);
        }
      }
    };
    check(leases);
    const durable = (l: Leases) =>
      [...l.activeLeases()]
        .filter(([, x]) => x.state !== "offered")
        .map(([ip, x]) => `${ip} ${x.state} ${x.key}`)
        .sort();
    const bound = durable(leases);
    expect(bound.length).toBeGreaterThan(10);
    expect(readFileSync(path, "utf8").length).toBeGreaterThan(0);
    await leases.close();
    const { leases: replayed } = await Leases.open(path);
    replayed.setSubnets(snap.subnets, ["10.0.0.2"]);
    check(replayed);
    expect(durable(replayed)).toEqual(bound);
    await replayed.close();
  });
});
