// The two Handle implementations in-process: boot file by firmware, RFC 2131 answers (NAK a
// wrong address or subnet, silence for another server), relay addressing, proxyDHCP.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnapshotBootDecider } from "../../../appliance/dhcp/boot";
import { type DhcpSnapshot, parseSnapshot } from "../../../appliance/dhcp/config";
import type { DhcpEvent, Handle, Incoming, Outgoing } from "../../../appliance/dhcp/handler";
import { Leases } from "../../../appliance/dhcp/leases";
import { silentLogger } from "../../../appliance/log";
import { type DhcpOptions, type DhcpPacket, emptyOptions, MessageType } from "../../../appliance/dhcp/packet";
import { ProxyHandler } from "../../../appliance/dhcp/proxy";
import { ReservationHandler } from "../../../appliance/dhcp/reservation";
import { Topology } from "../../../appliance/dhcp/topology";

const KNOWN = "52:54:00:00:00:01";
const snap = parseSnapshot({
  subnets: [
    {
      cidr: "10.0.0.0/24",
      gateway: "10.0.0.1",
      dns: ["10.0.0.53"],
      domain: "maas",
      dynamicRanges: [{ start: "10.0.0.100", end: "10.0.0.199" }],
    },
    { cidr: "10.9.0.0/24", gateway: "10.9.0.1", dynamicRanges: [{ start: "10.9.0.100", end: "10.9.0.109" }] },
  ],
  reservations: [{ mac: KNOWN, ip: "10.0.0.50", hostname: "node-1" }],
  bootIntents: [{ mac: "52:54:00:00:00:02", intent: "commission" }],
});
const iface = { name: "eth1", addresses: ["10.0.0.2"] };

let dir: string;
let leases: Leases;
const events: DhcpEvent[] = [];
function deps(s: DhcpSnapshot) {
  return {
    snapshot: () => s,
    topology: () => new Topology(s),
    boot: new SnapshotBootDecider(s),
    emit: (e: DhcpEvent) => events.push(e),
    log: silentLogger,
  };
}
let reservation: Handle;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "plinth-handler-"));
  ({ leases } = await Leases.open(join(dir, "leases.jsonl")));
  leases.setSubnets(snap.subnets, ["10.0.0.2"]);
  reservation = new ReservationHandler(deps(snap), leases);
});
afterAll(async () => {
  await leases.close();
  rmSync(dir, { recursive: true, force: true });
});

let xid = 1;
function pkt(mac: string, type: MessageType, opts: Partial<DhcpOptions> = {}, over: Partial<DhcpPacket> = {}) {
  const options = { ...emptyOptions(), ...opts, messageType: type };
  const p: DhcpPacket = {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: xid++,
    secs: 0,
    flags: 0,
    ciaddr: "0.0.0.0",
    yiaddr: "0.0.0.0",
    siaddr: "0.0.0.0",
    giaddr: "0.0.0.0",
    chaddr: Buffer.concat([Buffer.from(mac.replace(/:/g, ""), "hex"), Buffer.alloc(10)]),
    sname: "",
    file: "",
    options,
    ...over,
  };
  return p;
}
function incoming(packet: DhcpPacket, port = 67, from = { address: "0.0.0.0", port: 68 }): Incoming {
  return { packet, from, iface, port };
}
async function ask(h: Handle, p: DhcpPacket, port = 67): Promise<Outgoing | null> {
  return await h.handle(incoming(p, port));
}
async function dora(mac: string, opts: Partial<DhcpOptions> = {}, over: Partial<DhcpPacket> = {}) {
  const offer = (await ask(reservation, pkt(mac, MessageType.Discover, opts, over)))!;
  const ack = (await ask(reservation, pkt(mac, MessageType.Request, { ...opts, serverId: "10.0.0.2", requestedIp: offer.packet.yiaddr }, over)))!;
  return { offer, ack };
}

