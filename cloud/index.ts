import { Hono } from "hono";
import type { Env } from "./env";

export { RackTunnel } from "./tunnel/rack-tunnel";

const app = new Hono<{ Bindings: Env }>();
app.get("/api/v1/health", (c) => c.json({ ok: true }));

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
