// Users, their role bindings, API keys, browser sessions and sign-in attempts: the one writer of
// those tables. Callers check roles and validate input first; what the audit log records is
// written in the same batch as the change, through ./events.
import type { Role } from "../../shared/roles";
import { hashPassword, randomString, sha256Hex } from "../auth/crypto";
import { eventStatement, eventStatementIf } from "./events";

export interface UserRef {
  id: number;
  username: string;
}

export interface UserRow extends UserRef {
  email: string;
  is_active: number;
  created_at: number;
}
export const USER_COLUMNS = "id, username, email, is_active, created_at";

export interface NewUser {
  username: string;
  email: string;
  /** None: a user that signs in with API keys only. */
  password?: string;
  bindings: { role: Role; siteId: number | null }[];
}

export async function createUser(db: D1Database, actor: string, u: NewUser): Promise<UserRow> {
  const hash = u.password ? await hashPassword(u.password) : null;
  const [row] = await db.batch([
    db.prepare(`INSERT INTO users (username, email, password_hash) VALUES (?, ?, ?) RETURNING ${USER_COLUMNS}`).bind(u.username, u.email, hash),
    // A binding given twice is stored once, but for one on every site: UNIQUE holds NULL sites distinct.
    ...u.bindings.map((b) =>
      db
        .prepare("INSERT OR IGNORE INTO role_bindings (user_id, role, site_id) SELECT id, ?, ? FROM users WHERE username = ?")
        .bind(b.role, b.siteId, u.username),
    ),
    eventStatement(db, { type: "user.created", level: "AUDIT", actor, description: `user ${u.username} created` }),
  ]);
  return row!.results[0] as UserRow;
}

/** Fields left undefined keep their value. The audit log has never recorded these edits. */
export async function updateUser(db: D1Database, userId: number, patch: { email?: string; password?: string; isActive?: boolean }): Promise<void> {
  const hash = patch.password ? await hashPassword(patch.password) : null;
  await db
    .prepare("UPDATE users SET email = coalesce(?, email), password_hash = coalesce(?, password_hash), is_active = coalesce(?, is_active) WHERE id = ?")
    .bind(patch.email ?? null, hash, patch.isActive === undefined ? null : patch.isActive ? 1 : 0, userId)
    .run();
}

export type DeleteOutcome = { ok: true } | { ok: false; problem: "missing" } | { ok: false; problem: "owns"; machines: number };

/**
 * Its role bindings, keys, sessions and MAAS file rows go with it (ON DELETE CASCADE); the R2
 * objects of those files do not, and stay unreferenced. A user who still owns machines is kept
 * (an owned machine with no owner is one nobody can release) unless `transferTo` takes them and
 * the addresses the user reserved, in the same transaction.
 */
export async function deleteUser(db: D1Database, actor: string, u: UserRef, transferTo?: UserRef): Promise<DeleteOutcome> {
  const owns = "EXISTS (SELECT 1 FROM machines WHERE owner_id = ?)";
  const moved = transferTo
    ? [
        eventStatementIf(
          db,
          {
            type: "user.resources_transferred",
            level: "AUDIT",
            actor,
            description: `machines and addresses of ${u.username} transferred to ${transferTo.username}`,
          },
          `EXISTS (SELECT 1 FROM users WHERE id = ?) AND (${owns} OR EXISTS (SELECT 1 FROM ip_addresses WHERE owner_id = ?))`,
          u.id,
          u.id,
          u.id,
        ),
        db.prepare("UPDATE machines SET owner_id = ? WHERE owner_id = ?").bind(transferTo.id, u.id),
        db.prepare("UPDATE ip_addresses SET owner_id = ? WHERE owner_id = ?").bind(transferTo.id, u.id),
      ]
    : [];
  const res = await db.batch([
    ...moved,
    eventStatementIf(
      db,
      { type: "user.deleted", level: "AUDIT", actor, description: `user ${u.username} deleted` },
      `EXISTS (SELECT 1 FROM users WHERE id = ?) AND NOT ${owns}`,
      u.id,
      u.id,
    ),
    db.prepare(`DELETE FROM users WHERE id = ? AND NOT ${owns}`).bind(u.id, u.id),
  ]);
  // D1 counts the rows the cascade removed too (keys, bindings), so any change means it went.
  if (res.at(-1)!.meta.changes > 0) return { ok: true };
  const n = await db.prepare("SELECT count(*) AS n FROM machines WHERE owner_id = ?").bind(u.id).first<{ n: number }>();
  return n?.n ? { ok: false, problem: "owns", machines: n.n } : { ok: false, problem: "missing" };
}

