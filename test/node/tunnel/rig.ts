// End-to-end rig: the real region in workerd (wrangler dev, 127.0.0.1 only), real appliance
// processes (`plinth-appliance` through tsx), a fake webhook BMC that counts every power call,
// and a TCP proxy between them that can cut the tunnel.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer, type Socket, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bootstrapAdmin, startRegion, stopRegion } from "../../../scripts/region-local.mjs";
import { localCall } from "../../../appliance/tunnel/local-api";
import { watchOutput } from "../rig/dhcp-rig";
import { type Netns, stop } from "../rig/netns";

const root = join(import.meta.dirname, "..", "..", "..");

export interface Region {
  url: string;
  stateDir: string;
  port: number;
  child: ChildProcess;
  admin: string;
  /** Every line wrangler and the Worker wrote, when started with `logs` (for the secrets check). */
  logs?: string[];
}

export async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function region(stateDir = mkdtempSync(join(tmpdir(), "plinth-tunnel-region-")), port?: number, o: { logs?: boolean } = {}): Promise<Region> {
  const p = port ?? (await freePort());
  const { child, url } = await startRegion({ stateDir, port: p, stdio: o.logs ? "pipe" : "ignore" });
  const logs = o.logs ? watchOutput(child).output : undefined;
  const creds = await bootstrapAdmin(url, stateDir);
  return { url, stateDir, port: p, child, admin: creds?.api_key ?? "", ...(logs ? { logs } : {}) };
}

export async function restartRegion(r: Region): Promise<void> {
  await stopRegion(r.child);
  const { child } = await startRegion({ stateDir: r.stateDir, port: r.port, stdio: "ignore" });
  r.child = child;
}

export { stopRegion };

/**
 * A keep-alive connection the region closed while this process was busy (a synchronous child
 * process blocks the event loop, so the close goes unseen) fails the next request on it before
 * the region reads it: such a request is sent again, once, on a fresh connection.
 */
function staleConnection(e: unknown): boolean {
  const c = (e as { cause?: { code?: string } }).cause;
  return e instanceof TypeError && ["UND_ERR_SOCKET", "EPIPE", "ECONNRESET"].includes(c?.code ?? "");
}

