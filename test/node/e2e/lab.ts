// The lab: a site in a box, shared by the end-to-end tests and `npm run lab`. A network
// namespace holds a bridge (the site's L2 network), `plinth-appliance run --dhcp-interface br0`
// serving it, and per VM a tap on the bridge and a BMC: OpenIPMI's ipmi_sim on the namespace's
// loopback whose chassis-control script starts, stops and resets that VM's QEMU process. The
// region runs in workerd on the host's loopback; the appliance reaches it through a veth pair
// and a TCP relay the lab can cut and restore (the WAN). Everything is torn down by PID.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createTcpServer, type Server as TcpServer, type Socket, connect as tcpConnect, createConnection as connectUnix } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BMC_EMU, lanConf } from "../bmc/ipmi-sim";
import { buildImages } from "../images/rig";
import { watchOutput } from "../rig/dhcp-rig";
import { createNetns, hostUplink, ip, type Netns, requireRoot, stop } from "../rig/netns";
import { api, cli, type Region, until } from "../tunnel/rig";

const root = join(import.meta.dirname, "..", "..", "..");
export const imagesDir = join(root, "images", "build");

export interface VmSpec {
  name: string;
  firmware: "bios" | "uefi";
  mac: string;
  cpus: number;
  memMiB: number;
  diskBytes: number;
  /** A second NIC on the site network (tap<i>b, no boot entry), for bonds. */
  mac2?: string;
  /** More disks after the first (bytes each): vdb, vdc, ... with serials PLX-<NAME>-1, -2, ... and no boot entry. */
  extraDisks?: number[];
}

export interface LabVm extends VmSpec {
  dir: string;
  disk: string;
  /** Every disk's image: the first (disk), then the extra ones. */
  disks: string[];
  tap: string;
  bmcPort: number;
  /** What the VM printed on its serial console, across every boot. */
  console(): string;
  /** QEMU is running (what the BMC reports as power on). */
  running(): boolean;
  /** Every chassis-control call the BMC made, one line each. */
  bmcCalls(): string[];
  /** The machine's power parameters for the region (the BMC as the appliance reaches it). */
  power: { power_type: "ipmi"; power_parameters: Record<string, string | number> };
  /**
   * Takes a NIC's link down or up as a pulled cable does (QEMU's set_link: the guest sees its
   * carrier go), by netdev: "n0" the first NIC, "n1" the second.
   */
  setLink(netdev: "n0" | "n1", up: boolean): Promise<void>;
  /**
   * Pulls the first disk out of the machine, or puts it back: from the next power on QEMU
   * starts without it (the next disk becomes the first), as a dead drive taken out of a server.
   */
  pullFirstDisk(pulled: boolean): void;
}

export interface Lab {
  region: Region;
  ns: Netns;
  dir: string;
  rackId: string;
  net: string;
  vms: LabVm[];
  /** The appliance's log lines so far. */
  applianceLog(): string;
  /** Runs ipmitool against a VM's BMC from inside the site (as someone on site would). */
  ipmitool(vm: LabVm, args: string[]): string;
  /** The address the appliance's DHCP last bound to this MAC (its lease journal), if any. */
  addressOf(mac: string): string | null;
  /** Runs a command over SSH from inside the site network (as an operator on site would). */
  ssh(address: string, identity: string, command: string, user?: string): { code: number; out: string };
  /** The same without blocking: a session that lives while the test does other things. */
  sshSession(address: string, identity: string, command: string, user?: string): Promise<{ code: number; out: string }>;
  /** A tagged VLAN on the site network: the namespace reaches it at <net>.1/24 (vlan-tap.py). */
  vlan: { vid: number; net: string };
  /** Cuts the WAN: the relay stops accepting and drops the appliance's connections. */
  cutTunnel(): Promise<void>;
  restoreTunnel(): Promise<void>;
  stop(): Promise<void>;
}

export interface LabOptions {
  region: Region;
  vms: VmSpec[];
  /** Keep the lab's directory (console logs, disks) after stop. */
  keep?: boolean;
}

function need(cmd: string, pkg: string): void {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
  } catch {
    throw new Error(`${cmd} is missing: apt-get install ${pkg}`);
  }
}