describe("reservation mode", () => {
  it("leases from the dynamic range with the subnet's options, broadcast to the client", async () => {
    const { offer, ack } = await dora("52:54:00:00:10:01");
    expect(offer.packet.options.messageType).toBe(MessageType.Offer);
    expect(ack.packet.options.messageType).toBe(MessageType.Ack);
    expect(ack.packet.yiaddr).toBe(offer.packet.yiaddr);
    expect(ack.packet.yiaddr).toMatch(/^10\.0\.0\.1\d\d$/);
    expect(ack.packet.options).toMatchObject({
      serverId: "10.0.0.2",
      subnetMask: "255.255.255.0",
      routers: ["10.0.0.1"],
      dnsServers: ["10.0.0.53"],
      domainName: "maas",
      leaseTime: 3600,
      renewalTime: 1800,
      rebindingTime: 3150,
    });
    expect(ack.to).toEqual({ address: "255.255.255.255", port: 68 });
    // A plain client (no PXE identity) gets no boot information.
    expect(ack.packet.options.bootfileName).toBeUndefined();
  });

  it("gives a known MAC its reservation and hostname, and emits no discover event", async () => {
    events.length = 0;
    const { ack } = await dora(KNOWN);
    expect(ack.packet.yiaddr).toBe("10.0.0.50");
    expect(ack.packet.options.hostname).toBe("node-1");
    expect(events.filter((e) => e.type === "dhcp.discover")).toEqual([]);
  });

  it("emits dhcp.discover for an unknown MAC once, not for every retry", async () => {
    events.length = 0;
    await ask(reservation, pkt("52:54:00:00:10:02", MessageType.Discover, { clientArch: [0] }));
    await ask(reservation, pkt("52:54:00:00:10:02", MessageType.Discover, { clientArch: [0] }));
    const discovers = events.filter((e) => e.type === "dhcp.discover");
    expect(discovers).toHaveLength(1);
    expect(discovers[0]).toMatchObject({ mac: "52:54:00:00:10:02", interface: "eth1", subnet: "10.0.0.0/24", arch: 0 });
  });

  it("chooses the boot file by option 93 and user class", async () => {
    const boot = async (opts: Partial<DhcpOptions>) => (await dora("52:54:00:00:20:01", opts)).ack.packet;
    const bios = await boot({ clientArch: [0], vendorClass: "PXEClient:Arch:00000:UNDI:002001" });
    expect([bios.file, bios.siaddr, bios.options.bootfileName, bios.options.tftpServer]).toEqual(["undionly.kpxe", "10.0.0.2", "undionly.kpxe", "10.0.0.2"]);
    expect(bios.options.vendorClass).toBe("PXEClient");
    expect(bios.options.ipxe).toBeUndefined();
    expect((await boot({ clientArch: [7] })).options.bootfileName).toBe("ipxe.efi");
    expect((await boot({ clientArch: [9] })).options.bootfileName).toBe("ipxe.efi");
    // No option 93, arch from the PXE vendor class.
    expect((await boot({ vendorClass: "PXEClient:Arch:00007:UNDI:003016" })).options.bootfileName).toBe("ipxe.efi");
    const http = await boot({ clientArch: [16], vendorClass: "HTTPClient:Arch:00016:UNDI:003001" });
    expect(http.options.bootfileName).toBe("http://10.0.0.2:5248/ipxe.efi");
    expect(http.options.vendorClass).toBe("HTTPClient");
    const ipxe = await boot({ clientArch: [7], userClass: "iPXE" });
    expect(ipxe.options.bootfileName).toBe("http://10.0.0.2:5248/boot.ipxe");
    expect(ipxe.options.ipxe).toEqual(Buffer.from([176, 1, 1]));
    const uuid = Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 9)]);
    expect((await boot({ clientArch: [0], clientMachineId: uuid })).options.clientMachineId).toEqual(uuid);
    expect((await boot({ clientArch: [11] })).options.bootfileName).toBeUndefined();
  });

  it("uses snponly.efi and a configured appliance address when the snapshot says so", async () => {
    const s = parseSnapshot({ ...snap, boot: { efiFile: "snponly.efi", applianceAddress: "10.0.0.3" } });
    const h = new ReservationHandler(deps(s), leases);
    const offer = (await h.handle(incoming(pkt("52:54:00:00:20:02", MessageType.Discover, { clientArch: [7] }))))!;
    expect([offer.packet.options.bootfileName, offer.packet.siaddr]).toEqual(["snponly.efi", "10.0.0.3"]);
  });

  it("stays silent to a REQUEST for another server and releases the offer", async () => {
    const mac = "52:54:00:00:30:01";
    const offer = (await ask(reservation, pkt(mac, MessageType.Discover)))!;
    const r = await ask(reservation, pkt(mac, MessageType.Request, { serverId: "10.0.0.99", requestedIp: offer.packet.yiaddr }));
    expect(r).toBeNull();
    expect(leases.lookup(offer.packet.yiaddr)).toBeUndefined();
  });

  it("NAKs a REQUEST for another subnet, a taken address, or an address outside the ranges", async () => {
    const { ack } = await dora("52:54:00:00:40:01");
    const taken = ack.packet.yiaddr;
    const nak = async (requestedIp: string) => (await ask(reservation, pkt("52:54:00:00:40:02", MessageType.Request, { requestedIp })))!.packet;
    for (const ip of ["192.168.1.5", taken, "10.0.0.20", "10.0.0.50"]) {
      const p = await nak(ip);
      expect(p.options.messageType, ip).toBe(MessageType.Nak);
      expect(p.yiaddr).toBe("0.0.0.0");
    }
  });

  it("renews by ciaddr (unicast) and answers to the client's address", async () => {
    const mac = "52:54:00:00:50:01";
    const { ack } = await dora(mac);
    const ip = ack.packet.yiaddr;
    const renew = (await ask(reservation, pkt(mac, MessageType.Request, {}, { ciaddr: ip })))!;
    expect(renew.packet.options.messageType).toBe(MessageType.Ack);
    expect(renew.packet.yiaddr).toBe(ip);
    expect(renew.to).toEqual({ address: ip, port: 68 });
  });

  it("rebinds (broadcast, ciaddr, no server id) and ACKs INIT-REBOOT for the client's own address", async () => {
    const mac = "52:54:00:00:50:02";
    const ip = (await dora(mac)).ack.packet.yiaddr;
    const rebind = (await ask(reservation, pkt(mac, MessageType.Request, {}, { ciaddr: ip, flags: 0x8000 })))!;
    expect([rebind.packet.options.messageType, rebind.packet.yiaddr]).toEqual([MessageType.Ack, ip]);
    const reboot = (await ask(reservation, pkt(mac, MessageType.Request, { requestedIp: ip })))!;
    expect([reboot.packet.options.messageType, reboot.packet.yiaddr]).toEqual([MessageType.Ack, ip]);
  });

  it("frees on RELEASE and holds a declined address out of the pool", async () => {
    const a = await dora("52:54:00:00:60:01");
    await ask(reservation, pkt("52:54:00:00:60:01", MessageType.Release, { serverId: "10.0.0.2" }, { ciaddr: a.ack.packet.yiaddr }));
    expect(leases.lookup(a.ack.packet.yiaddr)).toBeUndefined();
    const b = await dora("52:54:00:00:60:02");
    const declined = b.ack.packet.yiaddr;
    await ask(reservation, pkt("52:54:00:00:60:02", MessageType.Decline, { serverId: "10.0.0.2", requestedIp: declined }));
    expect(leases.lookup(declined)?.state).toBe("declined");
    const again = await dora("52:54:00:00:60:02");
    expect(again.ack.packet.yiaddr).not.toBe(declined);
  });

  it("answers INFORM with configuration but no lease, straight to ciaddr", async () => {
    const r = (await ask(reservation, pkt("52:54:00:00:70:01", MessageType.Inform, {}, { ciaddr: "10.0.0.7" })))!;
    expect(r.packet.options.messageType).toBe(MessageType.Ack);
    expect(r.packet.yiaddr).toBe("0.0.0.0");
    expect(r.packet.options.leaseTime).toBeUndefined();
    expect(r.packet.options.routers).toEqual(["10.0.0.1"]);
    expect(r.to).toEqual({ address: "10.0.0.7", port: 68 });
  });

  it("picks the subnet from giaddr, answers to the relay on 67 and echoes option 82", async () => {
    const relay = { giaddr: "10.9.0.1", hops: 1 };
    const info = Buffer.from("0104cafebabe", "hex");
    const offer = (await ask(reservation, pkt("52:54:00:00:80:01", MessageType.Discover, { relayAgentInfo: info }, relay)))!;
    expect(offer.packet.yiaddr).toMatch(/^10\.9\.0\.10\d$/);
    expect(offer.to).toEqual({ address: "10.9.0.1", port: 67 });
    expect(offer.packet.giaddr).toBe("10.9.0.1");
    expect(offer.packet.options.routers).toEqual(["10.9.0.1"]);
    expect(offer.packet.options.relayAgentInfo).toEqual(info);
    // Relayed from a network we do not serve: silence.
    expect(await ask(reservation, pkt("52:54:00:00:80:02", MessageType.Discover, {}, { giaddr: "172.16.0.1" }))).toBeNull();
  });

  it("drops a request without a hardware address (hlen 0, or an all-zero chaddr), logging why once, with no discover event", async () => {
    events.length = 0;
    const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const h = new ReservationHandler({ ...deps(snap), log: (level, msg, fields) => logs.push({ level, msg, fields }) }, leases);
    const noLength = pkt("52:54:00:00:10:09", MessageType.Discover, {}, { hlen: 0 });
    const allZero = pkt("00:00:00:00:00:00", MessageType.Discover);
    expect(await h.handle(incoming(noLength))).toBeNull();
    expect(await h.handle(incoming(allZero))).toBeNull();
    expect(await h.handle(incoming(pkt("00:00:00:00:00:00", MessageType.Request, { requestedIp: "10.0.0.150" })))).toBeNull();
    expect(events).toEqual([]);
    // Rate-limited: the first drop is logged with its reason, the next ones are counted for later.
    expect(logs).toEqual([
      {
        level: "warn",
        msg: "request without a hardware address dropped",
        fields: expect.objectContaining({ why: "hardware address length (hlen) is 0", hlen: 0, xid: noLength.xid, interface: "eth1", count: 1 }),
      },
    ]);
    expect(await h.handle(incoming(pkt("52:54:00:00:10:09", MessageType.Discover)))).not.toBeNull();
  });

  it("stays silent when the pool is exhausted instead of spinning", async () => {
    const relay = { giaddr: "10.9.0.1" };
    let offers = 0;
    for (let i = 0; i < 15; i++) {
      const o = await ask(reservation, pkt(`52:54:00:00:90:${(16 + i).toString(16)}`, MessageType.Discover, {}, relay));
      if (o) offers++;
    }
    expect(offers).toBe(9); // 10 addresses, one already offered in the relay test
  });
});