export async function api(r: Region, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const send = () =>
    fetch(`${r.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${r.admin}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const res = await send().catch((e: unknown) => {
    if (staleConnection(e)) return send();
    throw e;
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** Polls `fn` until it returns a truthy value; fails loudly after `tries` (bounded). */
export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, tries = 240, everyMs = 250): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/** A webhook BMC: POST /on/<sys> and /off/<sys> count; GET /q/<sys> answers the state. `hold` delays a machine's calls. */
export class FakeBmc {
  readonly calls = new Map<string, number>();
  readonly held = new Set<string>();
  readonly power = new Map<string, "on" | "off">();
  private release: (() => void)[] = [];
  private server!: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const [, action, sys] = (req.url ?? "").split("/");
      const key = `${req.method} ${action} ${sys}`;
      this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
      const answer = () => {
        if (sys && (action === "on" || action === "off")) this.power.set(sys, action);
        res.end(action === "q" ? `status: ${this.power.get(sys ?? "") ?? "off"}` : "ok");
      };
      if (sys && this.held.has(sys) && action !== "q") this.release.push(answer);
      else answer();
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as { port: number }).port;
  }

  params(sys: string) {
    const b = `http://127.0.0.1:${this.port}`;
    return {
      power_on_uri: `${b}/on/${sys}`,
      power_off_uri: `${b}/off/${sys}`,
      power_query_uri: `${b}/q/${sys}`,
      power_on_regex: "status: on",
      power_off_regex: "status: off",
    };
  }

  count(action: "on" | "off", sys?: string): number {
    let n = 0;
    for (const [k, v] of this.calls) if (k.startsWith(`POST ${action} `) && (!sys || k.endsWith(` ${sys}`))) n += v;
    return n;
  }

  releaseAll(): void {
    this.held.clear();
    for (const r of this.release.splice(0)) r();
  }

  stop(): Promise<void> {
    this.releaseAll();
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** TCP proxy from the appliance to the region; `cut()` drops every connection mid-stream. */
export class CutProxy {
  private server!: TcpServer;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: number) {}

  /** `host`: where the appliance reaches it; an appliance in a namespace dials the host end of its veth. */
  async start(host = "127.0.0.1"): Promise<void> {
    this.server = createTcpServer((c) => {
      const u = tcpConnect(this.target, "127.0.0.1");
      this.sockets.add(c).add(u);
      c.pipe(u).pipe(c);
      const end = () => {
        c.destroy();
        u.destroy();
        this.sockets.delete(c);
        this.sockets.delete(u);
      };
      c.on("error", end).on("close", end);
      u.on("error", end).on("close", end);
    });
    await new Promise<void>((r) => this.server.listen(0, host, r));
    this.port = (this.server.address() as { port: number }).port;
  }

  cut(): number {
    const n = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    return n;
  }

  stop(): Promise<void> {
    this.cut();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const TSX = ["--import", "tsx", join(root, "appliance", "cli.ts")];

export function cli(args: string[], env: Record<string, string> = {}): { code: number; out: string } {
  const r = spawnSync(process.execPath, [...TSX, ...args], { cwd: root, env: { ...process.env, ...env }, encoding: "utf8", timeout: 60_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

export class Appliance {
  child: ChildProcess | null = null;
  output = "";

  constructor(
    readonly stateDir: string,
    private readonly regionUrl: string,
    /** More `run` flags (e.g. the DNS server's). */
    private readonly extraArgs: string[] = [],
  ) {}

  start(): void {
    this.child = spawn(process.execPath, [...TSX, "run", "--state-dir", this.stateDir, "--region", this.regionUrl, "--log-level", "debug", ...this.extraArgs], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.on("data", (d: Buffer) => {
      this.output += d.toString();
    });
    this.child.stderr!.on("data", (d: Buffer) => {
      this.output += d.toString();
    });
  }

  async status(): Promise<any> {
    return (await localCall(join(this.stateDir, "appliance.sock"), "GET", "/status")).json;
  }

  async emit(events: unknown[]): Promise<number[]> {
    const r = await localCall(join(this.stateDir, "appliance.sock"), "POST", "/events", { events });
    if (r.status !== 202) throw new Error(`emit: ${r.status} ${JSON.stringify(r.json)}`);
    return (r.json as { seqs: number[] }).seqs;
  }

  async kill(signal: NodeJS.Signals): Promise<number | null> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return c?.exitCode ?? null;
    const done = new Promise<number | null>((r) => c.once("exit", (code) => r(code)));
    c.kill(signal);
    const code = await done;
    this.child = null;
    return code;
  }
}

export interface RunningAppliance {
  child: ChildProcess;
  out: ReturnType<typeof watchOutput>;
}

/**
 * `plinth-appliance run` serving DHCP on `dhcpInterface` inside `ns`, reaching the region at
 * `regionUrl` (an address the namespace can dial, e.g. a relay on the host end of its veth).
 * Resolves once its boot services are up and its local API answers /status; a start that never
 * gets there is killed, so a failed beforeAll leaves no daemon behind.
 */
export async function startAppliance(
  ns: Netns,
  o: { stateDir: string; regionUrl: string; dhcpInterface: string; tftpRoot: string; args?: string[] },
): Promise<RunningAppliance> {
  const child = ns.spawn(
    process.execPath,
    [
      ...TSX,
      "run",
      "--state-dir",
      o.stateDir,
      "--region",
      o.regionUrl,
      "--dhcp-interface",
      o.dhcpInterface,
      "--tftp-root",
      o.tftpRoot,
      "--http-port",
      "5248",
      "--log-level",
      "debug",
      // The region is reached over the veth, not loopback, and the rig has no TLS.
      "--insecure",
      ...(o.args ?? []),
    ],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
  );
  const out = watchOutput(child);
  try {
    await out.waitFor((l) => l.includes("boot services started"), "boot services", 60_000);
    await until("the appliance's local /status", async () => (await localCall(join(o.stateDir, "appliance.sock"), "GET", "/status")).status === 200, 80, 250);
  } catch (e) {
    await stop(child, "SIGKILL");
    throw e;
  }
  return { child, out };
}

/**
 * The appliance's command ledger as it is on disk (`commands.log`, JSON lines): for each command
 * id, how many times it was started and finished. A start is written before a command runs, so a
 * command executed twice would show two starts.
 */
export function ledgerCounts(stateDir: string): Map<string, { starts: number; dones: number; ok: boolean | null }> {
  const counts = new Map<string, { starts: number; dones: number; ok: boolean | null }>();
  for (const line of readFileSync(join(stateDir, "commands.log"), "utf8").split("\n")) {
    if (!line) continue;
    const rec = JSON.parse(line) as { k: "start" | "done"; id: string; outcome?: { ok: boolean } };
    const c = counts.get(rec.id) ?? { starts: 0, dones: 0, ok: null };
    if (rec.k === "start") c.starts++;
    else {
      c.dones++;
      c.ok = rec.outcome?.ok ?? null;
    }
    counts.set(rec.id, c);
  }
  return counts;
}

/**
 * `cli` without blocking the event loop: while a spawnSync runs, the region may close an idle
 * keep-alive socket and the next fetch would be written onto it ("other side closed").
 */
export function cliAsync(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...TSX, ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.on("close", (code) => resolve({ code: code ?? -1, out }));
  });
}
