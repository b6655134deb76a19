// Sending a file with correct length, validators and single-range support. Streams from
// disk with a large read size: the page cache does the caching, the socket the pacing.
import { createReadStream } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { parseRange } from "./range";

export interface FileToSend {
  path: string;
  size: number;
  /** A strong validator (the sha256 for images). */
  etag: string;
  contentType: string;
  /** Called when the response is over, however it ended. */
  done?: () => void;
}

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
  const stream = createReadStream(f.path, { start, end, highWaterMark: 256 << 10 });
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
