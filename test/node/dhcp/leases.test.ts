// Allocation and the lease journal, in-process: the free-address bitmap, affinity, replay
// after a crash (including a torn last write), and compaction.
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseSnapshot } from "../../../appliance/dhcp/config";
import { intToIp, parseCidr } from "../../../appliance/dhcp/ip";
import { Leases } from "../../../appliance/dhcp/leases";
import { FreeBitmap } from "../../../appliance/dhcp/pool";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "plinth-leases-"));
  dirs.push(d);
  return join(d, "leases.jsonl");
}

const snap = parseSnapshot({
  subnets: [
    {
      cidr: "10.0.0.0/24",
      gateway: "10.0.0.1",
      dynamicRanges: [{ start: "10.0.0.10", end: "10.0.0.19" }],
      reservedRanges: [{ start: "10.0.0.12", end: "10.0.0.13" }],
    },
  ],
});
const net = parseCidr("10.0.0.0/24");

async function open(path: string, now = () => Date.now()) {
  const { leases } = await Leases.open(path, { now });
  leases.setSubnets(snap.subnets, ["10.0.0.15"]);
  return leases;
}

describe("FreeBitmap", () => {
  it("hands out every index once, wrapping, and -1 when full", () => {
    const b = new FreeBitmap(70_000);
    for (let i = 0; i < b.size; i++) b.add(i);
    const seen = new Set<number>();
    for (let i = 0; i < b.size; i++) seen.add(b.take());
    expect(seen.size).toBe(70_000);
    expect(b.take()).toBe(-1);
    b.add(5);
    b.add(69_999);
    expect([b.take(), b.take()].sort((x, y) => x - y)).toEqual([5, 69_999]);
  });

  it("continues after the last address taken, so a released one is reused last", () => {
    const b = new FreeBitmap(100);
    for (let i = 0; i < 100; i++) b.add(i);
    expect([b.take(), b.take(), b.take()]).toEqual([0, 1, 2]);
    b.add(0);
    expect(b.take()).toBe(3);
  });

  it("finds a lone free address across summary words", () => {
    const b = new FreeBitmap(1 << 16);
    b.add(40_000);
    expect(b.take()).toBe(40_000);
    expect(b.free).toBe(0);
  });
});

