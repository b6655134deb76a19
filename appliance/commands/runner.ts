// What each command type does on the appliance. Power work goes through the BMC driver
// registry and MAAS's retry policy; errors become results, never exceptions.
import { type PowerAction, runPowerAction } from "../bmc/retry";
import { PowerCommandParams, PowerPollParams } from "../../shared/tunnel/commands";
import type { CommandMessage } from "../../shared/tunnel/protocol";
import type { CommandOutcome } from "../journal/ledger";
import type { Logger } from "../log";
import { withDriver } from "./driver";
import { commandError } from "./errors";
import { Limiter } from "./limiter";
import { DEFAULT_POLL_CONCURRENCY, runPowerPoll } from "./power-poll";

export interface RunContext {
  /** Tells about power retries and manual-driver requests (logs, events). */
  log: Logger;
  /** Injected by tests to avoid real waits between retries. */
  retrySleep?: (s: number) => Promise<void>;
  /** Runs a config.sync: re-reads state, returns what it knows. */
  configVersion?: () => string | null;
  /** The appliance-wide cap on power-poll queries in flight (default DEFAULT_POLL_CONCURRENCY). */
  pollLimiter?: Limiter;
  /** Per-query timeout of a power poll (tests shorten it). */
  pollQueryTimeoutMs?: number;
}

const defaultPollLimiter = new Limiter(DEFAULT_POLL_CONCURRENCY);

function powerAction(type: CommandMessage["type"], p: PowerCommandParams): PowerAction | null {
  switch (type) {
    case "power.on":
      return { kind: "on" };
    case "power.off":
      return { kind: "off", soft: p.soft };
    case "power.cycle":
      return { kind: "cycle" };
    case "power.query":
      return { kind: "query" };
    case "bmc.identify":
      return { kind: "identify", seconds: p.seconds, force: p.force };
    case "boot.set":
      return { kind: "boot", options: { device: p.device ?? "pxe", persistent: p.persistent ?? false, efi: p.efi ?? true } };
    default:
      return null;
  }
}

export async function runCommand(cmd: CommandMessage, ctx: RunContext): Promise<CommandOutcome> {
  if (cmd.type === "test.echo") return { ok: true, data: { echo: cmd.params } };
  if (cmd.type === "config.sync") return { ok: true, data: { config_version: ctx.configVersion?.() ?? null } };
  if (cmd.type === "power.poll") {
    const poll = PowerPollParams.safeParse(cmd.params);
    if (!poll.success) return { ok: false, error: { code: "bad_settings", message: "invalid power poll parameters", kind: "fatal" } };
    return {
      ok: true,
      data: await runPowerPoll(poll.data, { limiter: ctx.pollLimiter ?? defaultPollLimiter, log: ctx.log, queryTimeoutMs: ctx.pollQueryTimeoutMs }),
    };
  }
  const parsed = PowerCommandParams.safeParse(cmd.params);
  const action = parsed.success ? powerAction(cmd.type, parsed.data) : null;
  if (!parsed.success || !action) {
    return {
      ok: false,
      error: {
        code: "unsupported",
        message: parsed.success ? `${cmd.type} is not supported by this appliance` : "invalid power command parameters",
        kind: "fatal",
      },
    };
  }
  const p = parsed.data;
  try {
    const out = await withDriver(p, ctx.log, (driver) =>
      runPowerAction(driver, action, {
        sleep: ctx.retrySleep,
        onRetry: (attempt, err, wait) =>
          ctx.log("warn", "power action retry", { command: cmd.id, system_id: p.system_id, attempt, code: err.code, wait_s: wait }),
      }),
    );
    return { ok: true, data: { ...(out.state ? { state: out.state } : {}), attempts: out.attempts } };
  } catch (e) {
    return failure(e);
  }
}

function failure(e: unknown): CommandOutcome {
  return { ok: false, error: commandError(e) };
}
