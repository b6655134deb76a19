// `plinth-appliance run --dhcp-interface` end to end: the region in workerd on 127.0.0.1, the
// appliance in a namespace of its own (reaching the region through a veth pair and a TCP
// relay on the host side of it), and real clients in a second namespace: udhcpc for the
// lease and boot file, busybox tftp for the boot program, curl for the iPXE script. The
// discover an unknown MAC sends must land in the region as a rack event.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createTcpServer, type Server as TcpServer, type Socket, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigSnapshot } from "../../../shared/tunnel/config";
import { dhcpSnapshot, httpIntent, parseMetadata } from "../../../appliance/services";
import { watchOutput } from "../rig/dhcp-rig";
import { createNetns, hostUplink, ip, type Netns, requireRoot, stop, vethPair } from "../rig/netns";
import { api, cli, type Region, region, startAppliance, stopRegion, until } from "../tunnel/rig";

// Addresses used only inside this run's namespaces and veth pair (a random /24 per run).
const octet = 100 + (randomBytes(1)[0]! % 100);
const NET = `10.${octet}.7`;
const LINK = `10.${octet}.8`;
const MAC = "52:54:00:5e:00:01";

let r: Region;
let appNs: Netns;
let clientNs: Netns;
let hostIf = "";
let upIf = "";
let siteIf = "";
let relay: TcpServer;
const relayed = new Set<Socket>();
let appliance: ChildProcess | null = null;
let dir = "";
let rackId = "";
let clientIf = "";
const started: ChildProcess[] = [];

beforeAll(async () => {
  requireRoot();
  dir = mkdtempSync(join(tmpdir(), "plinth-boot-services-"));
  r = await region();
  appNs = createNetns("pab");
  clientNs = createNetns("pac");
  // Site link: appliance ↔ client; uplink: host ↔ appliance, for the tunnel only.
  const site = vethPair(appNs, clientNs, `${NET}.1/24`, undefined, MAC);
  const srv = site.serverIf;
  siteIf = srv;
  clientIf = site.clientIf;
  ({ hostIf, nsIf: upIf } = hostUplink(appNs, LINK));
  // The region listens on loopback only: relay the veth address to it.
  relay = createTcpServer((c) => {
    const u = tcpConnect(r.port, "127.0.0.1");
    relayed.add(c).add(u);
    c.pipe(u).pipe(c);
    const end = () => {
      c.destroy();
      u.destroy();
    };
    c.on("error", end).on("close", end);
    u.on("error", end).on("close", end);
  });
  await new Promise<void>((res) => relay.listen(0, `${LINK}.1`, res));
  const relayPort = (relay.address() as { port: number }).port;

  const subnet = await api(r, "POST", "/subnets", { cidr: `${NET}.0/24`, site: "default", gateway_ip: `${NET}.1`, dns_servers: [`${NET}.1`] });
  expect(subnet.status, JSON.stringify(subnet.json)).toBe(201);
  const range = await api(r, "POST", "/ip-ranges", { subnet_id: subnet.json.id, type: "dynamic", start_ip: `${NET}.100`, end_ip: `${NET}.150` });
  expect(range.status, JSON.stringify(range.json)).toBe(201);
  const tok = await api(r, "POST", "/racks/enrol-tokens", { site: "default" });
  const enrolled = cli(["enrol", "--state-dir", dir, "--hostname", "rack-boot", "--region", r.url, "--token", tok.json.token]);
  expect(enrolled.code, enrolled.out).toBe(0);
  rackId = JSON.parse(readFileSync(join(dir, "credential.json"), "utf8")).rackId;

  const tftpRoot = join(dir, "tftp");
  mkdirSync(tftpRoot);
  writeFileSync(join(tftpRoot, "undionly.kpxe"), randomBytes(70_000));
  writeFileSync(join(tftpRoot, "vmlinuz"), "kernel");
  writeFileSync(join(tftpRoot, "initrd.img"), "initrd");

  ({ child: appliance } = await startAppliance(appNs, {
    stateDir: dir,
    regionUrl: `http://${LINK}.1:${relayPort}`,
    dhcpInterface: srv,
    tftpRoot,
  }));
  await until("the rack to connect", async () => (await api(r, "GET", `/racks/${rackId}`)).json.connected);
  await until("the config snapshot with the subnet", async () => {
    const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as ConfigSnapshot;
    return cfg.subnets.some((s) => s.cidr === `${NET}.0/24`);
  });
}, 180_000);

