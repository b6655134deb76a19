// Sending a file with correct length, validators and single-range support, from disk or
// from memory. From disk: streamed with a large read size, the page cache does the caching,
// the socket the pacing. From memory (memory.ts): the byte range as one Buffer view.
import { createReadStream } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { parseRange } from "./range";

export interface FileToSend {
  path: string;
  size: number;
  /** A strong validator (the sha256 for images). */
  etag: string;
  contentType: string;
  /** The whole file, when held in memory: then the path is not read. */
  bytes?: Buffer;
  /** Called when the response is over, however it ended. */
  done?: () => void;
}

/**
 * Why 1 MiB: each read is a threadpool round trip and a wakeup of the stream machinery; four
 * times fewer of them than at 256 KiB took about a tenth off the disk path's CPU per GiB
 * (100 clients on loopback, issue 4), and 100 clients × 1 MiB in flight is still small.
 * Hot images do not come this way at all (memory.ts).
 */
const READ_SIZE = 1 << 20;

export function sendFile(req: IncomingMessage, res: ServerResponse, f: FileToSend): void {
  const etag = `"${f.etag}"`;
  res.setHeader("Accept-Ranges", "bytes");
  res.setHeader("ETag", etag);
  res.setHeader("Content-Type", f.contentType);
  const ifRange = req.headers["if-range"];
  const range = ifRange && ifRange !== etag ? { kind: "full" as const } : parseRange(req.headers.range, f.size);
  if (range.kind === "unsatisfiable") {
    res.writeHead(416, { "Content-Range": `bytes */${f.size}`, "Content-Length": 0 });
    res.end();
    f.done?.();
    return;
  }
  if (req.headers["if-none-match"] === etag) {
    res.writeHead(304);
    res.end();
    f.done?.();
    return;
  }
  const start = range.kind === "partial" ? range.start : 0;
  const end = range.kind === "partial" ? range.end : f.size - 1;
  const length = f.size === 0 ? 0 : end - start + 1;
  if (range.kind === "partial") {
    res.writeHead(206, { "Content-Range": `bytes ${start}-${end}/${f.size}`, "Content-Length": length });
  } else {
    res.writeHead(200, { "Content-Length": length });
  }
  if (req.method === "HEAD" || length === 0) {
    res.end();
    f.done?.();
    return;
  }
  if (f.bytes) {
    // One view, no copy: libuv writes it as the socket drains. 'close' comes however the
    // response ends (finished, or the client went away mid-body).
    if (f.done) res.once("close", f.done);
    res.end(f.bytes.subarray(start, end + 1));
    return;
  }
  const stream = createReadStream(f.path, { start, end, highWaterMark: READ_SIZE });
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    stream.destroy();
    f.done?.();
  };
  stream.on("error", () => {
    // Headers are out: the only honest signal left is a connection cut short.
    res.destroy();
    finish();
  });
  res.on("close", finish);
  stream.pipe(res);
}
