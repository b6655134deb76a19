// `npm run bench -- dns`: queries per second from dnsperf against our authoritative server
// (appliance/dns/server.ts), bind9 9.18 (what MAAS runs), Knot 3.2 and NSD 4.6, all loaded with
// the same zones (10,000 machines in `maas` plus their reverse /24s, bench/dns-zone.ts), in one
// run, taking turns. Everything runs on the loopback of a network namespace made here; each
// server is pinned to CPU 0 and dnsperf to CPU 1, so the server's core is its own.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { zoneFile } from "../shared/dns/zonefile";
import { benchDnsConfig, DOMAIN, MACHINES, QUERY_MIX, queryFile } from "./dns-zone";
import { type BenchRow, median, row } from "./report";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const ROUNDS = Number(process.env.DNS_BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.DNS_BENCH_SECONDS ?? 8);
/** dnsperf's load: enough clients and queries in flight that the server, not dnsperf, sets the pace. */
const DNSPERF_ARGS = ["-c", "16", "-q", "500", "-T", "1"];
/** DNS_BENCH_PIN=0 lets the scheduler spread server and dnsperf over both cores instead. */
const PINNED = process.env.DNS_BENCH_PIN !== "0";
const SERVER_CPU = PINNED ? "0" : "0,1";
const CLIENT_CPU = PINNED ? "1" : "0,1";
const ADDR = "127.0.0.1";
const CLK_TCK = 100;
/** Processes this run started and has not stopped yet: killed by PID if the run is interrupted. */
const running = new Set<ChildProcess>();

interface Peer {
  key: string;
  name: string;
  port: number;
  /** Writes its config into dir and returns the command line. */
  command(dir: string, port: number): string[];
}

const ours: Peer = {
  key: "ours",
  name: "plinth",
  port: 5301,
  // DNS_BENCH_PROF=<dir>: a V8 CPU profile of ours lands there when it stops (the answer to "where does the time go").
  command: (dir, port) => [
    process.execPath,
    ...(process.env.DNS_BENCH_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.DNS_BENCH_PROF] : []),
    "--import",
    "tsx",
    join(root, "bench/dns-serve.ts"),
    ADDR,
    String(port),
    join(dir, "config.json"),
  ],
};

/** Not a DNS server: the cost of node:dgram alone, the most any single-process Node server here can reach. */
const echo: Peer = {
  key: "echo",
  name: "node:dgram echo (no DNS work)",
  port: 5309,
  command: (_dir, port) => [process.execPath, "--import", "tsx", join(root, "bench/dns-echo.ts"), ADDR, String(port)],
};

const bind9: Peer = {
  key: "bind9",
  name: "bind9 9.18",
  port: 5302,
  command(dir, port) {
    const d = join(dir, "bind");
    mkdirSync(d);
    // MAAS's named.conf minus what a bench has no use for: no recursion, no control channel,
    // no DNSSEC validation (no trust anchors to read); threads left at bind's default (one per core).
    const zones = zoneNames(dir).map((z) => `zone "${z}" { type primary; file "${join(dir, "zones", `${z}.zone`)}"; };`);
    writeFileSync(
      join(d, "named.conf"),
      [
        "options {",
        `  directory "${d}";`,
        `  pid-file "${join(d, "named.pid")}";`,
        `  session-keyfile "${join(d, "session.key")}";`,
        `  managed-keys-directory "${d}";`,
        `  listen-on port ${port} { ${ADDR}; };`,
        "  listen-on-v6 { none; };",
        "  recursion no;",
        "  allow-transfer { none; };",
        "  dnssec-validation no;",
        "  notify no;",
        "};",
        "controls { };",
        ...zones,
        "",
      ].join("\n"),
    );
    return ["named", "-g", "-c", join(d, "named.conf")];
  },
};

