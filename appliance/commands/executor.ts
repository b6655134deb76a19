// Runs the region's commands, each at most once: the ledger records the start on disk before
// anything touches a BMC, a repeat of a finished command is answered from the ledger, and a
// repeat of one still running waits for that run. Commands for the same machine run in order.
import type { CommandMessage } from "../../shared/tunnel/protocol";
import type { CommandLedger, CommandOutcome } from "../journal/ledger";
import { commandError } from "./errors";
import { Limiter } from "./limiter";
import { runCommand, type RunContext } from "./runner";

export interface Executed {
  id: string;
  outcome: CommandOutcome;
  /** Answered from the ledger: this process did not run it now. */
  replay: boolean;
}

export class Executor {
  private readonly running = new Map<string, Promise<Executed>>();
  private readonly perMachine = new Map<string, Promise<unknown>>();
  private readonly limiter: Limiter;
  executed = 0;

  constructor(
    private readonly ledger: CommandLedger,
    private readonly ctx: RunContext,
    maxConcurrent = 64,
  ) {
    this.limiter = new Limiter(maxConcurrent);
  }

  get inFlight(): number {
    return this.running.size;
  }

  handle(cmd: CommandMessage, now = Date.now()): Promise<Executed> {
    const inProcess = this.running.get(cmd.id);
    if (inProcess) return inProcess.then((r) => ({ ...r, replay: true }));
    const known = this.ledger.get(cmd.id);
    if (known?.state === "done") return Promise.resolve({ id: cmd.id, outcome: known.outcome, replay: true });
    if (known?.state === "started") {
      // Started by an earlier life of this process that died mid-command: it may have reached
      // the BMC, so it is not run again; the operator sees why.
      return this.record(
        cmd.id,
        { ok: false, error: { code: "interrupted", message: "the appliance restarted while running this command; it was not run again", kind: "fatal" } },
        true,
      );
    }
    if (cmd.deadline <= now) return this.record(cmd.id, { ok: false, error: { code: "expired", message: "received after its deadline; not run" } }, false);
    const p = this.start(cmd);
    this.running.set(cmd.id, p);
    void p.finally(() => this.running.delete(cmd.id));
    return p;
  }

  private async record(id: string, outcome: CommandOutcome, replay: boolean): Promise<Executed> {
    await this.ledger.finish(id, outcome);
    return { id, outcome, replay };
  }

  private async start(cmd: CommandMessage): Promise<Executed> {
    // The machine's place in line is taken before anything is awaited: commands for one
    // machine (boot.set then power.on) run in the order they arrived.
    const key = typeof cmd.params.system_id === "string" ? cmd.params.system_id : `cmd:${cmd.id}`;
    const before = this.perMachine.get(key) ?? Promise.resolve();
    const started = this.ledger.start(cmd.id, cmd.type);
    const run = Promise.all([before, started]).then(() => this.limiter.run(() => runCommand(cmd, this.ctx)));
    const settled = run.catch(() => {});
    this.perMachine.set(key, settled);
    void settled.then(() => {
      if (this.perMachine.get(key) === settled) this.perMachine.delete(key);
    });
    let outcome: CommandOutcome;
    try {
      outcome = await run;
    } catch (e) {
      outcome = { ok: false, error: commandError(e) };
    }
    this.executed++;
    return this.record(cmd.id, outcome, false);
  }

  /** Waits (bounded) for running commands, for a graceful stop. */
  async drain(timeoutMs: number): Promise<void> {
    const all = Promise.allSettled([...this.running.values()]);
    await Promise.race([all, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }
}