describe("Leases", () => {
  it("offers the free addresses of the range, skipping reserved, excluded and the gateway", async () => {
    const l = await open(tmp());
    const got: string[] = [];
    for (let i = 0; i < 20; i++) {
      const ip = l.offer(`c${i}`, `m${i}`, net, undefined, 60);
      if (ip !== null) got.push(intToIp(ip));
    }
    expect(got).toEqual(["10.0.0.10", "10.0.0.11", "10.0.0.14", "10.0.0.16", "10.0.0.17", "10.0.0.18", "10.0.0.19"]);
    await l.close();
  });

  it("gives a client the same offer again, its requested address when free, and its old address back", async () => {
    const l = await open(tmp());
    expect(l.offer("a", "ma", net, undefined, 60)).toBe(l.offer("a", "ma", net, undefined, 60));
    expect(intToIp(l.offer("b", "mb", net, "10.0.0.18", 60)!)).toBe("10.0.0.18");
    await l.bind("b", "mb", "10.0.0.18", 3600);
    await l.release("b", "10.0.0.18");
    l.offer("c", "mc", net, undefined, 60);
    expect(intToIp(l.offer("b", "mb", net, undefined, 60)!)).toBe("10.0.0.18");
    await l.close();
  });

  it("refuses an address bound to someone else and addresses outside the ranges", async () => {
    const l = await open(tmp());
    await l.bind("a", "ma", "10.0.0.10", 3600);
    expect(l.check("b", "10.0.0.10", false)).toBe("taken");
    expect(l.check("a", "10.0.0.10", false)).toBe("ok");
    expect(l.check("b", "10.0.0.12", false)).toBe("not-allocatable");
    expect(l.check("b", "10.0.0.50", false)).toBe("not-allocatable");
    expect(l.check("b", "10.0.0.50", true)).toBe("ok");
    await l.close();
  });

  it("moves a reserved address to another client key of the same MAC, never to another MAC", async () => {
    const path = tmp();
    const l = await open(path);
    // The deploy environment (a client id) holds the machine's reserved address...
    await l.bind("id:01aa", "aa", "10.0.0.50", 3600);
    // ...then the deployed system asks for it without one: same MAC, so it is its address.
    expect(l.check("hw:aa", "10.0.0.50", true, "aa")).toBe("ok");
    expect(l.check("hw:bb", "10.0.0.50", true, "bb")).toBe("taken");
    expect(l.check("hw:aa", "10.0.0.50", false, "aa")).toBe("taken");
    await l.bind("hw:aa", "aa", "10.0.0.50", 3600);
    // The old key's later bind elsewhere does not free the address it lost.
    await l.bind("id:01aa", "aa", "10.0.0.14", 3600);
    expect(l.check("hw:bb", "10.0.0.50", false)).toBe("taken");
    await l.close();
    const again = await open(path);
    expect(again.check("hw:bb", "10.0.0.50", false)).toBe("taken");
    expect(again.check("hw:aa", "10.0.0.50", true, "aa")).toBe("ok");
    await again.close();
  });

  it("replays binds, releases and declines after a restart, ignoring a torn last line", async () => {
    const path = tmp();
    const l = await open(path);
    await l.bind("a", "ma", "10.0.0.10", 3600);
    await l.bind("b", "mb", "10.0.0.11", 3600);
    await l.release("b", "10.0.0.11");
    l.offer("c", "mc", net, undefined, 60);
    await l.bind("c", "mc", "10.0.0.14", 3600);
    await l.decline("c", "10.0.0.14", 3600);
    await l.close();
    appendFileSync(path, '{"op":"bind","ip":"10.0.0.16","ke');
    const r = await open(path);
    expect([...r.activeLeases().entries()].map(([ip, x]) => [ip, x.state, x.key])).toEqual([
      ["10.0.0.10", "bound", "a"],
      ["10.0.0.14", "declined", ""],
    ]);
    // 10.0.0.16 was never durably bound: free again; 10.0.0.14 stays out while declined.
    const next: string[] = [];
    for (let i = 0; i < 6; i++) {
      const ip = r.offer(`n${i}`, "m", net, undefined, 60);
      if (ip !== null) next.push(intToIp(ip));
    }
    expect(next.sort()).toEqual(["10.0.0.11", "10.0.0.16", "10.0.0.17", "10.0.0.18", "10.0.0.19"]);
    await r.close();
  });

  it("moving a client to another address frees the old one, also after replay", async () => {
    const path = tmp();
    const l = await open(path);
    await l.bind("a", "ma", "10.0.0.10", 3600);
    await l.bind("a", "ma", "10.0.0.11", 3600);
    await l.close();
    const r = await open(path);
    expect([...r.activeLeases().keys()]).toEqual(["10.0.0.11"]);
    await r.close();
  });

  it("expires leases by time and returns them to the pool", async () => {
    let now = 1_000_000;
    const l = await open(tmp(), () => now);
    await l.bind("a", "ma", "10.0.0.10", 60);
    expect(l.check("b", "10.0.0.10", false)).toBe("taken");
    now += 61_000;
    expect(l.check("b", "10.0.0.10", false)).toBe("ok");
    const before = l.freeCount();
    l.sweep(true);
    expect(l.freeCount()).toBe(before + 1);
    await l.close();
  });

  it("compacts the journal to the live leases and keeps them across a restart", async () => {
    const path = tmp();
    const l = await open(path);
    for (let i = 0; i < 50; i++) {
      await l.bind("a", "ma", "10.0.0.10", 3600);
      await l.bind("b", "mb", "10.0.0.11", 3600);
      await l.release("b", "10.0.0.11");
    }
    await l.compact();
    expect(readFileSync(path, "utf8").trim().split("\n")).toHaveLength(1);
    await l.bind("c", "mc", "10.0.0.14", 3600);
    await l.close();
    const r = await open(path);
    expect([...r.activeLeases().keys()].sort()).toEqual(["10.0.0.10", "10.0.0.14"]);
    await r.close();
  });

  it("does not spin when the pool is full", async () => {
    const l = await open(tmp());
    for (let i = 0; i < 7; i++) expect(l.offer(`c${i}`, "m", net, undefined, 60)).not.toBeNull();
    expect(l.offer("late", "m", net, undefined, 60)).toBeNull();
    await l.close();
  });
});
