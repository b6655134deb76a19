#!/usr/bin/env node
// plinth-appliance: `enrol`, `run`, `status`. The only place that reads flags and the
// environment; every flag has an environment twin (PLINTH_<FLAG>).
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isIP } from "node:net";
import { parseArgs } from "node:util";
import { APPLIANCE_VERSION, Daemon } from "./daemon";
import { adopt, parseFdSpecs } from "./dhcp/sockets";
import { startSiteDns } from "./dns/service";
import { regionImageSource } from "./images/region-source";
import { type BootServices, startBootServices } from "./services";
import { enrol } from "./tunnel/enrol";
import { regionUrlProblem } from "./tunnel/region-url";
import { localCall } from "./tunnel/local-api";
import { isLevel, jsonLogger } from "./log";
import { StateDir } from "./state/dir";

const USAGE = `usage:
  plinth-appliance enrol  --region URL --token T [--hostname H] [--state-dir D] [--force] [--insecure]
  plinth-appliance run    [--state-dir D] [--region URL] [--insecure] [--log-level info] [--power-poll-concurrency 8]
                          [--dhcp-interface IF --tftp-root DIR [--http-port 5248] [--image-cache-bytes N]
                           [--http-memory-bytes N]] [--dns-port 53] [--dns-listen ADDR,...]
                          [--dns-axfr-allow CIDR,...]
  plinth-appliance status [--state-dir D]
environment twins: PLINTH_REGION, PLINTH_INSECURE, PLINTH_ENROL_TOKEN, PLINTH_HOSTNAME, PLINTH_STATE_DIR, PLINTH_LOG_LEVEL,
  PLINTH_DHCP_INTERFACE, PLINTH_TFTP_ROOT, PLINTH_HTTP_PORT, PLINTH_IMAGE_CACHE_BYTES,
  PLINTH_HTTP_MEMORY_BYTES, PLINTH_POWER_POLL_CONCURRENCY, PLINTH_DNS_PORT, PLINTH_DNS_LISTEN,
  PLINTH_DNS_AXFR_ALLOW
Boot services (DHCP, TFTP, HTTP) run only with --dhcp-interface, and only on that interface. The site's
DNS server answers on that interface's address and any --dns-listen ones (without --dhcp-interface:
on the --dns-listen addresses alone); --dns-port 0: off; zone transfers from --dns-axfr-allow only,
loopback by default. The region URL must be https:// unless it is loopback (127.0.0.0/8, ::1, localhost)
or --insecure is given (a lab network you trust).`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    region: { type: "string" },
    token: { type: "string" },
    hostname: { type: "string" },
    "state-dir": { type: "string" },
    "log-level": { type: "string" },
    "dhcp-interface": { type: "string" },
    "tftp-root": { type: "string" },
    "http-port": { type: "string" },
    "image-cache-bytes": { type: "string" },
    "http-memory-bytes": { type: "string" },
    "power-poll-concurrency": { type: "string" },
    "dns-port": { type: "string" },
    "dns-listen": { type: "string" },
    "dns-axfr-allow": { type: "string" },
    force: { type: "boolean" },
    insecure: { type: "boolean" },
    help: { type: "boolean" },
  },
});

const env = process.env;
const opt = {
  region: values.region ?? env.PLINTH_REGION,
  token: values.token ?? env.PLINTH_ENROL_TOKEN,
  insecure: values.insecure ?? ["1", "true", "yes"].includes((env.PLINTH_INSECURE ?? "").toLowerCase()),
  hostname: values.hostname ?? env.PLINTH_HOSTNAME,
  stateDir: values["state-dir"] ?? env.PLINTH_STATE_DIR ?? "/var/lib/plinth-appliance",
  logLevel: values["log-level"] ?? env.PLINTH_LOG_LEVEL ?? "info",
  dhcpInterface: values["dhcp-interface"] ?? env.PLINTH_DHCP_INTERFACE,
  tftpRoot: values["tftp-root"] ?? env.PLINTH_TFTP_ROOT ?? "/var/lib/plinth-appliance/tftp",
  httpPort: Number(values["http-port"] ?? env.PLINTH_HTTP_PORT ?? 5248),
  /** 0: unbounded. Images nobody is reading are evicted, least recently used first, beyond this. */
  imageCacheBytes: Number(values["image-cache-bytes"] ?? env.PLINTH_IMAGE_CACHE_BYTES ?? 0),
  /** Hot images kept in RAM by the HTTP server; unset: 512 MiB or a quarter of RAM, 0: none. */
  httpMemoryBytes: optionalNumber(values["http-memory-bytes"] ?? env.PLINTH_HTTP_MEMORY_BYTES),
  /** BMC queries of one power.poll batch in flight at once. */
  powerPollConcurrency: optionalNumber(values["power-poll-concurrency"] ?? env.PLINTH_POWER_POLL_CONCURRENCY),
  /** 0: no DNS server. */
  dnsPort: Number(values["dns-port"] ?? env.PLINTH_DNS_PORT ?? 53),
  dnsListen: list(values["dns-listen"] ?? env.PLINTH_DNS_LISTEN),
  dnsAxfrAllow: list(values["dns-axfr-allow"] ?? env.PLINTH_DNS_AXFR_ALLOW),
};

