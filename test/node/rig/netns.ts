// Test rigs on their own L2 networks: network namespaces with unique names per run, torn
// down in afterAll. Traffic never leaves them (see the network safety rule in README.md).
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export function ip(...args: string[]): string {
  return sh("ip", args);
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error("this rig needs root (network namespaces); run npm test as root");
}

/** A unique short name (interface names are limited to 15 characters). */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(3).toString("hex")}`;
}

export interface Netns {
  name: string;
  exec(cmd: string, args: string[]): string;
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  destroy(): void;
}

export function createNetns(prefix = "pl"): Netns {
  requireRoot();
  // Several people (or helpers) sharing one host each get their own prefix to tell their
  // namespaces apart, and to clean up only their own after a crash.
  const name = uniqueName(`${process.env["PLINTH_NETNS_PREFIX"] ?? ""}${prefix}`);
  ip("netns", "add", name);
  ip("-n", name, "link", "set", "lo", "up");
  return {
    name,
    exec: (cmd, args) => sh("ip", ["netns", "exec", name, cmd, ...args]),
    spawn: (cmd, args, opts) => spawn("ip", ["netns", "exec", name, cmd, ...args], opts ?? { stdio: "pipe" }),
    destroy: () => {
      try {
        ip("netns", "del", name);
      } catch {
        // already gone
      }
    },
  };
}

/**
 * Two namespaces joined by a veth pair: `server` side gets serverAddr, `client` side clientAddr
 * (both "a.b.c.d/len") and, when given, the MAC a DHCP reservation expects. Returns the
 * interface names inside each namespace.
 */
export function vethPair(server: Netns, client: Netns, serverAddr?: string, clientAddr?: string, clientMac?: string) {
  const a = uniqueName("vs");
  const b = uniqueName("vc");
  ip("link", "add", a, "type", "veth", "peer", "name", b);
  ip("link", "set", a, "netns", server.name);
  ip("link", "set", b, "netns", client.name);
  if (serverAddr) ip("-n", server.name, "addr", "add", serverAddr, "dev", a);
  if (clientAddr) ip("-n", client.name, "addr", "add", clientAddr, "dev", b);
  if (clientMac) ip("-n", client.name, "link", "set", b, "address", clientMac);
  ip("-n", server.name, "link", "set", a, "up");
  ip("-n", client.name, "link", "set", b, "up");
  return { serverIf: a, clientIf: b };
}

/**
 * A /30 from the host into `ns`: `${link}.1` on the host end, `${link}.2` inside. An appliance in
 * a namespace reaches the region (on the host's loopback, through a relay on `${link}.1`) by it
 * alone. Returns both ends' names; the caller deletes the host end (the pair goes with it).
 */
export function hostUplink(ns: Netns, link: string): { hostIf: string; nsIf: string } {
  const hostIf = uniqueName("uh");
  const nsIf = uniqueName("un");
  ip("link", "add", hostIf, "type", "veth", "peer", "name", nsIf);
  ip("link", "set", nsIf, "netns", ns.name);
  ip("addr", "add", `${link}.1/30`, "dev", hostIf);
  ip("link", "set", hostIf, "up");
  ip("-n", ns.name, "addr", "add", `${link}.2/30`, "dev", nsIf);
  ip("-n", ns.name, "link", "set", nsIf, "up");
  return { hostIf, nsIf };
}

/** Kill a process we started, by PID, and wait for it to exit. */
export async function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      child.kill("SIGKILL");
    }, 3000);
    child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    child.kill(signal);
  });
}
