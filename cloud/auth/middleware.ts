import { createMiddleware } from "hono/factory";
import { database } from "../db/client";
import { ApiError } from "../http/errors";
import type { AppEnv } from "../http/context";
import { authenticateBearer } from "./keys";
import { refuseBadToken } from "./throttle";
import { csrfOk, isUnsafe, readSessionCookie, sessionFromCookie } from "./session";

/**
 * Every /api/v1 route but health, bootstrap and sign-in needs a caller: a bearer API key, or
 * the dashboard's session cookie. A bearer header wins when both are sent, so scripts behave
 * the same whatever cookies a browser holds.
 */
export const requireCaller = createMiddleware<AppEnv>(async (c, next) => {
  const db = c.get("db") ?? database(c.env.DB);
  c.set("db", db);
  const header = c.req.header("authorization");
  const cookie = header === undefined ? readSessionCookie(c) : null;
  if (cookie !== null) {
    const s = await sessionFromCookie(c.env.DB, db, cookie);
    if (!s) throw new ApiError(401, "session_expired", "your session has ended: sign in again");
    // The cookie rides along on any request the browser makes, so a change must also prove
    // it came from our page, which alone can read the token.
    if (isUnsafe(c.req.method) && !csrfOk(c, s.csrfToken))
      throw new ApiError(403, "csrf", "the request lacks the page's CSRF token (X-CSRF-Token): reload the page");
    c.set("caller", s.caller);
    await next();
    return;
  }
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  const caller = m ? await authenticateBearer(db, m[1]!) : null;
  if (!caller) {
    const refusal = new ApiError(
      401,
      "unauthorized",
      m ? "the API key is not valid or was revoked" : "send an API key: Authorization: Bearer plk_…",
      undefined,
      {
        "www-authenticate": 'Bearer realm="plinth"',
      },
    );
    // No key at all is no guess: only a key that was sent and is wrong counts.
    if (m) await refuseBadToken(c, refusal);
    throw refusal;
  }
  c.set("caller", caller);
  await next();
});
