// plinth DHCP server: node --import tsx appliance/dhcp/cli.ts --interface IF --config file.json
// Flags (each has an environment twin): --interface/PLINTH_DHCP_INTERFACES (repeatable,
// comma-separated in the environment), --config/PLINTH_DHCP_CONFIG, --leases/PLINTH_DHCP_LEASES,
// --log-level/PLINTH_LOG_LEVEL. Binds only to the interfaces it is given. SIGHUP re-reads the
// config; events for the region are written to stdout as JSON lines.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type DhcpSnapshot, parseSnapshot } from "./config";
import { isLevel, jsonLogger } from "../log";
import { startDhcp } from "./service";
import { adopt, parseFdSpecs } from "./sockets";

const { values } = parseArgs({
  options: {
    interface: { type: "string", multiple: true },
    config: { type: "string" },
    leases: { type: "string" },
    "log-level": { type: "string" },
  },
});
const env = process.env;
const interfaces = values.interface ?? env.PLINTH_DHCP_INTERFACES?.split(",").filter(Boolean) ?? [];
const configPath = values.config ?? env.PLINTH_DHCP_CONFIG;
const leasesPath = values.leases ?? env.PLINTH_DHCP_LEASES ?? "/var/lib/plinth/dhcp/leases.jsonl";
const logLevel = values["log-level"] ?? env.PLINTH_LOG_LEVEL ?? "info";
// Logs on stderr: stdout carries the events for the region.
const log = jsonLogger(isLevel(logLevel) ? logLevel : "info", (l) => process.stderr.write(l));

function fail(msg: string): never {
  log("error", msg);
  process.exit(2);
}

if (interfaces.length === 0) fail("--interface is required (the server never binds to all interfaces)");
if (!configPath) fail("--config is required");

function loadConfig(): DhcpSnapshot {
  return parseSnapshot(JSON.parse(readFileSync(configPath!, "utf8")));
}

let snapshot: DhcpSnapshot;
try {
  snapshot = loadConfig();
} catch (e) {
  fail(`bad config ${configPath}: ${e instanceof Error ? e.message : String(e)}`);
}

const specs = parseFdSpecs(env);
if (specs.length === 0) {
  // Re-run ourselves under bind-device.pl, which opens the device-bound sockets and execs us.
  const ports = snapshot.mode === "proxy" ? "67,4011" : "67";
  const helper = join(dirname(fileURLToPath(import.meta.url)), "bind-device.pl");
  const child = spawn("perl", [helper, ...interfaces.map((i) => `${i}:${ports}`), "--", process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
  });
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  const unknown = specs.filter((s) => !interfaces.includes(s.iface));
  if (unknown.length) fail(`inherited sockets for interfaces not asked for: ${unknown.map((s) => s.iface).join(",")}`);
  mkdirSync(dirname(leasesPath), { recursive: true });
  const sockets = await Promise.all(specs.map(async (s) => ({ socket: await adopt(s), iface: s.iface, port: s.port })));
  const service = await startDhcp({
    snapshot,
    sockets,
    leasesPath,
    log,
    emit: (e) => process.stdout.write(`${JSON.stringify({ event: e })}\n`),
  });
  process.on("SIGHUP", () => {
    try {
      service.update(loadConfig());
      log("info", "config reloaded", { path: configPath });
    } catch (e) {
      log("error", "config reload refused, keeping the old one", { error: String(e) });
    }
  });
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    void service.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  log("info", "dhcp server ready", {
    mode: snapshot.mode,
    sockets: specs.map((s) => `${s.iface}:${s.port}`),
    leases: leasesPath,
    pid: process.pid,
  });
}
