// Runs one power action with MAAS's policy: fatal errors are never retried; transient ones
// are retried after each wait in POWER_RETRY_SCHEDULE_S, and before re-sending on/off we
// ask the BMC whether the machine already got there (a timed-out request may have worked).
import { type BootOptions, POWER_RETRY_SCHEDULE_S, type PowerDriver, PowerError, type PowerState } from "./driver";

export type PowerAction =
  | { kind: "on" }
  | { kind: "off"; soft?: boolean }
  | { kind: "cycle" }
  | { kind: "reset" }
  | { kind: "query" }
  | { kind: "identify"; seconds?: number; force?: boolean }
  | { kind: "boot"; options: BootOptions };

export interface RetryOptions {
  schedule?: readonly number[];
  /** Injected so tests do not wait in real time. */
  sleep?: (seconds: number) => Promise<void>;
  /** Told about each failed attempt that will be retried (for events and logs). */
  onRetry?: (attempt: number, error: PowerError, waitS: number) => void;
}

export interface PowerOutcome {
  /** The confirmed (or queried) state, where the action has one. */
  state?: PowerState;
  /** How many times the action was sent. */
  attempts: number;
}

const realSleep = (s: number) => new Promise<void>((r) => setTimeout(r, s * 1000));

export async function runPowerAction(driver: PowerDriver, action: PowerAction, opts: RetryOptions = {}): Promise<PowerOutcome> {
  const schedule = opts.schedule ?? POWER_RETRY_SCHEDULE_S;
  const sleep = opts.sleep ?? realSleep;
  const want = action.kind === "on" ? "on" : action.kind === "off" ? "off" : undefined;
  let sent = 0;
  let last: PowerError | undefined;
  for (let attempt = 0; attempt <= schedule.length; attempt++) {
    if (attempt > 0) {
      const wait = schedule[attempt - 1] ?? 0;
      if (last) opts.onRetry?.(attempt, last, wait);
      await sleep(wait);
      if (want) {
        const s = await confirm(driver);
        if (s instanceof PowerError) last = s;
        else if (reached(s, want)) return { state: s, attempts: sent };
      }
    }
    try {
      sent++;
      const state = await perform(driver, action);
      if (!want) return { state, attempts: sent };
    } catch (e) {
      last = asPowerError(e);
      if (last.kind === "fatal") throw last;
      continue;
    }
    const s = await confirm(driver);
    if (s instanceof PowerError) last = s;
    else if (reached(s, want)) return { state: s, attempts: sent };
    else last = new PowerError("transient", "state_not_reached", `the BMC accepted power ${want} but reports ${s}`);
  }
  const reason = last ?? new PowerError("transient", "unknown", "no attempt was made");
  throw new PowerError("transient", reason.code, `gave up after ${sent} attempt${sent === 1 ? "" : "s"} over ${sum(schedule)} s: ${reason.message}`);
}

/** A BMC that cannot tell (manual, some webhooks) is taken at its word, as MAAS does. */
function reached(s: PowerState, want: PowerState): boolean {
  return s === want || s === "unknown";
}

/** Returns a transient error as a value; a fatal one ends the run. */
async function confirm(driver: PowerDriver): Promise<PowerState | PowerError> {
  try {
    return await driver.queryPower();
  } catch (e) {
    const pe = asPowerError(e);
    if (pe.kind === "fatal") throw pe;
    return pe;
  }
}

async function perform(driver: PowerDriver, a: PowerAction): Promise<PowerState | undefined> {
  switch (a.kind) {
    case "on":
      return void (await driver.powerOn());
    case "off":
      return void (await driver.powerOff(a.soft));
    case "cycle":
      return void (await driver.powerCycle());
    case "reset":
      if (!driver.powerReset) throw new PowerError("fatal", "unsupported", `${driver.type} cannot reset`);
      return void (await driver.powerReset());
    case "query":
      return driver.queryPower();
    case "identify":
      return void (await driver.identify({ seconds: a.seconds, force: a.force }));
    case "boot":
      return void (await driver.setBootDevice(a.options));
  }
}

/** Anything that is not a PowerError is a bug in a driver: retrying it would only hide it. */
function asPowerError(e: unknown): PowerError {
  if (e instanceof PowerError) return e;
  return new PowerError("fatal", "internal", `driver failed unexpectedly: ${e instanceof Error ? e.message : String(e)}`);
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
