// A user's SSL keys, as MAAS calls them: X.509 certificates in PEM, kept per user for clients that
// store theirs in MAAS. Workers have no X.509 parser, so a certificate is checked for what can go
// wrong when pasting: one CERTIFICATE block, base64 that decodes, and DER whose outer SEQUENCE
// holds exactly the bytes given (a cut-off paste fails here).
import { eventStatementIf } from "./events";
import type { UserRef } from "./users";

export const MAX_SSL_KEYS = 50;
const MAX_PEM = 64 * 1024;

export interface SslKey {
  id: number;
  key: string;
  fingerprint: string;
  created_at: number;
}

export type ParsedCert = { ok: true; pem: string; fingerprint: string } | { ok: false; error: string };

/** The length of a DER element starting at `at`, header included, or -1 when it does not parse. */
function derLength(der: Uint8Array, at: number): number {
  if (at + 2 > der.length) return -1;
  const first = der[at + 1]!;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || at + 2 + n > der.length) return -1;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + der[at + 2 + i]!;
  return 2 + n + len;
}

export async function parseCertificate(text: string): Promise<ParsedCert> {
  if (text.length > MAX_PEM) return { ok: false, error: `the certificate is over ${MAX_PEM / 1024} KiB` };
  const pem = text.trim().replace(/\r\n/g, "\n");
  // Someone will paste the key file instead; never store or echo it.
  if (/PRIVATE KEY/.test(pem)) return { ok: false, error: "this is a private key: send the certificate (BEGIN CERTIFICATE) and keep the key secret" };
  const blocks = [...pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----\n([A-Za-z0-9+/=\n]+?)\n?-----END \1-----/g)];
  if (blocks.length === 0) return { ok: false, error: "not a PEM certificate: expected '-----BEGIN CERTIFICATE-----' … '-----END CERTIFICATE-----'" };
  if (blocks.length > 1 || blocks[0]![0].length !== pem.length)
    return { ok: false, error: "one certificate per key: the text holds more than one PEM block or text around it" };
  const [, label, body] = blocks[0]! as unknown as [string, string, string];
  if (label !== "CERTIFICATE") return { ok: false, error: `a ${label} is not a certificate` };
  let der: Uint8Array;
  try {
    der = Uint8Array.from(atob(body.replace(/\n/g, "")), (c) => c.charCodeAt(0));
  } catch {
    return { ok: false, error: "the certificate's base64 does not decode" };
  }
  // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE, signature BIT STRING }
  if (der[0] !== 0x30 || derLength(der, 0) !== der.length) return { ok: false, error: "the certificate's data is cut short or is not DER" };
  const inner = der[1]! < 0x80 ? 2 : 2 + (der[1]! & 0x7f);
  if (der[inner] !== 0x30 || derLength(der, inner) < 0) return { ok: false, error: "the data is DER but not an X.509 certificate" };
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  const fingerprint = [...digest].map((b) => b.toString(16).padStart(2, "0")).join(":");
  return { ok: true, pem: `${pem}\n`, fingerprint };
}

export async function listSslKeys(db: D1Database, userId: number): Promise<SslKey[]> {
  const { results } = await db.prepare("SELECT id, key, fingerprint, created_at FROM ssl_keys WHERE user_id = ? ORDER BY id").bind(userId).all<SslKey>();
  return results;
}

export async function getSslKey(db: D1Database, userId: number, id: number): Promise<SslKey | null> {
  return db.prepare("SELECT id, key, fingerprint, created_at FROM ssl_keys WHERE user_id = ? AND id = ?").bind(userId, id).first<SslKey>();
}

export type SslChange = { ok: true; key: SslKey } | { ok: false; problem: "duplicate" | "full" | "missing" };

export async function addSslKey(db: D1Database, actor: string, user: UserRef, cert: { pem: string; fingerprint: string }): Promise<SslChange> {
  const n = await db.prepare("SELECT count(*) AS n FROM ssl_keys WHERE user_id = ?").bind(user.id).first<{ n: number }>();
  if ((n?.n ?? 0) >= MAX_SSL_KEYS) return { ok: false, problem: "full" };
  const [, ins] = await db.batch([
    // Before the insert, under the guard the unique index enforces: the loser of two equal adds
    // inserts nothing and records nothing.
    eventStatementIf(
      db,
      { type: "user.ssl_key_added", level: "AUDIT", actor, description: `SSL key ${cert.fingerprint} added for ${user.username}` },
      "NOT EXISTS (SELECT 1 FROM ssl_keys WHERE user_id = ? AND fingerprint = ?)",
      user.id,
      cert.fingerprint,
    ),
    db
      .prepare("INSERT OR IGNORE INTO ssl_keys (user_id, key, fingerprint) VALUES (?, ?, ?) RETURNING id, key, fingerprint, created_at")
      .bind(user.id, cert.pem, cert.fingerprint),
  ]);
  const row = ins!.results[0] as SslKey | undefined;
  return row ? { ok: true, key: row } : { ok: false, problem: "duplicate" };
}

export async function removeSslKey(db: D1Database, actor: string, user: UserRef, id: number): Promise<SslChange> {
  const key = await getSslKey(db, user.id, id);
  if (!key) return { ok: false, problem: "missing" };
  const [, del] = await db.batch([
    eventStatementIf(
      db,
      { type: "user.ssl_key_removed", level: "AUDIT", actor, description: `SSL key ${key.fingerprint} removed from ${user.username}` },
      "EXISTS (SELECT 1 FROM ssl_keys WHERE id = ? AND user_id = ?)",
      id,
      user.id,
    ),
    db.prepare("DELETE FROM ssl_keys WHERE id = ? AND user_id = ?").bind(id, user.id),
  ]);
  return del!.meta.changes === 1 ? { ok: true, key } : { ok: false, problem: "missing" };
}