// ipmi_sim calls: <script> 0x20 get power boot | set power 1 | set boot pxe | set identify '<s> <force>'.
// Power is QEMU's process: on starts it (unless running), off kills it, reset restarts it.
const CHASSIS = `#!/bin/sh
dir=$(dirname "$0")
echo "$*" >> "$dir/calls"
mc=$1; op=$2; shift 2
alive() { [ -f "$dir/qemu.pid" ] && kill -0 "$(cat "$dir/qemu.pid")" 2>/dev/null; }
start() { alive || { setsid sh "$dir/qemu.sh" >> "$dir/qemu.log" 2>&1 < /dev/null & }; i=0; while [ ! -f "$dir/qemu.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done; }
halt() { if alive; then kill "$(cat "$dir/qemu.pid")"; i=0; while alive && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done; fi; rm -f "$dir/qemu.pid"; }
if [ "$op" = get ]; then
  for p in "$@"; do
    case $p in
      power) if alive; then echo "power:1"; else echo "power:0"; fi;;
      boot) echo "boot:$(cat "$dir/boot" 2>/dev/null || echo default)";;
    esac
  done
else
  while [ $# -ge 2 ]; do
    case $1 in
      power) if [ "$2" = 1 ]; then start; else halt; fi;;
      reset) halt; start;;
      *) echo "$2" > "$dir/$1";;
    esac
    shift 2
  done
fi
`;

/**
 * The VM's power: qemu.sh's process. BIOS VMs boot the network first, always (SeaBIOS reaches
 * the disk through iPXE's sanboot when the rack says "local"). UEFI VMs keep the disk first and
 * their BMC honours "next boot PXE" once, as real BMCs do: OVMF lists several network options
 * (PXEv4 twice, PXEv6, HTTP) ahead of the disk and iPXE's exit does not get past them, so a
 * network-first OVMF never reaches a deployed disk. A guest reboot ("reboot: Restarting
 * system") ends QEMU (-no-reboot) and the script starts it again, as the firmware's reset
 * would. Not a reset in place: under TCG, a QEMU that ran the installer and then reset ran the
 * next boot's first large memory writes ten times slower (GRUB loading the 38 MiB initrd in
 * 97 s instead of 9 s, or with iPXE's exit the kernel unpacking it in 131 s instead of 6 s;
 * bench e2e traces), an emulator cost no real machine has.
 */
