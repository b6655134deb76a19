// Our server with real clients, inside network namespaces made for this run: udhcpc (busybox)
// and dhclient on one interface, a scripted client and perfdhcp (as a relay) on another, and
// both interfaces served by one process, each from its own subnet.
import type { ChildProcess } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decode, MessageType } from "../../../appliance/dhcp/packet";
import { type DhcpLab, dhcpLab, type Probe, type RunningServer, routeVia, startOurServer, startProbe, watchOutput } from "../rig/dhcp-rig";
import { ip, requireRoot, stop } from "../rig/netns";
import { doubleAllocations, journalRecords } from "./journal-check";
import { clientPacket } from "./packets";

const KNOWN = "52:54:00:12:34:56";
const config = {
  subnets: [
    {
      cidr: "10.77.1.0/24",
      gateway: "10.77.1.1",
      dns: ["10.77.1.1"],
      domain: "maas",
      dynamicRanges: [{ start: "10.77.1.100", end: "10.77.1.199" }],
    },
    { cidr: "10.77.2.0/24", gateway: "10.77.2.1", dynamicRanges: [{ start: "10.77.2.100", end: "10.77.2.199" }] },
    { cidr: "10.88.0.0/20", gateway: "10.88.0.1", dynamicRanges: [{ start: "10.88.1.0", end: "10.88.15.254" }] },
  ],
  reservations: [{ mac: KNOWN, ip: "10.77.1.50", hostname: "node-1" }],
};

let lab: DhcpLab;
let server: RunningServer;
let leasesPath: string;
let probeB: Probe;
const started: ChildProcess[] = [];

function linkA() {
  return lab.links[0]!;
}
function linkB() {
  return lab.links[1]!;
}

beforeAll(async () => {
  requireRoot();
  lab = dhcpLab(["10.77.1.1/24", "10.77.2.1/24"], [undefined, "10.77.2.50/24"]);
  ip("-n", linkB().client.name, "addr", "add", "10.88.0.2/24", "dev", linkB().clientIf);
  routeVia(lab.server, "10.88.0.0/24", "10.77.2.50");
  leasesPath = join(lab.dir, "leases.jsonl");
  server = await startOurServer(lab, [linkA().serverIf, linkB().serverIf], config, { leases: leasesPath });
  probeB = await startProbe(linkB().client);
});

afterAll(async () => {
  await probeB?.close();
  for (const c of started) await stop(c, "SIGKILL");
  if (server) await server.stop();
  lab?.destroy();
});

/** The udhcpc/dhclient hook: records its environment and configures the address in the namespace. */
function hookScript(name: string): { path: string; out: string } {
  const path = join(lab.dir, `${name}.sh`);
  const out = join(lab.dir, `${name}.out`);
  writeFileSync(
    path,
    `#!/bin/sh
case "\${1:-$reason}" in
  bound|renew) ip addr replace "$ip/$mask" dev "$interface" ;;
  BOUND|RENEW|REBOOT) ip addr replace "$new_ip_address/24" dev "$interface" ;;
esac
# One file per event, renamed into place, so the test never reads half an event; written
# after configuring the address so the test can rely on it.
f=${out}.tmp.$$
{ echo "== \${1:-$reason}"; env | sort; } > "$f"
mv "$f" "${out}.$(date +%s%N)"
exit 0
`,
  );
  chmodSync(path, 0o755);
  return { path, out };
}

/** Sections of the hook output: one environment per event, in order. */
function hookEvents(out: string): { event: string; env: Record<string, string> }[] {
  const dir = dirname(out);
  const prefix = `${basename(out)}.`;
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && /^\d+$/.test(f.slice(prefix.length)))
    .sort()
    .map((f) => readFileSync(join(dir, f), "utf8").replace(/^== /, ""))
    .map((block) => {
      const [event, ...lines] = block.split("\n");
      const env: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf("=");
        if (i > 0) env[l.slice(0, i)] = l.slice(i + 1);
      }
      return { event: event!.trim(), env };
    });
}

