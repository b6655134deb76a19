// DHCP DORA/s: perfdhcp (as a relay, 10,000 distinct clients) between two network namespaces
// against our server, Kea 2.2 (memfile) and dnsmasq, in the same run, each with a fresh
// server and an empty lease store per rate. The figure is the highest rate perfdhcp achieved
// with under 1% drops in both DISCOVER-OFFER and REQUEST-ACK. Server on CPU 0, perfdhcp on
// CPU 1. Everything lives in namespaces made here and is removed at the end.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchRow, row } from "./report";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const PERIOD_S = 8;
/** Processes this run started and has not stopped yet: killed by PID if the run is interrupted. */
const running = new Set<ChildProcess>();
const CLIENTS = 10_000;

interface Lab {
  server: string;
  client: string;
  serverIf: string;
  dir: string;
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: "ignore" });
}

function makeLab(): Lab {
  const id = randomBytes(3).toString("hex");
  const lab = { server: `bds${id}`, client: `bdc${id}`, serverIf: `vbs${id}`, dir: mkdtempSync(join(tmpdir(), "plinth-bench-dhcp-")) };
  const clientIf = `vbc${id}`;
  ip("netns", "add", lab.server);
  ip("netns", "add", lab.client);
  ip("link", "add", lab.serverIf, "type", "veth", "peer", "name", clientIf);
  ip("link", "set", lab.serverIf, "netns", lab.server);
  ip("link", "set", clientIf, "netns", lab.client);
  ip("-n", lab.server, "addr", "add", "10.66.0.1/16", "dev", lab.serverIf);
  ip("-n", lab.client, "addr", "add", "10.66.0.2/16", "dev", clientIf);
  for (const [ns, dev] of [
    [lab.server, lab.serverIf],
    [lab.client, clientIf],
  ] as const) {
    ip("-n", ns, "link", "set", "lo", "up");
    ip("-n", ns, "link", "set", dev, "up");
  }
  return lab;
}

function destroyLab(lab: Lab): void {
  for (const ns of [lab.client, lab.server]) {
    try {
      ip("netns", "del", ns);
    } catch {
      // already gone
    }
  }
  rmSync(lab.dir, { recursive: true, force: true });
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => c.kill("SIGKILL"), 3000);
    c.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    c.kill("SIGTERM");
  });
}

interface Peer {
  name: string;
  start(lab: Lab, run: number): ChildProcess;
  /** Time to get ready (node + tsx start-up is the slowest). */
  warmupMs: number;
}

const POOL = { start: "10.66.1.0", end: "10.66.200.255" };

const ours: Peer = {
  name: "plinth",
  warmupMs: 3000,
  start(lab, run) {
    const config = join(lab.dir, `ours-${run}.json`);
    writeFileSync(config, JSON.stringify({ subnets: [{ cidr: "10.66.0.0/16", dynamicRanges: [POOL] }] }));
    const args = [
      "netns",
      "exec",
      lab.server,
      "taskset",
      "-c",
      "0",
      "perl",
      join(root, "appliance/dhcp/bind-device.pl"),
      `${lab.serverIf}:67`,
      "--",
      process.execPath,
      "--import",
      "tsx",
      join(root, "appliance/dhcp/cli.ts"),
      "--interface",
      lab.serverIf,
      "--config",
      config,
      "--leases",
      join(lab.dir, `ours-${run}.leases`),
      "--log-level",
      "warn",
    ];
    return spawn("ip", args, { cwd: root, stdio: "ignore" });
  },
};

