// A stand-in metadata relay for the boot-environment tests, run inside the test's network
// namespace (`ip netns exec <ns> node --import tsx metadata-server.ts`). It answers the
// protocol in docs/boot-environment.md and prints every request as one JSON line on stdout:
//   GET  /metadata/<node>/deploy   -> <dir>/deploy-<node>.json (needs the node's bearer token)
//   POST /metadata/<node>/...      -> recorded, 200 {}
//   GET  /images/<file>            -> <dir>/images/<file> (a test's own images), else <images dir>/<file>
//   POST /phone-home/...           -> recorded, 200 {} (phone_home, a cloud-init webhook reporter)
//   GET  /nocloud/<file>           -> <dir>/nocloud/<file> (a NoCloud-net seed: meta-data, user-data, vendor-data)
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { basename, join } from "node:path";

const [host = "0.0.0.0", portArg = "5248", stateDir = ".", imagesDir = "."] = process.argv.slice(2);

function tokens(): Record<string, string> {
  const f = join(stateDir, "tokens.json");
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as Record<string, string>) : {};
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const body = Buffer.concat(chunks).toString("utf8");
    const auth = req.headers.authorization ?? null;
    const record = (status: number) =>
      process.stdout.write(`${JSON.stringify({ method: req.method, path, status, auth, contentType: req.headers["content-type"] ?? null, body })}\n`);
    const send = (status: number, text: string, type = "application/json") => {
      record(status);
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
      res.end(text);
    };
    const meta = /^\/metadata\/([^/]+)\/(.+)$/.exec(path);
    if (meta) {
      const [, node = "", rest = ""] = meta;
      const want = tokens()[node];
      if (want !== undefined && auth !== `Bearer ${want}`) return send(401, '{"error":"bad token"}');
      if (req.method === "GET" && rest === "deploy") {
        const f = join(stateDir, `deploy-${basename(node)}.json`);
        if (!existsSync(f)) return send(404, '{"error":"no deployment"}');
        return send(200, readFileSync(f, "utf8"));
      }
      if (req.method === "POST") return send(200, "{}");
      return send(404, '{"error":"not found"}');
    }
    const image = /^\/images\/([^/]+)$/.exec(path);
    if (image && req.method === "GET") {
      const own = join(stateDir, "images", basename(image[1] ?? ""));
      const f = existsSync(own) ? own : join(imagesDir, basename(image[1] ?? ""));
      if (!existsSync(f)) return send(404, "not found", "text/plain");
      record(200);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": statSync(f).size });
      createReadStream(f).pipe(res);
      return;
    }
    if (path.startsWith("/phone-home/") && req.method === "POST") return send(200, "{}");
    const seed = /^\/nocloud\/([^/]+)$/.exec(path);
    if (seed && req.method === "GET") {
      const f = join(stateDir, "nocloud", basename(seed[1] ?? ""));
      return existsSync(f) ? send(200, readFileSync(f, "utf8"), "text/plain") : send(404, "not found", "text/plain");
    }
    send(404, '{"error":"not found"}');
  });
});
server.listen(Number(portArg), host, () => process.stdout.write(`${JSON.stringify({ listening: true })}\n`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
