// `npm run bench -- e2e` (root): one BIOS VM (2 vCPU, 512 MiB, 64 MiB disk, virtio-net, QEMU
// TCG) from power-on to READY and to DEPLOYED through Plinth, versus the same VM served by a
// static setup in the same run: dnsmasq (DHCP + TFTP: undionly.kpxe for PXE ROMs, an http
// URL to a static iPXE script for iPXE clients) and a static HTTP server with the same
// vmlinuz, initrd.img and testdisk.raw.zst, plus the stand-in metadata relay
// (test/node/images/metadata-server.ts) that records what the boot environment posts.
// Ours: test/node/e2e/lab.ts (the appliance on a bridge in a namespace, an ipmi_sim BMC per VM
// starting and stopping QEMU) with the region in workerd on loopback; driven by API calls only.
// Rounds alternate (ours first, then the reference first); medians are reported.
import { type ChildProcess, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { imagesDir, type Lab, type LabVm, startLab } from "../test/node/e2e/lab";
import { dnsmasqDhcpArgs } from "../test/node/images/rig";
import { createNetns, ip, type Netns, requireRoot, stop } from "../test/node/rig/netns";
import { api, type Region, region, stopRegion, until } from "../test/node/tunnel/rig";
import { type BenchRow, median, row } from "./report";

const MiB = 1 << 20;
const ROUNDS = Number(process.env.PLINTH_BENCH_E2E_ROUNDS ?? 3);
/** Each phase is one or two boots under TCG on a busy 2-core machine: bounded, generously. */
const PHASE_MS = 600_000;
const POLL_MS = 250;
/** "Within 1.1×" of the reference, as a ratio (reference/ours for lower-is-better): >= 1/1.1. */
const TARGET = 0.91;
const VM = { name: "bios", firmware: "bios" as const, mac: "52:54:00:1a:be:01", cpus: 2, memMiB: 512, diskBytes: 64 * MiB };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => Math.round(ms / 10) / 100;

// ---------------------------------------------------------------- ours: region + appliance + IPMI

interface Ours {
  r: Region;
  lab: Lab;
  vm: LabVm;
  id: string;
}

async function waitStatus(o: Ours, name: string, t0: number): Promise<number> {
  const deadline = t0 + PHASE_MS;
  for (;;) {
    const m = (await api(o.r, "GET", `/machines/${o.id}`)).json;
    if (m?.status_name === name) return performance.now() - t0;
    if (/^Failed/.test(m?.status_name ?? "")) throw new Error(`ours: ${m.status_name}: ${m.status_message}\n${o.vm.console().slice(-3000)}`);
    if (performance.now() > deadline) throw new Error(`ours: not ${name} within ${PHASE_MS / 1000} s (is ${m?.status_name})\n${o.vm.console().slice(-3000)}`);
    await sleep(POLL_MS);
  }
}

const poweredOff = (o: Ours) => until("our VM to power off", async () => !o.vm.running(), PHASE_MS / POLL_MS, POLL_MS);

async function startOurs(): Promise<Ours> {
  const r = await region();
  let lab: Lab | null = null;
  try {
    lab = await startLab({ region: r, vms: [VM], keep: process.env.PLINTH_KEEP_RIG === "1" });
    const vm = lab.vms[0]!;
    // The test image goes to the region's store; the rack pre-syncs it into its cache.
    const bytes = readFileSync(join(imagesDir, "testdisk.raw.zst"));
    const sha = createHash("sha256").update(bytes).digest("hex");
    const img = await api(r, "POST", "/boot-images", { osystem: "custom", series: "testdisk", format: "raw.zst" });
    if (img.status !== 201) throw new Error(`boot image: ${JSON.stringify(img.json)}`);
    const put = await fetch(`${r.url}/api/v1/boot-images/${img.json.id}/content`, {
      method: "PUT",
      headers: { authorization: `Bearer ${r.admin}`, "x-content-sha256": sha, "content-type": "application/octet-stream" },
      body: bytes,
    });
    if (put.status !== 200) throw new Error(`image content: ${put.status} ${await put.text()}`);
    // Enlistment (not measured): power on the unknown VM from the site; it PXE boots and enlists.
    lab.ipmitool(vm, ["chassis", "power", "on"]);
    const m = await until(
      "the VM to enlist with its inventory",
      async () => {
        const sys = (await api(r, "GET", `/machines?mac=${VM.mac}`)).json.items?.[0]?.system_id;
        const x = sys ? (await api(r, "GET", `/machines/${sys}`)).json : null;
        return x && x.cpu_count > 0 && x.memory > 0 && x.storage > 0 ? x : null;
      },
      PHASE_MS / POLL_MS,
      POLL_MS,
    );
    const o: Ours = { r, lab, vm, id: m.system_id };
    await poweredOff(o);
    const p = await api(r, "PATCH", `/machines/${o.id}`, vm.power);
    if (p.status !== 200) throw new Error(`power parameters: ${JSON.stringify(p.json)}`);
    // Measure deploys from the rack's cache, as a site would run them (the pre-sync is not timed).
    const cached = join(lab.dir, "appliance", "images", "sha256", sha);
    await until("the rack to cache the test image", async () => existsSync(cached), 480, POLL_MS).catch(() => {
      console.warn("e2e: the rack had not cached the test image after 120 s; the first deploy pulls it through");
    });
    return o;
  } catch (e) {
    await lab?.stop();
    await stopRegion(r.child);
    throw e;
  }
}

/**
 * Where our time goes (not part of the figure): from the phase start, when QEMU is running
 * (the BMC's pid file), and when the console shows each line; polled every 100 ms.
 */
function watch(o: Ours, t0: number, lines: string[]): { stop(): Record<string, number> } {
  const from = o.vm.console().length;
  const seen: Record<string, number> = {};
  const tick = () => {
    const now = performance.now() - t0;
    if (seen["qemu"] === undefined && o.vm.running()) seen["qemu"] = now;
    const text = o.vm.console().slice(from);
    for (const l of lines) if (seen[l] === undefined && text.includes(l)) seen[l] = now;
  };
  const timer = setInterval(tick, 100);
  return {
    stop() {
      clearInterval(timer);
      return seen;
    },
  };
}

interface OursRound {
  ready: number;
  deployed: number;
  readyMarks: Record<string, number>;
  deployedMarks: Record<string, number>;
}

async function oursRound(o: Ours): Promise<OursRound> {
  let t0 = performance.now();
  let w = watch(o, t0, ["mode commission done"]);
  const c = await api(o.r, "POST", `/machines/${o.id}/commission`, {});
  if (c.status !== 200) throw new Error(`commission: ${JSON.stringify(c.json)}`);
  const ready = await waitStatus(o, "Ready", t0);
  const readyMarks = w.stop();
  await poweredOff(o);

  t0 = performance.now();
  w = watch(o, t0, ["mode deploy done", "booting from local disk", "phoned home"]);
  const a = await api(o.r, "POST", `/machines/${o.id}/allocate`, {});
  if (a.status !== 200) throw new Error(`allocate: ${JSON.stringify(a.json)}`);
  const d = await api(o.r, "POST", `/machines/${o.id}/deploy`, { osystem: "custom", distro_series: "testdisk" });
  if (d.status !== 200) throw new Error(`deploy: ${JSON.stringify(d.json)}`);
  const deployed = await waitStatus(o, "Deployed", t0);
  const deployedMarks = w.stop();

  // Back to READY and powered off for the next round (not measured): the deployed OS idles
  // otherwise and would take CPU from the reference's boots.
  const rel = await api(o.r, "POST", `/machines/${o.id}/release`, {});
  if (rel.status !== 200) throw new Error(`release: ${JSON.stringify(rel.json)}`);
  await waitStatus(o, "Ready", performance.now());
  await poweredOff(o);
  return { ready, deployed, readyMarks, deployedMarks };
}

// ------------------------------------------------------- reference: dnsmasq + static HTTP server

const REF_NET = "10.98.0";
const REF_PORT = 5248;
const REF_BASE = `http://${REF_NET}.1:${REF_PORT}`;

interface Post {
  method: string;
  path: string;
  body: string;
  /** performance.now() when its line reached us. */
  at: number;
}

interface Ref {
  ns: Netns;
  dir: string;
  children: ChildProcess[];
  requests: Post[];
  wake: Set<() => void>;
}

async function startRef(): Promise<Ref> {
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
      ["--import", "tsx", join(import.meta.dirname, "..", "test/node/images/metadata-server.ts"), "0.0.0.0", String(REF_PORT), dir, www],
      {
        stdio: ["ignore", "pipe", "inherit"],
        cwd: join(import.meta.dirname, ".."),
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

async function stopRef(ref: Ref): Promise<void> {
  for (const c of ref.children.reverse()) await stop(c, "SIGKILL");
  ref.ns.destroy();
  if (process.env.PLINTH_KEEP_RIG !== "1") rmSync(ref.dir, { recursive: true, force: true });
}

/** lab.ts's QEMU command line for the same VM (network first), with -no-reboot: the static setup swaps its script between boots. */
function refQemuArgs(dir: string, disk: string): string[] {
  return [
    ...["-machine", "q35,graphics=off", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", String(VM.cpus), "-m", String(VM.memMiB)],
    ...["-display", "none", "-vga", "none", "-monitor", "none", "-no-reboot"],
    ...["-chardev", `file,id=con,path=${join(dir, "console.log")},append=on`, "-serial", "chardev:con"],
    ...["-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", `virtio-net-pci,netdev=n0,mac=${VM.mac},bootindex=1`],
    ...["-drive", `file=${disk},if=none,id=d0,format=raw`, "-device", `virtio-blk-pci,drive=d0,serial=PLX-${VM.name.toUpperCase()},bootindex=2`],
    ...["-smbios", `type=1,manufacturer=Plinth,product=lab-vm,serial=LAB-${VM.name.toUpperCase()}`],
  ];
}

function refScript(mode: string, token: string): string {
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
async function refBoot(ref: Ref, args: string[], done: ((p: Post) => boolean) | null, deadline: number): Promise<"done" | "exit"> {
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

const statusIs = (s: string) => (p: Post) =>
  p.method === "POST" && p.path === "/metadata/node-1/status" && (JSON.parse(p.body) as { status: string }).status === s;

async function refRound(ref: Ref, n: number): Promise<{ ready: number; deployed: number; deployedMarks: Record<string, number> }> {
  const vdir = join(ref.dir, `round${n}`);
  mkdirSync(vdir);
  const disk = join(vdir, "disk.img");
  execFileSync("truncate", ["-s", String(VM.diskBytes), disk]);
  const www = join(ref.dir, "www");
  const token = `tok-${n}`;
  writeFileSync(join(ref.dir, "tokens.json"), JSON.stringify({ "node-1": token }));
  const sha = createHash("sha256")
    .update(readFileSync(join(imagesDir, "testdisk.raw.zst")))
    .digest("hex");
  const fail = (what: string) => new Error(`reference ${what}: console:\n${readFileSync(join(vdir, "console.log"), "utf8").slice(-3000)}`);

  // (a) commissioning: QEMU start → the environment's final status POST ("done").
  writeFileSync(join(www, "boot.ipxe"), refScript("commission", token));
  let t0 = performance.now();
  if ((await refBoot(ref, refQemuArgs(vdir, disk), statusIs("done"), t0 + PHASE_MS)) !== "done") throw fail("commissioning did not post done");
  const ready = performance.now() - t0;

  // (b) deploy: QEMU start → installed → reboot (QEMU exits) → QEMU again, network first as
  // ours, where the static script now says "boot from local disk" → phone-home POST.
  writeFileSync(join(www, "boot.ipxe"), refScript("deploy", token));
  const phone = `${REF_BASE}/phone-home/${token}`;
  writeFileSync(
    join(ref.dir, "deploy-node-1.json"),
    JSON.stringify({
      image: { url: "/images/testdisk.raw.zst", sha256: sha, format: "raw.zst" },
      hostname: "bench-ref",
      instance_id: "bench-ref",
      ssh_keys: [],
      user_data: "#cloud-config\n",
      vendor_data: ["#cloud-config", "phone_home:", `  url: ${phone}`, "  post: [instance_id, hostname, fqdn]", "  tries: 10", ""].join("\n"),
    }),
  );
  t0 = performance.now();
  const deadline = t0 + PHASE_MS;
  const first = ref.requests.length;
  await refBoot(ref, refQemuArgs(vdir, disk), null, deadline);
  const exited = performance.now() - t0;
  const mark = ref.requests.length;
  const installed = ref.requests.slice(first).find(statusIs("installed"));
  if (!installed) throw fail("deploy did not post installed");
  const home = (p: Post) => p.method === "POST" && p.path === `/phone-home/${token}`;
  // What the appliance answers a deployed machine, as a static file an operator swaps in.
  writeFileSync(join(www, "boot.ipxe"), ["#!ipxe", "echo static: local disk", "sanboot --no-describe --drive 0x80", ""].join("\n"));
  if ((await refBoot(ref, refQemuArgs(vdir, disk), home, deadline)) !== "done" || !ref.requests.slice(mark).some(home)) throw fail("disk did not phone home");
  const deployed = performance.now() - t0;
  return { ready, deployed, deployedMarks: { installed: installed.at - t0, "QEMU exited": exited } };
}

// ---------------------------------------------------------------------------------------- run

export async function run(): Promise<BenchRow[]> {
  requireRoot();
  const oursR: number[] = [];
  const oursD: number[] = [];
  const refR: number[] = [];
  const refD: number[] = [];
  const readyMarks: Record<string, number>[] = [];
  const deployedMarks: Record<string, number>[] = [];
  const refMarks: Record<string, number>[] = [];
  const t = performance.now();
  const ours = await startOurs();
  console.log(`e2e: lab up and VM enlisted in ${secs(performance.now() - t)} s`);
  let ref: Ref | null = null;
  try {
    ref = await startRef();
    for (let i = 0; i < ROUNDS; i++) {
      const sides = i % 2 === 0 ? (["ours", "ref"] as const) : (["ref", "ours"] as const);
      for (const side of sides) {
        if (side === "ours") {
          const x = await oursRound(ours);
          oursR.push(x.ready);
          oursD.push(x.deployed);
          readyMarks.push(x.readyMarks);
          deployedMarks.push(x.deployedMarks);
          const m = (r: Record<string, number>) =>
            Object.entries(r)
              .map(([k, v]) => `${k} @${secs(v)}`)
              .join(", ");
          console.log(
            `e2e round ${i + 1} ours: power-on to READY ${secs(x.ready)} s (${m(x.readyMarks)}), to DEPLOYED ${secs(x.deployed)} s (${m(x.deployedMarks)})`,
          );
        } else {
          const x = await refRound(ref, i);
          refR.push(x.ready);
          refD.push(x.deployed);
          refMarks.push(x.deployedMarks);
          console.log(
            `e2e round ${i + 1} reference: power-on to READY ${secs(x.ready)} s, to DEPLOYED ${secs(x.deployed)} s (${Object.entries(x.deployedMarks)
              .map(([k, v]) => `${k} @${secs(v)}`)
              .join(", ")})`,
          );
        }
      }
    }
  } finally {
    if (ref) await stopRef(ref);
    await ours.lab.stop();
    await stopRegion(ours.r.child);
  }
  const each = (xs: number[]) => xs.map(secs).join(", ");
  // Medians of where each of our phases stood when QEMU ran and when the console showed a line.
  const marks = (rs: Record<string, number>[]) => {
    const keys = [...new Set(rs.flatMap((r) => Object.keys(r)))];
    return keys
      .map(
        (k) =>
          `${k === "qemu" ? "QEMU running" : k === "installed" ? "status installed POSTed" : k === "QEMU exited" ? "QEMU exited on the reboot" : `console "${k}"`} at ${secs(median(rs.flatMap((r) => (r[k] === undefined ? [] : [r[k]!]))))} s`,
      )
      .join(", ");
  };
  const refName = "dnsmasq 2.90 (DHCP+TFTP) + static HTTP, same VM";
  const host = `${ROUNDS} alternating rounds under QEMU TCG on a shared 2-core host (other sessions running): expect noise`;
  return [
    row({
      metric: "e2e.power_on_to_ready_s",
      unit: "s",
      better: "lower",
      ours: secs(median(oursR)),
      reference: { name: refName, value: secs(median(refR)) },
      target: TARGET,
      note:
        `ours: from POST /machines/{id}/commission until GET shows Ready (polled every ${POLL_MS} ms): region → tunnel → appliance → IPMI (ipmi_sim chassis control starts QEMU), PXE ROM → DHCP/TFTP undionly.kpxe → iPXE → HTTP boot script and node script → kernel+initrd over HTTP → commissioning environment posts inventory to the appliance's relay → region → Ready. ` +
        `reference: from QEMU start until the same environment's final status POST ("done") reaches the stand-in relay: DHCP/TFTP from dnsmasq, one static iPXE script, kernel+initrd from a static HTTP server; no BMC, no region, no API. ` +
        `Samples (s) ours ${each(oursR)}; reference ${each(refR)}. Ours, medians from the API call: ${marks(readyMarks)}. ${host}. ` +
        `Target "within 1.1×" is ratio >= 1/1.1 ≈ 0.91 (ratio = reference/ours for lower-is-better); bench/report.ts does not compare ratio with target (the table shows both side by side), so this row meets it only if ratio >= 0.91.`,
    }),
    row({
      metric: "e2e.power_on_to_deployed_s",
      unit: "s",
      better: "lower",
      ours: secs(median(oursD)),
      reference: { name: refName, value: secs(median(refD)) },
      target: TARGET,
      note:
        `ours: from POST /machines/{id}/allocate (then deploy osystem custom, distro_series testdisk) until GET shows Deployed: power on over IPMI, PXE, deploy environment fetches its instructions and writes testdisk.raw.zst (24 MiB raw) from the appliance's cache, reports installed, reboots (QEMU in place), PXE again where the appliance answers "boot from local disk" (sanboot), the disk boots and phones home to the appliance → region → Deployed. ` +
        `reference: from QEMU start with a static deploy script until the phone-home POST reaches the static server: same deploy environment and image from the static server, reboot makes QEMU exit (-no-reboot), QEMU is started again network first like ours and PXE boots a static script that now says "boot from local disk" (sanboot; the swap of that file is free, the restart is counted), the disk boots and phones home. Both sides pay the same second PXE round (about 18 s under TCG); an earlier version of this bench restarted the reference disk first and measured 0.71-0.81 for that reason alone. ` +
        `Samples (s) ours ${each(oursD)}; reference ${each(refD)}. Ours, medians from the allocate call: ${marks(deployedMarks)}; reference, medians from QEMU start: ${marks(refMarks)}. ${host}.`,
    }),
  ];
}