afterAll(async () => {
  for (const c of started) await stop(c, "SIGKILL");
  if (appliance) await stop(appliance, "SIGTERM");
  relay?.close();
  for (const s of relayed) s.destroy();
  clientNs?.destroy();
  appNs?.destroy();
  if (hostIf) {
    try {
      ip("link", "del", hostIf);
    } catch {
      // went with the namespace
    }
  }
  if (r) await stopRegion(r.child);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function hook(name: string): { path: string; out: string } {
  const path = join(dir, `${name}.sh`);
  const out = join(dir, `${name}.env`);
  writeFileSync(
    path,
    `#!/bin/sh\n[ "$1" = bound ] && ip addr replace "$ip/$mask" dev "$interface"\n[ "$1" = bound ] && env > "${out}.tmp" && mv "${out}.tmp" "${out}"\nexit 0\n`,
  );
  chmodSync(path, 0o755);
  return { path, out };
}

async function udhcpc(name: string, extra: string[]): Promise<Record<string, string>> {
  const h = hook(name);
  const child = clientNs.spawn("busybox", ["udhcpc", "-i", clientIf, "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", h.path, ...extra]);
  started.push(child);
  const w = watchOutput(child);
  const code = await new Promise<number | null>((res) => child.once("exit", (c) => res(c)));
  if (code !== 0) throw new Error(`udhcpc exited ${code}: ${w.output.join("\n")}`);
  return Object.fromEntries(
    readFileSync(h.out, "utf8")
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

const PXE_BIOS = ["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"];

describe("plinth-appliance run with boot services", () => {
  it("leases an address with the BIOS boot file, serves it over TFTP, and the discover reaches the region", async () => {
    const env = await udhcpc("bios", PXE_BIOS);
    expect(env.ip).toMatch(new RegExp(`^${NET.replaceAll(".", "\\.")}\\.1[0-5]\\d$`));
    expect(env).toMatchObject({ serverid: `${NET}.1`, router: `${NET}.1`, siaddr: `${NET}.1`, boot_file: "undionly.kpxe" });
    const out = join(dir, "fetched.kpxe");
    clientNs.exec("busybox", ["tftp", "-g", "-r", "undionly.kpxe", "-l", out, `${NET}.1`]);
    expect(readFileSync(out).equals(readFileSync(join(dir, "tftp", "undionly.kpxe")))).toBe(true);
    const ev = await until("dhcp.discover in the region", async () => {
      const res = await api(r, "GET", `/racks/${rackId}/events?type=dhcp.discover&limit=100`);
      return (res.json.items as { data: unknown }[]).find((e) => JSON.stringify(e.data).includes(MAC));
    });
    expect(JSON.stringify(ev.data)).toContain(`${NET}.0/24`);
  });

  it("gives iPXE the boot script URL, and the script chains to the per-MAC enlistment script", async () => {
    const env = await udhcpc("ipxe", [...PXE_BIOS, "-x", "0x4d:69505845"]);
    expect(env.boot_file).toBe(`http://${NET}.1:5248/boot.ipxe`);
    const script = clientNs.exec("curl", ["-sf", "--max-time", "10", env.boot_file!]);
    expect(script).toContain(`http://${NET}.1:5248/boot/\${net0/mac}.ipxe`);
    const node = clientNs.exec("curl", ["-sf", "--max-time", "10", `http://${NET}.1:5248/boot/${MAC}.ipxe?platform=pcbios&arch=x86_64`]);
    expect(node).toContain(`kernel --name kernel http://${NET}.1:5248/files/vmlinuz`);
    expect(node).toContain("plinth.purpose=enlist");
    expect(clientNs.exec("curl", ["-sf", "--max-time", "10", `http://${NET}.1:5248/files/vmlinuz`])).toBe("kernel");
  });

  it("binds only the interface it was given (no DHCP socket on the uplink)", () => {
    const sockets = appNs.exec("ss", ["-ulpn"]);
    expect(sockets).toContain(`%${siteIf}:67 `);
    expect(sockets).not.toContain(`%${upIf}:67 `);
    expect(sockets).not.toMatch(/0\.0\.0\.0:67\b/);
  });
});

describe("snapshot translation and the metadata mapping", () => {
  const snap: ConfigSnapshot = {
    version: "v1",
    site: "default",
    subnets: [
      {
        id: 1,
        cidr: "10.1.0.0/24",
        gateway: "10.1.0.1",
        dns: [],
        managed: true,
        ranges: [
          { type: "dynamic", start: "10.1.0.100", end: "10.1.0.200" },
          { type: "reserved", start: "10.1.0.2", end: "10.1.0.9" },
        ],
      },
      { id: 2, cidr: "10.2.0.0/24", gateway: null, dns: [], managed: false, ranges: [] },
    ],
    reservations: [
      { mac: "52:54:00:00:00:01", ip: "10.1.0.50", hostname: "n1", systemId: "abc" },
      { mac: "52:54:00:00:00:02", ip: "10.2.0.50", hostname: "n2", systemId: "def" },
    ],
    bootIntents: [
      { mac: "52:54:00:00:00:01", systemId: "abc", intent: "commission" },
      { mac: "52:54:00:00:00:02", systemId: "def", intent: "none" },
    ],
    images: [],
    dns: { zones: [], upstream: [] },
  };

  it("serves managed subnets only and keeps every MAC the region knows as known", () => {
    const d = dhcpSnapshot(snap, 5248);
    expect(d.subnets.map((s) => s.cidr)).toEqual(["10.1.0.0/24"]);
    expect(d.subnets[0]!.reservedRanges).toEqual([{ start: "10.1.0.2", end: "10.1.0.9" }]);
    expect(d.reservations).toEqual([{ mac: "52:54:00:00:00:01", ip: "10.1.0.50", hostname: "n1" }]);
    expect(d.bootIntents.map((b) => b.mac)).toEqual(["52:54:00:00:00:01", "52:54:00:00:00:02"]);
    expect(dhcpSnapshot(null, 5248).subnets).toEqual([]);
  });

  it("boot intents: known by status, unknown MACs enlist, 'none' is not ours", () => {
    const q = { platform: null, arch: null, remote: "" } as const;
    expect(httpIntent(snap, { ...q, mac: "52:54:00:00:00:01" })).toMatchObject({ kind: "commission" });
    expect(httpIntent(snap, { ...q, mac: "52:54:00:00:00:02" })).toBeNull();
    expect(httpIntent(snap, { ...q, mac: "52:54:00:00:00:03" })).toMatchObject({ kind: "enlist" });
  });

  it("maps the environment's posts to results for the node holding the address", () => {
    const who = (ip: string) => (ip === "10.1.0.50" ? "abc" : null);
    const req = (path: string, body: unknown, remote = "::ffff:10.1.0.50") => ({
      method: "POST",
      path,
      query: "",
      headers: {},
      body: Buffer.from(JSON.stringify(body)),
      remote,
    });
    expect(parseMetadata(req("/commissioning/cpu", { count: 2 }), who)).toMatchObject({ systemId: "abc", name: "cpu", status: "passed" });
    expect(parseMetadata(req("/status", { mode: "commission", status: "done" }), who)).toMatchObject({ name: "status", status: "passed" });
    expect(parseMetadata(req("/status", { mode: "commission", status: "failed", error: "x" }), who)).toMatchObject({ status: "failed" });
    expect(parseMetadata(req("/status", { mode: "commission", status: "running" }), who)).toMatchObject({ status: "running" });
    expect(parseMetadata(req("/status", { status: "done" }, "10.1.0.77"), who)).toBeNull();
    expect(parseMetadata(req("/commissioning/../x", {}), who)).toBeNull();
  });
});
