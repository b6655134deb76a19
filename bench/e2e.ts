// `npm run bench -- e2e` (root): one BIOS VM (2 vCPU, 512 MiB, 4 GiB disk, virtio-net, QEMU
// TCG) from power-on to READY and to DEPLOYED through Plinth, versus the same VM served by a
// static setup in the same run (bench/e2e/reference.ts: dnsmasq + a static HTTP server with the
// same boot environment and images). Two deployments: testdisk (a 24 MiB raw image that phones
// home) and stock Debian bookworm from its root tarball with the flat layout, split by step.
// Ours: test/node/e2e/lab.ts (the appliance on a bridge in a namespace, an ipmi_sim BMC per VM
// starting and stopping QEMU) with the region in workerd on loopback; driven by API calls only.
// Rounds alternate (ours first, then the reference first); medians are reported. First, the
// Debian image is built from nothing (bench/e2e/build.ts) and timed.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { Readable } from "node:stream";
import { join } from "node:path";
import { buildOsImage, imagesDir, type Lab, type LabVm, startLab } from "../test/node/e2e/lab";
import { requireRoot } from "../test/node/rig/netns";
import { api, type Region, region, stopRegion, until } from "../test/node/tunnel/rig";
import { measureImageBuild } from "./e2e/build";
import { type Post, REF_BASE, type Ref, refBoot, refQemuArgs, refScript, startRef, statusIs, stopRef } from "./e2e/reference";
import { type BenchRow, median, row } from "./report";

const GiB = 1 << 30;
const ROUNDS = Number(process.env.PLINTH_BENCH_E2E_ROUNDS ?? 3);
const DEBIAN_ROUNDS = Number(process.env.PLINTH_BENCH_E2E_DEBIAN_ROUNDS ?? 2);
/** Each phase is one or two boots under TCG on a busy 2-core machine: bounded, generously. */
const PHASE_MS = 600_000;
/** A Debian deployment unpacks 830 MiB and boots a full system twice over: under TCG on a shared host, up to half an hour. */
const DEBIAN_PHASE_MS = 1_800_000;
const POLL_MS = 250;
const STATUS_POLL_MS = 2000;
/** "Within 1.1×" of the reference, as a ratio (reference/ours for lower-is-better): >= 1/1.1. */
const TARGET = 0.91;
const VM = { name: "bios", firmware: "bios" as const, mac: "52:54:00:1a:be:01", cpus: 2, memMiB: 512, diskBytes: 4 * GiB };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => Math.round(ms / 10) / 100;

// ---------------------------------------------------------------- ours: region + appliance + IPMI

interface Ours {
  r: Region;
  lab: Lab;
  vm: LabVm;
  id: string;
  debianSha: string;
}

/** The Debian image both sides deploy: root.tgz of `npm run images -- os debian/bookworm`. */
const DEBIAN_TGZ = join(imagesDir, "os", "debian-bookworm", "root.tgz");

/**
 * Puts an image into the region's store, as `plinth images upload` does (streamed, with its
 * length); returns its sha256. A whole-buffer PUT of the 268 MiB tarball failed with EPIPE
 * when other work shared the cores; the stream is retried once before the bench gives up.
 */
