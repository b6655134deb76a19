// SSH public keys of a user: what deployments put into the deployed system's default user
// (meta-data public-keys). Stored on the user row as a JSON list of normalised key lines; the
// key's OpenSSH SHA256 fingerprint (base64url here, so it fits in a URL) names it in the API.
import { eventStatementIf } from "./events";
import type { UserRef } from "./users";

const KEY_TYPES = new Set([
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
]);
export const MAX_SSH_KEYS = 100;

export interface SshKey {
  id: string;
  key: string;
  type: string;
  comment: string;
  fingerprint: string;
}

export type ParsedKey = { ok: true; key: SshKey } | { ok: false; error: string };

function b64(bytes: Uint8Array, url: boolean): string {
  let s = btoa(String.fromCharCode(...bytes)).replace(/=+$/, "");
  if (url) s = s.replace(/\+/g, "-").replace(/\//g, "_");
  return s;
}

/** One authorized_keys line (no options): the type, base64 blob whose own header names that type, and a comment. */
export async function parseSshKey(text: string): Promise<ParsedKey> {
  const line = text.trim();
  // Someone will paste the wrong file; never echo it back.
  if (/PRIVATE KEY/.test(line)) return { ok: false, error: "this is a private key: send the public key (the .pub file) and keep this one secret" };
  if (line.includes("\n")) return { ok: false, error: "one key per request: the text has several lines" };
  const m = /^(\S+)\s+([A-Za-z0-9+/]+={0,3})(?:\s+(.{0,255}))?$/.exec(line);
  if (!m) return { ok: false, error: "not an OpenSSH public key: expected '<type> <base64> [comment]', as in a .pub file" };
  const [, type, data, comment = ""] = m as unknown as [string, string, string, string | undefined];
  if (!KEY_TYPES.has(type)) return { ok: false, error: `unsupported key type "${type}" (supported: ${[...KEY_TYPES].join(", ")})` };
  let blob: Uint8Array;
  try {
    blob = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  } catch {
    return { ok: false, error: "the key's base64 does not decode" };
  }
  const n = blob.length >= 4 ? new DataView(blob.buffer).getUint32(0) : -1;
  if (n !== type.length || new TextDecoder().decode(blob.subarray(4, 4 + n)) !== type || blob.length < 4 + n + 16)
    return { ok: false, error: `the key data is not a ${type} key (is it cut short or pasted from another key?)` };
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", blob));
  const key = `${type} ${data}${comment ? ` ${comment.trim()}` : ""}`;
  return { ok: true, key: { id: b64(digest, true), key, type, comment: comment.trim(), fingerprint: `SHA256:${b64(digest, false)}` } };
}

/** The user's keys as stored; lines that no longer parse are left out rather than failing the list. */
export async function listSshKeys(db: D1Database, userId: number): Promise<SshKey[]> {
  return (await readKeys(db, userId)).keys;
}

async function readKeys(db: D1Database, userId: number): Promise<{ raw: string; keys: SshKey[] }> {
  const raw = (await db.prepare("SELECT ssh_keys FROM users WHERE id = ?").bind(userId).first<{ ssh_keys: string }>())?.ssh_keys ?? "[]";
  const keys: SshKey[] = [];
  for (const l of JSON.parse(raw) as unknown[]) {
    if (typeof l !== "string") continue;
    const p = await parseSshKey(l);
    if (p.ok) keys.push(p.key);
  }
  return { raw, keys };
}

export type KeyChange = { ok: true; key: SshKey } | { ok: false; problem: "duplicate" | "full" | "missing" | "raced" };

/**
 * Two edits of one user's list at once: each write is guarded by the list it was computed
 * from, so neither drops the other's key; the loser computes again on the list the winner
 * left. "raced" only after three losses in a row (the caller answers 409: try again).
 */
async function retried(f: () => Promise<KeyChange>): Promise<KeyChange> {
  let r: KeyChange = { ok: false, problem: "raced" };
  for (let attempt = 0; attempt < 3; attempt++) {
    r = await f();
    if (r.ok || r.problem !== "raced") return r;
  }
  return r;
}

/** Adds a parsed key, audited. */
export function addSshKey(db: D1Database, actor: string, user: UserRef, key: SshKey): Promise<KeyChange> {
  return retried(() => tryAdd(db, actor, user, key));
}

/** Removes the key with this id, audited. */
export function removeSshKey(db: D1Database, actor: string, user: UserRef, id: string): Promise<KeyChange> {
  return retried(() => tryRemove(db, actor, user, id));
}

async function tryAdd(db: D1Database, actor: string, user: UserRef, key: SshKey): Promise<KeyChange> {
  const { raw, keys: have } = await readKeys(db, user.id);
  if (have.some((k) => k.id === key.id)) return { ok: false, problem: "duplicate" };
  if (have.length >= MAX_SSH_KEYS) return { ok: false, problem: "full" };
  return writeKeys(db, user, raw, [...have.map((k) => k.key), key.key], key, {
    type: "user.ssh_key_added",
    actor,
    description: `SSH key ${key.fingerprint} (${key.type}${key.comment ? ` ${key.comment}` : ""}) added for ${user.username}`,
  });
}

async function tryRemove(db: D1Database, actor: string, user: UserRef, id: string): Promise<KeyChange> {
  const { raw, keys: have } = await readKeys(db, user.id);
  const gone = have.find((k) => k.id === id);
  if (!gone) return { ok: false, problem: "missing" };
  return writeKeys(
    db,
    user,
    raw,
    have.filter((k) => k.id !== id).map((k) => k.key),
    gone,
    { type: "user.ssh_key_removed", actor, description: `SSH key ${gone.fingerprint} removed from ${user.username}` },
  );
}

async function writeKeys(
  db: D1Database,
  user: UserRef,
  before: string,
  lines: string[],
  key: SshKey,
  e: { type: string; actor: string; description: string },
): Promise<KeyChange> {
  const [, upd] = await db.batch([
    // Before the guarded change, under the same guard: an edit that lost a race leaves no event.
    eventStatementIf(
      db,
      { type: e.type, level: "AUDIT", actor: e.actor, description: e.description },
      "(SELECT ssh_keys FROM users WHERE id = ?) = ?",
      user.id,
      before,
    ),
    db.prepare("UPDATE users SET ssh_keys = ? WHERE id = ? AND ssh_keys = ?").bind(JSON.stringify(lines), user.id, before),
  ]);
  return upd!.meta.changes === 1 ? { ok: true, key } : { ok: false, problem: "raced" };
}