export async function grantRole(db: D1Database, actor: string, u: UserRef, role: Role, site: { id: number; name: string } | null): Promise<void> {
  await db.batch([
    db.prepare("INSERT INTO role_bindings (user_id, role, site_id) VALUES (?, ?, ?)").bind(u.id, role, site?.id ?? null),
    eventStatement(db, { type: "user.role_granted", level: "AUDIT", actor, description: `${u.username}: ${role} on ${site?.name ?? "every site"}` }),
  ]);
}

/** False when the user has no such binding. The audit log has never recorded revocations. */
export async function revokeRole(db: D1Database, userId: number, bindingId: number): Promise<boolean> {
  const row = await db.prepare("DELETE FROM role_bindings WHERE id = ? AND user_id = ? RETURNING role").bind(bindingId, userId).first();
  return row !== null;
}

// ---- API keys. Native: `plk_<keyId>_<secret>` sent as a Bearer token. MAAS: the triplet
// `<consumer>:<token>:<secret>` for OAuth PLAINTEXT. Both are issued together and revoked
// together; only SHA-256 of the secrets is stored (they are random 32-character strings, so a
// slow hash adds nothing).

export interface IssuedKey {
  keyId: string;
  name: string;
  apiKey: string;
  maasApiKey: string;
}

const MAAS_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789";

/** A new key's secrets, and the statement that stores it for the user `userWhere` selects. */
async function newKey(db: D1Database, name: string, userWhere: string, ...args: unknown[]): Promise<{ key: IssuedKey; insert: D1PreparedStatement }> {
  const keyId = randomString(12);
  const secret = randomString(32);
  const consumer = randomString(18, MAAS_ALPHABET);
  const token = randomString(18, MAAS_ALPHABET);
  const maasSecret = randomString(32, MAAS_ALPHABET);
  const insert = db
    .prepare(
      `INSERT INTO api_keys (key_id, user_id, name, secret_hash, maas_consumer_key, maas_token_key, maas_secret_hash)
       SELECT ?, id, ?, ?, ?, ?, ? FROM users WHERE ${userWhere}`,
    )
    .bind(keyId, name, await sha256Hex(secret), consumer, token, await sha256Hex(maasSecret), ...args);
  return { key: { keyId, name, apiKey: `plk_${keyId}_${secret}`, maasApiKey: `${consumer}:${token}:${maasSecret}` }, insert };
}

/** Which API asked for a key: the audit log tells them apart. */
export type KeyOrigin = "api" | "maas" | "maas-login";

function keyEventText(origin: KeyOrigin, what: string): string {
  if (origin === "maas-login") return `${what} by password login (MAAS API)`;
  return origin === "maas" ? `${what} (MAAS API)` : what;
}

export async function createApiKey(db: D1Database, actor: string, owner: UserRef, name: string, origin: KeyOrigin = "api"): Promise<IssuedKey> {
  const { key, insert } = await newKey(db, name, "id = ?", owner.id);
  const description = keyEventText(origin, origin === "maas-login" ? `API key ${key.keyId}` : `API key ${key.keyId} for ${owner.username}`);
  await db.batch([insert, eventStatement(db, { type: "key.created", level: "AUDIT", actor, description })]);
  return key;
}

/**
 * Revokes the owner's live key named by its native id or by its MAAS token key (both forms go
 * together). The key id revoked, or null when the owner has no such live key.
 */
