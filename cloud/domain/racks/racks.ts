// Racks as the region records them: enrolment tokens, credentials (rotation, revocation),
// connection state and what each rack last acknowledged. Enrolment itself is enrol.ts.
import { ApiError } from "../../http/errors";
import { eventStatement, rackEventStatement } from "../events";
import { newCredential } from "./credentials";
import type { RackTunnelRpc } from "./delivery";
import { newEnrolToken } from "./enrol";

export interface RackHello {
  version: string;
  hostname: string;
  interfaces: unknown[];
  capabilities?: string[];
}

/** The tunnel opened (with the rack's hello) or closed; the event is written only on a real flip. */
export async function markConnected(db: D1Database, rackId: string, hello: RackHello | null, connected: boolean, now = Date.now()): Promise<void> {
  const was = connected ? 0 : 1;
  const stmts = [
    rackEventStatement(
      db,
      {
        type: connected ? "rack.connected" : "rack.disconnected",
        level: connected ? "INFO" : "WARNING",
        actor: `rack:${rackId}`,
        description: connected ? "rack tunnel connected" : "rack tunnel disconnected",
        at: now,
      },
      "r.id = ? AND r.connected = ?",
      rackId,
      was,
    ),
    db.prepare("UPDATE racks SET connected = ?, last_seen_at = ? WHERE id = ? AND connected = ?").bind(connected ? 1 : 0, now, rackId, was),
  ];
  if (hello) {
    stmts.push(
      db
        .prepare("UPDATE racks SET version = ?, hostname = ?, interfaces = ?, capabilities = ?, last_seen_at = ? WHERE id = ?")
        .bind(hello.version, hello.hostname, JSON.stringify(hello.interfaces), JSON.stringify(hello.capabilities ?? []), now, rackId),
    );
  }
  await db.batch(stmts);
}

/** A live, unrevoked rack was heard from. */
export async function touchRack(db: D1Database, rackId: string, now = Date.now()): Promise<void> {
  await db.prepare("UPDATE racks SET last_seen_at = ?, connected = 1 WHERE id = ? AND revoked_at IS NULL").bind(now, rackId).run();
}

/**
 * The rack's latest status report replaces the previous one (reports are not journaled: an
 * older one lost in a cut is of no use). One entry per service, the last named wins.
 */
export async function recordRackStatus(
  db: D1Database,
  rackId: string,
  status: { services: { name: string; state: string; error?: string | undefined }[]; journalDepth: number },
  now = Date.now(),
): Promise<void> {
  const byName = new Map(status.services.map((s) => [s.name, { name: s.name, state: s.state, ...(s.error ? { error: s.error } : {}) }]));
  await db
    .prepare("UPDATE racks SET services = ?, journal_depth = ?, status_at = ?, last_seen_at = ? WHERE id = ? AND revoked_at IS NULL")
    .bind(JSON.stringify([...byName.values()]), status.journalDepth, now, now, rackId)
    .run();
}

export async function recordConfigAck(db: D1Database, rackId: string, version: string): Promise<void> {
  await db.prepare("UPDATE racks SET config_version = ? WHERE id = ?").bind(version, rackId).run();
}

/**
 * Rotates a rack's credential over its tunnel: the new hash is accepted beside the old one
 * until the appliance acknowledges it (retireOldCredential). Refused when the rack is away:
 * a credential is never delivered any other way.
 */
export async function rotateCredential(db: D1Database, tunnel: RackTunnelRpc, rackId: string): Promise<void> {
  const { credential, hash } = await newCredential(rackId);
  await db.prepare("UPDATE racks SET next_secret_hash = ? WHERE id = ?").bind(hash, rackId).run();
  if (await tunnel.rotate(credential, hash)) return;
  await db.prepare("UPDATE racks SET next_secret_hash = NULL WHERE id = ? AND next_secret_hash = ?").bind(rackId, hash).run();
  throw new ApiError(409, "rack_not_connected", "the rack is not connected: a new credential can only be delivered over its tunnel");
}

/** Revokes the credential (audited), then closes the rack's sockets; returns how many were open. */
export async function revokeRack(
  db: D1Database,
  tunnel: RackTunnelRpc,
  r: { id: string; hostname: string; siteId: number },
  actor: string,
  now = Date.now(),
): Promise<number> {
  await db.batch([
    db.prepare("UPDATE racks SET revoked_at = coalesce(revoked_at, ?), next_secret_hash = NULL WHERE id = ?").bind(now, r.id),
    eventStatement(db, { siteId: r.siteId, type: "rack.revoked", level: "AUDIT", actor, description: `rack ${r.hostname} (${r.id}) revoked`, at: now }),
  ]);
  return tunnel.revoke();
}

export interface NewEnrolToken {
  siteId: number;
  name: string;
  expiresAt: number;
  uses: number | null;
}

/** Creates an enrolment token (audited); the token itself is returned once and stored hashed. */
export async function createEnrolToken(db: D1Database, actor: { userId: number; username: string }, t: NewEnrolToken): Promise<{ id: number; token: string }> {
  const tok = await newEnrolToken();
  const [row] = await db.batch([
    db
      .prepare("INSERT INTO enrol_tokens (site_id, name, prefix, token_hash, expires_at, uses_left, created_by) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id")
      .bind(t.siteId, t.name, tok.prefix, tok.hash, t.expiresAt, t.uses, actor.userId),
    eventStatement(db, {
      siteId: t.siteId,
      type: "rack.enrol_token_created",
      level: "AUDIT",
      actor: actor.username,
      description: `enrolment token ${t.name} (${tok.prefix}…)`,
    }),
  ]);
  return { id: (row!.results[0] as { id: number }).id, token: tok.token };
}

export async function revokeEnrolToken(db: D1Database, actor: string, t: { id: number; siteId: number }, now = Date.now()): Promise<void> {
  await db.batch([
    db.prepare("UPDATE enrol_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?").bind(now, t.id),
    eventStatement(db, { siteId: t.siteId, type: "rack.enrol_token_revoked", level: "AUDIT", actor, description: `enrolment token ${t.id} revoked`, at: now }),
  ]);
}
