// proxyDHCP in a namespace: a PXE DISCOVER on 67 gets boot information without an address,
// the follow-up REQUEST on 4011 gets the boot file by unicast, other clients get nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decode, MessageType } from "../../../appliance/dhcp/packet";
import { type DhcpLab, dhcpLab, type Probe, type RunningServer, startOurServer, startProbe } from "../rig/dhcp-rig";
import { ip, requireRoot } from "../rig/netns";
import { clientPacket } from "./packets";

let lab: DhcpLab;
let server: RunningServer;
let probe: Probe;

beforeAll(async () => {
  requireRoot();
  lab = dhcpLab(["10.79.0.1/24"], ["10.79.0.60/24"]);
  // Limited broadcasts (255.255.255.255) need a route; real PXE ROMs use raw frames instead.
  ip("-n", lab.links[0]!.client.name, "route", "add", "default", "dev", lab.links[0]!.clientIf);
  const config = { mode: "proxy", subnets: [{ cidr: "10.79.0.0/24" }] };
  server = await startOurServer(lab, [lab.links[0]!.serverIf], config, { ports: "67,4011" });
  probe = await startProbe(lab.links[0]!.client);
});

afterAll(async () => {
  await probe?.close();
  await server?.stop();
  lab?.destroy();
});

const mac = "52:54:00:79:00:01";
const pxe = { clientArch: [7], vendorClass: "PXEClient:Arch:00007:UNDI:003016" };
const uuid = Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0x42)]);

describe("proxyDHCP", () => {
  it("offers boot information without an address on port 67", async () => {
    const [r] = await probe.send({
      sends: [{ to: "255.255.255.255", port: 67, hex: clientPacket(mac, MessageType.Discover, { ...pxe, clientMachineId: uuid }) }],
      expect: 1,
    });
    const p = decode(Buffer.from(r!.hex, "hex"));
    expect(r!.from).toBe("10.79.0.1:67");
    expect(p.options.messageType).toBe(MessageType.Offer);
    expect(p.yiaddr).toBe("0.0.0.0");
    expect(p.options).toMatchObject({ vendorClass: "PXEClient", bootfileName: "ipxe.efi", serverId: "10.79.0.1" });
    expect(p.options.clientMachineId).toEqual(uuid);
    expect(p.options.leaseTime).toBeUndefined();
    // The event goes out on stdout and the reply on the wire: either may reach us first.
    await server.waitFor((l) => l.includes('"type":"dhcp.discover"') && l.includes(mac), "the dhcp.discover event", 5000);
  });

  it("answers the boot-server REQUEST on port 4011 by unicast", async () => {
    const [r] = await probe.send({
      sends: [{ to: "10.79.0.1", port: 4011, hex: clientPacket(mac, MessageType.Request, pxe, { ciaddr: "10.79.0.60", flags: 0 }) }],
      expect: 1,
    });
    const p = decode(Buffer.from(r!.hex, "hex"));
    expect(r!.from).toBe("10.79.0.1:4011");
    expect(p.options.messageType).toBe(MessageType.Ack);
    expect(p.options.bootfileName).toBe("ipxe.efi");
    expect(p.siaddr).toBe("10.79.0.1");
  });

  it("says nothing to clients that are not PXE and to REQUESTs on 67", async () => {
    const replies = await probe.send({
      sends: [
        { to: "255.255.255.255", port: 67, hex: clientPacket("52:54:00:79:00:02", MessageType.Discover) },
        { to: "255.255.255.255", port: 67, hex: clientPacket(mac, MessageType.Request, { ...pxe, requestedIp: "10.79.0.61" }) },
        // No hardware address: dropped and logged, never an OFFER or an event with an empty MAC.
        { to: "255.255.255.255", port: 67, hex: clientPacket("52:54:00:79:00:03", MessageType.Discover, pxe, { hlen: 0 }) },
      ],
      expect: 1,
      windowMs: 1500,
    });
    expect(replies).toEqual([]);
    expect(server.output.some((l) => l.includes("request without a hardware address dropped") && l.includes('"hlen":0'))).toBe(true);
    expect(server.events()).not.toContainEqual(expect.objectContaining({ mac: "" }));
  });

  it("exits cleanly on SIGTERM", async () => {
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      server.child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    server.child.kill("SIGTERM");
    // The bound only keeps a hang from stalling the suite; a clean exit takes well under it.
    const end = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
    expect(end).toEqual({ code: 0, signal: null });
  });
});
