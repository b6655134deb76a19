// The command ledger: which command ids this appliance has started and what they returned.
// A start is on disk before the command runs, so after a crash a replayed command that had
// started is never run again (it is reported `interrupted`), and a finished one is answered
// from here. Only the most recent ids are kept.
import { join } from "node:path";
import type { CommandError } from "../../shared/tunnel/commands";
import { DurableLog } from "./durable-log";

export interface CommandOutcome {
  ok: boolean;
  data?: Record<string, unknown>;
  error?: CommandError;
}

type Rec = { k: "start"; id: string; type: string; at: number } | { k: "done"; id: string; outcome: CommandOutcome; at: number };
export type LedgerEntry = { state: "started"; type: string } | { state: "done"; type: string; outcome: CommandOutcome };

const KEEP = 10_000;

export class CommandLedger {
  private readonly entries = new Map<string, LedgerEntry>();

  private constructor(
    private readonly log: DurableLog<Rec>,
    records: Rec[],
  ) {
    for (const r of records) {
      if (r.k === "start") this.entries.set(r.id, { state: "started", type: r.type });
      else this.entries.set(r.id, { state: "done", type: this.entries.get(r.id)?.type ?? "", outcome: r.outcome });
    }
  }

  static async open(dir: string): Promise<CommandLedger> {
    let ledger: CommandLedger | undefined;
    // Compaction follows a write, and every write goes through the ledger: it exists by then.
    const { log, records } = await DurableLog.open<Rec>(join(dir, "commands.log"), {
      compaction: { due: (inFile) => inFile > KEEP * 4, live: () => ledger!.trim() },
    });
    ledger = new CommandLedger(log, records);
    return ledger;
  }

  get(id: string): LedgerEntry | undefined {
    return this.entries.get(id);
  }

  async start(id: string, type: string): Promise<void> {
    this.entries.set(id, { state: "started", type });
    await this.log.append({ k: "start", id, type, at: Date.now() });
  }

  async finish(id: string, outcome: CommandOutcome): Promise<void> {
    const type = this.entries.get(id)?.type ?? "";
    this.entries.set(id, { state: "done", type, outcome });
    await this.log.append({ k: "done", id, outcome, at: Date.now() });
  }

  /** Started in an earlier life of the process and never finished. */
  interrupted(): string[] {
    return [...this.entries].filter(([, e]) => e.state === "started").map(([id]) => id);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Forgets all but the most recent ids; what a compacted ledger holds. */
  private trim(): Rec[] {
    const keep = [...this.entries].slice(-KEEP);
    this.entries.clear();
    const recs: Rec[] = [];
    for (const [id, e] of keep) {
      this.entries.set(id, e);
      recs.push({ k: "start", id, type: e.type, at: 0 });
      if (e.state === "done") recs.push({ k: "done", id, outcome: e.outcome, at: 0 });
    }
    return recs;
  }

  close(): Promise<void> {
    return this.log.close();
  }
}
