// Dashboard sign-in and sign-out. Mounted outside requireCaller: signing in is how one gets a
// caller, and signing out must work (and clear the cookie) even when the session has ended.
import type { Hono } from "hono";
import { z } from "zod";
import { callerForUser } from "../auth/keys";
import { type Caller, isGlobalAdmin } from "../auth/roles";
import { checkPassword, clientAddress, csrfOk, readSessionCookie, sessionCookie, sessionFromCookie } from "../auth/session";
import { database } from "../db/client";
import type { AppEnv, Ctx } from "../http/context";
import { ApiError } from "../http/errors";
import { def } from "../http/openapi";
import { nameSchema, readJson } from "../http/validate";
import { endSession, loginBlockedFor, recordLoginFailure, SESSION_TTL_MS, startSession } from "../domain/users";

const SignIn = z.strictObject({ username: nameSchema, password: z.string().min(1).max(256) });

async function describe(c: Ctx, caller: Caller, csrfToken: string, expiresAt: number) {
  const { results } = await c.env.DB.prepare(
    "SELECT rb.role, rb.site_id, s.name AS site FROM role_bindings rb LEFT JOIN sites s ON s.id = rb.site_id WHERE rb.user_id = ? ORDER BY rb.id",
  )
    .bind(caller.userId)
    .all<{ role: string; site_id: number | null; site: string | null }>();
  return { username: caller.username, csrf_token: csrfToken, expires_at: expiresAt, roles: results, is_admin: isGlobalAdmin(caller) };
}

async function sessionOrThrow(c: Ctx) {
  const id = readSessionCookie(c);
  const s = id ? await sessionFromCookie(c.env.DB, database(c.env.DB), id) : null;
  if (!s) throw new ApiError(401, id ? "session_expired" : "unauthorized", id ? "your session has ended: sign in again" : "not signed in");
  return s;
}

export function sessionRoutes(app: Hono<AppEnv>) {
  def(
    app,
    "post",
    "/session",
    { summary: "Sign in with username and password (dashboard); sets the session cookie", tag: "session", body: SignIn, status: 201 },
    async (c) => {
      const b = await readJson(c, SignIn);
      const db = c.env.DB;
      const addr = clientAddress(c);
      const wait = await loginBlockedFor(db, b.username, addr);
      if (wait > 0)
        throw new ApiError(
          429,
          "too_many_attempts",
          `too many failed sign-ins: try again in ${Math.ceil(wait / 60)} minute(s)`,
          { retry_after_s: wait },
          { "retry-after": String(wait) },
        );
      const user = await checkPassword(db, b.username, b.password);
      if (!user) {
        await recordLoginFailure(db, b.username, addr);
        throw new ApiError(401, "bad_credentials", "wrong username or password");
      }
      const s = await startSession(db, user, addr);
      c.header("set-cookie", sessionCookie(c, s.id, Math.floor(SESSION_TTL_MS / 1000)));
      c.header("cache-control", "no-store");
      const caller = await callerForUser(database(db), user.id, user.username, "session");
      return c.json(await describe(c, caller, s.csrfToken, s.expiresAt), 201);
    },
  );

  def(app, "get", "/session", { summary: "The signed-in user and the page's CSRF token (cookie only)", tag: "session" }, async (c) => {
    const s = await sessionOrThrow(c);
    c.header("cache-control", "no-store");
    return c.json(await describe(c, s.caller, s.csrfToken, s.expiresAt));
  });

  def(app, "delete", "/session", { summary: "Sign out: ends the session and clears the cookie", tag: "session", status: 204 }, async (c) => {
    const id = readSessionCookie(c);
    if (id) {
      const s = await sessionFromCookie(c.env.DB, database(c.env.DB), id);
      if (s && !csrfOk(c, s.csrfToken)) throw new ApiError(403, "csrf", "the request lacks the page's CSRF token (X-CSRF-Token): reload the page");
      await endSession(c.env.DB, id);
    }
    c.header("set-cookie", sessionCookie(c, "", 0));
    return c.body(null, 204);
  });
}