export async function revokeApiKey(
  db: D1Database,
  actor: string,
  owner: UserRef,
  by: { keyId: string } | { maasTokenKey: string },
  origin: KeyOrigin = "api",
): Promise<string | null> {
  const [column, value] = "keyId" in by ? (["key_id", by.keyId] as const) : (["maas_token_key", by.maasTokenKey] as const);
  const row = await db
    .prepare(`SELECT key_id FROM api_keys WHERE ${column} = ? AND user_id = ? AND revoked_at IS NULL`)
    .bind(value, owner.id)
    .first<{ key_id: string }>();
  if (!row) return null;
  const live = "key_id = ? AND revoked_at IS NULL";
  const description = keyEventText(origin, `API key ${row.key_id} of ${owner.username}`);
  const [, update] = await db.batch([
    eventStatementIf(db, { type: "key.revoked", level: "AUDIT", actor, description }, `EXISTS (SELECT 1 FROM api_keys WHERE ${live})`, row.key_id),
    db.prepare(`UPDATE api_keys SET revoked_at = ? WHERE ${live}`).bind(Date.now(), row.key_id),
  ]);
  return update!.meta.changes ? row.key_id : null;
}

/** Renames the owner's live key named by its MAAS token key (audited); false when there is none. */
export async function renameApiKey(db: D1Database, actor: string, owner: UserRef, maasTokenKey: string, name: string): Promise<boolean> {
  const live = "maas_token_key = ? AND user_id = ? AND revoked_at IS NULL";
  const [update] = await db.batch([
    db.prepare(`UPDATE api_keys SET name = ? WHERE ${live}`).bind(name, maasTokenKey, owner.id),
    eventStatementIf(
      db,
      { type: "key.renamed", level: "AUDIT", actor, description: keyEventText("maas", `API key of ${owner.username} renamed to ${JSON.stringify(name)}`) },
      `EXISTS (SELECT 1 FROM api_keys WHERE ${live} AND name = ?)`,
      maasTokenKey,
      owner.id,
      name,
    ),
  ]);
  return !!update!.meta.changes;
}

/**
 * The first admin of every site with a key, while the region has no such admin; else null.
 * One batch is one transaction, so two racing bootstraps cannot both make an admin.
 */
export async function bootstrapAdmin(db: D1Database, username: string, password: string): Promise<IssuedKey | null> {
  const noAdmin = "NOT EXISTS (SELECT 1 FROM role_bindings WHERE role = 'admin' AND site_id IS NULL)";
  const hash = await hashPassword(password);
  const { key, insert } = await newKey(db, "bootstrap", `username = ? AND ${noAdmin}`, username);
  const [user] = await db.batch([
    db.prepare(`INSERT INTO users (username, password_hash) SELECT ?, ? WHERE ${noAdmin} RETURNING id`).bind(username, hash),
    insert,
    eventStatementIf(db, { type: "user.bootstrap", level: "AUDIT", actor: username, description: "first admin created" }, noAdmin),
    // Last: the statements above are guarded by there being no admin yet, which this ends.
    db.prepare(`INSERT INTO role_bindings (user_id, role, site_id) SELECT id, 'admin', NULL FROM users WHERE username = ? AND ${noAdmin}`).bind(username),
  ]);
  return user?.results?.length ? key : null;
}

// ---- Browser sessions: a random id in an HttpOnly cookie, only its SHA-256 stored, like API
// keys; and sign-in rate limiting through login_attempts.

/** Sessions last 12 hours from sign-in, and end sooner after 2 idle hours. */
export const SESSION_TTL_MS = 12 * 3600_000;
export const SESSION_IDLE_MS = 2 * 3600_000;
/** How long a failed sign-in counts against the username and the address. */
export const LOGIN_WINDOW_MS = 15 * 60_000;

/** Failed sign-ins allowed per window: per username, and per client address. */
export const MAX_FAILURES_PER_USER = 5;
export const MAX_FAILURES_PER_ADDRESS = 30;

const userAttempts = (username: string) => `user:${username.toLowerCase()}`;
const addressAttempts = (address: string) => `addr:${address}`;