const kea: Peer = {
  name: "kea-dhcp4 2.2 memfile",
  warmupMs: 1500,
  start(lab, run) {
    const config = join(lab.dir, `kea-${run}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        Dhcp4: {
          "interfaces-config": { interfaces: [lab.serverIf], "dhcp-socket-type": "udp" },
          "lease-database": { type: "memfile", persist: true, name: join(lab.dir, `kea-${run}.leases`), "lfc-interval": 0 },
          "valid-lifetime": 3600,
          subnet4: [{ id: 1, subnet: "10.66.0.0/16", pools: [{ pool: `${POOL.start} - ${POOL.end}` }] }],
          loggers: [{ name: "kea-dhcp4", output_options: [{ output: join(lab.dir, "kea.log") }], severity: "WARN" }],
        },
      }),
    );
    return spawn("ip", ["netns", "exec", lab.server, "taskset", "-c", "0", "kea-dhcp4", "-c", config], {
      stdio: "ignore",
      env: { ...process.env, KEA_PIDFILE_DIR: lab.dir, KEA_LOCKFILE_DIR: lab.dir },
    });
  },
};

const dnsmasq: Peer = {
  // By default dnsmasq pings each address before offering it, which delays every OFFER past
  // perfdhcp's 1 s drop time (everything counts as dropped); we do not ping either.
  name: "dnsmasq 2.90 --no-ping",
  warmupMs: 1000,
  start(lab, run) {
    const args = [
      "netns",
      "exec",
      lab.server,
      "taskset",
      "-c",
      "0",
      "dnsmasq",
      "--no-daemon",
      "--port=0",
      "--conf-file=/dev/null",
      `--interface=${lab.serverIf}`,
      "--bind-interfaces",
      `--dhcp-range=${POOL.start},${POOL.end},255.255.0.0,1h`,
      `--dhcp-leasefile=${join(lab.dir, `dnsmasq-${run}.leases`)}`,
      `--pid-file=${join(lab.dir, `dnsmasq-${run}.pid`)}`,
      "--dhcp-lease-max=100000",
      "--no-ping",
      "--quiet-dhcp",
    ];
    return spawn("ip", args, { stdio: "ignore" });
  },
};

interface Trial {
  achieved: number;
  drops: number[];
}

async function perfdhcp(lab: Lab, rate: number): Promise<Trial> {
  const args = [
    "netns",
    "exec",
    lab.client,
    "taskset",
    "-c",
    "1",
    "perfdhcp",
    "-4",
    "-l",
    "10.66.0.2",
    "-R",
    String(CLIENTS),
    "-r",
    String(rate),
    "-p",
    String(PERIOD_S),
    "-W",
    "2000000",
    "10.66.0.1",
  ];
  const child = spawn("ip", args, { stdio: ["ignore", "pipe", "ignore"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  // perfdhcp stops by itself after the period; the timer only guards a hang.
  const guard = setTimeout(() => child.kill("SIGKILL"), (PERIOD_S + 30) * 1000);
  await new Promise((r) => child.once("exit", r));
  clearTimeout(guard);
  // perfdhcp's own "Rate:" divides by the run including the -W wait; ACKs over the sending period is the DORA rate.
  const acks = Number([...out.matchAll(/received packets: (\d+)/g)][1]?.[1] ?? 0);
  const achieved = acks / PERIOD_S;
  const drops = [...out.matchAll(/drops ratio: ([\d.]+)/g)].map((m) => Number(m[1]));
  return { achieved, drops: drops.length === 2 ? drops : [100, 100] };
}

async function trial(lab: Lab, peer: Peer, rate: number, run: number): Promise<Trial> {
  const server = peer.start(lab, run);
  running.add(server);
  try {
    await new Promise((r) => setTimeout(r, peer.warmupMs));
    if (server.exitCode !== null) throw new Error(`${peer.name} did not start`);
    return await perfdhcp(lab, rate);
  } finally {
    await stopChild(server);
    running.delete(server);
  }
}

interface Climb {
  peer: Peer;
  rate: number;
  cap: number;
  best: number;
  pass: number;
  fail: number;
  runs: number;
}

/** One rate, retried once on failure: a shared 2-core machine has bursts of foreign load. */
async function step(lab: Lab, c: Climb, rate: number, log: string[]): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const t = await trial(lab, c.peer, rate, c.runs++);
    const ok = t.drops.every((d) => d < 1);
    log.push(`${c.peer.name} @${rate}/s: ${t.achieved.toFixed(0)} DORA/s, drops ${t.drops.join("% / ")}% ${ok ? "ok" : "FAIL"}`);
    console.log(log.at(-1));
    if (ok) {
      c.best = Math.max(c.best, t.achieved);
      return true;
    }
  }
  return false;
}

/**
 * Climb rates ×1.5 until drops reach 1% (twice), then try once between the last pass and the
 * fail. Peers take turns at each step so they share the machine's noise.
 */
async function climb(lab: Lab, climbs: Climb[], log: string[]): Promise<void> {
  let active = climbs;
  while (active.length) {
    for (const c of active) {
      if (await step(lab, c, c.rate, log)) c.pass = c.rate;
      else c.fail = c.rate;
      c.rate = Math.round(c.rate * 1.5);
    }
    active = active.filter((c) => !c.fail && c.rate <= c.cap);
  }
  for (const c of climbs) {
    if (c.fail && c.pass) await step(lab, c, Math.round((c.pass + c.fail) / 2), log);
  }
}

export async function run(): Promise<BenchRow[]> {
  if (process.getuid?.() !== 0) throw new Error("bench dhcp needs root (network namespaces)");
  const lab = makeLab();
  const log: string[] = [];
  // An interrupted run still removes its namespaces (their servers die with them or at SIGKILL).
  const onSignal = () => {
    for (const c of running) c.kill("SIGKILL");
    destroyLab(lab);
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const start = (peer: Peer, rate: number): Climb => ({ peer, rate, cap: 40_000, best: 0, pass: 0, fail: 0, runs: 0 });
    const climbs = [start(ours, 500), start(kea, 500), start(dnsmasq, 50)];
    await climb(lab, climbs, log);
    const [ourRate = 0, keaRate = 0, dnsmasqRate = 0] = climbs.map((c) => Math.round(c.best));
    const note =
      `perfdhcp -4 -l <relay addr> -R ${CLIENTS} -r RATE -p ${PERIOD_S} -W 2000000 between two namespaces, server pinned to CPU 0 and perfdhcp to CPU 1, ` +
      "fresh server and lease store per rate, peers alternating, one retry per rate; highest rate achieved with <1% drops in both exchanges. " +
      "Ours fdatasyncs every lease before its ACK (group commit); Kea's memfile does not sync. On a 2-core machine shared with other work the figures swing; read the ratio.";
    return [
      row({ metric: "dhcp.dora_per_s", unit: "1/s", better: "higher", ours: ourRate, reference: { name: kea.name, value: keaRate }, target: 1.0, note }),
      row({
        metric: "dhcp.dora_per_s.vs_dnsmasq",
        unit: "1/s",
        better: "higher",
        ours: ourRate,
        reference: { name: dnsmasq.name, value: dnsmasqRate },
        note: "same ladder against dnsmasq --dhcp-range (relay via giaddr), --no-ping --quiet-dhcp; it rewrites its lease file per lease.",
      }),
    ];
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    destroyLab(lab);
  }
}
