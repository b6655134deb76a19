// Image sync from the boot sources: read the progress (any signed-in user), start or stop the
// one sync (global admin). The work runs in the background (cloud/images/sync-object.ts).
import type { Hono } from "hono";
import { isGlobalAdmin } from "../auth/roles";
import { importStatus, startImport, stopImport } from "../domain/image-sync";
import type { AppEnv } from "../http/context";
import { forbidden } from "../http/errors";
import { def } from "../http/openapi";

export function imageSyncRoutes(app: Hono<AppEnv>) {
  def(app, "get", "/image-sync", { summary: "Progress of the running image sync, or the last one", tag: "boot images" }, async (c) =>
    c.json(await importStatus(c.env.DB)),
  );

  def(
    app,
    "post",
    "/image-sync",
    { summary: "Start an image sync from the boot sources (202; started false when one runs)", tag: "boot images", roles: "admin", status: 202 },
    async (c) => {
      if (!isGlobalAdmin(c.get("caller"))) throw forbidden("syncing images needs a global admin");
      const r = await startImport(c.env, c.get("caller").username, "manual");
      return c.json(r, 202);
    },
  );

  def(
    app,
    "delete",
    "/image-sync",
    { summary: "Stop the running image sync after the chunk in flight", tag: "boot images", roles: "admin", status: 200 },
    async (c) => {
      if (!isGlobalAdmin(c.get("caller"))) throw forbidden("stopping an image sync needs a global admin");
      return c.json({ stopped: await stopImport(c.env, c.get("caller").username) });
    },
  );
}
