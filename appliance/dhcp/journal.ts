// Append-only lease journal. A lease is durable once its record is written and fdatasync'd;
// the server sends the ACK only after that, so a SIGKILL can lose an OFFER but never an ACK.
// Group commit: every record that arrives while a write+sync is in flight goes out in the next
// one, so the sync cost is shared by however many ACKs are waiting (thousands per second on one
// disk instead of one sync per lease). Compaction rewrites the live state to a temporary file,
// syncs it and renames it over the journal, on the same queue, without stopping packet handling.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, truncateSync } from "node:fs";
import { type FileHandle, open, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export type JournalRecord =
  | { op: "bind"; ip: string; key: string; mac: string; exp: number; host?: string }
  | { op: "free"; ip: string }
  | { op: "decline"; ip: string; exp: number };

interface Waiter {
  resolve(): void;
  reject(e: unknown): void;
}

export interface JournalOptions {
  /** Live records (what a compacted journal must contain), taken when compaction starts. */
  live(): JournalRecord[];
  /** How many records live() would return, cheaply (checked after every flush). */
  liveCount(): number;
  /** Compact once the file holds this many records and at least 4× the live ones. */
  compactAfter?: number;
  onError?(e: unknown): void;
}

export function readJournal(path: string): { records: JournalRecord[]; skipped: number } {
  if (!existsSync(path)) return { records: [], skipped: 0 };
  const text = readFileSync(path, "utf8");
  const records: JournalRecord[] = [];
  let skipped = 0;
  const end = text.lastIndexOf("\n");
  // Anything after the last newline is a write torn by a crash: it was never synced, so never ACKed.
  for (const line of text.slice(0, end + 1).split("\n")) {
    if (!line) continue;
    try {
      const r = JSON.parse(line) as JournalRecord;
      if (typeof r === "object" && r && typeof r.ip === "string") records.push(r);
      else skipped++;
    } catch {
      skipped++;
    }
  }
  if (end + 1 < Buffer.byteLength(text)) {
    truncateSync(path, Buffer.byteLength(text.slice(0, end + 1)));
    skipped++;
  }
  return { records, skipped };
}

function fsyncDir(path: string): void {
  const fd = openSync(dirname(path), "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class Journal {
  private pending: string[] = [];
  private waiters: Waiter[] = [];
  private running = false;
  private compactWanted = false;
  private closed = false;
  private inFile: number;

  private constructor(
    private readonly path: string,
    private fh: FileHandle,
    existing: number,
    private readonly opts: JournalOptions,
  ) {
    this.inFile = existing;
  }

  static async open(path: string, existing: number, opts: JournalOptions): Promise<Journal> {
    const fh = await open(path, "a");
    fsyncDir(path);
    return new Journal(path, fh, existing, opts);
  }

  /** Resolves once the record is on disk. */
  append(r: JournalRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error("journal closed"));
    this.pending.push(JSON.stringify(r));
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.kick();
    });
  }

  compactNow(): Promise<void> {
    this.compactWanted = true;
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.kick();
    });
  }

  get recordsInFile(): number {
    return this.inFile;
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (!this.closed && (this.pending.length > 0 || this.compactWanted || this.waiters.length > 0)) {
        if (this.compactWanted) await this.compact();
        else await this.flush();
      }
    } finally {
      this.running = false;
    }
  }

  private async flush(): Promise<void> {
    const lines = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    try {
      if (lines.length > 0) {
        await this.fh.write(`${lines.join("\n")}\n`);
        await this.fh.datasync();
        this.inFile += lines.length;
      }
      for (const w of waiters) w.resolve();
    } catch (e) {
      for (const w of waiters) w.reject(e);
      this.opts.onError?.(e);
    }
    const threshold = this.opts.compactAfter ?? 10_000;
    if (this.inFile >= threshold && this.inFile >= 4 * this.opts.liveCount()) this.compactWanted = true;
  }

  private async compact(): Promise<void> {
    this.compactWanted = false;
    // The live view already includes every pending record (memory is updated first), so once
    // the compacted file is durable, so are they.
    const live = this.opts.live();
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    const tmp = `${this.path}.compact`;
    try {
      const body = live.map((r) => JSON.stringify(r)).join("\n");
      await writeFile(tmp, body ? `${body}\n` : "", { flush: true });
      await rename(tmp, this.path);
      fsyncDir(this.path);
      const old = this.fh;
      this.fh = await open(this.path, "a");
      await old.close();
      this.inFile = live.length;
      for (const w of waiters) w.resolve();
    } catch (e) {
      for (const w of waiters) w.reject(e);
      this.opts.onError?.(e);
    }
  }

  async close(): Promise<void> {
    while (this.running || this.pending.length > 0) await new Promise((r) => setImmediate(r));
    this.closed = true;
    await this.fh.close();
  }
}