function list(v: string | undefined): string[] | undefined {
  return v === undefined
    ? undefined
    : v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
}

function isCidr(c: string): boolean {
  const [addr = "", len, extra] = c.split("/");
  const v = isIP(addr);
  if (!v || extra !== undefined) return false;
  return len === undefined || (/^\d{1,3}$/.test(len) && Number(len) <= (v === 4 ? 32 : 128));
}

function optionalNumber(v: string | undefined): number | undefined {
  return v === undefined || v === "" ? undefined : Number(v);
}
const log = jsonLogger(isLevel(opt.logLevel) ? opt.logLevel : "info");

async function main(): Promise<number> {
  const cmd = positionals[0];
  if (values.help || !cmd) {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  if (cmd === "enrol") {
    if (!opt.region || !opt.token) {
      console.error(`enrol needs --region and --token (or PLINTH_REGION and PLINTH_ENROL_TOKEN)\n${USAGE}`);
      return 2;
    }
    const problem = regionUrlProblem(opt.region, opt.insecure);
    if (problem) {
      console.error(problem);
      return 2;
    }
    const r = await enrol({
      region: opt.region,
      token: opt.token,
      stateDir: opt.stateDir,
      hostname: opt.hostname,
      version: APPLIANCE_VERSION,
      force: values.force,
    });
    log("info", r.already ? "already enrolled" : "enrolled", { rack: r.cred.rackId, site: r.cred.site, region: r.cred.region, state_dir: opt.stateDir });
    return 0;
  }
  if (cmd === "run") {
    const iface = opt.dhcpInterface;
    if (iface !== undefined && !/^[A-Za-z0-9_.:@-]{1,15}$/.test(iface)) {
      console.error(`--dhcp-interface: "${iface}" is not an interface name\n${USAGE}`);
      return 2;
    }
    if (!Number.isInteger(opt.httpPort) || opt.httpPort < 1 || opt.httpPort > 65535) {
      console.error(`--http-port must be a port number\n${USAGE}`);
      return 2;
    }
    if (!Number.isSafeInteger(opt.imageCacheBytes) || opt.imageCacheBytes < 0) {
      console.error(`--image-cache-bytes must be a whole number of bytes (0: unbounded)\n${USAGE}`);
      return 2;
    }
    if (opt.httpMemoryBytes !== undefined && (!Number.isSafeInteger(opt.httpMemoryBytes) || opt.httpMemoryBytes < 0)) {
      console.error(`--http-memory-bytes must be a whole number of bytes (0: keep no image in memory)\n${USAGE}`);
      return 2;
    }
    if (
      opt.powerPollConcurrency !== undefined &&
      (!Number.isInteger(opt.powerPollConcurrency) || opt.powerPollConcurrency < 1 || opt.powerPollConcurrency > 256)
    ) {
      console.error(`--power-poll-concurrency must be a whole number from 1 to 256\n${USAGE}`);
      return 2;
    }
    if (!Number.isInteger(opt.dnsPort) || opt.dnsPort < 0 || opt.dnsPort > 65535) {
      console.error(`--dns-port must be a port number (0: no DNS server)\n${USAGE}`);
      return 2;
    }
    const badListen = (opt.dnsListen ?? []).find((a) => !isIP(a));
    if (badListen !== undefined) {
      console.error(`--dns-listen: "${badListen}" is not an IP address\n${USAGE}`);
      return 2;
    }
    const badAxfr = (opt.dnsAxfrAllow ?? []).find((c) => !isCidr(c));
    if (badAxfr !== undefined) {
      console.error(`--dns-axfr-allow: "${badAxfr}" is not an address or CIDR\n${USAGE}`);
      return 2;
    }
    // The URL stored at enrolment is checked too: it may predate this check, or come from a copied state dir.
    const region = opt.region ?? new StateDir(opt.stateDir).readCredential()?.region;
    const problem = region === undefined ? null : regionUrlProblem(region, opt.insecure);
    if (problem) {
      console.error(problem);
      return 2;
    }
    const specs = parseFdSpecs(env);
    if (iface && specs.length === 0) return reexecWithDhcpSockets(iface);
    const unknown = specs.filter((s) => s.iface !== iface);
    if (unknown.length) {
      console.error(`inherited DHCP sockets for interfaces not asked for: ${unknown.map((s) => s.iface).join(",")}`);
      return 2;
    }
    watchParent();
    const daemon = new Daemon({
      stateDir: opt.stateDir,
      region: opt.region,
      log,
      ...(opt.powerPollConcurrency ? { powerPollConcurrency: opt.powerPollConcurrency } : {}),
    });
    await daemon.start();
    let services: BootServices | null = null;
    if (iface) {
      const sockets = await Promise.all(specs.map(async (s) => ({ socket: await adopt(s), iface: s.iface, port: s.port })));
      const images = {
        fetch: regionImageSource({ stateDir: opt.stateDir, ...(opt.region ? { region: opt.region } : {}) }),
        ...(opt.imageCacheBytes ? { maxBytes: opt.imageCacheBytes } : {}),
      };
      services = await startBootServices(daemon, {
        iface,
        sockets,
        stateDir: opt.stateDir,
        tftpRoot: opt.tftpRoot,
        httpPort: opt.httpPort,
        images,
        ...(opt.httpMemoryBytes !== undefined ? { httpMemoryBytes: opt.httpMemoryBytes } : {}),
        dns: {
          port: opt.dnsPort,
          ...(opt.dnsListen ? { listen: opt.dnsListen } : {}),
          ...(opt.dnsAxfrAllow ? { axfrAllow: opt.dnsAxfrAllow } : {}),
        },
        log,
      }).catch((e: unknown) => {
        // The rack stays up for power and tells the region why it cannot boot machines, rather
        // than vanishing from it in a restart loop.
        const error = e instanceof Error ? e.message : String(e);
        log("error", "boot services failed to start", { error });
        daemon.setServices((["dhcp", "tftp", "http", "metadata"] as const).map((name) => ({ name, state: "failed" as const, error })));
        return null;
      });
    }
    // A rack that serves no boot interface can still be the site's DNS server on the addresses it is given.
    const dnsOnly =
      !iface && opt.dnsPort !== 0 && opt.dnsListen?.length
        ? await startSiteDns(daemon, {
            addresses: opt.dnsListen,
            port: opt.dnsPort,
            ...(opt.dnsAxfrAllow ? { axfrAllow: opt.dnsAxfrAllow } : {}),
            log,
          })
        : null;
    if (dnsOnly) daemon.setServices([{ name: "dns", state: "ok" }]);
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log("info", "signal received", { signal });
        Promise.all([services?.close(), dnsOnly?.close()])
          .then(() => daemon.stop())
          .then(resolve, (e: unknown) => {
            log("error", "stop failed", { error: String(e) });
            resolve();
          });
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
    });
    return 0;
  }
  if (cmd === "status") {
    const state = new StateDir(opt.stateDir);
    let status: unknown;
    try {
      status = (await localCall(state.path("appliance.sock"), "GET", "/status")).json;
    } catch {
      // Not running: the last status it wrote, marked as such.
      status = { running: false, last: state.readStatus(), enrolled: state.readCredential()?.rackId ?? null };
    }
    console.log(JSON.stringify(status, null, 2));
    return 0;
  }
  console.error(`unknown command "${cmd}"\n${USAGE}`);
  return 2;
}

/**
 * Node cannot bind a UDP socket to a device (SO_BINDTODEVICE): bind-device.pl opens one for
 * DHCP and execs us again with it inherited (PLINTH_DHCP_FDS). This process only relays
 * signals and the exit code, so whoever started it can stop it by its PID.
 */
function reexecWithDhcpSockets(iface: string): Promise<number> {
  const helper = join(dirname(fileURLToPath(import.meta.url)), "dhcp", "bind-device.pl");
  const child = spawn("perl", [helper, `${iface}:67`, "--", process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, PLINTH_PARENT_PID: String(process.pid) },
  });
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, () => child.kill(sig));
  return new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

/** The re-executed daemon follows its relaying parent out (a SIGKILL there forwards nothing). */
function watchParent(): void {
  const parent = Number(env.PLINTH_PARENT_PID);
  if (!parent) return;
  const t = setInterval(() => {
    if (process.ppid !== parent) {
      log("warn", "parent process gone, exiting");
      process.kill(process.pid, "SIGTERM");
    }
  }, 1000);
  t.unref();
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    log("error", e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
