// The reference side of `npm run bench -- e2e`: the same VM served by a static setup in its
// own namespace: dnsmasq (DHCP + TFTP: undionly.kpxe for PXE ROMs, an http URL to a static iPXE
// script for iPXE clients) and a static HTTP server (test/node/images/metadata-server.ts) with
// the same boot environment and images, recording what the environment and the deployed
// system post. No BMC, no region, no API: what Plinth's machinery is measured against.
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { imagesDir, type VmSpec } from "../../test/node/e2e/lab";
import { dnsmasqDhcpArgs } from "../../test/node/images/rig";
import { createNetns, ip, type Netns, requireRoot, stop } from "../../test/node/rig/netns";
import { until } from "../../test/node/tunnel/rig";

const POLL_MS = 250;

export const REF_NET = "10.98.0";
export const REF_PORT = 5248;
export const REF_BASE = `http://${REF_NET}.1:${REF_PORT}`;

export interface Post {
  method: string;
  path: string;
  body: string;
  /** performance.now() when its line reached us. */
  at: number;
}

export interface Ref {
  ns: Netns;
  dir: string;
  children: ChildProcess[];
  requests: Post[];
  wake: Set<() => void>;
}

/** `extra`: more files the static server offers under /images/, by name → path (linked, not copied). */
export async function startRef(extra: Record<string, string> = {}): Promise<Ref> {
  requireRoot();
  const ns = createNetns("e2eref");
  const dir = mkdtempSync(join(tmpdir(), "plinth-bench-e2e-ref-"));
  const ref: Ref = { ns, dir, children: [], requests: [], wake: new Set() };
  try {
    ip("-n", ns.name, "link", "add", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0");
    ip("-n", ns.name, "addr", "add", `${REF_NET}.1/24`, "dev", "br0");
    ip("-n", ns.name, "tuntap", "add", "dev", "tap0", "mode", "tap");
    ip("-n", ns.name, "link", "set", "tap0", "master", "br0");
    ip("-n", ns.name, "link", "set", "br0", "up");
    ip("-n", ns.name, "link", "set", "tap0", "up");
    // The static tree: the same boot environment and test image (by link), and the iPXE script.
    const www = join(dir, "www");
    const tftp = join(dir, "tftp");
    mkdirSync(www);
    mkdirSync(tftp);
    for (const f of ["vmlinuz", "initrd.img", "testdisk.raw.zst"]) symlinkSync(join(imagesDir, f), join(www, f));
    for (const [name, path] of Object.entries(extra)) symlinkSync(path, join(www, name));
    mkdirSync(join(dir, "nocloud"));
    writeFileSync(join(tftp, "undionly.kpxe"), readFileSync("/usr/lib/ipxe/undionly.kpxe"));
    const dnsmasq = ns.spawn(
      "dnsmasq",
      [
        ...dnsmasqDhcpArgs(`${REF_NET}.100,${REF_NET}.150,255.255.255.0,10m`, dir),
        "--enable-tftp",
        `--tftp-root=${tftp}`,
        "--dhcp-userclass=set:ipxe,iPXE",
        "--dhcp-boot=tag:!ipxe,undionly.kpxe",
        `--dhcp-boot=tag:ipxe,${REF_BASE}/images/boot.ipxe`,
        // What the appliance sends iPXE too: no waiting for proxyDHCP offers.
        "--dhcp-option=tag:ipxe,encap:175,176,1b",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    ref.children.push(dnsmasq);
    const server = ns.spawn(
      process.execPath,
      ["--import", "tsx", join(import.meta.dirname, "..", "..", "test/node/images/metadata-server.ts"), "0.0.0.0", String(REF_PORT), dir, www],
      {
        stdio: ["ignore", "pipe", "inherit"],
        cwd: join(import.meta.dirname, "..", ".."),
      },
    );
    ref.children.push(server);
    await new Promise<void>((ok, fail) => {
      const t = setTimeout(() => fail(new Error("the reference's HTTP server did not start")), 30_000);
      createInterface({ input: server.stdout! }).on("line", (line) => {
        const msg = JSON.parse(line) as Post & { listening?: boolean };
        if (msg.listening) {
          clearTimeout(t);
          ok();
          return;
        }
        ref.requests.push({ ...msg, at: performance.now() });
        for (const w of ref.wake) w();
      });
      server.once("exit", (code) => fail(new Error(`the reference's HTTP server exited (${code})`)));
    });
    // dnsmasq is up when it holds its pid file.
    await until("dnsmasq", async () => existsSync(join(dir, "dnsmasq.pid")), 80, POLL_MS);
    return ref;
  } catch (e) {
    await stopRef(ref);
    throw e;
  }
}

export async function stopRef(ref: Ref): Promise<void> {
  for (const c of ref.children.reverse()) await stop(c, "SIGKILL");
  ref.ns.destroy();
  if (process.env.PLINTH_KEEP_RIG !== "1") rmSync(ref.dir, { recursive: true, force: true });
}

/** lab.ts's QEMU command line for the same VM (network first), with -no-reboot: the static setup swaps its script between boots. */
export function refQemuArgs(VM: VmSpec, dir: string, disk: string): string[] {
  return [
    ...["-machine", "q35,graphics=off", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", String(VM.cpus), "-m", String(VM.memMiB)],
    ...["-display", "none", "-vga", "std", "-monitor", "none", "-no-reboot"],
    ...["-chardev", `file,id=con,path=${join(dir, "console.log")},append=on`, "-serial", "chardev:con"],
    ...["-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", `virtio-net-pci,netdev=n0,mac=${VM.mac},bootindex=1`],
    ...["-drive", `file=${disk},if=none,id=d0,format=raw,cache=unsafe`, "-device", `virtio-blk-pci,drive=d0,serial=PLX-${VM.name.toUpperCase()},bootindex=2`],
    ...["-smbios", `type=1,manufacturer=Plinth,product=lab-vm,serial=LAB-${VM.name.toUpperCase()}`],
  ];
}

export function refScript(mode: string, token: string): string {
  // The same kernel command line the appliance's node script gives (appliance/http/ipxe.ts).
  const v = (s: string) => `\${${s}}`;
  return [
    "#!ipxe",
    `echo static: ${mode}`,
    `kernel --name kernel ${REF_BASE}/images/vmlinuz initrd=initrd console=ttyS0 plinth.mode=${mode} BOOTIF=01-${v("net0/mac:hexhyp")} plinth.url=${REF_BASE}/metadata/node-1 plinth.token=${token}`,
    `initrd --name initrd ${REF_BASE}/images/initrd.img`,
    "boot",
    "",
  ].join("\n");
}

/** Runs QEMU in the reference namespace until `done` holds for a request since the start, or QEMU exits. */
export async function refBoot(ref: Ref, args: string[], done: ((p: Post) => boolean) | null, deadline: number): Promise<"done" | "exit"> {
  const mark = ref.requests.length;
  const qemu = ref.ns.spawn("qemu-system-x86_64", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  qemu.stderr!.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  try {
    return await new Promise<"done" | "exit">((ok, fail) => {
      const check = () => {
        if (done && ref.requests.slice(mark).some(done)) finish("done");
      };
      const finish = (how: "done" | "exit") => {
        clearTimeout(timer);
        ref.wake.delete(check);
        ok(how);
      };
      const timer = setTimeout(() => fail(new Error(`reference: no result before the deadline: ${stderr}`)), Math.max(0, deadline - performance.now()));
      ref.wake.add(check);
      qemu.once("exit", () => {
        // The last requests may still be on their way through the server's stdout.
        setTimeout(() => {
          check();
          finish("exit");
        }, 100);
      });
    });
  } finally {
    await stop(qemu, "SIGKILL");
  }
}

export const statusIs = (s: string) => (p: Post) =>
  p.method === "POST" && p.path === "/metadata/node-1/status" && (JSON.parse(p.body) as { status: string }).status === s;
