// The appliance's outgoing event journal: every event is numbered and on disk before anyone
// may send it, and leaves only when the region acknowledges its number. The journal has an
// identity (a random id made when it is created) so the region knows when numbering restarts.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type EventInput, type RackEvent, RackEventSchema } from "../../shared/tunnel/events";
import { DurableLog, writeFileDurably } from "./durable-log";

type Rec = { k: "e"; e: RackEvent } | { k: "ack"; upTo: number };

const COMPACT_AFTER = 20_000;

export class EventJournal {
  private pending: RackEvent[] = [];
  /** Numbered and queued for the disk, not yet synced: compaction must keep them too. */
  private readonly unsynced = new Map<number, RackEvent>();
  private acked = 0;
  private nextSeq: number;
  private listeners = new Set<() => void>();

  private constructor(
    readonly id: string,
    private readonly log: DurableLog<Rec>,
    records: Rec[],
  ) {
    let max = 0;
    for (const r of records) {
      if (r.k === "ack") this.acked = Math.max(this.acked, r.upTo);
      else max = Math.max(max, r.e.seq);
    }
    this.pending = records.flatMap((r) => (r.k === "e" && r.e.seq > this.acked ? [r.e] : [])).sort((a, b) => a.seq - b.seq);
    this.nextSeq = Math.max(max, this.acked) + 1;
  }

  static async open(dir: string): Promise<EventJournal> {
    const idFile = join(dir, "journal-id");
    let id: string;
    try {
      id = readFileSync(idFile, "utf8").trim();
    } catch {
      id = randomBytes(12).toString("hex");
      writeFileDurably(idFile, id);
    }
    const { log, records } = await DurableLog.open<Rec>(join(dir, "events.log"));
    return new EventJournal(id, log, records);
  }

  /** Validates, numbers and syncs one event; resolves with its number once it is on disk. */
  async append(input: EventInput, at = Date.now()): Promise<number> {
    const parsed = RackEventSchema.safeParse({ ...input, seq: this.nextSeq, at });
    if (!parsed.success)
      throw new Error(
        `invalid ${String((input as { type?: unknown }).type)} event: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
      );
    const e = parsed.data;
    this.nextSeq++;
    this.unsynced.set(e.seq, e);
    try {
      await this.log.append({ k: "e", e });
    } finally {
      this.unsynced.delete(e.seq);
    }
    this.pending.push(e);
    // A sync may finish out of order with a later one only if appends interleave; keep order.
    if (this.pending.length > 1 && this.pending.at(-2)!.seq > e.seq) this.pending.sort((a, b) => a.seq - b.seq);
    for (const l of this.listeners) l();
    return e.seq;
  }

  /** The region has everything up to `upTo`. */
  async ack(upTo: number): Promise<void> {
    if (upTo <= this.acked) return;
    this.acked = upTo;
    this.pending = this.pending.filter((e) => e.seq > upTo);
    await this.log.append({ k: "ack", upTo });
    if (this.log.size > COMPACT_AFTER) await this.log.compact(() => this.live());
  }

  /** What a compacted journal holds: the acknowledgement, then every event not acknowledged. */
  private live(): Rec[] {
    return [{ k: "ack", upTo: this.acked }, ...[...this.pending, ...this.unsynced.values()].map((e) => ({ k: "e" as const, e }))];
  }

  /** Pending events after `seq`, oldest first, at most `limit`. */
  after(seq: number, limit: number): RackEvent[] {
    const out: RackEvent[] = [];
    for (const e of this.pending) {
      if (e.seq > seq) out.push(e);
      if (out.length >= limit) break;
    }
    return out;
  }

  onAppend(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  get depth(): number {
    return this.pending.length;
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  get ackedUpTo(): number {
    return this.acked;
  }

  close(): Promise<void> {
    return this.log.close();
  }
}
