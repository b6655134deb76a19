#!/usr/bin/env node
// plinth-appliance: `enrol`, `run`, `status`. The only place that reads flags and the
// environment; every flag has an environment twin (PLINTH_<FLAG>).
import { parseArgs } from "node:util";
import { APPLIANCE_VERSION, Daemon } from "./daemon";
import { enrol } from "./tunnel/enrol";
import { localCall } from "./tunnel/local-api";
import { jsonLogger, type Level } from "./tunnel/log";
import { StateDir } from "./tunnel/state";

const USAGE = `usage:
  plinth-appliance enrol  --region URL --token T [--hostname H] [--state-dir D] [--force]
  plinth-appliance run    [--state-dir D] [--region URL] [--log-level info]
  plinth-appliance status [--state-dir D]
environment twins: PLINTH_REGION, PLINTH_ENROL_TOKEN, PLINTH_HOSTNAME, PLINTH_STATE_DIR, PLINTH_LOG_LEVEL`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    region: { type: "string" },
    token: { type: "string" },
    hostname: { type: "string" },
    "state-dir": { type: "string" },
    "log-level": { type: "string" },
    force: { type: "boolean" },
    help: { type: "boolean" },
  },
});

const env = process.env;
const opt = {
  region: values.region ?? env.PLINTH_REGION,
  token: values.token ?? env.PLINTH_ENROL_TOKEN,
  hostname: values.hostname ?? env.PLINTH_HOSTNAME,
  stateDir: values["state-dir"] ?? env.PLINTH_STATE_DIR ?? "/var/lib/plinth-appliance",
  logLevel: (values["log-level"] ?? env.PLINTH_LOG_LEVEL ?? "info") as Level,
};
const log = jsonLogger(["debug", "info", "warn", "error"].includes(opt.logLevel) ? opt.logLevel : "info");

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
    const r = await enrol({ region: opt.region, token: opt.token, stateDir: opt.stateDir, hostname: opt.hostname, version: APPLIANCE_VERSION, force: values.force });
    log("info", r.already ? "already enrolled" : "enrolled", { rack: r.cred.rackId, site: r.cred.site, region: r.cred.region, state_dir: opt.stateDir });
    return 0;
  }
  if (cmd === "run") {
    const daemon = new Daemon({ stateDir: opt.stateDir, region: opt.region, log });
    await daemon.start();
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log("info", "signal received", { signal });
        daemon.stop().then(resolve, (e: unknown) => {
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

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    log("error", e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
