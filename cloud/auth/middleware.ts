import { createMiddleware } from "hono/factory";
import { database } from "../db/client";
import { ApiError } from "../http/errors";
import type { AppEnv } from "../http/context";
import { authenticateBearer } from "./keys";

/** Every /api/v1 route but health and bootstrap needs a bearer API key. */
export const requireCaller = createMiddleware<AppEnv>(async (c, next) => {
  const db = c.get("db") ?? database(c.env.DB);
  c.set("db", db);
  const header = c.req.header("authorization") ?? "";
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  const caller = m ? await authenticateBearer(db, m[1]!) : null;
  if (!caller) {
    throw new ApiError(401, "unauthorized", m ? "the API key is not valid or was revoked" : "send an API key: Authorization: Bearer plk_…", undefined, {
      "www-authenticate": 'Bearer realm="plinth"',
    });
  }
  c.set("caller", caller);
  await next();
});
