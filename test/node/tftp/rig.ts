// A two-namespace TFTP rig: our server (appliance/tftp/cli.ts) in one namespace, real
// clients in the other, joined by a veth pair. Nothing here touches the host's interfaces;
// destroy() kills only the server we started and deletes both namespaces.
import { type ChildProcess, execFile } from "node:child_process";
import { randomInt } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createNetns, type Netns, stop, vethPair } from "../rig/netns";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command in a namespace without blocking the event loop; never throws on exit status. */
export function run(ns: Netns, cmd: string, args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile("ip", ["netns", "exec", ns.name, cmd, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface TftpRig {
  server: Netns;
  client: Netns;
  serverIp: string;
  clientIp: string;
  /** The client's end of the veth pair, in `client`. */
  clientIf: string;
  /** Drop 0.5% of the client's UDP packets, both directions, as the wire would (nftables numgen). */
  addLoss(perMille?: number): void;
  clearLoss(): void;
  destroy(): Promise<void>;
}

export function createTftpRig(): TftpRig {
  const server = createNetns("pts");
  let client: Netns | null = null;
  try {
    client = createNetns("ptc");
    const net = `10.${randomInt(64, 250)}.${randomInt(1, 250)}`;
    const serverIp = `${net}.1`;
    const clientIp = `${net}.2`;
    const { serverIf, clientIf } = vethPair(server, client, `${serverIp}/24`, `${clientIp}/24`);
    // veth passes a segmented UDP send (UDP_SEGMENT) to the peer as one packet; most NICs cut
    // it into datagrams before the wire. One segment per packet makes this veth do the same, so
    // the client's loss rule below drops single datagrams, as a lossy wire would.
    server.exec("ip", ["link", "set", serverIf, "gso_max_segs", "1"]);
    const c = client;
    return {
      server,
      client: c,
      serverIp,
      clientIp,
      clientIf,
      addLoss(perMille = 5) {
        const file = join(tmpdir(), `${c.name}.nft`);
        writeFileSync(
          file,
          [
            // netdev ingress/egress: a drop in the inet output chain would hand the client EPERM
            // from sendto instead of losing the packet on the wire.
            "table netdev plinthloss {",
            `  chain in { type filter hook ingress device "${clientIf}" priority 0; ip protocol udp numgen random mod 1000 < ${perMille} drop; }`,
            `  chain out { type filter hook egress device "${clientIf}" priority 0; ip protocol udp numgen random mod 1000 < ${perMille} drop; }`,
            "}",
            "",
          ].join("\n"),
        );
        try {
          c.exec("nft", ["-f", file]);
        } finally {
          rmSync(file, { force: true });
        }
      },
      clearLoss() {
        c.exec("nft", ["delete", "table", "netdev", "plinthloss"]);
      },
      async destroy() {
        c.destroy();
        server.destroy();
      },
    };
  } catch (e) {
    client?.destroy();
    server.destroy();
    throw e;
  }
}

export interface Spawned {
  child: ChildProcess;
  lines: string[];
  stop(): Promise<void>;
}

/** Start our TFTP server in `ns`, serving `root` on `address`:69; resolves once it listens. */
export async function startPlinthTftp(ns: Netns, root: string, address: string, extra: string[] = []): Promise<Spawned> {
  const child = ns.spawn(process.execPath, ["--import", "tsx", join(repo, "appliance/tftp/cli.ts"), "--root", root, "--address", address, ...extra], {
    cwd: repo,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let stderr = "";
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  await new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on("line", (l) => {
      lines.push(l);
      if (l.includes('"listening"')) resolve();
    });
    child.once("exit", (code) => reject(new Error(`TFTP server exited (${code}): ${stderr}`)));
  });
  return { child, lines, stop: () => stop(child) };
}
