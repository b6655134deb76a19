// The boot-environment rig: one network namespace with a bridge and a tap, dnsmasq (DHCP only,
// inside the namespace), the stand-in metadata relay, and QEMU started inside the namespace
// with the tap. Nothing leaves the namespace; everything is killed by PID and torn down.
import { type ChildProcess, execFileSync } from "node:child_process";
import {
  closeSync,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { createNetns, ip, type Netns, requireRoot, stop } from "../rig/netns";

export const repo = resolve(import.meta.dirname, "../../..");
export const imagesDir = join(repo, "images/build");
export const applianceAddr = "10.99.0.1";
export const metadataPort = 5248;

export interface Request {
  method: string;
  path: string;
  status: number;
  auth: string | null;
  contentType: string | null;
  body: string;
}

export function requireTool(cmd: string, pkg: string): void {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
  } catch {
    throw new Error(`${cmd} is missing: apt-get install ${pkg} (see test/deps/images.txt)`);
  }
}

/** `npm run images` (cached after the first run). */
export function buildImages(): void {
  execFileSync("bash", [join(repo, "images/build.sh")], { stdio: ["ignore", "inherit", "inherit"], timeout: 900_000 });
}

/**
 * dnsmasq as a plain DHCP server on br0 of its namespace, nothing else (no DNS, no config file,
 * no host files), leases and pid file in `dir`. Callers append their boot options.
 */
export function dnsmasqDhcpArgs(range: string, dir: string): string[] {
  return [
    "--keep-in-foreground",
    "--conf-file=/dev/null",
    "--no-resolv",
    "--no-hosts",
    "--port=0",
    "--interface=br0",
    "--bind-interfaces",
    "--dhcp-authoritative",
    "--no-ping",
    "--user=root",
    `--dhcp-range=${range}`,
    `--dhcp-leasefile=${join(dir, "leases")}`,
    `--pid-file=${join(dir, "dnsmasq.pid")}`,
  ];
}

export function sha256File(path: string): string {
  return execFileSync("sha256sum", [path], { encoding: "utf8" }).split(" ")[0]!;
}

export interface BootResult {
  seconds: number;
  /** The requests the guest made during this boot. */
  requests: Request[];
  reason: "exit" | "until";
  exitCode: number | null;
  console: string;
}

export class BootTimeout extends Error {}

/** When a boot has shown what it should: from the requests it made and its console so far. */
export type Until = (fresh: Request[], console: string) => boolean;

export class Rig {
  readonly dir = mkdtempSync(join(tmpdir(), "plinth-images-"));
  readonly requests: Request[] = [];
  private netns?: Netns;
  private children: ChildProcess[] = [];
  private listeners: (() => void)[] = [];

  get ns(): Netns {
    if (!this.netns) throw new Error("rig not started");
    return this.netns;
  }