const knot: Peer = {
  key: "knot",
  name: "Knot DNS 3.2",
  port: 5303,
  command(dir, port) {
    const d = join(dir, "knot");
    mkdirSync(d);
    // Zone files read whole at start and never written back; no journal: a plain primary.
    const conf = [
      "server:",
      `  rundir: "${d}"`,
      `  listen: ${ADDR}@${port}`,
      "database:",
      `  storage: "${d}"`,
      "log:",
      "  - target: stderr",
      "    any: warning",
      "template:",
      "  - id: default",
      `    storage: "${join(dir, "zones")}"`,
      '    file: "%s.zone"',
      "    zonefile-sync: -1",
      "    zonefile-load: whole",
      "    journal-content: none",
      "zone:",
      ...zoneNames(dir).map((z) => `  - domain: ${z}`),
      "",
    ];
    writeFileSync(join(d, "knot.conf"), conf.join("\n"));
    return ["knotd", "-c", join(d, "knot.conf")];
  },
};

const nsd: Peer = {
  key: "nsd",
  name: "NSD 4.6",
  port: 5304,
  command(dir, port) {
    const d = join(dir, "nsd");
    mkdirSync(d);
    const conf = [
      "server:",
      `  ip-address: ${ADDR}@${port}`,
      `  zonesdir: "${join(dir, "zones")}"`,
      `  pidfile: "${join(d, "nsd.pid")}"`,
      '  database: ""',
      `  zonelistfile: "${join(d, "zone.list")}"`,
      `  xfrdfile: "${join(d, "xfrd.state")}"`,
      `  xfrdir: "${d}"`,
      '  username: ""',
      "  verbosity: 0",
      // Debian builds NSD with response rate limiting on (200/s per /24): dnsperf is one source.
      "  rrl-ratelimit: 0",
      "  rrl-whitelist-ratelimit: 0",
      "remote-control:",
      "  control-enable: no",
      ...zoneNames(dir).flatMap((z) => ["zone:", `  name: ${z}`, `  zonefile: ${z}.zone`]),
      "",
    ];
    writeFileSync(join(d, "nsd.conf"), conf.join("\n"));
    return ["nsd", "-d", "-c", join(d, "nsd.conf")];
  },
};

function zoneNames(dir: string): string[] {
  return readFileSync(join(dir, "zones", "list"), "utf8")
    .trim()
    .split("\n");
}

/** Which revision of ours was measured: the last commit touching appliance/dns (DNS_BENCH_OURS_REV when run outside a checkout). */
function oursRevision(): string {
  if (process.env.DNS_BENCH_OURS_REV) return process.env.DNS_BENCH_OURS_REV;
  try {
    const rev = execFileSync("git", ["log", "-1", "--format=%h", "--", "appliance/dns"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "appliance/dns"], { cwd: root, encoding: "utf8" }).trim();
    return `${rev || "uncommitted"}${dirty ? "+changes" : ""}`;
  } catch {
    return "unknown";
  }
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: "ignore" });
}

function nsExec(ns: string, cpu: string, cmd: string[]): string[] {
  return ["netns", "exec", ns, "taskset", "-c", cpu, ...cmd];
}

/** /proc/<pid>/stat fields after the command name: [0] is the state, [1] the parent, [11] utime, [12] stime. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** User + system seconds of a process, all its threads and its descendants (NSD serves from forked children). */
function cpuSeconds(pid: number): number {
  const parent = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const f = statFields(Number(e));
    if (f) parent.set(Number(e), Number(f[1]));
  }
  const inTree = (p: number): boolean => {
    for (let q: number | undefined = p, hops = 0; q && hops < 64; q = parent.get(q), hops++) if (q === pid) return true;
    return false;
  };
  let ticks = 0;
  for (const p of parent.keys()) {
    if (!inTree(p)) continue;
    const f = statFields(p);
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / CLK_TCK;
}

/** Busy and total jiffies per CPU from /proc/stat, to tell whether the server's core or dnsperf's was the one full. */
function cpuTimes(): Map<string, { busy: number; total: number }> {
  const out = new Map<string, { busy: number; total: number }>();
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const m = /^cpu(\d+)\s+(.*)/.exec(line);
    if (!m) continue;
    const v = m[2]!.split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out.set(m[1]!, { busy: total - v[3]! - v[4]!, total });
  }
  return out;
}

function busyPercent(before: ReturnType<typeof cpuTimes>, after: ReturnType<typeof cpuTimes>, cpu: string): number {
  const a = before.get(cpu);
  const b = after.get(cpu);
  return a && b && b.total > a.total ? Math.round((100 * (b.busy - a.busy)) / (b.total - a.total)) : Number.NaN;
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => c.kill("SIGKILL"), 5000);
    c.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    c.kill("SIGTERM");
  });
}