async function uploadImage(r: Region, file: string, image: { osystem: string; series: string; format: string }): Promise<string> {
  const sha = createHash("sha256").update(readFileSync(file)).digest("hex");
  const img = await api(r, "POST", "/boot-images", image);
  if (img.status !== 201) throw new Error(`boot image ${image.osystem}/${image.series}: ${JSON.stringify(img.json)}`);
  const put = () =>
    fetch(`${r.url}/api/v1/boot-images/${img.json.id}/content`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${r.admin}`,
        "x-content-sha256": sha,
        "content-type": "application/octet-stream",
        "content-length": String(statSync(file).size),
      },
      body: Readable.toWeb(createReadStream(file)) as ReadableStream,
      duplex: "half",
    } as RequestInit);
  let res: Response;
  try {
    res = await put();
  } catch (e) {
    console.warn(`e2e: uploading ${image.osystem}/${image.series} failed (${(e as Error).message}); once more`);
    await sleep(5000);
    res = await put();
  }
  if (res.status !== 200) throw new Error(`image content ${image.osystem}/${image.series}: ${res.status} ${await res.text()}`);
  return sha;
}

/**
 * When the machine reached `name`, in ms since `t0`: the time the region recorded the
 * transition (its event), found by polling every STATUS_POLL_MS. Why not poll fast and take
 * the poll's time: the region shares the 2 cores with the VM, and polling it 4 times a second
 * cost about a quarter of a core (wrangler's proxy, two workerd processes, this process),
 * which the 2-vCPU guest paid for in every boot step; the reference is timed by its server's
 * receipts, at no cost to the guest. The event time is the region's own clock, the same host's.
 */
async function waitStatus(o: Ours, name: string, t0: number, budget = PHASE_MS): Promise<number> {
  const wall0 = Date.now() - (performance.now() - t0);
  const deadline = t0 + budget;
  for (;;) {
    const m = (await api(o.r, "GET", `/machines/${o.id}`)).json;
    if (m?.status_name === name) {
      const ev = (await api(o.r, "GET", `/events?machine=${o.id}&limit=100`)).json.items as { to_status: number | null; created_at: number }[];
      const at = ev.filter((e) => e.to_status === m.status && e.created_at >= wall0).map((e) => e.created_at);
      return at.length ? Math.min(...at) - wall0 : performance.now() - t0;
    }
    if (/^Failed/.test(m?.status_name ?? "")) throw new Error(`ours: ${m.status_name}: ${m.status_message}\n${o.vm.console().slice(-3000)}`);
    if (performance.now() > deadline) throw new Error(`ours: not ${name} within ${budget / 1000} s (is ${m?.status_name})\n${o.vm.console().slice(-3000)}`);
    await sleep(STATUS_POLL_MS);
  }
}

const poweredOff = (o: Ours) => until("our VM to power off", async () => !o.vm.running(), PHASE_MS / POLL_MS, POLL_MS);

async function startOurs(): Promise<Ours> {
  const r = await region();
  let lab: Lab | null = null;
  try {
    lab = await startLab({ region: r, vms: [VM], keep: process.env.PLINTH_KEEP_RIG === "1" });
    const vm = lab.vms[0]!;
    // The images go to the region's store; the rack pre-syncs them into its cache.
    const testdisk = await uploadImage(r, join(imagesDir, "testdisk.raw.zst"), { osystem: "custom", series: "testdisk", format: "raw.zst" });
    const debian = await uploadImage(r, DEBIAN_TGZ, { osystem: "debian", series: "bookworm", format: "tgz" });
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
    const o: Ours = { r, lab, vm, id: m.system_id, debianSha: debian };
    await poweredOff(o);
    const p = await api(r, "PATCH", `/machines/${o.id}`, vm.power);
    if (p.status !== 200) throw new Error(`power parameters: ${JSON.stringify(p.json)}`);
    // The Debian deployment gets the flat layout from the region's default_storage_layout when
    // the machine commissions (a layout can only be set once it is Ready).
    // Measure deploys from the rack's cache, as a site would run them (the pre-sync is not timed).
    for (const sha of [testdisk, debian]) {
      const cached = join(lab.dir, "appliance", "images", "sha256", sha);
      await until(`the rack to cache image ${sha.slice(0, 12)}`, async () => existsSync(cached), 960, POLL_MS).catch(() => {
        console.warn(`e2e: the rack had not cached image ${sha.slice(0, 12)} after 240 s; the first deploy pulls it through`);
      });
    }
    return o;
  } catch (e) {
    await lab?.stop();
    await stopRegion(r.child);
    throw e;
  }
}

/**
 * Where our time goes (not part of the figure): from the phase start, when QEMU is running
 * (the BMC's pid file), and when the console shows each line; polled every 500 ms (each poll
 * reads the whole console, on the cores the guest runs on).
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
  const timer = setInterval(tick, 500);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return seen;
    },
  };
}

/**
 * With PLINTH_BENCH_E2E_TRACE=<dir>: every console line of a Debian round with the time it
 * appeared (s from the round's start, polled every 100 ms; only when asked for), one file per side and round, to
 * find where one side's boot waits when the figures differ.
 */
function trace(name: string, t0: number, read: () => string): { stop(): void } {
  const dir = process.env.PLINTH_BENCH_E2E_TRACE;
  if (!dir) return { stop() {} };
  mkdirSync(dir, { recursive: true });
  const from = read().length;
  let seen = 0;
  let partial = "";
  const out: string[] = [];
  const tick = () => {
    const text = read().slice(from);
    const fresh = partial + text.slice(seen);
    seen = text.length;
    const lines = fresh.split(/\r?\n/);
    partial = lines.pop() ?? "";
    const at = secs(performance.now() - t0)
      .toFixed(2)
      .padStart(8);
    for (const l of lines) out.push(`${at} ${l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "")}`);
  };
  const timer = setInterval(tick, 100);
  return {
    stop() {
      clearInterval(timer);
      tick();
      writeFileSync(join(dir, `${name}.txt`), `${out.join("\n")}\n`);
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

/**
 * The Debian deployment's steps, the same names on both sides: the installer's progress posts
 * (its environment is up at "partitioning"), its last post ("installed"), the deployed disk's
 * boot (ours: the rack's "local" script on the console; the reference: QEMU restarted), and
 * stock cloud-init's first reporting event and its last (modules-final). cloud-init registers its
 * webhook reporter only once init-local has read the configuration, so the first event either side
 * receives is from init-network (or init-local's finish): "first report".
 */
const DEBIAN_STEPS = ["partitioning", "unpacking", "bootloader", "cloud-init config", "installed", "disk boot", "first report", "modules-final"] as const;
type Steps = Partial<Record<(typeof DEBIAN_STEPS)[number], number>>;

let oursDebianRounds = 0;

async function oursDebianRound(o: Ours): Promise<{ deployed: number; steps: Steps }> {
  const wall0 = Date.now();
  const t0 = performance.now();
  const w = watch(o, t0, ["mode deploy done", "booting from local disk"]);
  const tr = trace(`debian-ours-${++oursDebianRounds}`, t0, () => o.vm.console());
  const a = await api(o.r, "POST", `/machines/${o.id}/allocate`, {});
  if (a.status !== 200) throw new Error(`allocate: ${JSON.stringify(a.json)}`);
  const d = await api(o.r, "POST", `/machines/${o.id}/deploy`, { osystem: "debian", distro_series: "bookworm" });
  if (d.status !== 200) throw new Error(`deploy: ${JSON.stringify(d.json)}`);
  const deployed = await waitStatus(o, "Deployed", t0, DEBIAN_PHASE_MS);
  const seen = w.stop();
  tr.stop();
  // The rack relays the environment's progress and cloud-init's events as they come (the
  // tunnel is up): the region's event times place each step.
  const ev = (await api(o.r, "GET", `/events?machine=${o.id}&limit=500`)).json.items as { type: string; description: string; created_at: number }[];
  const first = (test: (e: { type: string; description: string }) => boolean) => {
    const at = ev.filter((e) => e.created_at >= wall0 && test(e)).map((e) => e.created_at - wall0);
    return at.length ? Math.min(...at) : undefined;
  };
  const progress = (step: string) => first((e) => e.type === "machine.deploy_progress" && e.description.startsWith(`${step}`));
  const steps: Steps = {
    partitioning: progress("partitioning"),
    unpacking: progress("unpacking"),
    bootloader: progress("bootloader"),
    "cloud-init config": progress("cloud-init"),
    installed: seen["mode deploy done"],
    "disk boot": seen["booting from local disk"],
    "first report": first((e) => e.type === "machine.cloudinit"),
    "modules-final": deployed,
  };
  const rel = await api(o.r, "POST", `/machines/${o.id}/release`, {});
  if (rel.status !== 200) throw new Error(`release: ${JSON.stringify(rel.json)}`);
  await waitStatus(o, "Ready", performance.now());
  await poweredOff(o);
  return { deployed, steps };
}

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
  if ((await refBoot(ref, refQemuArgs(VM, vdir, disk), statusIs("done"), t0 + PHASE_MS)) !== "done") throw fail("commissioning did not post done");
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
  await refBoot(ref, refQemuArgs(VM, vdir, disk), null, deadline);
  const exited = performance.now() - t0;
  const mark = ref.requests.length;
  const installed = ref.requests.slice(first).find(statusIs("installed"));
  if (!installed) throw fail("deploy did not post installed");
  const home = (p: Post) => p.method === "POST" && p.path === `/phone-home/${token}`;
  // What the appliance answers a deployed machine, as a static file an operator swaps in.
  writeFileSync(join(www, "boot.ipxe"), ["#!ipxe", "echo static: local disk", "sanboot --no-describe --drive 0x80", ""].join("\n"));
  if ((await refBoot(ref, refQemuArgs(VM, vdir, disk), home, deadline)) !== "done" || !ref.requests.slice(mark).some(home))
    throw fail("disk did not phone home");
  const deployed = performance.now() - t0;
  return { ready, deployed, deployedMarks: { installed: installed.at - t0, "QEMU exited": exited } };
}

/**
 * The static Debian deployment: the same environment reads a static deploy document (root.tgz,
 * flat, no kernel options, as the rack gives) whose cloud-init configuration points stock
 * cloud-init at a NoCloud-net seed on the static server and its webhook reporter at the same
 * server, where ours points them at the rack's MAAS metadata API. Ends at modules-final's finish.
 */
async function refDebianRound(ref: Ref, n: number, image: { sha256: string; size: number }): Promise<{ deployed: number; steps: Steps }> {
  const vdir = join(ref.dir, `debian${n}`);
  mkdirSync(vdir);
  const disk = join(vdir, "disk.img");
  execFileSync("truncate", ["-s", String(VM.diskBytes), disk]);
  const www = join(ref.dir, "www");
  const token = `deb-${n}`;
  writeFileSync(join(ref.dir, "tokens.json"), JSON.stringify({ "node-1": token }));
  const fail = (what: string) => new Error(`reference ${what}: console:\n${readFileSync(join(vdir, "console.log"), "utf8").slice(-3000)}`);
  const seed = join(ref.dir, "nocloud");
  writeFileSync(join(seed, "meta-data"), `instance-id: bench-ref-${n}\nlocal-hostname: bench-ref\n`);
  writeFileSync(join(seed, "user-data"), "#cloud-config\n");
  writeFileSync(
    join(seed, "vendor-data"),
    ["#cloud-config", "phone_home:", `  url: ${REF_BASE}/phone-home/${token}`, "  post: [instance_id, hostname, fqdn]", "  tries: 10", ""].join("\n"),
  );
  const report = `/phone-home/report-${n}`;
  writeFileSync(
    join(ref.dir, "deploy-node-1.json"),
    JSON.stringify({
      image: { url: "/images/root.tgz", sha256: image.sha256, format: "tgz", size: image.size },
      hostname: "bench-ref",
      instance_id: `bench-ref-${n}`,
      ssh_keys: [],
      user_data: "#cloud-config\n",
      vendor_data: "",
      storage: { layout: "flat", disk: "" },
      kernel_opts: "",
      cloud_init: [
        "#cloud-config",
        "datasource_list: [NoCloud]",
        "datasource:",
        "  NoCloud:",
        `    seedfrom: "${REF_BASE}/nocloud/"`,
        "reporting:",
        "  bench:",
        "    type: webhook",
        `    endpoint: "${REF_BASE}${report}"`,
        "",
      ].join("\n"),
    }),
  );
  const event = (p: Post, type: string, name: string) => {
    if (p.method !== "POST" || p.path !== report) return false;
    const e = JSON.parse(p.body) as { event_type?: string; name?: string };
    return e.event_type === type && e.name === name;
  };
  writeFileSync(join(www, "boot.ipxe"), refScript("deploy", token));
  const t0 = performance.now();
  const deadline = t0 + DEBIAN_PHASE_MS;
  const first = ref.requests.length;
  const readConsole = () => (existsSync(join(vdir, "console.log")) ? readFileSync(join(vdir, "console.log"), "utf8") : "");
  const tr = trace(`debian-ref-${n + 1}`, t0, readConsole);
  await refBoot(ref, refQemuArgs(VM, vdir, disk), null, deadline);
  const exited = performance.now() - t0;
  if (!ref.requests.slice(first).some(statusIs("installed"))) throw fail("deploy did not post installed");
  writeFileSync(join(www, "boot.ipxe"), ["#!ipxe", "echo static: local disk", "sanboot --no-describe --drive 0x80", ""].join("\n"));
  if ((await refBoot(ref, refQemuArgs(VM, vdir, disk), (p) => event(p, "finish", "modules-final"), deadline)) !== "done")
    throw fail("the deployed Debian did not report modules-final");
  const deployed = performance.now() - t0;
  tr.stop();
  const posts = ref.requests.slice(first);
  const at = (test: (p: Post) => boolean) => {
    const p = posts.find(test);
    return p ? p.at - t0 : undefined;
  };
  const progress = (step: string) => (p: Post) => statusIs("progress")(p) && (JSON.parse(p.body) as { step?: string }).step === step;
  return {
    deployed,
    steps: {
      partitioning: at(progress("partitioning")),
      unpacking: at(progress("unpacking")),
      bootloader: at(progress("bootloader")),
      "cloud-init config": at(progress("cloud-init")),
      installed: at(statusIs("installed")),
      "disk boot": exited,
      "first report": at((p) => p.method === "POST" && p.path === report),
      "modules-final": deployed,
    },
  };
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
  const oursDeb: number[] = [];
  const refDeb: number[] = [];
  const oursDebSteps: Steps[] = [];
  const refDebSteps: Steps[] = [];
  // The image build first, alone on the machine: a from-nothing build timed (the deb downloads
  // cached), then the project's own build made current for the deployments.
  const build = measureImageBuild();
  console.log(`e2e: Debian image built in ${Math.round(build.wall)} s (${JSON.stringify(build.steps)})`);
  buildOsImage();
  const debian = { sha256: createHash("sha256").update(readFileSync(DEBIAN_TGZ)).digest("hex"), size: statSync(DEBIAN_TGZ).size };
  const t = performance.now();
  const ours = await startOurs();
  console.log(`e2e: lab up and VM enlisted in ${secs(performance.now() - t)} s`);
  let ref: Ref | null = null;
  try {
    ref = await startRef({ "root.tgz": DEBIAN_TGZ });
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
    const stepLine = (x: Steps) =>
      DEBIAN_STEPS.filter((k) => x[k] !== undefined)
        .map((k) => `${k} @${secs(x[k]!)}`)
        .join(", ");
    for (let i = 0; i < DEBIAN_ROUNDS; i++) {
      for (const side of i % 2 === 0 ? (["ours", "ref"] as const) : (["ref", "ours"] as const)) {
        const x = side === "ours" ? await oursDebianRound(ours) : await refDebianRound(ref, i, debian);
        (side === "ours" ? oursDeb : refDeb).push(x.deployed);
        (side === "ours" ? oursDebSteps : refDebSteps).push(x.steps);
        console.log(`e2e Debian round ${i + 1} ${side === "ours" ? "ours" : "reference"}: power-on to DEPLOYED ${secs(x.deployed)} s (${stepLine(x.steps)})`);
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
  const steps = (xs: Steps[]) =>
    DEBIAN_STEPS.map((k) => {
      const v = xs.flatMap((x) => (x[k] === undefined ? [] : [x[k]!]));
      return v.length ? `${k} ${secs(median(v))}` : `${k} -`;
    }).join(", ");
  const refName = "dnsmasq 2.90 (DHCP+TFTP) + static HTTP, same VM";
  const host = (n: number) => `${n} alternating rounds under QEMU TCG on a shared 2-core host (other sessions running): expect noise`;
  return [
    row({
      metric: "e2e.power_on_to_ready_s",
      unit: "s",
      better: "lower",
      ours: secs(median(oursR)),
      reference: { name: refName, value: secs(median(refR)) },
      target: TARGET,
      note:
        `ours: from POST /machines/{id}/commission until the region records Ready (its event's time; the status polled every ${STATUS_POLL_MS / 1000} s, as faster polling took CPU from the guest): region → tunnel → appliance → IPMI (ipmi_sim chassis control starts QEMU), PXE ROM → DHCP/TFTP undionly.kpxe → iPXE → HTTP boot script and node script → kernel+initrd over HTTP → commissioning environment posts inventory to the appliance's relay → region → Ready. ` +
        `reference: from QEMU start until the same environment's final status POST ("done") reaches the stand-in relay: DHCP/TFTP from dnsmasq, one static iPXE script, kernel+initrd from a static HTTP server; no BMC, no region, no API. ` +
        `Samples (s) ours ${each(oursR)}; reference ${each(refR)}. Ours, medians from the API call: ${marks(readyMarks)}. ${host(ROUNDS)}. ` +
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
        `ours: from POST /machines/{id}/allocate (then deploy osystem custom, distro_series testdisk) until the region records Deployed (its event's time): power on over IPMI, PXE, deploy environment fetches its instructions and writes testdisk.raw.zst (24 MiB raw) from the appliance's cache, reports installed, reboots (the lab's BIOS VM restarts QEMU on a guest reboot, as the reference does: a reset in place under TCG slowed the next boot's first large memory writes about tenfold), PXE again where the appliance answers "boot from local disk" (sanboot), the disk boots and phones home to the appliance → region → Deployed. ` +
        `reference: from QEMU start with a static deploy script until the phone-home POST reaches the static server: same deploy environment and image from the static server, reboot makes QEMU exit (-no-reboot), QEMU is started again network first like ours and PXE boots a static script that now says "boot from local disk" (sanboot; the swap of that file is free, the restart is counted), the disk boots and phones home. Both sides pay the same second PXE round (about 18 s under TCG); an earlier version of this bench restarted the reference disk first and measured 0.71-0.81 for that reason alone. ` +
        `Samples (s) ours ${each(oursD)}; reference ${each(refD)}. Ours, medians from the allocate call: ${marks(deployedMarks)}; reference, medians from QEMU start: ${marks(refMarks)}. ${host(ROUNDS)}.`,
    }),
    row({
      metric: "e2e.debian_power_on_to_deployed_s",
      unit: "s",
      better: "lower",
      ours: secs(median(oursDeb)),
      reference: { name: "dnsmasq 2.90 + static HTTP + static deploy document, NoCloud-net seed for cloud-init, same VM", value: secs(median(refDeb)) },
      target: TARGET,
      note:
        `Debian bookworm from root.tgz (${Math.round(debian.size / 2 ** 20)} MiB, built by npm run images -- os debian/bookworm), flat layout on the 4 GiB disk, stock cloud-init. ` +
        `ours: from POST /machines/{id}/allocate (then deploy debian/bookworm) until the region records Deployed (its event's time): power on over IPMI, PXE, the installer partitions (GPT, bios_grub, ext4 root), unpacks the tarball from the appliance's cache, installs GRUB in a chroot, writes 90_plinth.cfg (the rack's MAAS datasource with the node's OAuth token and its webhook reporter), reboots (QEMU restarted, as above), PXE again where the rack answers "local", GRUB boots Debian, cloud-init reads the rack's MAAS metadata API and reports each stage to it; modules-final's finish reaches the region through the tunnel → Deployed. ` +
        `reference: the same environment and image from the static server with a static deploy document whose cloud-init configuration names a NoCloud-net seed (meta-data, user-data, vendor-data with the same phone_home) and a webhook reporter on the static server; QEMU restarted network first after the reboot with a static "local disk" script; ends when modules-final's finish reaches the static server. ` +
        `Samples (s) ours ${each(oursDeb)}; reference ${each(refDeb)}. Medians by step, seconds from the start (ours: the region's event times, the console; reference: the static server's receipts): ours ${steps(oursDebSteps)}; reference ${steps(refDebSteps)}. ${host(DEBIAN_ROUNDS)}.`,
    }),
    row({
      metric: "e2e.debian_image_build_s",
      unit: "s",
      better: "lower",
      ours: Math.round(build.wall),
      reference: null,
      note: `npm run images -- os debian/bookworm from nothing into a scratch folder (formats tgz and ddzst; the Debian packages from the download cache, so no mirror time), wall time; by step (the builder's manifest, s): ${Object.entries(
        build.steps,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}; outputs ${Object.entries(build.files)
        .map(([f, b]) => `${f} ${Math.round(b / 2 ** 20)} MiB`)
        .join(
          ", ",
        )}. mmdebstrap (apt unpacking and configuring ${build.packages} packages) is most of it. No peer: MAAS's images come prebuilt from images.maas.io (lp:maas-images, not runnable here). Runs first, before any VM (other sessions' work may share the 2 cores).`,
    }),
  ];
}
