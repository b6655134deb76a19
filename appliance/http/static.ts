// Static boot files under a directory, by a request path that must stay inside it: the
// same rule as TFTP (no "..", no absolute paths, no symlinks out), checked on the opened fd.
import { constants } from "node:fs";
import { open, readlink, realpath } from "node:fs/promises";
import { join, sep } from "node:path";
import { safeSegments, TftpRefusal } from "../tftp/files";

export type StaticResult = { ok: true; file: { path: string; size: number; etag: string } } | { ok: false; status: 400 | 403 | 404; message: string };

export async function openStatic(root: string, requested: string): Promise<StaticResult> {
  let segments: string[];
  try {
    segments = safeSegments(decodeURIComponent(requested));
  } catch (e) {
    if (e instanceof TftpRefusal || e instanceof URIError) return { ok: false, status: 400, message: "bad path" };
    throw e;
  }
  const base = await realpath(root);
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(join(base, ...segments), constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return { ok: false, status: 404, message: "not found" };
  }
  try {
    const opened = await readlink(`/proc/self/fd/${fh.fd}`);
    if (!opened.startsWith(base + sep)) return { ok: false, status: 403, message: "outside the files root" };
    const st = await fh.stat();
    if (!st.isFile()) return { ok: false, status: 404, message: "not found" };
    // The resolved path, not the name: a symlink swapped after this check cannot redirect us.
    return { ok: true, file: { path: opened, size: st.size, etag: `${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}` } };
  } finally {
    await fh.close();
  }
}