function dig(ns: string, port: number, args: string[]): string {
  try {
    return execFileSync("ip", ["netns", "exec", ns, "dig", `@${ADDR}`, "-p", String(port), "+tries=1", "+time=1", ...args], { encoding: "utf8" });
  } catch {
    return "";
  }
}

/** Up once it answers; right only if a machine's A, its PTR and an absent name come back as they should. */
async function ready(ns: string, peer: Peer, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${peer.name} exited: ${stderr()}`);
    if (peer === echo) {
      if (dig(ns, peer.port, [`node-00251.${DOMAIN}`, "A"]).includes("status: NOERROR")) return;
    } else if (dig(ns, peer.port, ["+short", `node-00251.${DOMAIN}`, "A"]).trim() === "10.70.1.1") {
      const ptr = dig(ns, peer.port, ["+short", "-x", "10.70.1.1"]).trim();
      const nx = dig(ns, peer.port, [`absent-00001.${DOMAIN}`, "A"]);
      if (ptr !== `node-00251.${DOMAIN}.` || !nx.includes("status: NXDOMAIN") || !nx.includes("SOA"))
        throw new Error(`${peer.name} answers wrongly: PTR "${ptr}", absent name:\n${nx}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${peer.name} did not answer within 60 s: ${stderr()}`);
}

interface Started {
  peer: Peer;
  child: ChildProcess;
}

async function start(ns: string, dir: string, peer: Peer): Promise<Started> {
  const child = spawn("ip", nsExec(ns, SERVER_CPU, peer.command(dir, peer.port)), { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  await ready(ns, peer, child, () => err);
  return { peer, child };
}

interface Trial {
  qps: number;
  latencyMs: number;
  sent: number;
  completed: number;
  lost: number;
  cpuPer100k: number;
  rcodes: string;
  /** How busy the server's core and dnsperf's core were over the run, in %. */
  serverCore: number;
  clientCore: number;
  /** dnsperf's process alone, in % of a core: near 100 means the load generator, not the server, set the pace. */
  clientCpu: number;
  /** Mean reply size in bytes: servers differ in what they add beyond the answer (NS, glue). */
  replyBytes: number;
  nxdomainPct: number;
}

/** dnsperf's own CPU use in % of a core, sampled inside the run (its /proc entry is gone once it exits). */
async function dnsperf(ns: string, port: number, queries: string, seconds: number): Promise<{ out: string; clientCpu: number }> {
  const args = nsExec(ns, CLIENT_CPU, ["dnsperf", "-s", ADDR, "-p", String(port), "-d", queries, "-l", String(seconds), ...DNSPERF_ARGS]);
  const child = spawn("ip", args, { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const samples: [number, number][] = [];
  const sample = () => samples.push([performance.now(), cpuSeconds(child.pid!)]);
  const sampler = [setTimeout(sample, 1000), setTimeout(sample, (seconds - 0.5) * 1000)];
  // dnsperf stops after -l plus its query timeout; the timer only guards a hang.
  const guard = setTimeout(() => child.kill("SIGKILL"), (seconds + 30) * 1000);
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  clearTimeout(guard);
  for (const t of sampler) clearTimeout(t);
  running.delete(child);
  if (code !== 0) throw new Error(`dnsperf exited ${code}: ${out}`);
  const [a, b] = samples;
  const clientCpu = a && b ? Math.round((100 * (b[1] - a[1])) / ((b[0] - a[0]) / 1000)) : Number.NaN;
  return { out, clientCpu };
}

async function trial(ns: string, s: Started, queries: string, seconds: number): Promise<Trial> {
  const pid = s.child.pid!;
  const cpu0 = cpuSeconds(pid);
  const cores0 = cpuTimes();
  const { out, clientCpu } = await dnsperf(ns, s.peer.port, queries, seconds);
  const cores1 = cpuTimes();
  const cpu = cpuSeconds(pid) - cpu0;
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? Number.NaN);
  const completed = num(/Queries completed:\s+(\d+)/);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    latencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    sent: num(/Queries sent:\s+(\d+)/),
    completed,
    lost: num(/Queries lost:\s+(\d+)/),
    cpuPer100k: completed > 0 ? (cpu / completed) * 100_000 : Number.NaN,
    rcodes: /Response codes:\s+(.*)/.exec(out)?.[1] ?? "",
    serverCore: busyPercent(cores0, cores1, "0"),
    clientCore: busyPercent(cores0, cores1, "1"),
    clientCpu,
    replyBytes: num(/Average packet size:.*response (\d+)/),
    nxdomainPct: Number(/NXDOMAIN \d+ \(([\d.]+)%\)/.exec(out)?.[1] ?? 0),
  };
}

function prepare(dir: string): string {
  const config = benchDnsConfig();
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  mkdirSync(join(dir, "zones"));
  for (const z of config.zones) writeFileSync(join(dir, "zones", `${z.name}.zone`), zoneFile(z));
  writeFileSync(join(dir, "zones", "list"), `${config.zones.map((z) => z.name).join("\n")}\n`);
  const queries = join(dir, "queries.txt");
  writeFileSync(queries, queryFile());
  return queries;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

export async function run(): Promise<BenchRow[]> {
  if (process.getuid?.() !== 0) throw new Error("bench dns needs root (a network namespace)");
  for (const bin of ["dnsperf", "named", "knotd", "nsd", "dig", "taskset"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" });
    } catch {
      throw new Error(`bench dns needs ${bin} (apt-get install dnsperf bind9 knot nsd bind9-dnsutils)`);
    }
  }
  const load = loadavg()[0]!.toFixed(1);
  const haveOurs = existsSync(join(root, "appliance/dns/server.ts"));
  // DNS_BENCH_PEERS=ours,bind9 measures a subset (profiling, quick checks); the rows then show 0 for the absent.
  const only = process.env.DNS_BENCH_PEERS?.split(",");
  const peers = (haveOurs ? [ours, bind9, knot, nsd, echo] : [bind9, knot, nsd]).filter((p) => !only || only.includes(p.key));
  if (!haveOurs) console.warn("appliance/dns/server.ts is not here yet: measuring the references only");
  const ns = `pdns${randomBytes(3).toString("hex")}`;
  const dir = mkdtempSync(join(tmpdir(), "plinth-bench-dns-"));
  const started: Started[] = [];
  const cleanup = () => {
    for (const c of running) c.kill("SIGKILL");
    try {
      ip("netns", "del", ns);
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = () => {
    cleanup();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    ip("netns", "add", ns);
    ip("-n", ns, "link", "set", "lo", "up");
    const queries = prepare(dir);
    for (const p of peers) started.push(await start(ns, dir, p));
    // A short pass each first: our JIT warms up, every server's caches fill.
    for (const s of started) await trial(ns, s, queries, 3);
    const trials = new Map<string, Trial[]>(peers.map((p) => [p.key, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate who goes first, so no server always follows the same neighbour's noise.
      const order = started.map((_, i) => started[(i + round) % started.length]!);
      for (const s of order) {
        const t = await trial(ns, s, queries, SECONDS);
        trials.get(s.peer.key)!.push(t);
        console.log(
          `round ${round + 1} ${s.peer.name}: ${Math.round(t.qps)} q/s, ${t.latencyMs.toFixed(3)} ms, lost ${t.lost}/${t.sent}, ` +
            `${t.cpuPer100k.toFixed(2)} CPU s/100k, cores busy server ${t.serverCore}% dnsperf ${t.clientCore}% (dnsperf itself ${t.clientCpu}%), ${t.rcodes}`,
        );
      }
    }
    const med = (key: string, f: (t: Trial) => number) => (trials.has(key) && trials.get(key)!.length ? median(trials.get(key)!.map(f)) : 0);
    const qps = (k: string) => Math.round(med(k, (t) => t.qps));
    const lat = (k: string) => r3(med(k, (t) => t.latencyMs));
    const cpu = (k: string) => r3(med(k, (t) => t.cpuPer100k));
    const lost = (k: string) => (trials.get(k) ?? []).reduce((n, t) => n + t.lost, 0);
    const lostNote = peers.map((p) => `${p.key} ${lost(p.key)}`).join(", ");
    const perPeer = (f: (k: string) => string) => peers.map((p) => `${p.key} ${f(p.key)}`).join(", ");
    const busy = perPeer((k) => `${med(k, (t) => t.serverCore)}/${med(k, (t) => t.clientCore)}/${med(k, (t) => t.clientCpu)}%`);
    const replies = perPeer((k) => `${med(k, (t) => t.replyBytes)} B, ${med(k, (t) => t.nxdomainPct)}% NXDOMAIN`);
    const note =
      `dnsperf ${DNSPERF_ARGS.join(" ")} -l ${SECONDS} over the loopback of a namespace made for the run, server pinned to CPU ${SERVER_CPU} ` +
      `(every thread it starts; bind9 and Knot at their default thread counts), dnsperf to CPU ${CLIENT_CPU}; zone \`${DOMAIN}\` of ${MACHINES} machines ` +
      `plus their reverse /24s, queries ${QUERY_MIX.a * 100}% A of machines, ${QUERY_MIX.ptr * 100}% PTR, ${QUERY_MIX.nxdomain * 100}% NXDOMAIN, ` +
      `drawn at random; medians of ${ROUNDS} rounds, servers taking turns (rotated start), after a 3 s warm-up each; ` +
      `1-minute load average at the start ${load} on ${cpus().length} cores; lost queries over all rounds (the ones still in flight when -l ends): ${lostNote}; ` +
      `median busy server core/dnsperf core/dnsperf process: ${busy}; mean reply size and NXDOMAIN share: ${replies}` +
      (haveOurs
        ? `; ours: appliance/dns at ${oursRevision()}, one Node process (tsx), UDP read and answered in batches (recvmmsg/sendmmsg through appliance/native/udp_gso.c) by one worker thread`
        : "; ours NOT measured (appliance/dns/server.ts absent), figures are the references'");
    return [
      row({ metric: "dns.qps", unit: "1/s", better: "higher", ours: qps("ours"), reference: { name: bind9.name, value: qps("bind9") }, target: 1.0, note }),
      row({ metric: "dns.qps.vs_knot", unit: "1/s", better: "higher", ours: qps("ours"), reference: { name: knot.name, value: qps("knot") } }),
      row({ metric: "dns.qps.vs_nsd", unit: "1/s", better: "higher", ours: qps("ours"), reference: { name: nsd.name, value: qps("nsd") } }),
      row({
        metric: "dns.qps.vs_node_dgram_echo",
        unit: "1/s",
        better: "higher",
        ours: qps("ours"),
        reference: { name: echo.name, value: qps("echo") },
        note:
          "The floor a plain Node UDP server pays: the echo server (bench/dns-echo.ts) does no DNS work, one recvmsg and one sendto " +
          `through node:dgram per query: ${cpu("echo")} CPU s per 100k queries, more than bind9's whole ${cpu("bind9")} s. Ours answers in ` +
          `${cpu("ours")} s because it leaves dgram: one worker thread reads a batch with recvmmsg, answers cache hits straight into one ` +
          "send buffer and sends the batch with sendmmsg. What limits the figures: when the dnsperf core is busier than the server's (see " +
          "the busy cores in dns.qps), dnsperf sets the pace and q/s only says each server keeps up with it; the CPU per query is the " +
          "server's own cost. Other work on the shared machine moves single rounds by a third or more: read the medians and ratios",
      }),
      row({
        metric: "dns.latency_ms",
        unit: "ms",
        better: "lower",
        ours: lat("ours"),
        reference: { name: bind9.name, value: lat("bind9") },
        note: `dnsperf's average latency at saturation (${DNSPERF_ARGS.join(" ")}): mostly queueing, so it follows q/s; Knot ${lat("knot")} ms, NSD ${lat("nsd")} ms`,
      }),
      row({
        metric: "dns.cpu_s_per_100k_queries",
        unit: "s",
        better: "lower",
        ours: cpu("ours"),
        reference: { name: bind9.name, value: cpu("bind9") },
        note: `server CPU (user + system, all threads and children, /proc/<pid>/stat) over a run divided by queries completed; Knot ${cpu("knot")} s, NSD ${cpu("nsd")} s, node:dgram echo ${cpu("echo")} s`,
      }),
    ].map((r) => ({ ...r, ours: haveOurs ? r.ours : 0, ratio: haveOurs ? r.ratio : null }));
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    for (const s of started) await stopChild(s.child);
    cleanup();
  }
}
