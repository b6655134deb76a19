// The appliance's one disk journal: an append-only file of JSON lines. append() resolves only
// once the record is on disk (fdatasync), so callers answer (a DHCP ACK, a 202 to a node, a
// command start) after that and never before. Appends that arrive while a write is in flight
// go out together in the next one (group commit): a burst costs one sync, not one each.
// Compaction rewrites the live state aside, syncs it and renames it over the file, on the same
// queue as appends, so nothing is written to a file that is being replaced.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { type FileHandle, open, rename } from "node:fs/promises";
import { dirname } from "node:path";

export interface DurableLogOptions<T> {
  /** Whether a parsed line is a record of this log; refused lines are skipped and counted. */
  accept?(r: unknown): r is T;
  /** Mode of the file when it is created (default 0600: journals name machines and commands). */
  mode?: number;
  /** Compacts by itself: checked after every write with the records now in the file. */
  compaction?: { due(recordsInFile: number): boolean; live(): T[] };
  /** Told of every failed write or compaction (the waiting appends are rejected as well). */
  onError?(e: unknown): void;
}

interface Waiter {
  resolve(): void;
  reject(e: unknown): void;
}

export class DurableLog<T> {
  private pending: string[] = [];
  private waiters: Waiter[] = [];
  /** The live records of a compaction asked for and not yet run. */
  private compactWith: (() => T[]) | null = null;
  private running = false;
  private closed = false;
  private inFile: number;

  private constructor(
    private readonly path: string,
    private fh: FileHandle,
    existing: number,
    private readonly opts: DurableLogOptions<T>,
  ) {
    this.inFile = existing;
  }

  /**
   * Opens (creating it and its directory when missing) and replays the file. Anything after the
   * last newline is a write torn by a crash: it was never synced, so never acknowledged to
   * anyone; it is cut off so the next append does not glue onto it.
   */
  static async open<T>(path: string, opts: DurableLogOptions<T> = {}): Promise<{ log: DurableLog<T>; records: T[]; skipped: number }> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    let text = "";
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    const end = text.lastIndexOf("\n") + 1;
    const records: T[] = [];
    let skipped = 0;
    for (const line of text.slice(0, end).split("\n")) {
      if (!line) continue;
      try {
        const r: unknown = JSON.parse(line);
        if (opts.accept && !opts.accept(r)) skipped++;
        else records.push(r as T);
      } catch {
        skipped++;
      }
    }
    const fh = await open(path, "a", opts.mode ?? 0o600);
    if (end < text.length) {
      await fh.truncate(Buffer.byteLength(text.slice(0, end)));
      await fh.sync();
      skipped++;
    }
    // The file may have just been created: its directory entry must survive a crash too.
    fsyncDir(path);
    return { log: new DurableLog<T>(path, fh, records.length, opts), records, skipped };
  }

  /** Records in the file (appended and compacted ones), what compaction policies go by. */
  get size(): number {
    return this.inFile;
  }

  /** Resolves once the record is on disk. */
  append(rec: T): Promise<void> {
    if (this.closed) return Promise.reject(new Error("journal closed"));
    this.pending.push(JSON.stringify(rec));
    return this.wait();
  }

  /**
   * Replaces the file with `live()`, taken when the compaction runs. The caller's live view
   * must already hold every record appended so far (state is updated before it is appended):
   * appends still waiting are dropped from the queue and answered once the compacted file is on disk.
   */
  compact(live: () => T[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error("journal closed"));
    this.compactWith = live;
    return this.wait();
  }

  private wait(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (this.running) return;
      this.running = true;
      // One turn of the event loop first, so everything appended in this turn shares the sync.
      setImmediate(() => void this.loop());
    });
  }

  private async loop(): Promise<void> {
    try {
      while (this.pending.length > 0 || this.compactWith || this.waiters.length > 0) {
        const live = this.compactWith;
        if (live) await this.rewrite(live);
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
    const auto = this.opts.compaction;
    if (auto?.due(this.inFile)) this.compactWith ??= auto.live;
  }

  private async rewrite(live: () => T[]): Promise<void> {
    this.compactWith = null;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    try {
      const records = live();
      await writeFileDurablyAsync(this.path, records.map((r) => `${JSON.stringify(r)}\n`).join(""), this.opts.mode ?? 0o600);
      const old = this.fh;
      this.fh = await open(this.path, "a");
      await old.close();
      this.inFile = records.length;
      for (const w of waiters) w.resolve();
    } catch (e) {
      for (const w of waiters) w.reject(e);
      this.opts.onError?.(e);
    }
  }

  /** Waits for what is queued to be written, then closes; later appends are refused. */
  async close(): Promise<void> {
    while (this.running || this.pending.length > 0) await new Promise((r) => setImmediate(r));
    this.closed = true;
    await this.fh.close();
  }
}

/** tmp + fsync + rename + fsync(dir): after a crash the file is either old or new, never half. */
export function writeFileDurably(path: string, data: string, mode = 0o600): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(path);
}

/** writeFileDurably without blocking the event loop, for files large enough to matter (compaction). */
async function writeFileDurablyAsync(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, "w", mode);
  try {
    await fh.write(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  fsyncDir(path);
}

function fsyncDir(path: string): void {
  const fd = openSync(dirname(path), "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
