// Dashboard sessions over HTTP: the cookie (its session stored by cloud/domain/users.ts), a
// CSRF token that the page must echo on unsafe methods, and password checks. Bearer keys never
// need CSRF: browsers do not attach them by themselves.
import type { Context } from "hono";
import { callerForUser } from "./keys";
import type { Caller } from "./roles";
import { constantTimeEqual, sha256Hex, verifyPassword } from "./crypto";
import type { Db } from "../db/client";
import { SESSION_IDLE_MS, touchSession } from "../domain/users";

export const SESSION_COOKIE = "plinth_session";
export const CSRF_HEADER = "x-csrf-token";

// A real PBKDF2 hash of a random password: unknown users cost the same time as known ones.
const DUMMY_HASH = "pbkdf2-sha256$100000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

export interface SessionInfo {
  caller: Caller;
  csrfToken: string;
  expiresAt: number;
}

export function clientAddress(c: Context): string {
  return c.req.header("cf-connecting-ip") ?? c.req.header("x-real-ip") ?? "local";
}

/** The user id when username and password match an active user with a password; else null. */
export async function checkPassword(db: D1Database, username: string, password: string): Promise<{ id: number; username: string } | null> {
  const u = await db
    .prepare("SELECT id, username, password_hash, is_active FROM users WHERE username = ?")
    .bind(username)
    .first<{ id: number; username: string; password_hash: string | null; is_active: number }>();
  const ok = await verifyPassword(password, u?.password_hash ?? DUMMY_HASH);
  return u && ok && u.password_hash && u.is_active ? { id: u.id, username: u.username } : null;
}

/** The session behind a cookie value, or null when unknown, expired, idle too long or the user is inactive. */
export async function sessionFromCookie(db: D1Database, orm: Db, id: string, now = Date.now()): Promise<SessionInfo | null> {
  if (!/^[a-z0-9]{43}$/.test(id)) return null;
  const hash = await sha256Hex(id);
  const row = await db
    .prepare(
      "SELECT s.user_id, s.csrf_token, s.expires_at, s.last_seen_at, u.username, u.is_active FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?",
    )
    .bind(hash)
    .first<{ user_id: number; csrf_token: string; expires_at: number; last_seen_at: number | null; username: string; is_active: number }>();
  if (!row?.is_active || row.expires_at <= now || (row.last_seen_at ?? 0) + SESSION_IDLE_MS <= now) return null;
  // Refresh the idle clock at most once a minute: one write per request would be wasteful.
  if (now - (row.last_seen_at ?? 0) > 60_000) await touchSession(db, hash, now);
  return { caller: await callerForUser(orm, row.user_id, row.username, "session"), csrfToken: row.csrf_token, expiresAt: row.expires_at };
}

export function csrfOk(c: Context, expected: string): boolean {
  return constantTimeEqual(c.req.header(CSRF_HEADER) ?? "", expected);
}

export function isUnsafe(method: string): boolean {
  return !["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase());
}

export function sessionCookie(c: Context, value: string, maxAgeSeconds: number): string {
  const secure = new URL(c.req.url).protocol === "https:" ? "; Secure" : "";
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`;
}

export function readSessionCookie(c: Context): string | null {
  const header = c.req.header("cookie") ?? "";
  for (const part of header.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === SESSION_COOKIE) return v.join("=");
  }
  return null;
}
