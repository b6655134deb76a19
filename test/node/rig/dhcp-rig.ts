// DHCP rigs: a server namespace joined by veth pairs to client namespaces, our DHCP server
// started inside it through bind-device.pl (as production does), and a scripted probe client.
// Everything stays inside namespaces this file creates; destroy() removes them.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createNetns, ip, type Netns, stop, vethPair } from "./netns";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const cli = join(repoRoot, "appliance", "dhcp", "cli.ts");
const helper = join(repoRoot, "appliance", "dhcp", "bind-device.pl");

export interface Link {
  client: Netns;
  serverIf: string;
  clientIf: string;
}

export interface DhcpLab {
  server: Netns;
  links: Link[];
  dir: string;
  destroy(): void;
}

/** One server namespace and one client namespace per server address ("10.77.1.1/24", …). */
export function dhcpLab(serverAddrs: string[], clientAddrs: (string | undefined)[] = []): DhcpLab {
  const server = createNetns("pds");
  const links: Link[] = [];
  const dir = mkdtempSync(join(tmpdir(), "plinth-dhcp-"));
  try {
    serverAddrs.forEach((addr, i) => {
      const client = createNetns("pdc");
      const { serverIf, clientIf } = vethPair(server, client, addr, clientAddrs[i]);
      links.push({ client, serverIf, clientIf });
    });
  } catch (e) {
    for (const l of links) l.client.destroy();
    server.destroy();
    throw e;
  }
  return {
    server,
    links,
    dir,
    destroy() {
      for (const l of links) l.client.destroy();
      server.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RunningServer {
  child: ChildProcess;
  output: string[];
  events(): { type: string; [k: string]: unknown }[];
  waitFor(pred: (line: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function watchOutput(child: ChildProcess): Pick<RunningServer, "output" | "waitFor"> {
  const output: string[] = [];
  const waiters: { pred: (l: string) => boolean; resolve(l: string): void }[] = [];
  const onData = (buf: Buffer, carry: { rest: string }) => {
    carry.rest += buf.toString("utf8");
    const lines = carry.rest.split("\n");
    carry.rest = lines.pop() ?? "";
    for (const l of lines) {
      output.push(l);
      for (const w of [...waiters]) {
        if (w.pred(l)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(l);
        }
      }
    }
  };
  const a = { rest: "" };
  const b = { rest: "" };
  child.stdout?.on("data", (d: Buffer) => onData(d, a));
  child.stderr?.on("data", (d: Buffer) => onData(d, b));
  return {
    output,
    waitFor(pred, what, timeoutMs = 20_000) {
      const hit = output.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}; output:\n${output.join("\n")}`)), timeoutMs);
        waiters.push({
          pred,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      });
    },
  };
}

/** Start our server in the server namespace on the given interfaces, and wait until it is ready. */
export async function startOurServer(
  lab: DhcpLab,
  ifaces: string[],
  config: unknown,
  opts: { leases?: string; ports?: string; name?: string } = {},
): Promise<RunningServer> {
  const name = opts.name ?? "dhcp";
  const configPath = join(lab.dir, `${name}.json`);
  writeFileSync(configPath, JSON.stringify(config));
  const leases = opts.leases ?? join(lab.dir, `${name}.leases`);
  const ports = opts.ports ?? "67";
  const args = [
    helper,
    ...ifaces.map((i) => `${i}:${ports}`),
    "--",
    process.execPath,
    "--import",
    "tsx",
    cli,
    ...ifaces.flatMap((i) => ["--interface", i]),
    "--config",
    configPath,
    "--leases",
    leases,
    "--log-level",
    "debug",
  ];
  const child = lab.server.spawn("perl", args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  const w = watchOutput(child);
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`server exited (${code}):\n${w.output.join("\n")}`))));
  exited.catch(() => {});
  await Promise.race([w.waitFor((l) => l.includes("dhcp server ready"), "server ready"), exited]);
  return {
    child,
    ...w,
    events: () => w.output.filter((l) => l.startsWith('{"event"')).map((l) => (JSON.parse(l) as { event: { type: string } }).event),
    stop: (signal = "SIGTERM") => stop(child, signal),
  };
}

export interface ProbeReply {
  from: string;
  hex: string;
}

export interface Probe {
  /** Send raw packets; resolves with `expect` replies matching their xids, or what came within `windowMs`. */
  send(o: { sends: { hex: string; to: string; port: number }[]; expect: number; windowMs?: number }): Promise<ProbeReply[]>;
  close(): Promise<void>;
}

/** A scripted client living in the namespace (see test/node/dhcp/probe.ts). */
export async function startProbe(ns: Netns, port = 68): Promise<Probe> {
  const script = join(repoRoot, "test", "node", "dhcp", "probe.ts");
  const child = ns.spawn(process.execPath, ["--import", "tsx", script, String(port)], {
    cwd: repoRoot,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const w = watchOutput(child);
  await w.waitFor((l) => l.includes('"ready"'), "probe ready", 60_000);
  let next = 1;
  return {
    async send(o) {
      const id = next++;
      child.stdin?.write(`${JSON.stringify({ id, ...o })}\n`);
      const line = await w.waitFor((l) => l.startsWith(`{"id":${id},`), `probe reply ${id}`, 60_000);
      return (JSON.parse(line) as { replies: ProbeReply[] }).replies;
    },
    close: () => {
      child.stdin?.end();
      return stop(child);
    },
  };
}

/** Route a relay's subnet from the server namespace through the client side (for giaddr tests). */
export function routeVia(ns: Netns, cidr: string, via: string): void {
  ip("-n", ns.name, "route", "add", cidr, "via", via);
}
