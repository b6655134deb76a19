import { app } from "./app";
import type { Env } from "./env";
import { sweepDeadlines } from "./lifecycle/deadlines";

export { RackTunnel } from "./tunnel/rack-tunnel";

export default {
  fetch: app.fetch,
  // Every minute: long phases past their deadline fail (see shared/lifecycle.ts PHASE_DEADLINES).
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(sweepDeadlines(env.DB, controller.scheduledTime));
  },
} satisfies ExportedHandler<Env>;
