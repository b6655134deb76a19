// An append-only file of JSON lines where append() resolves only after the data is on disk
// (fdatasync). Appends that arrive while a sync is running are written and synced together
// (group commit), so a burst of events costs one sync, not one each. A torn last line (a
// crash mid-write) is ignored on open.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { dirname } from "node:path";

export class DurableLog<T> {
  private queue: { line: string; done: () => void; fail: (e: unknown) => void }[] = [];
  private flushing: Promise<void> | null = null;
  private lines: number;

  private constructor(
    private readonly path: string,
    private fh: FileHandle,
    lines: number,
  ) {
    this.lines = lines;
  }

  static async open<T>(path: string): Promise<{ log: DurableLog<T>; records: T[] }> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    let text = "";
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    const records: T[] = [];
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        records.push(JSON.parse(line) as T);
      } catch {
        // A torn write from a crash: everything before it was synced, nothing after it exists.
      }
    }
    // A torn tail would glue onto the next append: rewrite the file clean if it has one.
    if (text && !text.endsWith("\n")) writeAtomically(path, records);
    const fh = await open(path, "a", 0o600);
    return { log: new DurableLog<T>(path, fh, records.length), records };
  }

  get size(): number {
    return this.lines;
  }

  append(rec: T): Promise<void> {
    return new Promise((done, fail) => {
      this.queue.push({ line: `${JSON.stringify(rec)}\n`, done, fail });
      if (!this.flushing) this.flushing = this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue;
      this.queue = [];
      try {
        await this.fh.write(batch.map((b) => b.line).join(""));
        await this.fh.datasync();
        this.lines += batch.length;
        for (const b of batch) b.done();
      } catch (e) {
        for (const b of batch) b.fail(e);
      }
    }
    this.flushing = null;
  }

  /** Replaces the whole file with `records` (compaction): write aside, sync, rename. */
  async rewrite(records: T[]): Promise<void> {
    while (this.flushing) await this.flushing;
    await this.fh.close();
    writeAtomically(this.path, records);
    this.fh = await open(this.path, "a", 0o600);
    this.lines = records.length;
  }

  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    await this.fh.close();
  }
}

export function writeAtomically(path: string, records: unknown[]): void {
  writeFileDurably(path, records.map((r) => `${JSON.stringify(r)}\n`).join(""));
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
  const dir = openSync(dirname(path), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