async function untilHook(out: string, event: string): Promise<Record<string, string>> {
  for (let i = 0; i < 400; i++) {
    const hit = hookEvents(out).find((e) => e.event === event);
    if (hit) return hit.env;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no "${event}" from the client; got ${hookEvents(out).map((e) => e.event)}`);
}

function setMac(mac: string): void {
  const { client, clientIf } = linkA();
  ip("-n", client.name, "addr", "flush", "dev", clientIf);
  ip("-n", client.name, "link", "set", clientIf, "address", mac);
}

/** One udhcpc run to a lease (-q: quit once bound). */
async function udhcpc(name: string, extra: string[]): Promise<Record<string, string>> {
  const { client, clientIf } = linkA();
  const hook = hookScript(name);
  const child = client.spawn("busybox", ["udhcpc", "-i", clientIf, "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", hook.path, ...extra]);
  started.push(child);
  const w = watchOutput(child);
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  if (code !== 0) throw new Error(`udhcpc exited ${code}: ${w.output.join("\n")}`);
  return untilHook(hook.out, "bound");
}

const PXE_BIOS = ["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"];

describe("udhcpc", () => {
  it("gets a lease from the interface's subnet with the BIOS boot file, and the MAC is enlisted", async () => {
    setMac("52:54:00:aa:00:01");
    const env = await udhcpc("bios", PXE_BIOS);
    expect(env.ip).toMatch(/^10\.77\.1\.1\d\d$/);
    expect(env).toMatchObject({
      serverid: "10.77.1.1",
      router: "10.77.1.1",
      dns: "10.77.1.1",
      domain: "maas",
      subnet: "255.255.255.0",
      lease: "3600",
      siaddr: "10.77.1.1",
      boot_file: "undionly.kpxe",
      bootfile: "undionly.kpxe",
      tftp: "10.77.1.1",
    });
    const discover = server.events().find((e) => e.type === "dhcp.discover" && e.mac === "52:54:00:aa:00:01");
    expect(discover).toMatchObject({ interface: linkA().serverIf, subnet: "10.77.1.0/24", arch: 0 });
  });

  it("gets ipxe.efi for UEFI x64, the HTTP URL for HTTP boot and boot.ipxe for iPXE", async () => {
    setMac("52:54:00:aa:00:02");
    expect((await udhcpc("efi", ["-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007"])).boot_file).toBe("ipxe.efi");
    setMac("52:54:00:aa:00:03");
    const http = await udhcpc("http", ["-V", "HTTPClient:Arch:00016:UNDI:003001", "-x", "0x5d:0010"]);
    expect(http.boot_file).toBe("http://10.77.1.1:5248/ipxe.efi");
    setMac("52:54:00:aa:00:04");
    const ipxe = await udhcpc("ipxe", [...PXE_BIOS, "-x", "0x4d:69505845"]);
    expect(ipxe.boot_file).toBe("http://10.77.1.1:5248/boot.ipxe");
    expect(ipxe.opt175).toBe("b00101");
  });

  it("gives a known MAC its reservation and hostname, without an enlistment event", async () => {
    setMac(KNOWN);
    const env = await udhcpc("known", PXE_BIOS);
    expect(env.ip).toBe("10.77.1.50");
    expect(env.hostname).toBe("node-1");
    expect(server.events().filter((e) => e.type === "dhcp.discover" && e.mac === KNOWN)).toEqual([]);
  });

  it("renews (SIGUSR1) the same address and releases it (SIGUSR2)", async () => {
    setMac("52:54:00:aa:00:05");
    const { client, clientIf } = linkA();
    const hook = hookScript("renew");
    const child = client.spawn("busybox", ["udhcpc", "-i", clientIf, "-f", "-t", "5", "-T", "2", "-s", hook.path]);
    started.push(child);
    const bound = await untilHook(hook.out, "bound");
    child.kill("SIGUSR1");
    const renewed = await untilHook(hook.out, "renew");
    expect(renewed.ip).toBe(bound.ip);
    child.kill("SIGUSR2");
    await untilHook(hook.out, "deconfig");
    await server.waitFor((l) => l.includes('"msg":"released"') && l.includes(bound.ip!), "release logged");
    await stop(child);
    expect(journalRecords(leasesPath)).toContainEqual({ op: "free", ip: bound.ip });
  });
});

describe("dhclient", () => {
  it("gets a lease with the UEFI boot file and releases it", async () => {
    setMac("52:54:00:bb:00:01");
    const { client, clientIf } = linkA();
    const hook = hookScript("dhclient");
    const conf = join(lab.dir, "dhclient.conf");
    writeFileSync(
      conf,
      `option pxe-arch code 93 = unsigned integer 16;
send pxe-arch 7;
send vendor-class-identifier "PXEClient:Arch:00007:UNDI:003016";
request subnet-mask, broadcast-address, routers, domain-name-servers, domain-name, host-name, bootfile-name, tftp-server-name;
`,
    );
    const files = ["-cf", conf, "-lf", join(lab.dir, "dhclient.leases"), "-pf", join(lab.dir, "dhclient.pid"), "-sf", hook.path];
    const child = client.spawn("dhclient", ["-4", "-d", "-v", ...files, clientIf]);
    started.push(child);
    const env = await untilHook(hook.out, "BOUND");
    expect(env.new_ip_address).toMatch(/^10\.77\.1\.1\d\d$/);
    expect(env).toMatchObject({
      new_dhcp_server_identifier: "10.77.1.1",
      new_routers: "10.77.1.1",
      new_domain_name: "maas",
      new_filename: "ipxe.efi",
      new_tftp_server_name: "10.77.1.1",
    });
    // dhclient -r releases through the running instance's pid file (which stops it).
    const rel = client.spawn("dhclient", ["-4", "-r", "-v", ...files, clientIf]);
    started.push(rel);
    await new Promise((r) => rel.once("exit", r));
    await server.waitFor((l) => l.includes('"msg":"released"') && l.includes(env.new_ip_address!), "dhclient release");
    await stop(child);
  });
});

describe("scripted client and relay", () => {
  const toServer = { to: "10.77.2.1", port: 67 };

  it("answers INFORM with the subnet's options and no lease", async () => {
    const [r] = await probeB.send({
      sends: [{ ...toServer, hex: clientPacket("52:54:00:cc:00:01", MessageType.Inform, {}, { ciaddr: "10.77.2.50" }) }],
      expect: 1,
    });
    const p = decode(Buffer.from(r!.hex, "hex"));
    expect(p.options.messageType).toBe(MessageType.Ack);
    expect(p.options.routers).toEqual(["10.77.2.1"]);
    expect(p.options.leaseTime).toBeUndefined();
  });

  it("NAKs a REQUEST for an address of another subnet and ignores one for another server", async () => {
    const mac = "52:54:00:cc:00:02";
    const replies = await probeB.send({
      sends: [
        { ...toServer, hex: clientPacket(mac, MessageType.Request, { requestedIp: "10.77.2.150", serverId: "10.77.2.99" }) },
        { ...toServer, hex: clientPacket(mac, MessageType.Request, { requestedIp: "10.77.1.150" }) },
      ],
      expect: 2,
      windowMs: 1500,
    });
    expect(replies.map((r) => decode(Buffer.from(r.hex, "hex")).options.messageType)).toEqual([MessageType.Nak]);
  });

  it("holds a declined address out of the pool", async () => {
    const mac = "52:54:00:cc:00:03";
    const [offer] = await probeB.send({
      sends: [{ ...toServer, hex: clientPacket(mac, MessageType.Discover) }],
      expect: 1,
    });
    const yiaddr = decode(Buffer.from(offer!.hex, "hex")).yiaddr;
    const [ack] = await probeB.send({
      sends: [{ ...toServer, hex: clientPacket(mac, MessageType.Request, { requestedIp: yiaddr, serverId: "10.77.2.1" }) }],
      expect: 1,
    });
    expect(decode(Buffer.from(ack!.hex, "hex")).options.messageType).toBe(MessageType.Ack);
    await probeB.send({
      sends: [{ ...toServer, hex: clientPacket(mac, MessageType.Decline, { requestedIp: yiaddr, serverId: "10.77.2.1" }) }],
      expect: 0,
      windowMs: 300,
    });
    await server.waitFor((l) => l.includes("address declined by client") && l.includes(yiaddr), "decline logged");
    expect(journalRecords(leasesPath).some((r) => r.op === "decline" && r.ip === yiaddr)).toBe(true);
    const [again] = await probeB.send({
      sends: [{ ...toServer, hex: clientPacket(mac, MessageType.Discover) }],
      expect: 1,
    });
    expect(decode(Buffer.from(again!.hex, "hex")).yiaddr).not.toBe(yiaddr);
  });

  it("logs and drops bad packets, and keeps serving", async () => {
    const garbage = [
      "00",
      "01".repeat(300),
      // A DISCOVER whose hostname option claims 40 bytes and has 1.
      `${clientPacket("52:54:00:cc:00:04", MessageType.Discover).slice(0, 480)}3501010c2841`,
    ];
    const replies = await probeB.send({
      sends: [
        ...garbage.map((hex) => ({ ...toServer, hex })),
        { ...toServer, hex: clientPacket("52:54:00:cc:00:05", MessageType.Inform, {}, { ciaddr: "10.77.2.50" }) },
      ],
      expect: 1,
    });
    expect(replies).toHaveLength(1);
    const line = await server.waitFor((l) => l.includes("bad packet dropped") && l.includes("52:54:00:cc:00:04"), "log");
    expect(JSON.parse(line)).toMatchObject({ interface: linkB().serverIf, mac: "52:54:00:cc:00:04" });
    expect(server.child.exitCode).toBeNull();
  });

  it("serves perfdhcp acting as a relay from the relay's subnet (giaddr), every address once", async () => {
    const { client } = linkB();
    const child = client.spawn("perfdhcp", ["-4", "-l", "10.88.0.2", "-R", "100", "-n", "100", "-r", "50", "-W", "2000000", "-d", "10", "-u", "10.77.2.1"]);
    started.push(child);
    const w = watchOutput(child);
    await new Promise((r) => child.once("exit", r));
    const text = w.output.join("\n");
    expect(text.match(/received packets: 100\n/g)).toHaveLength(2);
    const relayed = journalRecords(leasesPath).filter((r) => r.op === "bind" && r.ip.startsWith("10.88."));
    expect(relayed.length).toBeGreaterThanOrEqual(100);
    expect(doubleAllocations(journalRecords(leasesPath))).toEqual([]);
  });
});

describe("crash safety", () => {
  it("after a SIGKILL between OFFER and ACK and a restart, hands out no address twice", { timeout: 180_000 }, async () => {
    const toServer = { to: "10.77.2.1", port: 67 };
    const before = journalRecords(leasesPath);
    // A client holds a lease; another has only an offer when the server dies.
    const holder = "52:54:00:dd:00:01";
    const [o1] = await probeB.send({ sends: [{ ...toServer, hex: clientPacket(holder, MessageType.Discover) }], expect: 1 });
    const held = decode(Buffer.from(o1!.hex, "hex")).yiaddr;
    await probeB.send({
      sends: [{ ...toServer, hex: clientPacket(holder, MessageType.Request, { requestedIp: held, serverId: "10.77.2.1" }) }],
      expect: 1,
    });
    const pending = "52:54:00:dd:00:02";
    const [o2] = await probeB.send({ sends: [{ ...toServer, hex: clientPacket(pending, MessageType.Discover) }], expect: 1 });
    const offered = decode(Buffer.from(o2!.hex, "hex")).yiaddr;

    // perfdhcp in flight too, killed in the middle.
    const perf = linkB().client.spawn("perfdhcp", ["-4", "-l", "10.88.0.2", "-R", "2000", "-r", "500", "-p", "30", "10.77.2.1"]);
    started.push(perf);
    for (let i = 0; i < 100 && journalRecords(leasesPath).length < before.length + 100; i++) await new Promise((r) => setTimeout(r, 50));
    await server.stop("SIGKILL");
    await stop(perf, "SIGKILL");
    server = await startOurServer(lab, [linkA().serverIf, linkB().serverIf], config, { leases: leasesPath });

    // The pending client's REQUEST is judged against the journal: the address is free, so it is ACKed.
    const [ack] = await probeB.send({
      sends: [{ ...toServer, hex: clientPacket(pending, MessageType.Request, { requestedIp: offered, serverId: "10.77.2.1" }) }],
      expect: 1,
    });
    expect(decode(Buffer.from(ack!.hex, "hex")).options.messageType).toBe(MessageType.Ack);
    // Somebody else asking for the held address is refused; the holder keeps it.
    const [nak] = await probeB.send({
      sends: [{ ...toServer, hex: clientPacket("52:54:00:dd:00:03", MessageType.Request, { requestedIp: held }) }],
      expect: 1,
    });
    expect(decode(Buffer.from(nak!.hex, "hex")).options.messageType).toBe(MessageType.Nak);
    const [mine] = await probeB.send({
      sends: [{ ...toServer, hex: clientPacket(holder, MessageType.Discover) }],
      expect: 1,
    });
    expect(decode(Buffer.from(mine!.hex, "hex")).yiaddr).toBe(held);

    // A fresh perfdhcp run after the restart: all served, none of it on an address still held.
    const again = linkB().client.spawn("perfdhcp", [
      "-4",
      "-l",
      "10.88.0.2",
      "-R",
      "50",
      "-n",
      "50",
      "-r",
      "50",
      "-W",
      "2000000",
      "-d",
      "10",
      "-b",
      "mac=00:0c:02:00:00:00",
      "10.77.2.1",
    ]);
    started.push(again);
    const w = watchOutput(again);
    await new Promise((r) => again.once("exit", r));
    expect(w.output.join("\n").match(/received packets: 50\n/g)).toHaveLength(2);
    expect(doubleAllocations(journalRecords(leasesPath))).toEqual([]);
  });
});