export function qemuScript(vm: VmSpec, dir: string, disk: string, tap: string): string {
  const common = [
    ...["-machine", "q35,graphics=off", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", String(vm.cpus), "-m", String(vm.memMiB)],
    // A VGA card on BIOS, as servers have: Debian's GRUB writes to the BIOS console too and,
    // under SeaBIOS with no VGA at all, stops after "Welcome to GRUB!".
    ...["-display", "none", "-vga", vm.firmware === "bios" ? "std" : "none", "-monitor", "none"],
    ...["-chardev", `file,id=con,path=${join(dir, "console.log")},append=on`, "-serial", "chardev:con"],
    ...["-netdev", `tap,id=n0,ifname=${tap},script=no,downscript=no`],
    // The lab pulls a NIC's cable through QMP (set_link).
    ...["-qmp", `unix:${join(dir, "qmp.sock")},server=on,wait=off`],
    ...["-smbios", `type=1,manufacturer=Plinth,product=lab-vm,serial=LAB-${vm.name.toUpperCase()}`],
  ];
  const nic = (i: number) => ["-device", `virtio-net-pci,netdev=n0,mac=${vm.mac},bootindex=${i}`];
  // Last on the command line, so the boot NIC keeps the lower PCI slot (eth0 in the deploy environment).
  const second = vm.mac2 ? ["-netdev", `tap,id=n1,ifname=${tap}b,script=no,downscript=no`, "-device", `virtio-net-pci,netdev=n1,mac=${vm.mac2}`] : [];
  const blk = (i: number) => [
    ...["-drive", `file=${disk},if=none,id=d0,format=raw,cache=unsafe`],
    ...["-device", `virtio-blk-pci,drive=d0,serial=PLX-${vm.name.toUpperCase()},bootindex=${i}`],
  ];
  // After the boot devices: their PCI slots follow, so the first disk stays vda.
  const extra = (vm.extraDisks ?? []).flatMap((_, i) => [
    ...["-drive", `file=${join(dir, `disk${i + 1}.img`)},if=none,id=d${i + 1},format=raw,cache=unsafe`],
    ...["-device", `virtio-blk-pci,drive=d${i + 1},serial=PLX-${vm.name.toUpperCase()}-${i + 1}`],
  ]);
  const q = (a: string[]) => a.map((x) => `'${x}'`).join(" ");
  const bios = vm.firmware === "bios";
  const ovmf = bios
    ? []
    : [
        "-drive",
        "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
        "-drive",
        `if=pflash,format=raw,unit=1,file=${join(dir, "OVMF_VARS.fd")}`,
      ];
  // A reboot restarts QEMU; so does SeaBIOS's own reset, 60 s after "No bootable device" (the grep below).
  return `#!/bin/sh
dir='${dir}'
echo $$ > "$dir/qemu.pid"
qpid=""
trap '[ -n "$qpid" ] && kill "$qpid" 2>/dev/null; wait; exit 0' TERM INT
${bios ? "pxe=yes" : 'pxe=no\n[ "$(cat "$dir/boot" 2>/dev/null)" = pxe ] && pxe=yes\necho default > "$dir/boot"'}
while :; do
  from=1
  [ -f "$dir/console.log" ] && from=$(($(wc -c < "$dir/console.log") + 1))
  # A pulled first disk (the file disk0.pulled) is left out.
  if [ -f "$dir/disk0.pulled" ]; then set -- ${q(nic(1))}
  elif [ $pxe = yes ]; then set -- ${q([...nic(1), ...blk(2)])}
  else set -- ${q([...blk(1), ...nic(2)])}; fi
  # A simple command in the background: $! is QEMU itself, which the TERM trap can kill.
  qemu-system-x86_64 ${q([...common, ...ovmf])} -no-reboot "$@" ${q([...extra, ...second])} &
  qpid=$!
  echo $qpid > "$dir/qemu.child"
  wait $qpid
  qpid=""
  tail -c +$from "$dir/console.log" 2>/dev/null | grep -q -e "reboot: Restarting system"${bios ? ' -e "No bootable device"' : ""} || break
${bios ? "" : "  pxe=no\n"}done
rm -f "$dir/qemu.pid" "$dir/qemu.child"
`;
}

/** Builds (or finds current, through the builder's input stamp) an OS image; returns its folder. */
export function buildOsImage(what = "debian/bookworm"): string {
  execFileSync("bash", [join(root, "images", "build.sh"), "os", what], { stdio: ["ignore", "inherit", "inherit"], timeout: 2_400_000 });
  return join(imagesDir, "os", what.replace("/", "-"));
}

/** The lease journal's last record for `mac` that holds an address (records are JSON lines). */
export function leaseAddress(journal: string, mac: string): string | null {
  if (!existsSync(journal)) return null;
  let ip: string | null = null;
  for (const line of readFileSync(journal, "utf8").split("\n")) {
    if (!line.includes(mac)) continue;
    try {
      const r = JSON.parse(line) as { mac?: string; ip?: number | string; state?: string };
      if (r.mac !== mac || r.ip === undefined || (r.state !== undefined && r.state !== "bound")) continue;
      ip = typeof r.ip === "number" ? [24, 16, 8, 0].map((b) => ((r.ip as number) >>> b) & 255).join(".") : r.ip;
    } catch {
      // a torn last line
    }
  }
  return ip;
}

function sshArgs(ns: string, address: string, identity: string, command: string, user: string): string[] {
  return [
    ...["netns", "exec", ns, "ssh", "-i", identity, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"],
    // Keep-alives off: a session must ride out a failover, not give up on it.
    ...["-o", "ConnectTimeout=15", "-o", "LogLevel=ERROR", "-o", "ServerAliveInterval=0", `${user}@${address}`, command],
  ];
}

/** One QMP command on a running QEMU's socket: capabilities handshake, the command, its return. */
function qmp(socket: string, command: { execute: string; arguments?: Record<string, unknown> }): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = connectUnix(socket);
    let buf = "";
    let returns = 0;
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`QMP ${command.execute} on ${socket}: no answer in 10 s`));
    }, 10_000);
    const done = (e?: Error) => {
      clearTimeout(timer);
      c.destroy();
      if (e) reject(e);
      else resolve();
    };
    c.on("error", (e) => done(new Error(`QMP ${socket}: ${e.message}`)));
    c.on("data", (b: Buffer) => {
      buf += b.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { QMP?: unknown; return?: unknown; error?: { desc: string } };
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
        if (msg.QMP) c.write(`${JSON.stringify({ execute: "qmp_capabilities" })}\n`);
        else if (msg.error) return done(new Error(`QMP ${command.execute}: ${msg.error.desc}`));
        else if ("return" in msg && ++returns === 1) c.write(`${JSON.stringify(command)}\n`);
        else if ("return" in msg) return done();
      }
    });
  });
}

