// A rack restarted mid-download resumes it: the real region in workerd on 127.0.0.1 holding an
// uploaded ~200 MiB image, the real appliance (`plinth-appliance run --dhcp-interface`) in a
// network namespace of its own, reaching the region through a veth and a relay on the host end
// that paces the region's bytes (so the download is still running when the rack is killed) and
// notes every image request's Range. The daemon is SIGKILLed by PID mid-download, started
// again, asks for the rest (a Range not starting at 0), and the region shows the image
// downloading, then present.
import type { ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer as createTcpServer, type Server as TcpServer, type Socket, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localCall } from "../../../appliance/tunnel/local-api";
import { watchOutput } from "../rig/dhcp-rig";
import { createNetns, hostUplink, ip, type Netns, requireRoot, stop } from "../rig/netns";
import { api, cli, type Region, region, stopRegion, until } from "../tunnel/rig";

const root = join(import.meta.dirname, "..", "..", "..");
const octet = 100 + (randomBytes(1)[0]! % 100);
const LINK = `10.${octet}.18`;
const SITE = `10.${octet}.19`;
const MiB = 1 << 20;
const SIZE = 200 * MiB;
/** What the relay lets through from the region per second: a download takes ~8 s. */
const RATE = 25 * MiB;

let r: Region;
let ns: Netns;
let hostIf = "";
let relay: TcpServer;
let relayPort = 0;
const relayed = new Set<Socket>();
let dir = "";
let rackId = "";
let sha = "";
const ranges: { path: string; range: string | null }[] = [];
const apps: ChildProcess[] = [];

/** Relays the namespace's connections to the region, pacing what comes back to RATE. */
function startRelay(): Promise<void> {
  relay = createTcpServer((c) => {
    const u = tcpConnect(r.port, "127.0.0.1");
    relayed.add(c).add(u);
    c.on("data", (d: Buffer) => {
      const head = /^GET (\/api\/v1\/racks\/[a-z0-9]+\/images\/[0-9a-f]{64}) HTTP\/1\.1\r\n([\s\S]*?)\r\n\r\n/.exec(d.toString("latin1"));
      if (head) ranges.push({ path: head[1]!, range: /^range: *(.+)$/im.exec(head[2]!)?.[1]?.trim() ?? null });
      u.write(d);
    });
    const t0 = performance.now();
    let sent = 0;
    u.on("data", (d: Buffer) => {
      c.write(d);
      sent += d.length;
      const ahead = (sent / RATE) * 1000 - (performance.now() - t0);
      if (ahead > 20) {
        u.pause();
        setTimeout(() => u.resume(), ahead);
      }
    });
    const end = () => {
      c.destroy();
      u.destroy();
      relayed.delete(c);
      relayed.delete(u);
    };
    c.on("error", end).on("close", end);
    u.on("error", end).on("close", end).on("end", end);
    c.on("end", end);
  });
  return new Promise<void>((res) => relay.listen(0, `${LINK}.1`, res));
}

function startAppliance(): { child: ChildProcess; out: ReturnType<typeof watchOutput> } {
  const child = ns.spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      join(root, "appliance", "cli.ts"),
      "run",
      "--state-dir",
      dir,
      "--region",
      `http://${LINK}.1:${relayPort}`,
      "--dhcp-interface",
      "site0",
      "--tftp-root",
      join(dir, "tftp"),
      "--http-port",
      "5248",
      "--dns-port",
      "0",
      "--log-level",
      "debug",
    ],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
  );
  apps.push(child);
  return { child, out: watchOutput(child) };
}

const rackImages = async () => (await api(r, "GET", `/racks/${rackId}/images`)).json.items as { sha256: string; state: string; bytes: number; total: number }[];
const part = () => join(dir, "images", "tmp", `${sha}.part`);

