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

/** Positional reads through a 1 MiB read-ahead buffer: one syscall per window, not per block. */
class DiskFile implements TftpFile {
  private chunk: Buffer = Buffer.alloc(0);
  private chunkAt = 0;
  constructor(
    private readonly fh: fsp.FileHandle,
    readonly size: number,
  ) {}

  peek(offset: number, length: number): Uint8Array | null {
    const want = Math.max(0, Math.min(length, this.size - offset));
    if (offset >= this.chunkAt && offset + want <= this.chunkAt + this.chunk.length) {
      return this.chunk.subarray(offset - this.chunkAt, offset - this.chunkAt + want);
    }
    return null;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const hit = this.peek(offset, length);
    if (hit) return hit;
    const want = Math.max(0, Math.min(length, this.size - offset));
    const n = Math.min(Math.max(CHUNK, want), this.size - offset);
    // A fresh buffer each time: earlier slices may still sit in the socket's send queue.
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await this.fh.read(buf, got, n - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.chunk = buf.subarray(0, got);
    this.chunkAt = offset;
    return this.chunk.subarray(0, Math.min(want, got));
  }

  close(): Promise<void> {
    return this.fh.close();
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
