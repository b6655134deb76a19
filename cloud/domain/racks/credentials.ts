// Rack credentials: `prk_<rackId>_<secret>`, sent as a Bearer token on the tunnel upgrade.
// Only SHA-256 of the secret is stored; during a rotation the next one is accepted too, and
// the first connection that uses it retires the old one.
import { constantTimeEqual, randomString, sha256Hex } from "../../auth/crypto";

const CRED_RE = /^prk_([a-z0-9]{12})_([a-z0-9]{40})$/;

export function newRackId(): string {
  return randomString(12);
}

export async function newCredential(rackId: string): Promise<{ credential: string; hash: string }> {
  const secret = randomString(40);
  return { credential: `prk_${rackId}_${secret}`, hash: await sha256Hex(secret) };
}

/** A short, non-secret fingerprint both sides can compare to confirm a rotated credential. */
export async function credentialFingerprint(credential: string): Promise<string> {
  return (await sha256Hex(`fp:${credential}`)).slice(0, 16);
}

export type RackAuth = { ok: true; rackId: string; siteId: number; rotated: boolean } | { ok: false; code: "unauthorized" | "rack_revoked"; message: string };

export async function authenticateRack(db: D1Database, header: string | undefined, rackId: string): Promise<RackAuth> {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  const parsed = m ? CRED_RE.exec(m[1]!) : null;
  const bad = { ok: false, code: "unauthorized", message: "send the rack credential: Authorization: Bearer prk_…" } as const;
  if (!parsed || parsed[1] !== rackId) return bad;
  const row = await db
    .prepare("SELECT id, site_id, secret_hash, next_secret_hash, revoked_at FROM racks WHERE id = ?")
    .bind(rackId)
    .first<{ id: string; site_id: number; secret_hash: string; next_secret_hash: string | null; revoked_at: number | null }>();
  const hash = await sha256Hex(parsed[2]!);
  const current = constantTimeEqual(hash, row?.secret_hash ?? "0".repeat(64));
  const next = row?.next_secret_hash ? constantTimeEqual(hash, row.next_secret_hash) : false;
  if (!row || !(current || next)) return { ...bad, message: "the rack credential is not valid" };
  if (row.revoked_at !== null) return { ok: false, code: "rack_revoked", message: "this rack's credential was revoked: enrol it again" };
  if (next) {
    await retireOldCredential(db, rackId, hash);
  }
  return { ok: true, rackId: row.id, siteId: row.site_id, rotated: next };
}

/** The rotated credential (by its hash) becomes the only one; the old one stops working. */
export async function retireOldCredential(db: D1Database, rackId: string, nextHash: string): Promise<void> {
  await db
    .prepare("UPDATE racks SET secret_hash = next_secret_hash, next_secret_hash = NULL WHERE id = ? AND next_secret_hash = ?")
    .bind(rackId, nextHash)
    .run();
}