/** Seconds until the caller may try again, or 0 when under the limits. */
export async function loginBlockedFor(db: D1Database, username: string, address: string, now = Date.now()): Promise<number> {
  const since = now - LOGIN_WINDOW_MS;
  const count = "SELECT count(*) AS n, min(at) AS first FROM login_attempts WHERE key = ? AND at > ?";
  const rows = await db.batch([db.prepare(count).bind(userAttempts(username), since), db.prepare(count).bind(addressAttempts(address), since)]);
  const [u, a] = rows.map((r) => (r.results[0] ?? { n: 0, first: null }) as { n: number; first: number | null });
  const wait = (x: { n: number; first: number | null }, max: number) =>
    x.n >= max && x.first !== null ? Math.ceil((x.first + LOGIN_WINDOW_MS - now) / 1000) : 0;
  return Math.max(wait(u!, MAX_FAILURES_PER_USER), wait(a!, MAX_FAILURES_PER_ADDRESS), 0);
}

export async function recordLoginFailure(db: D1Database, username: string, address: string, now = Date.now()): Promise<void> {
  await db.batch([
    db.prepare("INSERT INTO login_attempts (key, at) VALUES (?, ?), (?, ?)").bind(userAttempts(username), now, addressAttempts(address), now),
    // Old attempts only matter inside the window: keep the table small.
    db.prepare("DELETE FROM login_attempts WHERE at < ?").bind(now - LOGIN_WINDOW_MS),
  ]);
}

/**
 * Bad tokens (API keys, MAAS OAuth triplets, rack credentials, enrolment tokens) allowed per
 * client address per window. Their secrets are 160 bits or more, so this stops floods rather
 * than guessing; it is counted apart from passwords, and a valid token is never refused by it.
 */
export const MAX_BAD_TOKENS_PER_ADDRESS = 100;

/**
 * Records a bad token from `address`; seconds until that address may try again once it is
 * over the limit, else 0. Failures past the limit are not stored: a flood cannot grow the table.
 */
export async function recordBadToken(db: D1Database, address: string, now = Date.now()): Promise<number> {
  const key = `token:${address}`;
  const r = await db
    .prepare("SELECT count(*) AS n, min(at) AS first FROM login_attempts WHERE key = ? AND at > ?")
    .bind(key, now - LOGIN_WINDOW_MS)
    .first<{ n: number; first: number | null }>();
  if (r && r.n >= MAX_BAD_TOKENS_PER_ADDRESS && r.first !== null) return Math.max(1, Math.ceil((r.first + LOGIN_WINDOW_MS - now) / 1000));
  await db.batch([
    db.prepare("INSERT INTO login_attempts (key, at) VALUES (?, ?)").bind(key, now),
    db.prepare("DELETE FROM login_attempts WHERE at < ?").bind(now - LOGIN_WINDOW_MS),
  ]);
  return 0;
}

/** A signed-in user's failed attempts are forgiven (the address's stay counted). */
export async function forgiveLoginFailures(db: D1Database, username: string): Promise<void> {
  await db.prepare("DELETE FROM login_attempts WHERE key = ?").bind(userAttempts(username)).run();
}

export interface NewSession {
  /** The cookie's value: never stored, only its hash. */
  id: string;
  csrfToken: string;
  expiresAt: number;
}

/** A signed-in user's new session; the username's failed attempts are forgiven. */
export async function startSession(db: D1Database, user: UserRef, address: string, now = Date.now()): Promise<NewSession> {
  const id = randomString(43);
  const csrfToken = randomString(32);
  const expiresAt = now + SESSION_TTL_MS;
  await db.batch([
    db.prepare("DELETE FROM login_attempts WHERE key = ?").bind(userAttempts(user.username)),
    db
      .prepare("INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(await sha256Hex(id), user.id, csrfToken, now, expiresAt, now),
    db.prepare("DELETE FROM sessions WHERE expires_at < ?").bind(now),
    eventStatement(db, { type: "user.signed_in", level: "AUDIT", actor: user.username, description: `signed in to the dashboard from ${address}`, at: now }),
  ]);
  return { id, csrfToken, expiresAt };
}

/** Restarts the session's idle clock. */
export async function touchSession(db: D1Database, idHash: string, now = Date.now()): Promise<void> {
  await db.prepare("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?").bind(now, idHash).run();
}

export async function endSession(db: D1Database, id: string): Promise<void> {
  await db
    .prepare("DELETE FROM sessions WHERE id_hash = ?")
    .bind(await sha256Hex(id))
    .run();
}
