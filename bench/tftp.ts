// `npm run bench -- tftp`: a 32 MiB file fetched across a veth pair between two namespaces,
// from our server, tftpd-hpa and atftpd (the windowsize reference), alternating, medians of
// several runs. Everything runs inside namespaces created here and is torn down at the end.
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { gsoBinding } from "../appliance/native/udp-gso";
import { stop } from "../test/node/rig/netns";
import { createTftpRig, run as runInNs, type Spawned, startPlinthTftp, type TftpRig } from "../test/node/tftp/rig";
import { type BenchRow, median, row } from "./report";

const ROUNDS = 5;
const SIZE = 32 << 20;

/**
 * atftpd and tftpd-hpa conflict (both ship /usr/sbin/in.tftpd): a peer that is not installed
 * under its own name is unpacked beside, never installed, so neither bench nor test removes the other.
 */
function unpackedBinary(pkg: string, path: string): string {
  const dir = join(tmpdir(), `plinth-bench-${pkg}`);
  const bin = join(dir, path);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const dl = runIn(dir, "apt-get", ["download", pkg]);
  if (dl !== 0) throw new Error(`apt-get download ${pkg} failed`);
  const deb = readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
  if (!deb || runIn(dir, "dpkg-deb", ["-x", deb, "."]) !== 0) throw new Error(`unpacking ${pkg} failed`);
  return bin;
}

/** /usr/sbin/in.tftpd when it is tftpd-hpa's; installing atftpd replaces it with atftpd's. */
function tftpdHpaBinary(): string {
  const installed = "/usr/sbin/in.tftpd";
  const v = spawnSync(installed, ["-V"], { encoding: "utf8" });
  if (`${v.stdout ?? ""}${v.stderr ?? ""}`.includes("tftp-hpa")) return installed;
  return unpackedBinary("tftpd-hpa", "usr/sbin/in.tftpd");
}

function runIn(cwd: string, cmd: string, args: string[]): number {
  return spawnSync(cmd, args, { cwd, stdio: "ignore" }).status ?? 1;
}

async function startPeer(rig: TftpRig, cmd: string, args: string[]): Promise<Spawned> {
  const child = rig.server.spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  // Give it a moment to bind; its first answer proves it is up.
  await new Promise((r) => setTimeout(r, 300));
  if (child.exitCode !== null) throw new Error(`${cmd} exited early`);
  return { child, lines: [], stop: () => stop(child) };
}

interface Variant {
  name: string;
  port: number;
  client: "atftp-window" | "curl";
}

async function timeFetch(rig: TftpRig, port: number, client: Variant["client"], out: string, want: string): Promise<number> {
  const args =
    client === "curl"
      ? ["curl", "-sS", "--tftp-blksize", "1468", "-o", out, `tftp://${rig.serverIp}:${port}/big.bin`]
      : ["atftp", "--option", "blksize 1468", "--option", "windowsize 64", "-g", "-r", "big.bin", "-l", out, rig.serverIp, String(port)];
  const t = performance.now();
  const r = await runInNs(rig.client, args[0]!, args.slice(1));
  const s = (performance.now() - t) / 1000;
  const got = existsSync(out) ? createHash("sha256").update(readFileSync(out)).digest("hex") : "";
  rmSync(out, { force: true });
  if (r.code !== 0 || got !== want) throw new Error(`${args.join(" ")} failed: ${r.stderr}`);
  return s;
}

