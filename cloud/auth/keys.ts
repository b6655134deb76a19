// Who is calling, from an API key: the native `plk_<keyId>_<secret>` Bearer token, or the MAAS
// OAuth PLAINTEXT triplet. Keys are issued and revoked by cloud/domain/users.ts.
import { and, eq, isNull, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { apiKeys, roleBindings, users } from "../db/schema";
import type { Caller } from "./roles";
import { constantTimeEqual, sha256Hex } from "./crypto";

const KEY_RE = /^plk_([a-z0-9]{12})_([a-z0-9]{32})$/;

export async function callerForUser(db: Db, userId: number, username: string, via: string): Promise<Caller> {
  const bindings = await db.select({ role: roleBindings.role, siteId: roleBindings.siteId }).from(roleBindings).where(eq(roleBindings.userId, userId));
  return { userId, username, bindings, via };
}

/** A key's last use, to the minute: one write per key per minute, not one per request. */
const TOUCH_EVERY_MS = 60_000;
/**
 * The stale last use this isolate has already replaced, per key: a burst of requests with one
 * key all read the same old value before the first write lands, and each would write again
 * (1,000 concurrent allocations paid 1,000 extra writes). A value read that differs (the write
 * landed, or the row changed since) is judged on its own.
 */
const replacedHere = new Map<string, number>();
async function touchKey(db: Db, keyId: string, lastUsedAt: number | null): Promise<void> {
  const now = Date.now();
  if (lastUsedAt !== null && now - lastUsedAt < TOUCH_EVERY_MS) return;
  if (replacedHere.get(keyId) === (lastUsedAt ?? -1)) return;
  if (replacedHere.size > 10_000) replacedHere.clear();
  replacedHere.set(keyId, lastUsedAt ?? -1);
  await db.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.keyId, keyId)).run();
}

/** The caller behind a bearer key, or null. Unknown id and wrong secret look the same. */
export async function authenticateBearer(db: Db, token: string): Promise<Caller | null> {
  const m = KEY_RE.exec(token);
  if (!m) return null;
  const [, keyId, secret] = m;
  const row = await db
    .select({
      userId: apiKeys.userId,
      secretHash: apiKeys.secretHash,
      username: users.username,
      active: users.isActive,
      lastUsedAt: apiKeys.lastUsedAt,
      // The roles come in the same query: every API request starts here, so one D1 round trip less each.
      bindings: sql<string>`(SELECT json_group_array(json_object('role', rb.role, 'siteId', rb.site_id)) FROM role_bindings rb WHERE rb.user_id = ${apiKeys.userId})`,
    })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(and(eq(apiKeys.keyId, keyId!), isNull(apiKeys.revokedAt)))
    .get();
  const hash = await sha256Hex(secret!);
  // Compare even when the key is unknown, so timing does not tell which ids exist.
  const ok = constantTimeEqual(hash, row?.secretHash ?? "0".repeat(64));
  if (!row || !ok || !row.active) return null;
  await touchKey(db, keyId!, row.lastUsedAt);
  return { userId: row.userId, username: row.username, bindings: JSON.parse(row.bindings) as Caller["bindings"], via: `key:${keyId}` };
}

/** The caller behind a MAAS OAuth PLAINTEXT triplet (consumer, token, secret), or null. */
export async function authenticateMaas(db: Db, consumer: string, token: string, secret: string): Promise<Caller | null> {
  const row = await db
    .select({
      userId: apiKeys.userId,
      consumer: apiKeys.maasConsumerKey,
      hash: apiKeys.maasSecretHash,
      keyId: apiKeys.keyId,
      username: users.username,
      active: users.isActive,
      lastUsedAt: apiKeys.lastUsedAt,
    })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(and(eq(apiKeys.maasTokenKey, token), isNull(apiKeys.revokedAt)))
    .get();
  const ok = constantTimeEqual(await sha256Hex(secret), row?.hash ?? "0".repeat(64));
  if (!row || !ok || row.consumer !== consumer || !row.active) return null;
  await touchKey(db, row.keyId, row.lastUsedAt);
  return callerForUser(db, row.userId, row.username, `key:${row.keyId}`);
}
