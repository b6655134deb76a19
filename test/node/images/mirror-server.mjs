// The test mirror's HTTP server, run inside the rig's network namespace
// (`ip netns exec <ns> node mirror-server.mjs <dir> <host> <port>`): GET and HEAD of the files
// under <dir>, with single byte ranges (a sync resuming a download asks for one). Plain .mjs so
// it starts without a TypeScript loader. Prints {"listening":port} once ready.
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { join, normalize, sep } from "node:path";

const [dir = ".", host = "0.0.0.0", port = "80"] = process.argv.slice(2);
const root = normalize(dir);

const server = createServer((req, res) => {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
  let path;
  try {
    path = decodeURIComponent(new URL(req.url ?? "/", "http://mirror").pathname);
  } catch {
    res.writeHead(400).end();
    return;
  }
  const file = normalize(join(root, path));
  if (file !== root && !file.startsWith(root + sep)) {
    res.writeHead(403).end();
    return;
  }
  let st;
  try {
    st = statSync(file);
  } catch {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  if (!st.isFile()) {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  const type = file.endsWith(".json") ? "application/json" : file.endsWith(".sjson") ? "text/plain" : "application/octet-stream";
  let start = 0;
  let end = st.size - 1;
  let status = 200;
  const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
  if (range && (range[1] || range[2])) {
    if (range[1]) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(end, Number(range[2]));
    } else start = Math.max(0, st.size - Number(range[2]));
    if (start > end || start >= st.size) {
      res.writeHead(416, { "content-range": `bytes */${st.size}` }).end();
      return;
    }
    status = 206;
  }
  const headers = { "content-type": type, "content-length": String(end - start + 1), "accept-ranges": "bytes", "last-modified": st.mtime.toUTCString() };
  if (status === 206) headers["content-range"] = `bytes ${start}-${end}/${st.size}`;
  res.writeHead(status, headers);
  if (req.method === "HEAD" || st.size === 0) {
    res.end();
    return;
  }
  const stream = createReadStream(file, { start, end, highWaterMark: 1 << 20 });
  stream.on("error", () => res.destroy());
  stream.pipe(res);
});

server.listen(Number(port), host, () => {
  process.stdout.write(`${JSON.stringify({ listening: server.address().port })}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
// The rig holds our stdin: when the process that started us dies without stopping us, go too.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
