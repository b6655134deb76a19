// The daemon's local API on a Unix socket in the state directory (never on the network): how
// `plinth-appliance status` reads live state, and how site services running in their own
// processes (DHCP, HTTP boot) hand events in and read the current config snapshot.
import { chmodSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, request, type Server } from "node:http";
import { z } from "zod";
import { EVENT_TYPES, type EventInput } from "../../shared/tunnel/events";

const MAX_BODY = 1024 * 1024;
const EventsBody = z.union([
  z.object({ type: z.enum(EVENT_TYPES), data: z.unknown() }),
  z.object({ events: z.array(z.object({ type: z.enum(EVENT_TYPES), data: z.unknown() })).max(10_000) }),
]);

export interface LocalApiHandlers {
  status(): unknown;
  config(): unknown;
  emit(e: EventInput): Promise<number>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export function startLocalApi(socketPath: string, h: LocalApiHandlers): Promise<Server> {
  rmSync(socketPath, { force: true });
  const server = createServer(async (req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    try {
      if (req.method === "GET" && req.url === "/status") return reply(200, h.status());
      if (req.method === "GET" && req.url === "/config") return reply(200, h.config());
      if (req.method === "POST" && req.url === "/events") {
        const parsed = EventsBody.safeParse(JSON.parse(await readBody(req)));
        if (!parsed.success) return reply(400, { error: { code: "invalid_request", message: parsed.error.issues[0]?.message ?? "invalid" } });
        const list = ("events" in parsed.data ? parsed.data.events : [parsed.data]) as EventInput[];
        // Numbers are given in call order; the appends share one disk sync (group commit).
        const seqs = await Promise.all(list.map((e) => h.emit(e)));
        return reply(202, { seqs });
      }
      reply(404, { error: { code: "not_found", message: "GET /status, GET /config, POST /events" } });
    } catch (e) {
      reply(400, { error: { code: "invalid_request", message: e instanceof Error ? e.message : String(e) } });
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      chmodSync(socketPath, 0o660);
      resolve(server);
    });
  });
}

/** A client for the local API (the CLI's `status`, tests, site services in other processes). */
export function localCall(socketPath: string, method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: { "content-type": "application/json" }, timeout: 10_000 }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => {
        text += d.toString();
      });
      res.on("end", () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("local API timeout")));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
