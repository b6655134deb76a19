// What a TFTP read is served from: a file under a root directory (the image cache, the iPXE
// binaries) or a virtual file held in memory. The server only sees FileProvider.
import { constants, type promises as fsp } from "node:fs";
import { open, readlink, realpath } from "node:fs/promises";
import { join, sep } from "node:path";
import { ErrorCode } from "./packet";

export interface TftpFile {
  /** Bytes, or null when not known before the transfer ends (tsize is then left out). */
  readonly size: number | null;
  /** Up to `length` bytes at `offset`; fewer only at the end of the file. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** The same bytes synchronously when already buffered, else null: saves a turn of the event loop per window. */
  peek?(offset: number, length: number): Uint8Array | null;
  close(): Promise<void>;
}

export interface FileProvider {
  /** null: not here (try the next provider, or "file not found"). Throws TftpRefusal to refuse. */
  open(name: string): Promise<TftpFile | null>;
}

/** A request we refuse with a specific TFTP error code (traversal, not a regular file...). */
export class TftpRefusal extends Error {
  override name = "TftpRefusal";
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Splits a requested name into path segments, refusing anything that could name a file
 * outside the root. Backslashes are read as separators because some PXE stacks send DOS paths.
 * A leading slash names the root, as with tftpd-hpa's -s: PXE and GRUB configurations often
 * ask for "/pxelinux.0" or "/grub/grub.cfg". '..' stays refused anywhere, "/../x" included.
 */
export function safeSegments(name: string): string[] {
  if (name.length === 0 || name.length > 1024) throw new TftpRefusal(ErrorCode.ACCESS_VIOLATION, "bad file name");
  if (name.includes("\0")) throw new TftpRefusal(ErrorCode.ACCESS_VIOLATION, "NUL in file name");
  const unified = name.replaceAll("\\", "/");
  const segments = unified.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.length === 0) throw new TftpRefusal(ErrorCode.ACCESS_VIOLATION, "bad file name");
  if (segments.some((s) => s === "..")) throw new TftpRefusal(ErrorCode.ACCESS_VIOLATION, "'..' is refused");
  return segments;
}

const CHUNK = 1 << 20;

/**
 * Positional reads through a 1 MiB read-ahead buffer: one syscall per window, not per block.
 * Once a transfer is half way through a chunk the next one is read in the background, so a
 * lock-step transfer, which cannot send its next block before it has it, never waits for the disk.
 */
class DiskFile implements TftpFile {
  private chunk: Buffer = Buffer.alloc(0);
  private chunkAt = 0;
  private ahead: Buffer | null = null;
  private aheadAt = 0;
  private pending: Promise<void> | null = null;
  constructor(
    private readonly fh: fsp.FileHandle,
    readonly size: number,
  ) {}

  peek(offset: number, length: number): Uint8Array | null {
    const want = Math.max(0, Math.min(length, this.size - offset));
    let hit = this.slice(offset, want);
    const ahead = this.ahead;
    if (hit === null && ahead && offset + want <= this.aheadAt + ahead.length) {
      const end = this.chunkAt + this.chunk.length;
      if (offset >= this.aheadAt) {
        this.chunk = ahead;
        this.chunkAt = this.aheadAt;
      } else if (this.aheadAt === end && offset >= this.chunkAt) {
        // A window across the two chunks: join them (a copy, still cheaper than a read).
        this.chunk = Buffer.concat([this.chunk.subarray(offset - this.chunkAt), ahead]);
        this.chunkAt = offset;
      }
      this.ahead = null;
      hit = this.slice(offset, want);
    }
    if (hit !== null) this.prefetch(offset);
    return hit;
  }

  private slice(offset: number, want: number): Uint8Array | null {
    if (offset >= this.chunkAt && offset + want <= this.chunkAt + this.chunk.length) {
      return this.chunk.subarray(offset - this.chunkAt, offset - this.chunkAt + want);
    }
    return null;
  }

  private prefetch(offset: number): void {
    const next = this.chunkAt + this.chunk.length;
    if (this.pending || this.ahead || next >= this.size || offset - this.chunkAt < this.chunk.length / 2) return;
    // A failed read-ahead is forgotten: the read that needs those bytes tries again and reports it.
    this.pending = this.load(next, Math.min(CHUNK, this.size - next))
      .then(
        (buf) => {
          this.ahead = buf;
          this.aheadAt = next;
        },
        () => {},
      )
      .finally(() => {
        this.pending = null;
      });
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const hit = this.peek(offset, length);
    if (hit) return hit;
    if (this.pending) {
      await this.pending;
      const ready = this.peek(offset, length);
      if (ready) return ready;
    }
    const want = Math.max(0, Math.min(length, this.size - offset));
    const buf = await this.load(offset, Math.min(Math.max(CHUNK, want), this.size - offset));
    this.chunk = buf;
    this.chunkAt = offset;
    if (this.ahead && this.aheadAt !== offset + buf.length) this.ahead = null;
    return this.chunk.subarray(0, Math.min(want, buf.length));
  }

  /** A fresh buffer each time: earlier slices may still sit in the socket's send queue. */
  private async load(offset: number, n: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await this.fh.read(buf, got, n - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  }

  async close(): Promise<void> {
    // The read-ahead may still be using the handle.
    await this.pending;
    await this.fh.close();
  }
}

/** Files under `root`. Symlinks are followed only while they stay inside the root. */
export function rootProvider(root: string): FileProvider {
  const realRoot = realpath(root);
  return {
    async open(name) {
      const segments = safeSegments(name);
      const base = await realRoot;
      let fh: fsp.FileHandle;
      try {
        fh = await open(join(base, ...segments), constants.O_RDONLY | constants.O_NONBLOCK);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR") return null;
        if (code === "EACCES" || code === "ELOOP") throw new TftpRefusal(ErrorCode.ACCESS_VIOLATION, "access denied");
        throw e;
      }
      try {
        // Check what was actually opened, not the name: no race with a symlink swapped in after a check.
        const opened = await readlink(`/proc/self/fd/${fh.fd}`);
        if (!opened.startsWith(base + sep)) throw new TftpRefusal(ErrorCode.ACCESS_VIOLATION, "outside the TFTP root");
        const st = await fh.stat();
        if (!st.isFile()) throw new TftpRefusal(ErrorCode.ACCESS_VIOLATION, "not a regular file");
        return new DiskFile(fh, st.size);
      } catch (e) {
        await fh.close();
        throw e;
      }
    },
  };
}

class MemoryFile implements TftpFile {
  constructor(private readonly data: Uint8Array) {}
  get size(): number {
    return this.data.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.data.subarray(offset, offset + length);
  }
  peek(offset: number, length: number): Uint8Array {
    return this.data.subarray(offset, offset + length);
  }
  async close(): Promise<void> {}
}

export type VirtualFile = Uint8Array | (() => Promise<Uint8Array | null>);

/** Files generated in memory (per-site configs, small scripts), looked up by exact name. */
export function virtualProvider(files: Map<string, VirtualFile>): FileProvider {
  return {
    async open(name) {
      const f = files.get(name.replaceAll("\\", "/").replace(/^\/+/, ""));
      if (f === undefined) return null;
      const data = typeof f === "function" ? await f() : f;
      return data ? new MemoryFile(data) : null;
    },
  };
}

/** The first provider that has the file serves it. */
export function firstOf(...providers: FileProvider[]): FileProvider {
  return {
    async open(name) {
      for (const p of providers) {
        const f = await p.open(name);
        if (f) return f;
      }
      return null;
    },
  };
}
