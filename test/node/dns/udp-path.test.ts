// Which UDP path the server takes: with the native helper built, a worker thread reading and
// writing its own socket in batches (appliance/dns/udp-worker.ts); without it (or when told),
// node:dgram in the main thread. Both answer the same, count into the same counters, serve a
// load from when it resolves, and give the port back on close. Also: IPv6, a burst answered
// whole, and a port already taken is an error as with dgram.
import { createSocket } from "node:dgram";
import dnsPacket from "dns-packet";
import { afterEach, describe, expect, it } from "vitest";
import { DnsServer } from "../../../appliance/dns/server";
import { gsoBinding } from "../../../appliance/native/udp-gso";
import { siteDns } from "./fixture";

/** dns-packet's decoded message; its typings leave out the rcode it sets. */
type Answer = dnsPacket.Packet & { rcode?: string };

const servers: DnsServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(address: string, nativeUdp?: boolean, port = 0): Promise<DnsServer> {
  const s = await DnsServer.start({ listen: [{ address, port }], log: () => {}, ...(nativeUdp === undefined ? {} : { nativeUdp }) });
  servers.push(s);
  return s;
}

/** Sends every query at once from one socket; the answers by ID. */
async function burst(address: string, port: number, names: string[]): Promise<Map<number, Answer>> {
  const c = createSocket(address.includes(":") ? "udp6" : "udp4");
  const got = new Map<number, Answer>();
  await new Promise<void>((r) => c.bind(0, address, () => r()));
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 3000);
    c.on("message", (m) => {
      const d = dnsPacket.decode(m);
      got.set(d.id ?? -1, d);
      if (got.size === names.length) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  for (const [id, name] of names.entries()) c.send(dnsPacket.encode({ type: "query", id, questions: [{ name, type: "A" }] }), port, address);
  await done;
  c.close();
  return got;
}

describe("the DNS server's UDP path", () => {
  it("is native (a worker on a batched socket) when the helper is built", async () => {
    expect(gsoBinding(), "appliance/native/build/udp_gso.node missing: run node scripts/build-native.mjs").not.toBeNull();
    const s = await start("127.0.0.1");
    expect(s.udpPaths).toEqual(["native"]);
    await s.load(siteDns(), []);
    const port = s.addresses[0]!.port;
    const names = Array.from({ length: 200 }, (_, i) => (i % 10 === 9 ? `nope-${i}.maas` : `node-${i % 20}.maas`));
    const got = await burst("127.0.0.1", port, names);
    expect(got.size).toBe(200);
    expect(got.get(1)?.answers?.[0]).toMatchObject({ name: "node-1.maas", type: "A", data: "10.77.0.3" });
    expect(got.get(9)?.rcode).toBe("NXDOMAIN");
    // The worker's counters, as of its last batch (published before its answers are sent).
    expect(s.counters).toMatchObject({ queries: 200, nxdomain: 20 });
    expect(s.counters.cacheHits).toBeGreaterThanOrEqual(150);
  });

  it("serves a new load from when the promise resolves", async () => {
    const s = await start("127.0.0.1");
    const port = s.addresses[0]!.port;
    expect((await burst("127.0.0.1", port, ["node-1.maas"])).get(0)?.rcode).toBe("REFUSED");
    await s.load(siteDns(), []);
    expect((await burst("127.0.0.1", port, ["node-1.maas"])).get(0)?.rcode).toBe("NOERROR");
    const dns = siteDns();
    dns.zones = dns.zones.filter((z) => z.name !== "maas");
    await s.load(dns, []);
    expect((await burst("127.0.0.1", port, ["node-1.maas"])).get(0)?.rcode).toBe("REFUSED");
  });

  it("serves IPv6 natively", async () => {
    const s = await start("::1");
    expect(s.udpPaths).toEqual(["native"]);
    await s.load(siteDns(), []);
    expect(s.addresses[0]!.address).toBe("::1");
    const got = await burst("::1", s.addresses[0]!.port, ["node-2.maas"]);
    expect(got.get(0)?.answers?.[0]).toMatchObject({ name: "node-2.maas", data: "10.77.0.4" });
  });

  it("falls back to node:dgram when told (as without the helper), answering the same", async () => {
    const s = await start("127.0.0.1", false);
    expect(s.udpPaths).toEqual(["dgram"]);
    await s.load(siteDns(), []);
    const got = await burst("127.0.0.1", s.addresses[0]!.port, ["node-1.maas", "nope.maas"]);
    expect(got.get(0)?.answers?.[0]).toMatchObject({ name: "node-1.maas", data: "10.77.0.3" });
    expect(got.get(1)?.rcode).toBe("NXDOMAIN");
    expect(s.counters).toMatchObject({ queries: 2, nxdomain: 1 });
  });

  it("a taken port is EADDRINUSE, and close gives the port back", async () => {
    const s = await start("127.0.0.1");
    const port = s.addresses[0]!.port;
    await expect(start("127.0.0.1", undefined, port)).rejects.toMatchObject({ code: "EADDRINUSE" });
    await s.close();
    servers.splice(servers.indexOf(s), 1);
    const again = await start("127.0.0.1", undefined, port);
    expect(again.udpPaths).toEqual(["native"]);
  });
});
