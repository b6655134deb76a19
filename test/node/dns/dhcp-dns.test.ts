// DHCP hands machines the rack's own address as their resolver when their subnet lists none,
// and the subnet's own servers when it does (appliance/services.ts dhcpSnapshot → reply).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SnapshotBootDecider } from "../../../appliance/dhcp/boot";
import type { DhcpSnapshot } from "../../../appliance/dhcp/config";
import { Leases } from "../../../appliance/dhcp/leases";
import { type DhcpPacket, emptyOptions, MessageType } from "../../../appliance/dhcp/packet";
import { ReservationHandler } from "../../../appliance/dhcp/reservation";
import { Topology } from "../../../appliance/dhcp/topology";
import { silentLogger } from "../../../appliance/log";
import { dhcpSnapshot } from "../../../appliance/services";
import type { ConfigSnapshot } from "../../../shared/tunnel/config";

const snap: ConfigSnapshot = {
  version: "v1",
  site: "default",
  subnets: [
    { id: 1, cidr: "10.0.0.0/24", gateway: "10.0.0.1", dns: [], managed: true, ranges: [{ type: "dynamic", start: "10.0.0.100", end: "10.0.0.199" }] },
    {
      id: 2,
      cidr: "10.9.0.0/24",
      gateway: "10.9.0.1",
      dns: ["10.9.0.53"],
      managed: true,
      ranges: [{ type: "dynamic", start: "10.9.0.100", end: "10.9.0.109" }],
    },
  ],
  reservations: [],
  bootIntents: [],
  images: [],
  dns: { zones: [], upstream: [] },
};

async function offerOn(d: DhcpSnapshot, giaddr: string): Promise<string[] | undefined> {
  const dir = mkdtempSync(join(tmpdir(), "plinth-dhcp-dns-"));
  const { leases } = await Leases.open(join(dir, "leases.jsonl"));
  try {
    leases.setSubnets(d.subnets, ["10.0.0.2"]);
    const h = new ReservationHandler(
      { snapshot: () => d, topology: () => new Topology(d), boot: new SnapshotBootDecider(d), emit: () => {}, log: silentLogger },
      leases,
    );
    const p: DhcpPacket = {
      op: 1,
      htype: 1,
      hlen: 6,
      hops: 1,
      xid: 42,
      secs: 0,
      flags: 0,
      ciaddr: "0.0.0.0",
      yiaddr: "0.0.0.0",
      siaddr: "0.0.0.0",
      giaddr,
      chaddr: Buffer.concat([Buffer.from("525400001001", "hex"), Buffer.alloc(10)]),
      sname: "",
      file: "",
      options: { ...emptyOptions(), messageType: MessageType.Discover },
    };
    const out = await h.handle({ packet: p, from: { address: giaddr, port: 67 }, iface: { name: "eth1", addresses: ["10.0.0.2"] }, port: 67 });
    expect(out?.packet.options.messageType).toBe(MessageType.Offer);
    return out?.packet.options.dnsServers;
  } finally {
    await leases.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("DHCP's DNS servers", () => {
  it("the rack's address where the subnet has none; the subnet's own where it has some", async () => {
    const d = dhcpSnapshot(snap, 5248, "10.0.0.2");
    expect(d.subnets.map((s) => s.dns)).toEqual([["10.0.0.2"], ["10.9.0.53"]]);
    expect(await offerOn(d, "10.0.0.1")).toEqual(["10.0.0.2"]);
    expect(await offerOn(d, "10.9.0.1")).toEqual(["10.9.0.53"]);
  });

  it("without the rack's DNS server (--dns-port 0) a subnet without servers hands out none", async () => {
    const d = dhcpSnapshot(snap, 5248);
    expect(d.subnets[0]!.dns).toEqual([]);
    expect(await offerOn(d, "10.0.0.1")).toBeUndefined();
  });
});
