// The periodic power poll (`power.poll`): one command names many machines' BMCs; each is asked
// for its power state once, with at most `limiter.max` queries in flight for the whole
// appliance (polls of several commands share the cap). A failed query is that machine's
// answer, never the command's: the next poll is its retry.
import { PowerError } from "../bmc/driver";
import { runPowerAction } from "../bmc/retry";
import type { PowerPollParams, PowerPollState } from "../../shared/tunnel/commands";
import type { Logger } from "../log";
import { withDriver } from "./driver";
import { commandError } from "./errors";
import type { Limiter } from "./limiter";

/** Default queries in flight per appliance: BMCs are small computers, and many share a switch. */
export const DEFAULT_POLL_CONCURRENCY = 8;
/** A query that has not answered by now is reported as a timeout and frees its slot. */
export const POLL_QUERY_TIMEOUT_MS = 30_000;

export interface PollContext {
  limiter: Limiter;
  log: Logger;
  /** Per-query timeout (tests shorten it). */
  queryTimeoutMs?: number;
}

async function queryOne(m: PowerPollParams["machines"][number], ctx: PollContext): Promise<PowerPollState> {
  const timeoutMs = ctx.queryTimeoutMs ?? POLL_QUERY_TIMEOUT_MS;
  try {
    return await withDriver(m, ctx.log, async (driver) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new PowerError("transient", "timeout", `no power state within ${timeoutMs / 1000} s`)), timeoutMs);
      });
      // One attempt: the poll comes round again, so MAAS's retry schedule is not spent here.
      const out = await Promise.race([runPowerAction(driver, { kind: "query" }, { schedule: [] }), timeout]).finally(() => clearTimeout(timer));
      return { system_id: m.system_id, state: out.state ?? "unknown" };
    });
  } catch (e) {
    // The poll's answer holds up to 200 machines: each message is kept shorter.
    return { system_id: m.system_id, error: commandError(e, 1000) };
  }
}

/** Answers every machine of the batch, in the order asked. */
export async function runPowerPoll(p: PowerPollParams, ctx: PollContext): Promise<{ states: PowerPollState[] }> {
  const states = await Promise.all(p.machines.map((m) => ctx.limiter.run(() => queryOne(m, ctx))));
  const failed = states.filter((s) => "error" in s).length;
  if (failed) ctx.log("warn", "power poll: some BMCs did not answer", { asked: states.length, failed });
  return { states };
}
