// Dashboard sessions: a random id in an HttpOnly cookie (only its SHA-256 is stored, like API
// keys), a CSRF token that the page must echo on unsafe methods, and sign-in rate limiting
// through login_attempts. Bearer keys never need CSRF: browsers do not attach them by themselves.
import type { Context } from "hono";
import { callerForUser } from "./keys";
import type { Caller } from "./roles";
import { constantTimeEqual, randomString, sha256Hex, verifyPassword } from "./crypto";
import type { Db } from "../db/client";

export const SESSION_COOKIE = "plinth_session";
export const CSRF_HEADER = "x-csrf-token";
/** Sessions last 12 hours from sign-in, and end sooner after 2 idle hours. */
export const SESSION_TTL_MS = 12 * 3600_000;
export const SESSION_IDLE_MS = 2 * 3600_000;

/** Failed sign-ins allowed per window: per username, and per client address. */
export const LOGIN_WINDOW_MS = 15 * 60_000;
export const MAX_FAILURES_PER_USER = 5;
export const MAX_FAILURES_PER_ADDRESS = 30;

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

/** Seconds until the caller may try again, or 0 when under the limits. */
export async function loginBlockedFor(db: D1Database, username: string, address: string, now = Date.now()): Promise<number> {
  const since = now - LOGIN_WINDOW_MS;
  const rows = await db.batch([
    db.prepare("SELECT count(*) AS n, min(at) AS first FROM login_attempts WHERE key = ? AND at > ?").bind(`user:${username.toLowerCase()}`, since),
    db.prepare("SELECT count(*) AS n, min(at) AS first FROM login_attempts WHERE key = ? AND at > ?").bind(`addr:${address}`, since),
  ]);
  const [u, a] = rows.map((r) => (r.results[0] ?? { n: 0, first: null }) as { n: number; first: number | null });
  const wait = (x: { n: number; first: number | null }, max: number) => (x.n >= max && x.first !== null ? Math.ceil((x.first + LOGIN_WINDOW_MS - now) / 1000) : 0);
  return Math.max(wait(u!, MAX_FAILURES_PER_USER), wait(a!, MAX_FAILURES_PER_ADDRESS), 0);
}

export async function recordFailure(db: D1Database, username: string, address: string, now = Date.now()): Promise<void> {
  await db.batch([
    db.prepare("INSERT INTO login_attempts (key, at) VALUES (?, ?), (?, ?)").bind(`user:${username.toLowerCase()}`, now, `addr:${address}`, now),
    // Old attempts only matter inside the window: keep the table small.
    db.prepare("DELETE FROM login_attempts WHERE at < ?").bind(now - LOGIN_WINDOW_MS),
  ]);
}

export async function clearFailures(db: D1Database, username: string): Promise<void> {
  await db.prepare("DELETE FROM login_attempts WHERE key = ?").bind(`user:${username.toLowerCase()}`).run();
}

/** The user id when username and password match an active user with a password; else null. */
export async function checkPassword(db: D1Database, username: string, password: string): Promise<{ id: number; username: string } | null> {
  const u = await db.prepare("SELECT id, username, password_hash, is_active FROM users WHERE username = ?").bind(username).first<{ id: number; username: string; password_hash: string | null; is_active: number }>();
  const ok = await verifyPassword(password, u?.password_hash ?? DUMMY_HASH);
  return u && ok && u.password_hash && u.is_active ? { id: u.id, username: u.username } : null;
}

export async function createSession(db: D1Database, userId: number, now = Date.now()): Promise<{ id: string; csrfToken: string; expiresAt: number }> {
  const id = randomString(43);
  const csrfToken = randomString(32);
  const expiresAt = now + SESSION_TTL_MS;
  await db.batch([
    db.prepare("INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)").bind(await sha256Hex(id), userId, csrfToken, now, expiresAt, now),
    db.prepare("DELETE FROM sessions WHERE expires_at < ?").bind(now),
  ]);
  return { id, csrfToken, expiresAt };
}

/** The session behind a cookie value, or null when unknown, expired, idle too long or the user is inactive. */
export async function sessionFromCookie(db: D1Database, orm: Db, id: string, now = Date.now()): Promise<SessionInfo | null> {
  if (!/^[a-z0-9]{43}$/.test(id)) return null;
  const hash = await sha256Hex(id);
  const row = await db
    .prepare("SELECT s.user_id, s.csrf_token, s.expires_at, s.last_seen_at, u.username, u.is_active FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?")
    .bind(hash)
    .first<{ user_id: number; csrf_token: string; expires_at: number; last_seen_at: number | null; username: string; is_active: number }>();
  if (!row || !row.is_active || row.expires_at <= now || (row.last_seen_at ?? 0) + SESSION_IDLE_MS <= now) return null;
  // Refresh the idle clock at most once a minute: one write per request would be wasteful.
  if (now - (row.last_seen_at ?? 0) > 60_000) await db.prepare("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?").bind(now, hash).run();
  return { caller: await callerForUser(orm, row.user_id, row.username, "session"), csrfToken: row.csrf_token, expiresAt: row.expires_at };
}

export async function deleteSession(db: D1Database, id: string): Promise<void> {
  await db.prepare("DELETE FROM sessions WHERE id_hash = ?").bind(await sha256Hex(id)).run();
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
