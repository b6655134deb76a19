import { app } from "./app";
import type { Env } from "./env";
import { sweepDeadlines } from "./domain/machines/deadlines";
import { pollPower } from "./domain/machines/power-poll";
import { scheduledImport } from "./domain/image-sync";

export { ImageSync } from "./images/sync-object";
export { RackTunnel } from "./tunnel/rack-tunnel";

export default {
  fetch: app.fetch,
  // Every minute: long phases past their deadline fail (see shared/lifecycle.ts PHASE_DEADLINES),
  // the BMC machines whose poll slot came are sent to their racks (machines/power-poll.ts), and
  // an image sync starts when the last one is older than PLINTH_IMAGE_SYNC_INTERVAL_S.
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(sweepDeadlines(env.DB, controller.scheduledTime).catch((e: unknown) => console.error("deadline sweep failed", e)));
    ctx.waitUntil(pollPower(env, controller.scheduledTime).catch((e: unknown) => console.error("power poll failed", e)));
    ctx.waitUntil(scheduledImport(env, controller.scheduledTime).catch((e: unknown) => console.error("scheduled image sync failed", e)));
  },
} satisfies ExportedHandler<Env>;
