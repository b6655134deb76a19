// Enrolment tokens (site-scoped, expiring, optionally limited in uses) and what redeeming one
// does: a rack record with its own credential. Tokens and credentials are only stored hashed.
import { randomString, sha256Hex } from "../../auth/crypto";
import { ApiError } from "../../http/errors";
import { eventStatement } from "../events";
import { newCredential, newRackId } from "./credentials";

export async function newEnrolToken(): Promise<{ token: string; hash: string; prefix: string }> {
  const token = `pet_${randomString(40)}`;
  return { token, hash: await sha256Hex(token), prefix: token.slice(0, 10) };
}

export interface EnrolRequest {
  token: string;
  hostname: string;
  version: string;
  interfaces: unknown[];
}

export interface Enrolled {
  rackId: string;
  credential: string;
  siteId: number;
  site: string;
  reenrolled: boolean;
}

const refused = (code: string, message: string) => new ApiError(401, code, message);

export async function redeem(db: D1Database, req: EnrolRequest, now = Date.now()): Promise<Enrolled> {
  const hash = await sha256Hex(req.token);
  const tok = await db
    .prepare(
      "SELECT t.id, t.site_id, t.expires_at, t.uses_left, t.revoked_at, s.name AS site FROM enrol_tokens t JOIN sites s ON s.id = t.site_id WHERE t.token_hash = ?",
    )
    .bind(hash)
    .first<{ id: number; site_id: number; expires_at: number; uses_left: number | null; revoked_at: number | null; site: string }>();
  if (!tok) throw refused("invalid_token", "the enrolment token is not valid");
  if (tok.revoked_at !== null) throw refused("token_revoked", "the enrolment token was revoked");
  if (tok.expires_at <= now) throw refused("token_expired", "the enrolment token has expired");

  // Re-running enrol on the same appliance (same hostname, same site) gives the same rack a
  // fresh credential and uses nothing up: zero-touch images may run it on every boot.
  const existing = await db
    .prepare("SELECT id FROM racks WHERE site_id = ? AND hostname = ? AND revoked_at IS NULL ORDER BY created_at LIMIT 1")
    .bind(tok.site_id, req.hostname)
    .first<{ id: string }>();
  if (existing) {
    const { credential, hash: secretHash } = await newCredential(existing.id);
    await db
      .prepare("UPDATE racks SET secret_hash = ?, next_secret_hash = NULL, version = ?, interfaces = ? WHERE id = ?")
      .bind(secretHash, req.version, JSON.stringify(req.interfaces), existing.id)
      .run();
    return { rackId: existing.id, credential, siteId: tok.site_id, site: tok.site, reenrolled: true };
  }
  if (tok.uses_left !== null && tok.uses_left <= 0) throw refused("token_exhausted", "the enrolment token has no uses left");

  const rackId = newRackId();
  const { credential, hash: secretHash } = await newCredential(rackId);
  // Taking a use is one conditional UPDATE, so concurrent enrolments never overdraw a token.
  const use = await db
    .prepare(
      "UPDATE enrol_tokens SET uses_left = CASE WHEN uses_left IS NULL THEN NULL ELSE uses_left - 1 END, used_count = used_count + 1 WHERE id = ? AND revoked_at IS NULL AND expires_at > ? AND (uses_left IS NULL OR uses_left > 0)",
    )
    .bind(tok.id, now)
    .run();
  if (use.meta.changes !== 1) throw refused("token_exhausted", "the enrolment token has no uses left");
  await db.batch([
    db
      .prepare("INSERT INTO racks (id, site_id, hostname, version, secret_hash, interfaces, enrol_token_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(rackId, tok.site_id, req.hostname, req.version, secretHash, JSON.stringify(req.interfaces), tok.id, now),
    eventStatement(db, {
      siteId: tok.site_id,
      type: "rack.enrolled",
      level: "AUDIT",
      actor: `rack:${rackId}`,
      description: `rack ${req.hostname} enrolled with token ${tok.id}`,
      at: now,
    }),
  ]);
  return { rackId, credential, siteId: tok.site_id, site: tok.site, reenrolled: false };
}