beforeAll(async () => {
  requireRoot();
  const t0 = performance.now();
  const mark = (what: string) => console.log(`[rack-resume] ${what} at ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  dir = mkdtempSync(join(tmpdir(), "plinth-rack-resume-"));
  mkdirSync(join(dir, "tftp"));
  r = await region();
  mark("region up");
  ns = createNetns("plrimg");
  ({ hostIf } = hostUplink(ns, LINK));
  // The served interface: one end of a veth pair whose other end is in the namespace too, so
  // DHCP serves a wire with nobody on it.
  ip("-n", ns.name, "link", "add", "site0", "type", "veth", "peer", "name", "site1");
  ip("-n", ns.name, "addr", "add", `${SITE}.1/24`, "dev", "site0");
  ip("-n", ns.name, "link", "set", "site0", "up");
  ip("-n", ns.name, "link", "set", "site1", "up");
  await startRelay();
  relayPort = (relay.address() as { port: number }).port;

  const bytes = randomBytes(SIZE);
  sha = createHash("sha256").update(bytes).digest("hex");
  const img = await api(r, "POST", "/boot-images", { osystem: "custom", series: "resume", format: "raw.zst" });
  expect(img.status, JSON.stringify(img.json)).toBe(201);
  const put = await fetch(`${r.url}/api/v1/boot-images/${img.json.id}/content`, {
    method: "PUT",
    headers: { authorization: `Bearer ${r.admin}`, "x-content-sha256": sha, "content-type": "application/octet-stream" },
    body: bytes,
  });
  expect(put.status, await put.text()).toBe(200);
  mark("image uploaded");

  const tok = await api(r, "POST", "/racks/enrol-tokens", { site: "default" });
  const enrolled = cli(["enrol", "--state-dir", dir, "--hostname", "rack-resume", "--region", r.url, "--token", tok.json.token]);
  expect(enrolled.code, enrolled.out).toBe(0);
  rackId = JSON.parse(readFileSync(join(dir, "credential.json"), "utf8")).rackId;
}, 90_000);

afterAll(async () => {
  for (const c of apps) await stop(c, "SIGKILL");
  relay?.close();
  for (const s of relayed) s.destroy();
  ns?.destroy();
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

describe("rack image sync across a restart", () => {
  it("a rack killed mid-download resumes with a Range and completes; the region shows downloading, then present", async () => {
    const first = startAppliance();
    await first.out.waitFor((l) => l.includes("boot services started"), "boot services", 60_000);
    const seen = await until(
      "the region to show the image downloading past 40 MiB",
      async () => (await rackImages()).find((i) => i.sha256 === sha && i.state === "downloading" && i.bytes >= 40 * MiB),
      120,
      100,
    );
    expect(seen.total).toBe(SIZE);
    // The daemon itself (the process `run` re-executed with its DHCP sockets), by its PID.
    const pid = ((await localCall(join(dir, "appliance.sock"), "GET", "/status")).json as { pid: number }).pid;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, "SIGKILL");
    await new Promise<void>((res) => (first.child.exitCode !== null ? res() : first.child.once("exit", () => res())));
    expect(existsSync(join(dir, "images", "sha256", sha))).toBe(false);
    const kept = statSync(part()).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(SIZE);
    expect(ranges.filter((x) => x.path.endsWith(sha)).map((x) => x.range)).toEqual([null]);

    const second = startAppliance();
    await second.out.waitFor((l) => l.includes("boot services started"), "boot services after the restart", 60_000);
    const done = await until(
      "the region to show the image present",
      async () => (await rackImages()).find((i) => i.sha256 === sha && i.state === "present"),
      160,
      250,
    );
    expect(done).toMatchObject({ bytes: SIZE, total: SIZE });
    const asked = ranges.filter((x) => x.path.endsWith(sha)).map((x) => x.range);
    expect(asked).toHaveLength(2);
    const from = Number(/^bytes=(\d+)-$/.exec(asked[1] ?? "")?.[1] ?? 0);
    // At least what the part held when the daemon was killed was kept (only what was not yet written back could be lost).
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(kept);
    expect(second.out.output.some((l) => l.includes("image started") && l.includes('"resumed":true'))).toBe(true);
    const stored = join(dir, "images", "sha256", sha);
    expect(statSync(stored).size).toBe(SIZE);
    expect(createHash("sha256").update(readFileSync(stored)).digest("hex")).toBe(sha);
    expect(existsSync(part())).toBe(false);
    const rack = await api(r, "GET", `/racks/${rackId}`);
    expect(rack.json.images).toEqual({ present: 1, downloading: 0, failed: 0 });
  }, 120_000);
});
