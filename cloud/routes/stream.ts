// Live updates for the dashboard and `plinth … --wait`: server-sent events that tail the audit
// log by id, plus rack connection changes. Tailing D1 (one indexed query a second per open
// stream) works the same in workerd, wrangler dev and production without a fan-out object; a
// Durable Object broadcaster is the step up when thousands of browsers stay open (docs/dashboard.md).
import type { Hono } from "hono";
import { visibleSites } from "../auth/roles";
import type { AppEnv } from "../http/context";
import { def } from "../http/openapi";

/** Each stream ends after this long; EventSource reconnects with Last-Event-ID and loses nothing. */
const STREAM_MS = 55_000;
const POLL_MS = 1_000;
const RACK_POLL_EVERY = 3;
/** Further behind than this, the client is told to reload instead of replaying the backlog. */
const MAX_REPLAY = 500;

const EVENT_COLUMNS = "id, system_id, hostname, site_id, type, level, actor, from_status, to_status, description, created_at";

export function streamRoutes(app: Hono<AppEnv>) {
  def(
    app,
    "get",
    "/stream",
    { summary: "Server-sent events: new audit events (machine status, power, racks) and rack connection changes", tag: "events" },
    async (c) => {
      const db = c.env.DB;
      const sites = visibleSites(c.get("caller"));
      const siteFilter = sites === null ? "" : " AND site_id IN (SELECT value FROM json_each(?))";
      const siteArgs = sites === null ? [] : [JSON.stringify(sites)];
      const newest = (await db.prepare("SELECT coalesce(max(id), 0) AS n FROM events").first<{ n: number }>())!.n;
      const resume = Number(c.req.header("last-event-id") ?? c.req.query("after") ?? Number.NaN);
      let after = Number.isSafeInteger(resume) && resume >= 0 && resume <= newest ? resume : newest;
      const reset = newest - after > MAX_REPLAY;
      if (reset) after = newest;

      // A ReadableStream we feed, not a TransformStream: when the browser leaves (every page
      // change), cancel() ends the loop at once, where a pending write on a cancelled pipe would
      // reject unhandled ("Network connection lost") and the sleeping loop would outlive the
      // request ("code had hung").
      const enc = new TextEncoder();
      let gone = false;
      let wake = () => {};
      let out!: ReadableStreamDefaultController<Uint8Array>;
      const readable = new ReadableStream<Uint8Array>({
        start(controller) {
          out = controller;
        },
        cancel() {
          gone = true;
          wake();
        },
      });
      const send = (s: string) => {
        if (!gone) out.enqueue(enc.encode(s));
      };
      const sleep = (ms: number) =>
        new Promise<void>((r) => {
          const t = setTimeout(r, ms);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      const racksDigest = async () => {
        try {
          const { results } = await db
            .prepare(`SELECT id, connected, last_seen_at FROM racks WHERE revoked_at IS NULL${siteFilter} ORDER BY id`)
            .bind(...siteArgs)
            .all();
          return JSON.stringify(results);
        } catch {
          // No racks table in this deployment yet: nothing to watch.
          return "";
        }
      };

      const pump = async () => {
        try {
          send(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ after, reset })}\n\n`);
          let racks = await racksDigest();
          const until = Date.now() + STREAM_MS;
          for (let tick = 1; !gone && Date.now() < until; tick++) {
            const { results } = await db
              .prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE id > ?${siteFilter} ORDER BY id LIMIT 200`)
              .bind(after, ...siteArgs)
              .all<{ id: number }>();
            for (const e of results) {
              send(`id: ${e.id}\nevent: event\ndata: ${JSON.stringify(e)}\n\n`);
              after = e.id;
            }
            if (tick % RACK_POLL_EVERY === 0) {
              const now = await racksDigest();
              if (now !== racks) send(`event: racks\ndata: ${now || "[]"}\n\n`);
              racks = now;
            }
            // A comment line keeps proxies from closing an idle stream.
            if (results.length === 0 && tick % 15 === 0) send(": keep-alive\n\n");
            if (results.length < 200) await sleep(POLL_MS);
          }
        } catch (e) {
          // A failed read of D1: end the stream; the browser reconnects and resumes by id.
          if (!gone) console.error("event stream:", e);
        } finally {
          if (!gone) {
            try {
              out.close();
            } catch {
              // Cancelled between the check and the close.
            }
          }
        }
      };
      c.executionCtx.waitUntil(pump());
      return new Response(readable, {
        headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" },
      });
    },
  );
}