export async function startLab(o: LabOptions): Promise<Lab> {
  requireRoot();
  need("qemu-system-x86_64", "qemu-system-x86");
  need("ipmi_sim", "openipmi");
  need("ipmitool", "ipmitool");
  for (const f of ["/usr/lib/ipxe/undionly.kpxe", "/usr/lib/ipxe/ipxe.efi", "/usr/lib/ipxe/snponly.efi"])
    if (!existsSync(f)) throw new Error(`${f} is missing: apt-get install ipxe`);
  if (o.vms.some((v) => v.firmware === "uefi") && !existsSync("/usr/share/OVMF/OVMF_CODE_4M.fd")) throw new Error("OVMF is missing: apt-get install ovmf");
  // The boot environment is git-ignored and rebuilt when its inputs changed (build.sh compares
  // a stamp of them: seconds when current). Only checking that the files exist served a stale
  // initramfs after images/initramfs changed.
  buildImages();

  const r = o.region;
  const octet = 100 + (randomBytes(1)[0]! % 100);
  const NET = `10.${octet}.27`;
  const LINK = `10.${octet}.28`;
  const VLAN = { vid: 100, net: `10.${octet}.29` };
  const dir = mkdtempSync(join(tmpdir(), "plinth-lab-"));
  const ns = createNetns("lab");
  let hostIf = "";
  const started: ChildProcess[] = [];
  const vms: LabVm[] = [];
  const relayed = new Set<Socket>();
  let relay: TcpServer | null = null;
  let appliance: ChildProcess | null = null;
  let stopped = false;

  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    // QEMU first (by the PID its BMC recorded), then the BMCs, the appliance, the WAN.
    for (const vm of vms) {
      for (const f of ["qemu.pid", "qemu.child"]) {
        const pidFile = join(vm.dir, f);
        if (!existsSync(pidFile)) continue;
        try {
          process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    for (const c of started.reverse()) await stop(c, "SIGKILL");
    if (appliance) await stop(appliance, "SIGTERM");
    relay?.close();
    for (const s of relayed) s.destroy();
    ns.destroy();
    try {
      ip("link", "del", hostIf);
    } catch {
      // went with the namespace
    }
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  };

  try {
    ip("-n", ns.name, "link", "add", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0");
    ip("-n", ns.name, "addr", "add", `${NET}.1/24`, "dev", "br0");
    ip("-n", ns.name, "link", "set", "br0", "up");
    // The site's VLAN 100 ends in the namespace's stack at <vlan.net>.1 through vlan-tap.py's
    // trunk port on the bridge (802.1Q in user space: this kernel has no 8021q).
    const vlanPort = ns.spawn("python3", [join(import.meta.dirname, "vlan-tap.py"), "vtrunk", "vaccess", String(VLAN.vid)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    started.push(vlanPort);
    await watchOutput(vlanPort).waitFor((l) => l === "ready", "the VLAN port", 10_000);
    ip("-n", ns.name, "link", "set", "vtrunk", "master", "br0");
    ip("-n", ns.name, "link", "set", "vtrunk", "up");
    ip("-n", ns.name, "addr", "add", `${VLAN.net}.1/24`, "dev", "vaccess");
    ip("-n", ns.name, "link", "set", "vaccess", "up");
    hostIf = hostUplink(ns, LINK).hostIf;

    const listen = (srv: TcpServer, port: number) => new Promise<void>((res) => srv.listen(port, `${LINK}.1`, res));
    const makeRelay = () =>
      createTcpServer((c) => {
        const u = tcpConnect(r.port, "127.0.0.1");
        relayed.add(c).add(u);
        c.pipe(u).pipe(c);
        const end = () => {
          c.destroy();
          u.destroy();
          relayed.delete(c);
          relayed.delete(u);
        };
        c.on("error", end).on("close", end);
        u.on("error", end).on("close", end);
      });
    relay = makeRelay();
    await listen(relay, 0);
    const relayPort = (relay.address() as { port: number }).port;

    const subnet = await api(r, "POST", "/subnets", { cidr: `${NET}.0/24`, site: "default", gateway_ip: `${NET}.1`, dns_servers: [`${NET}.1`] });
    if (subnet.status !== 201) throw new Error(`subnet: ${JSON.stringify(subnet.json)}`);
    const range = await api(r, "POST", "/ip-ranges", { subnet_id: subnet.json.id, type: "dynamic", start_ip: `${NET}.100`, end_ip: `${NET}.150` });
    if (range.status !== 201) throw new Error(`range: ${JSON.stringify(range.json)}`);
    const tok = await api(r, "POST", "/racks/enrol-tokens", { site: "default" });
    const stateDir = join(dir, "appliance");
    const enrolled = cli(["enrol", "--state-dir", stateDir, "--hostname", `rack-${ns.name}`, "--region", r.url, "--token", tok.json.token]);
    if (enrolled.code !== 0) throw new Error(`enrol: ${enrolled.out}`);
    const rackId = JSON.parse(readFileSync(join(stateDir, "credential.json"), "utf8")).rackId as string;

    const tftpRoot = join(dir, "tftp");
    mkdirSync(tftpRoot);
    for (const f of ["undionly.kpxe", "ipxe.efi", "snponly.efi"]) copyFileSync(`/usr/lib/ipxe/${f}`, join(tftpRoot, f));
    for (const f of ["vmlinuz", "initrd.img"]) copyFileSync(join(imagesDir, f), join(tftpRoot, f));

    o.vms.forEach((spec, i) => {
      const vdir = join(dir, spec.name);
      mkdirSync(vdir);
      const tap = `tap${i}`;
      ip("-n", ns.name, "tuntap", "add", "dev", tap, "mode", "tap");
      ip("-n", ns.name, "link", "set", tap, "master", "br0");
      ip("-n", ns.name, "link", "set", tap, "up");
      if (spec.mac2) {
        ip("-n", ns.name, "tuntap", "add", "dev", `${tap}b`, "mode", "tap");
        ip("-n", ns.name, "link", "set", `${tap}b`, "master", "br0");
        ip("-n", ns.name, "link", "set", `${tap}b`, "up");
      }
      const disk = join(vdir, "disk.img");
      execFileSync("truncate", ["-s", String(spec.diskBytes), disk]);
      const disks = [
        disk,
        ...(spec.extraDisks ?? []).map((bytes, k) => {
          const f = join(vdir, `disk${k + 1}.img`);
          execFileSync("truncate", ["-s", String(bytes), f]);
          return f;
        }),
      ];
      if (spec.firmware === "uefi") copyFileSync("/usr/share/OVMF/OVMF_VARS_4M.fd", join(vdir, "OVMF_VARS.fd"));
      writeFileSync(join(vdir, "qemu.sh"), qemuScript(spec, vdir, disk, tap), { mode: 0o755 });
      const script = join(vdir, "chassis-control.sh");
      writeFileSync(script, CHASSIS);
      chmodSync(script, 0o755);
      const bmcPort = 19_623 + i;
      writeFileSync(
        join(vdir, "lan.conf"),
        lanConf({ name: "plinth-lab", port: bmcPort, chassisControl: script, users: [{ id: 2, name: "admin", password: "lab-password", priv: "admin" }] }),
      );
      writeFileSync(join(vdir, "bmc.emu"), BMC_EMU);
      mkdirSync(join(vdir, "bmc-state"));
      // -n: no console on stdin. Inside the namespace: only the appliance (and ipmitool there) reach it.
      started.push(ns.spawn("ipmi_sim", ["-c", join(vdir, "lan.conf"), "-f", join(vdir, "bmc.emu"), "-s", join(vdir, "bmc-state"), "-n"], { stdio: "ignore" }));
      const read = (f: string) => (existsSync(join(vdir, f)) ? readFileSync(join(vdir, f), "utf8") : "");
      vms.push({
        ...spec,
        dir: vdir,
        disk,
        disks,
        tap,
        bmcPort,
        console: () => read("console.log"),
        running: () => {
          const pid = Number(read("qemu.pid"));
          if (!pid) return false;
          try {
            process.kill(pid, 0);
            return true;
          } catch {
            return false;
          }
        },
        bmcCalls: () => read("calls").split("\n").filter(Boolean),
        power: { power_type: "ipmi", power_parameters: { power_address: "127.0.0.1", power_port: bmcPort, power_user: "admin", power_pass: "lab-password" } },
        setLink: (netdev, up) => qmp(join(vdir, "qmp.sock"), { execute: "set_link", arguments: { name: netdev, up } }),
        pullFirstDisk: (pulled) => (pulled ? writeFileSync(join(vdir, "disk0.pulled"), "") : rmSync(join(vdir, "disk0.pulled"), { force: true })),
      });
    });

    const ipmitool = (vm: LabVm, args: string[]) =>
      execFileSync(
        "ip",
        [
          "netns",
          "exec",
          ns.name,
          "ipmitool",
          "-I",
          "lanplus",
          "-H",
          "127.0.0.1",
          "-p",
          String(vm.bmcPort),
          "-U",
          "admin",
          "-P",
          "lab-password",
          "-C",
          "3",
          ...args,
        ],
        {
          encoding: "utf8",
          timeout: 20_000,
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
    for (const vm of vms) await until(`the BMC of ${vm.name}`, async () => ipmitool(vm, ["chassis", "power", "status"]).includes("off"), 80, 250);

    appliance = ns.spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        join(root, "appliance", "cli.ts"),
        "run",
        "--state-dir",
        stateDir,
        "--region",
        `http://${LINK}.1:${relayPort}`,
        // The relay on the host end of the veth speaks plain HTTP: a lab network.
        "--insecure",
        "--dhcp-interface",
        "br0",
        "--tftp-root",
        tftpRoot,
        "--log-level",
        "debug",
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    const out = watchOutput(appliance);
    let log = "";
    appliance.stdout!.on("data", (b: Buffer) => {
      log += b.toString();
      if (log.length > 4_000_000) log = log.slice(-2_000_000);
    });
    await out.waitFor((l) => l.includes("boot services started"), "boot services", 60_000);
    await until("the rack to connect", async () => (await api(r, "GET", `/racks/${rackId}`)).json.connected);
    await until("the config snapshot with the subnet", async () =>
      (JSON.parse(readFileSync(join(stateDir, "config.json"), "utf8")).subnets as { cidr: string }[]).some((s) => s.cidr === `${NET}.0/24`),
    );

    return {
      region: r,
      ns,
      dir,
      rackId,
      net: NET,
      vms,
      applianceLog: () => log,
      ipmitool,
      addressOf: (mac: string) => leaseAddress(join(stateDir, "dhcp", "leases.jsonl"), mac),
      ssh: (address: string, identity: string, command: string, user = "debian") => {
        const r = spawnSync("ip", sshArgs(ns.name, address, identity, command, user), { encoding: "utf8", timeout: 120_000 });
        return { code: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
      },
      sshSession: (address: string, identity: string, command: string, user = "debian") =>
        new Promise((resolve) => {
          const child = spawn("ip", sshArgs(ns.name, address, identity, command, user), { stdio: ["ignore", "pipe", "pipe"] });
          let out = "";
          child.stdout.on("data", (b: Buffer) => (out += b.toString()));
          child.stderr.on("data", (b: Buffer) => (out += b.toString()));
          // Bounded: a session that hangs ends the test's wait, not the test run.
          const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
          child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code: code ?? -1, out });
          });
        }),
      vlan: VLAN,
      cutTunnel: async () => {
        const srv = relay;
        relay = null;
        // Drop the live connections first: close() waits for them to end.
        for (const s of relayed) s.destroy();
        relayed.clear();
        if (srv) await new Promise<void>((res) => srv.close(() => res()));
      },
      restoreTunnel: async () => {
        if (relay) return;
        relay = makeRelay();
        await listen(relay, relayPort);
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
