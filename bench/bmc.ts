// `npm run bench -- bmc`: IPMI power-state queries by our RMCP+ driver versus one
// `ipmitool -I lanplus` process per query, against the same ipmi_sim instances on loopback.
// Alternating single queries give latency medians; a 200-BMC sweep gives the polling cost.
// The sims run without a chassis-control script so that neither side pays for a fork per query.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IpmiDriver } from "../appliance/bmc/ipmi";
import { type IpmiSim, startIpmiSim } from "../test/node/bmc/ipmi-sim";
import { type BenchRow, median, row } from "./report";

const BASE_PORT = 9840;
const SIMS = 4;
const ROUNDS = 30;
const BMCS = 200;
const CONCURRENCY = 16;

function ipmitoolStatus(port: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(
      "ipmitool",
      ["-I", "lanplus", "-H", "127.0.0.1", "-p", String(port), "-U", "admin", "-P", "password", "-C", "3", "chassis", "power", "status"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    p.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
    p.on("close", (code) => {
      clearTimeout(t);
      if (code === 0 && out.includes("Chassis Power is")) resolve(performance.now() - t0);
      else reject(new Error(`ipmitool exit ${code}: ${out}`));
    });
  });
}

async function oursNew(port: number): Promise<number> {
  const d = new IpmiDriver({ host: "127.0.0.1", port, user: "admin", password: "password", reuse: false });
  const t0 = performance.now();
  await d.queryPower();
  return performance.now() - t0;
}

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

export async function run(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "plinth-bench-bmc-"));
  const sims: IpmiSim[] = [];
  try {
    for (let i = 0; i < SIMS; i++) sims.push(await startIpmiSim({ port: BASE_PORT + i, dir: join(dir, `sim${i}`), chassisControl: false }));
    const port = BASE_PORT;
    const reused = new IpmiDriver({ host: "127.0.0.1", port, user: "admin", password: "password" });
    await reused.queryPower();
    // Warm both paths before measuring.
    await oursNew(port);
    await ipmitoolStatus(port);
    const newS: number[] = [];
    const reuseS: number[] = [];
    const tool: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      tool.push(await ipmitoolStatus(port));
      newS.push(await oursNew(port));
      const t0 = performance.now();
      await reused.queryPower();
      reuseS.push(performance.now() - t0);
    }
    await reused.close();

    // 200 BMCs: each (port, index) is its own driver and session, spread over the sims.
    const bmcs = Array.from({ length: BMCS }, (_, i) => BASE_PORT + (i % SIMS));
    const sweepOurs: number[] = [];
    const sweepTool: number[] = [];
    for (let rep = 0; rep < 3; rep++) {
      let t0 = performance.now();
      await pool(bmcs, CONCURRENCY, (p) => ipmitoolStatus(p));
      sweepTool.push(performance.now() - t0);
      t0 = performance.now();
      await pool(bmcs, CONCURRENCY, (p) => oursNew(p));
      sweepOurs.push(performance.now() - t0);
    }
    const ref = "ipmitool 1.8.19 -I lanplus -C 3, one process per query";
    return [
      row({
        metric: "bmc.power_query_new_session_ms",
        unit: "ms",
        better: "lower",
        ours: round(median(newS)),
        reference: { name: ref, value: round(median(tool)) },
        target: 10,
        note: `median of ${ROUNDS} alternating queries against ipmi_sim; ours opens and closes a session (7 UDP round trips vs ipmitool's 11 plus process start-up)`,
      }),
      row({
        metric: "bmc.power_query_reused_session_ms",
        unit: "ms",
        better: "lower",
        ours: round(median(reuseS)),
        reference: { name: ref, value: round(median(tool)) },
        target: 10,
        note: "one Get Chassis Status in an open session: one encrypted round trip, no handshake",
      }),
      row({
        metric: "bmc.power_sweep_200_bmcs_ms",
        unit: "ms",
        better: "lower",
        ours: round(median(sweepOurs), 0),
        reference: { name: `${ref}, same concurrency`, value: round(median(sweepTool), 0) },
        target: 10,
        note: `${BMCS} power-state queries over ${SIMS} ipmi_sim instances, ${CONCURRENCY} in flight, new session each; median of 3 alternating sweeps`,
      }),
    ];
  } finally {
    for (const s of sims) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
