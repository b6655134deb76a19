// --wait: follow a machine until the action's target state, a failure state, or the timeout,
// with one progress line (rewritten in place on a terminal, a line per change otherwise).
import { ALL_STATUSES, NODE_STATUS as S } from "../shared/lifecycle";
import { CliError, type Client, EXIT } from "./client";

export interface WaitTarget {
  /** Done when the machine is in one of these statuses (or power state, for power actions). */
  status?: number[];
  power?: "on" | "off";
  /** While in one of these, keep waiting; anything else that is not the target is a failure. */
  transitional?: number[];
}

const RESCUE: readonly number[] = [S.RESCUE_MODE, S.ENTERING_RESCUE_MODE, S.EXITING_RESCUE_MODE, S.FAILED_ENTERING_RESCUE_MODE, S.FAILED_EXITING_RESCUE_MODE];
const BUSY = [S.COMMISSIONING, S.DEPLOYING, S.RELEASING, S.DISK_ERASING, S.ENTERING_RESCUE_MODE, S.EXITING_RESCUE_MODE, S.TESTING];

export const WAIT_TARGETS: Record<string, WaitTarget> = {
  commission: { status: [S.READY], transitional: [S.COMMISSIONING, S.TESTING] },
  deploy: { status: [S.DEPLOYED], transitional: [S.DEPLOYING] },
  release: { status: [S.READY], transitional: [S.RELEASING, S.DISK_ERASING] },
  allocate: { status: [S.ALLOCATED] },
  abort: {
    status: [
      S.NEW,
      S.READY,
      S.ALLOCATED,
      S.DEPLOYED,
      S.BROKEN,
      S.FAILED_COMMISSIONING,
      S.FAILED_DEPLOYMENT,
      S.FAILED_RELEASING,
      S.FAILED_DISK_ERASING,
      S.FAILED_TESTING,
    ],
    transitional: BUSY,
  },
  "mark-broken": { status: [S.BROKEN] },
  "mark-fixed": { status: [S.READY, S.NEW, S.DEPLOYED], transitional: [S.BROKEN] },
  "power-on": { power: "on" },
  "power-off": { power: "off" },
  "power-cycle": { power: "on" },
  rescue: { status: [S.RESCUE_MODE], transitional: [S.ENTERING_RESCUE_MODE] },
  // Back to wherever rescue began (Ready, Deployed, Broken or a failed state): anything but rescue.
  "exit-rescue": { status: ALL_STATUSES.filter((s) => !RESCUE.includes(s)), transitional: [S.EXITING_RESCUE_MODE] },
};

interface M {
  system_id: string;
  hostname: string;
  status: number;
  status_name: string;
  status_message: string;
  power_state: string;
}

export async function waitFor(client: Client, systemId: string, action: string, timeoutS: number, quiet: boolean): Promise<M> {
  const target = WAIT_TARGETS[action];
  if (!target) throw new CliError(`--wait is not supported for ${action}`, EXIT.usage);
  const started = Date.now();
  const tty = process.stderr.isTTY;
  let last = "";
  const show = (m: M) => {
    if (quiet) return;
    const s = Math.round((Date.now() - started) / 1000);
    const line = `${m.hostname}: ${m.status_name}${m.status_message ? ` (${m.status_message})` : ""}, power ${m.power_state}`;
    if (tty) process.stderr.write(`\r\x1b[2K${line} [${s}s]`);
    else if (line !== last) process.stderr.write(`${line}\n`);
    last = line;
  };
  const maxPolls = Math.ceil(timeoutS) + 1;
  for (let i = 0; i < maxPolls; i++) {
    const m = await client.call("GET /machines/{id}", { path: { id: systemId } });
    show(m);
    const done = target.power ? m.power_state === target.power : target.status!.includes(m.status);
    if (done) {
      if (tty && !quiet) process.stderr.write("\n");
      return m;
    }
    const failed = target.power ? m.power_state === "error" : !(target.transitional ?? []).includes(m.status);
    if (failed) {
      if (tty && !quiet) process.stderr.write("\n");
      throw new CliError(
        `${action} did not finish: ${m.hostname} is ${m.status_name}${m.status_message ? ` (${m.status_message})` : ""}, power ${m.power_state}`,
        EXIT.failed,
        "failed",
      );
    }
    if (Date.now() - started >= timeoutS * 1000) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (tty && !quiet) process.stderr.write("\n");
  throw new CliError(
    `gave up waiting after ${timeoutS}s for ${action} on ${systemId} (it may still finish: plinth machines show ${systemId})`,
    EXIT.timeout,
    "timeout",
  );
}
