// Neighbour discovery on the rack: the kernel's real neighbour table, filled by pings between
// two network namespaces of this test (nothing leaves them), read by the collector; only
// changes are reported, bounded while the region is away. Runs as root.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NeighbourReporter, parseNeighbours, readNeighbours, type Neighbour } from "../../../appliance/discovery/neighbours";
import { EventPayloads, type EventInput } from "../../../shared/tunnel/events";
import { createNetns, ip, type Netns, vethPair } from "../rig/netns";

let rack: Netns;
let hosts: Netns;
let rackIf = "";
const macs: Record<string, string> = {};

beforeAll(() => {
  rack = createNetns("nbr");
  hosts = createNetns("nbh");
  const { serverIf, clientIf } = vethPair(rack, hosts, "10.77.0.1/24", "10.77.0.10/24");
  rackIf = serverIf;
  // A second address on the host side: one MAC, two neighbours.
  ip("-n", hosts.name, "addr", "add", "10.77.0.11/24", "dev", clientIf);
  macs.host = JSON.parse(ip("-n", hosts.name, "-j", "link", "show", "dev", clientIf))[0].address;
  // No ping on every host: a UDP datagram from inside the rack's namespace makes its kernel
  // resolve the address (ARP), and the host namespace answers. The port need not listen.
  const poke = `const s=require("node:dgram").createSocket("udp4");let n=0;for(const to of ["10.77.0.10","10.77.0.11"])s.send("x",9,to,()=>{if(++n===2)setTimeout(()=>s.close(),300)});`;
  rack.exec(process.execPath, ["-e", poke]);
});

afterAll(() => {
  rack?.destroy();
  hosts?.destroy();
});

function collector(o: { online?: () => boolean; now?: () => number; read?: () => Promise<Neighbour[]> } = {}) {
  const sent: EventInput[] = [];
  const r = new NeighbourReporter({
    iface: rackIf,
    read: o.read ?? (() => readNeighbours(rackIf, { netns: rack.name })),
    emit: async (e) => {
      // What the journal would refuse, the test refuses too.
      EventPayloads[e.type].parse(e.data);
      sent.push(e);
    },
    ...(o.online ? { online: o.online } : {}),
    ...(o.now ? { now: o.now } : {}),
  });
  return { r, sent, pairs: () => sent.flatMap((e) => (e.type === "net.neighbours" ? e.data.neighbours.map((n) => `${n.ip} ${n.mac}`) : [])) };
}

describe("neighbour discovery", () => {
  it("reads the kernel's neighbour table of the served interface", async () => {
    const t0 = performance.now();
    const table = await readNeighbours(rackIf, { netns: rack.name });
    const ms = performance.now() - t0;
    expect(table).toEqual(
      expect.arrayContaining([
        { ip: "10.77.0.10", mac: macs.host },
        { ip: "10.77.0.11", mac: macs.host },
      ]),
    );
    console.log(`neighbour table of ${rackIf}: ${table.length} entries read in ${ms.toFixed(1)} ms`);
  });

  it("reports each pair once, then again only after the refresh period", async () => {
    let now = 1_000_000;
    const { r, sent, pairs } = collector({ now: () => now });
    await r.scan();
    expect(pairs().sort()).toEqual([`10.77.0.10 ${macs.host}`, `10.77.0.11 ${macs.host}`]);
    expect(sent).toHaveLength(1);
    now += 60_000;
    await r.scan();
    expect(sent).toHaveLength(1);
    now += 6 * 3600_000;
    await r.scan();
    expect(sent).toHaveLength(2);
  });

  it("reports a pair the DHCP server already told the region about only when the refresh is due", async () => {
    const { r, pairs } = collector();
    r.note({ ip: "10.77.0.10", mac: macs.host! });
    await r.scan();
    expect(pairs()).toEqual([`10.77.0.11 ${macs.host}`]);
  });

  it("reports an address that changed hands", async () => {
    let table: Neighbour[] = [{ ip: "10.77.0.50", mac: "52:54:00:00:00:01" }];
    const { r, pairs } = collector({ read: async () => table });
    await r.scan();
    table = [{ ip: "10.77.0.50", mac: "52:54:00:00:00:02" }];
    await r.scan();
    expect(pairs()).toEqual(["10.77.0.50 52:54:00:00:00:01", "10.77.0.50 52:54:00:00:00:02"]);
  });

  it("holds changes while the region is away, bounded, and sends them in bounded events when it is back", async () => {
    let online = false;
    const many = Array.from({ length: 3000 }, (_, i) => ({
      ip: `10.78.${i >> 8}.${i & 255}`,
      mac: `52:54:00:00:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`,
    }));
    const { r, sent, pairs } = collector({ online: () => online, read: async () => many });
    await r.scan();
    expect(sent).toHaveLength(0);
    expect(r.waiting).toBe(1024);
    expect(r.dropped).toBe(3000 - 1024);
    online = true;
    await r.scan();
    expect(sent).toHaveLength(4);
    expect(sent.every((e) => e.type === "net.neighbours" && e.data.neighbours.length === 256)).toBe(true);
    expect(new Set(pairs()).size).toBe(1024);
    expect(r.waiting).toBe(0);
    // What was dropped is still in the table: the next scan reports it, as changes always are.
    await r.scan();
    expect(new Set(pairs()).size).toBe(2048);
  });

  it("skips entries without a live link-layer address", () => {
    const out = parseNeighbours(
      JSON.stringify([
        { dst: "10.0.0.5", lladdr: "52:54:00:AA:BB:CC", state: ["REACHABLE"] },
        { dst: "10.0.0.6", state: ["FAILED"] },
        { dst: "10.0.0.7", lladdr: "52:54:00:aa:bb:cd", state: ["INCOMPLETE"] },
        { dst: "fe80::1", lladdr: "52:54:00:aa:bb:ce", state: ["STALE"] },
        { dst: "10.0.0.8", lladdr: "ff:ff:ff:ff:ff:ff", state: ["PERMANENT"] },
        { dst: "10.0.0.9; rm -rf /", lladdr: "52:54:00:aa:bb:cf" },
        "junk",
      ]),
    );
    expect(out).toEqual([{ ip: "10.0.0.5", mac: "52:54:00:aa:bb:cc" }]);
    expect(parseNeighbours("not json")).toEqual([]);
  });
});