describe("proxyDHCP mode", () => {
  const proxy = new ProxyHandler(deps(parseSnapshot({ ...snap, mode: "proxy" })));
  const pxe = { clientArch: [0], vendorClass: "PXEClient:Arch:00000:UNDI:002001" };

  it("answers a PXE DISCOVER on 67 with boot information and no address", async () => {
    const r = (await proxy.handle(incoming(pkt("52:54:00:00:a0:01", MessageType.Discover, pxe))))!;
    expect(r.packet.options.messageType).toBe(MessageType.Offer);
    expect(r.packet.yiaddr).toBe("0.0.0.0");
    expect(r.packet.options.vendorClass).toBe("PXEClient");
    expect(r.packet.options.bootfileName).toBe("undionly.kpxe");
    expect(r.packet.options.leaseTime).toBeUndefined();
    expect(r.to).toEqual({ address: "255.255.255.255", port: 68 });
  });

  it("answers the REQUEST on 4011 with an ACK to the client's address and port", async () => {
    const p = pkt("52:54:00:00:a0:01", MessageType.Request, { ...pxe, clientArch: [7] }, { ciaddr: "10.0.0.77" });
    const r = (await proxy.handle(incoming(p, 4011, { address: "10.0.0.77", port: 4011 })))!;
    expect(r.packet.options.messageType).toBe(MessageType.Ack);
    expect(r.packet.options.bootfileName).toBe("ipxe.efi");
    expect(r.to).toEqual({ address: "10.0.0.77", port: 4011 });
  });

  it("ignores non-PXE clients and REQUESTs on 67 (those belong to the site's DHCP server)", async () => {
    expect(await proxy.handle(incoming(pkt("52:54:00:00:a0:02", MessageType.Discover)))).toBeNull();
    expect(await proxy.handle(incoming(pkt("52:54:00:00:a0:02", MessageType.Request, pxe)))).toBeNull();
  });

  it("drops a PXE DISCOVER without a hardware address and emits no discover event", async () => {
    events.length = 0;
    expect(await proxy.handle(incoming(pkt("52:54:00:00:a0:03", MessageType.Discover, pxe, { hlen: 0 })))).toBeNull();
    expect(await proxy.handle(incoming(pkt("00:00:00:00:00:00", MessageType.Discover, pxe)))).toBeNull();
    expect(events).toEqual([]);
  });
});