  async start(): Promise<void> {
    requireRoot();
    requireTool("qemu-system-x86_64", "qemu-system-x86");
    requireTool("dnsmasq", "dnsmasq-base");
    const ns = createNetns("plimg");
    this.netns = ns;
    ip("-n", ns.name, "link", "add", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0");
    ip("-n", ns.name, "addr", "add", `${applianceAddr}/24`, "dev", "br0");
    ip("-n", ns.name, "tuntap", "add", "dev", "tap0", "mode", "tap");
    ip("-n", ns.name, "link", "set", "tap0", "master", "br0");
    ip("-n", ns.name, "link", "set", "br0", "up");
    ip("-n", ns.name, "link", "set", "tap0", "up");
    const dnsmasq = ns.spawn("dnsmasq", dnsmasqDhcpArgs("10.99.0.100,10.99.0.200,255.255.255.0,10m", this.dir), { stdio: ["ignore", "ignore", "pipe"] });
    this.children.push(dnsmasq);
    const server = ns.spawn(
      process.execPath,
      ["--import", "tsx", join(repo, "test/node/images/metadata-server.ts"), "0.0.0.0", String(metadataPort), this.dir, imagesDir],
      { stdio: ["ignore", "pipe", "inherit"], cwd: repo },
    );
    this.children.push(server);
    await new Promise<void>((ok, fail) => {
      const lines = createInterface({ input: server.stdout! });
      const t = setTimeout(() => fail(new Error("metadata server did not start")), 20_000);
      lines.on("line", (line) => {
        const msg = JSON.parse(line) as Request & { listening?: boolean };
        if (msg.listening) {
          clearTimeout(t);
          ok();
          return;
        }
        this.requests.push(msg);
        for (const l of this.listeners) l();
      });
      server.once("exit", (code) => fail(new Error(`metadata server exited (${code})`)));
    });
  }

  setToken(node: string, token: string): void {
    writeFileSync(join(this.dir, "tokens.json"), JSON.stringify({ [node]: token }));
  }

  setDeploy(node: string, instructions: unknown): void {
    writeFileSync(join(this.dir, `deploy-${node}.json`), JSON.stringify(instructions));
  }

  posts(prefix: string): Request[] {
    return this.requests.filter((r) => r.method === "POST" && r.path.startsWith(prefix));
  }

  /** Serve `file` as /images/<name> (a test's own images, beside the built ones). */
  serveImage(name: string, file: string): void {
    mkdirSync(join(this.dir, "images"), { recursive: true });
    rmSync(join(this.dir, "images", name), { force: true });
    symlinkSync(resolve(file), join(this.dir, "images", name));
  }

  /**
   * Boot QEMU inside the namespace; resolve when it exits or when `until` becomes true (checked
   * on every request and on every console write).
   */
  async bootOnce(name: string, args: string[], timeoutMs: number, until?: Until): Promise<BootResult> {
    const log = join(this.dir, `${name}.console.log`);
    const out = createWriteStream(log);
    const started = Date.now();
    const mark = this.requests.length;
    const fresh = () => this.requests.slice(mark);
    const qemu = this.ns.spawn(
      "qemu-system-x86_64",
      [
        "-machine",
        "q35,graphics=off",
        "-accel",
        "tcg,thread=multi",
        "-cpu",
        "max",
        "-display",
        "none",
        "-vga",
        "none",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-no-reboot",
        "-netdev",
        "tap,id=n0,ifname=tap0,script=no,downscript=no",
        ...args,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.children.push(qemu);
    let consoleText = "";
    // Set while the promise below waits; console output and requests both run it.
    let check = () => {};
    const listener = () => check();
    const collect = (b: Buffer) => {
      consoleText += b.toString("utf8");
      out.write(b);
      check();
    };
    qemu.stdout!.on("data", collect);
    qemu.stderr!.on("data", collect);
    try {
      return await new Promise<BootResult>((ok, fail) => {
        const settle = () => {
          check = () => {};
          clearTimeout(timer);
          this.listeners = this.listeners.filter((l) => l !== listener);
        };
        const done = (reason: BootResult["reason"]) => {
          settle();
          ok({ seconds: (Date.now() - started) / 1000, requests: fresh(), reason, exitCode: qemu.exitCode, console: consoleText });
        };
        const timer = setTimeout(() => {
          settle();
          fail(new BootTimeout(`${name}: no result within ${timeoutMs / 1000} s; console in ${log}:\n${consoleText.slice(-3000)}`));
        }, timeoutMs);
        check = () => {
          if (until?.(fresh(), consoleText)) done("until");
        };
        this.listeners.push(listener);
        qemu.once("exit", () => {
          // Let the last console bytes and requests arrive.
          setTimeout(() => {
            if (until && !until(fresh(), consoleText)) {
              settle();
              fail(new Error(`${name}: QEMU exited (${qemu.exitCode}) before the expected result:\n${consoleText.slice(-3000)}`));
            } else done("exit");
          }, 200);
        });
        check();
      });
    } finally {
      await stop(qemu, "SIGKILL");
      this.children = this.children.filter((c) => c !== qemu);
      out.end();
    }
  }

  /** One retry when the guest freezes (rigs.md: one unexplained TCG freeze was seen). */
  async boot(name: string, args: string[], timeoutMs: number, until?: Until): Promise<BootResult> {
    try {
      return await this.bootOnce(name, args, timeoutMs, until);
    } catch (e) {
      if (!(e instanceof BootTimeout)) throw e;
      console.warn(`${name}: guest timed out, retrying once`);
      return await this.bootOnce(`${name}-retry`, args, timeoutMs, until);
    }
  }

  consoleLog(name: string): string {
    return readFileSync(join(this.dir, `${name}.console.log`), "utf8");
  }

  async destroy(): Promise<void> {
    for (const c of this.children.reverse()) await stop(c, "SIGTERM");
    this.children = [];
    this.netns?.destroy();
    // PLINTH_KEEP_RIG=1 keeps the console logs and disks for a look after the run.
    if (process.env.PLINTH_KEEP_RIG !== "1") rmSync(this.dir, { recursive: true, force: true });
    else console.log(`rig files kept in ${this.dir}`);
  }
}

/** A sparse file of `bytes` (a blank disk). */
export function blank(path: string, bytes: number): string {
  writeFileSync(path, "");
  truncateSync(path, bytes);
  return path;
}

/** `length` bytes of a (sparse, possibly multi-GiB) disk file from `offset`. */
export function readBytes(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}