export async function run(): Promise<BenchRow[]> {
  const load = loadavg()[0]!.toFixed(1);
  const segmented = gsoBinding() !== null;
  const dir = mkdtempSync(join(tmpdir(), "plinth-bench-tftp-"));
  const root = join(dir, "root");
  mkdirSync(root);
  // Both peers drop to an unprivileged user: the tree must be world-readable.
  chmodSync(dir, 0o755);
  const data = randomBytes(SIZE);
  writeFileSync(join(root, "big.bin"), data);
  const want = createHash("sha256").update(data).digest("hex");
  const atftpd = unpackedBinary("atftpd", "usr/sbin/atftpd");
  const hpa = tftpdHpaBinary();
  const rig = createTftpRig();
  const servers: Spawned[] = [];
  try {
    servers.push(await startPlinthTftp(rig.server, root, rig.serverIp, ["--quiet"]));
    servers.push(await startPeer(rig, hpa, ["-L", "-a", `${rig.serverIp}:6969`, "-s", root]));
    servers.push(await startPeer(rig, atftpd, ["--daemon", "--no-fork", "--logfile", "/dev/null", "--port", "7069", "--bind-address", rig.serverIp, root]));
    const out = join(dir, "out.bin");
    const times: Partial<Record<string, number[]>> = {};
    const measure = async (key: string, port: number, client: Variant["client"]) => {
      const s = await timeFetch(rig, port, client, out, want);
      times[key] = [...(times[key] ?? []), s];
    };
    const rounds = async () => {
      for (let i = 0; i < ROUNDS; i++) {
        await measure("ours-window", 69, "atftp-window");
        await measure("atftpd-window", 7069, "atftp-window");
        await measure("ours-curl", 69, "curl");
        await measure("hpa-curl", 6969, "curl");
      }
    };
    // One warm-up pass fills the page cache and the JIT, then the measured rounds.
    await measure("warm", 69, "atftp-window");
    await measure("warm", 7069, "atftp-window");
    await rounds();
    rig.addLoss(5);
    // Under loss a peer may stall and give up: count that instead of aborting the benchmark.
    const failures: Record<string, number> = { "ours-loss": 0, "atftpd-loss": 0 };
    for (let i = 0; i < 3; i++) {
      for (const [key, port] of [
        ["ours-loss", 69],
        ["atftpd-loss", 7069],
      ] as const) {
        await measure(key, port, "atftp-window").catch(() => {
          failures[key]!++;
        });
      }
    }
    rig.clearLoss();
    const m = (k: string) => Math.round(median(times[k]!) * 1000) / 1000;
    const note =
      `32 MiB over a veth pair between two namespaces, atftp/curl client, medians of ${ROUNDS} alternating runs, sha256 checked; ` +
      `1-minute load average at the start: ${load} on ${cpus().length} cores; ours sends a window of 64 blocks in ${segmented ? "2 segmented sends (UDP_SEGMENT, appliance/native/udp-gso.ts)" : "64 sends (the native helper is NOT built: scripts/build-native.mjs)"}, ` +
      "the peers one sendto per block; the server's veth cuts segmented sends into datagrams before the wire (gso_max_segs 1), as a NIC does";
    return [
      row({
        metric: "tftp.32mib_blksize1468_window64_s",
        unit: "s",
        better: "lower",
        ours: m("ours-window"),
        reference: { name: "atftpd 0.8 (windowsize 64)", value: m("atftpd-window") },
        target: 1.0,
        note: `${note}; atftp --option "blksize 1468" --option "windowsize 64"`,
      }),
      row({
        metric: "tftp.32mib_blksize1468_s",
        unit: "s",
        better: "lower",
        ours: m("ours-curl"),
        reference: { name: "tftpd-hpa 5.2 (no windowsize)", value: m("hpa-curl") },
        note: `${note}; curl --tftp-blksize 1468 (lock-step, one block per round trip)`,
      }),
      row({
        metric: "tftp.32mib_window64_loss0.5pct_s",
        unit: "s",
        better: "lower",
        ours: times["ours-loss"]?.length ? m("ours-loss") : -1,
        reference: times["atftpd-loss"]?.length ? { name: "atftpd 0.8 (windowsize 64)", value: m("atftpd-loss") } : null,
        note:
          "same transfer with 0.5% of UDP packets dropped both ways by nftables (netdev hooks) on the client's veth; median of the runs that completed out of 3 " +
          `(ours failed ${failures["ours-loss"]}/3, atftpd failed ${failures["atftpd-loss"]}/3: the atftp client gives up after its retries when the server stalls)`,
      }),
    ];
  } finally {
    for (const s of servers) await s.stop();
    await rig.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
