// Boot sources (the simplestreams mirrors images are synced from) and their selections: the one
// writer of boot_sources and boot_source_selections. A source's keyring is kept as base64 of
// the binary OpenPGP public keys, whatever form it arrived in, so the sync reads one form and
// the MAAS facade answers it as MAAS does (base64). A source without a keyring is refused
// unless the operator said skip_verify explicitly: an unverified mirror can feed any image to
// every machine.
import { fingerprints as keyFingerprints, KeyringError, readKeyring, toBase64 } from "../images/keyring";
import { auditedDelete, eventStatementIf } from "./events";
import type { Selection, Source } from "../../shared/image-sync";

export interface SourceRow {
  id: number;
  url: string;
  keyring_data: string | null;
  keyring_filename: string;
  skip_verify: number;
  created_at: number;
  updated_at: number;
}

export interface SelectionRow {
  id: number;
  source_id: number;
  os: string;
  release: string;
  arches: string;
  subarches: string;
  labels: string;
  created_at: number;
}

export type { Selection, Source };

export const SOURCE_COLS = "id, url, keyring_data, keyring_filename, skip_verify, created_at, updated_at";
export const SELECTION_COLS = "id, source_id, os, release, arches, subarches, labels, created_at";

/** Why an input is refused: the caller answers 400 (or the MAAS field error) with it. */
export class SourceInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export const URL_MAX = 1024;
export const KEYRING_MAX = 128 * 1024;

/** An http(s) URL with a host; the sync fetches from it. */
export function checkUrl(url: string): string {
  const u = url.trim();
  let parsed: URL;
  try {
    parsed = new URL(u);
  } catch {
    throw new SourceInputError("url", "not a URL: expected http:// or https://");
  }
  if ((parsed.protocol !== "http:" && parsed.protocol !== "https:") || !parsed.hostname) {
    throw new SourceInputError("url", "the URL must be http:// or https:// with a host");
  }
  if (u.length > URL_MAX) throw new SourceInputError("url", `the URL is longer than ${URL_MAX} characters`);
  return u;
}

export interface Keyring {
  /** base64 of the binary public keys, as stored. */
  data: string;
  fingerprints: string[];
}

/**
 * OpenPGP public key(s) as cloud/images/keyring.ts reads them, kept as the packets the operator
 * sent (only the armour taken off) so a MAAS client reads back the keyring it gave.
 */
export async function parseKeyring(input: string | Uint8Array): Promise<Keyring> {
  try {
    const { bytes, keys } = await readKeyring(input);
    return { data: toBase64(bytes), fingerprints: keyFingerprints(keys) };
  } catch (e) {
    if (e instanceof KeyringError) throw new SourceInputError("keyring_data", e.message);
    throw e;
  }
}

/** The fingerprints of a stored keyring; none when it no longer parses (the sync then refuses the source). */
export async function fingerprints(data: string | null): Promise<string[]> {
  if (!data) return [];
  try {
    return (await parseKeyring(data)).fingerprints;
  } catch {
    return [];
  }
}

const WORD = /^[a-z0-9][a-z0-9._+-]{0,63}$/i;
const WORD_HINT = "letters, digits, '.', '_', '+' and '-', at most 64";

export function checkWord(field: string, v: string): string {
  if (!WORD.test(v)) throw new SourceInputError(field, `"${v.slice(0, 80)}" is not a valid ${field}: ${WORD_HINT}`);
  return v;
}

/** A non-empty list of words, or ["*"] (everything); "*" alone, not beside names. */
export function checkList(field: string, vs: string[]): string[] {
  const list = [...new Set(vs.map((v) => v.trim()).filter(Boolean))];
  if (list.length === 0) throw new SourceInputError(field, `${field} is empty: name at least one, or "*" for all`);
  if (list.length > 64) throw new SourceInputError(field, `${field} has more than 64 entries`);
  if (list.includes("*")) {
    if (list.length > 1) throw new SourceInputError(field, `${field}: "*" means all, so it stands alone`);
    return list;
  }
  for (const v of list) checkWord(field, v);
  return list;
}

export function selectionJson(r: SelectionRow): Selection {
  return {
    id: r.id,
    source_id: r.source_id,
    os: r.os,
    release: r.release,
    arches: JSON.parse(r.arches) as string[],
    subarches: JSON.parse(r.subarches) as string[],
    labels: JSON.parse(r.labels) as string[],
  };
}

export async function sourceJson(r: SourceRow, selections: SelectionRow[]): Promise<Source> {
  return {
    id: r.id,
    url: r.url,
    keyring_filename: r.keyring_filename,
    keyring_fingerprints: await fingerprints(r.keyring_data),
    skip_verify: !!r.skip_verify,
    created_at: r.created_at,
    updated_at: r.updated_at,
    selections: selections.map(selectionJson),
  };
}

export async function listSourceRows(db: D1Database): Promise<SourceRow[]> {
  return (await db.prepare(`SELECT ${SOURCE_COLS} FROM boot_sources ORDER BY id`).all<SourceRow>()).results;
}

export async function getSourceRow(db: D1Database, id: number): Promise<SourceRow | null> {
  return db.prepare(`SELECT ${SOURCE_COLS} FROM boot_sources WHERE id = ?`).bind(id).first<SourceRow>();
}

export async function listSelectionRows(db: D1Database, sourceId?: number): Promise<SelectionRow[]> {
  const q =
    sourceId === undefined
      ? db.prepare(`SELECT ${SELECTION_COLS} FROM boot_source_selections ORDER BY source_id, id`)
      : db.prepare(`SELECT ${SELECTION_COLS} FROM boot_source_selections WHERE source_id = ? ORDER BY id`).bind(sourceId);
  return (await q.all<SelectionRow>()).results;
}

export async function getSelectionRow(db: D1Database, sourceId: number, id: number): Promise<SelectionRow | null> {
  return db.prepare(`SELECT ${SELECTION_COLS} FROM boot_source_selections WHERE source_id = ? AND id = ?`).bind(sourceId, id).first<SelectionRow>();
}

export async function listSources(db: D1Database): Promise<Source[]> {
  const [sources, selections] = await Promise.all([listSourceRows(db), listSelectionRows(db)]);
  return Promise.all(
    sources.map((s) =>
      sourceJson(
        s,
        selections.filter((x) => x.source_id === s.id),
      ),
    ),
  );
}

export async function getSource(db: D1Database, id: number): Promise<Source | null> {
  const row = await getSourceRow(db, id);
  return row ? sourceJson(row, await listSelectionRows(db, id)) : null;
}

export interface SourceInput {
  url: string;
  /** Armoured or base64 text, or the bytes of an uploaded file; null/undefined: none. */
  keyring?: string | Uint8Array | null;
  keyringFilename?: string;
  skipVerify?: boolean;
}

export type SourceChange = { ok: true; row: SourceRow } | { ok: false; problem: "missing" | "duplicate_url" };

function needsKeyring(keyring: string | null, skipVerify: boolean) {
  if (!keyring && !skipVerify) {
    throw new SourceInputError(
      "keyring_data",
      "a boot source needs a keyring (the OpenPGP public keys its index is signed with); to sync without verifying, say skip_verify: true explicitly",
    );
  }
}

const filename = (f: string | undefined) => {
  const v = (f ?? "").trim();
  if (v.length > 255 || /[\u0000-\u001f\u007f]/.test(v)) throw new SourceInputError("keyring_filename", "at most 255 characters, no control characters");
  return v;
};

async function keyringOf(k: string | Uint8Array | null | undefined): Promise<Keyring | null> {
  if (k === null || k === undefined || (typeof k === "string" && k.trim() === "") || (typeof k !== "string" && k.length === 0)) return null;
  if ((typeof k === "string" ? k.length : k.byteLength) > KEYRING_MAX) throw new SourceInputError("keyring_data", `the keyring is over ${KEYRING_MAX} bytes`);
  return parseKeyring(k);
}

/** Creates a source, audited; duplicate_url when one has this URL already. */
export async function createSource(db: D1Database, actor: string, input: SourceInput): Promise<SourceChange> {
  const url = checkUrl(input.url);
  const keyring = await keyringOf(input.keyring);
  const skip = input.skipVerify === true;
  needsKeyring(keyring?.data ?? null, skip);
  const fname = filename(input.keyringFilename);
  const trust = keyring ? `keys ${keyring.fingerprints.join(", ")}` : "signature verification skipped";
  const [, ins] = await db.batch([
    eventStatementIf(
      db,
      { type: "boot_source.created", level: "AUDIT", actor, description: `boot source ${url} created (${trust})` },
      "NOT EXISTS (SELECT 1 FROM boot_sources WHERE url = ?)",
      url,
    ),
    db
      .prepare(`INSERT OR IGNORE INTO boot_sources (url, keyring_data, keyring_filename, skip_verify) VALUES (?, ?, ?, ?) RETURNING ${SOURCE_COLS}`)
      .bind(url, keyring?.data ?? null, fname, skip ? 1 : 0),
  ]);
  const row = ins!.results[0] as SourceRow | undefined;
  return row ? { ok: true, row } : { ok: false, problem: "duplicate_url" };
}

export interface SourcePatch {
  url?: string;
  /** null removes the keyring (then skip_verify must be true). */
  keyring?: string | Uint8Array | null;
  keyringFilename?: string;
  skipVerify?: boolean;
}

/** Changes what the patch names, audited; the result must still have a keyring or skip_verify. */
export async function updateSource(db: D1Database, actor: string, id: number, patch: SourcePatch): Promise<SourceChange> {
  const row = await getSourceRow(db, id);
  if (!row) return { ok: false, problem: "missing" };
  const url = patch.url !== undefined ? checkUrl(patch.url) : row.url;
  const keyring = patch.keyring === undefined ? undefined : await keyringOf(patch.keyring);
  const data = keyring === undefined ? row.keyring_data : (keyring?.data ?? null);
  const skip = patch.skipVerify ?? !!row.skip_verify;
  needsKeyring(data, skip);
  const fname = patch.keyringFilename !== undefined ? filename(patch.keyringFilename) : row.keyring_filename;
  if (url !== row.url && (await db.prepare("SELECT 1 FROM boot_sources WHERE url = ? AND id != ?").bind(url, id).first())) {
    return { ok: false, problem: "duplicate_url" };
  }
  const what: string[] = [];
  if (url !== row.url) what.push(`URL ${row.url} -> ${url}`);
  if (keyring !== undefined) what.push(keyring ? `keys ${keyring.fingerprints.join(", ")}` : "keyring removed");
  if (skip !== !!row.skip_verify) what.push(skip ? "signature verification skipped" : "signatures verified");
  if (fname !== row.keyring_filename) what.push(`keyring file name ${fname || "(none)"}`);
  const [, upd] = await db.batch([
    eventStatementIf(
      db,
      {
        type: "boot_source.updated",
        level: "AUDIT",
        actor,
        description: `boot source ${url} updated${what.length ? `: ${what.join("; ")}` : ""}`,
      },
      "NOT EXISTS (SELECT 1 FROM boot_sources WHERE url = ? AND id != ?) AND EXISTS (SELECT 1 FROM boot_sources WHERE id = ?)",
      url,
      id,
      id,
    ),
    db
      .prepare(
        `UPDATE OR IGNORE boot_sources SET url = ?, keyring_data = ?, keyring_filename = ?, skip_verify = ?, updated_at = ? WHERE id = ? RETURNING ${SOURCE_COLS}`,
      )
      .bind(url, data, fname, skip ? 1 : 0, Date.now(), id),
  ]);
  const out = upd!.results[0] as SourceRow | undefined;
  if (out) return { ok: true, row: out };
  return (await getSourceRow(db, id)) ? { ok: false, problem: "duplicate_url" } : { ok: false, problem: "missing" };
}

/** Deletes a source and its selections (the versions it brought stay, their source_id cleared). */
export async function deleteSource(db: D1Database, actor: string, row: SourceRow): Promise<boolean> {
  return auditedDelete(db, "boot_sources", row.id, { type: "boot_source.deleted", actor, description: `boot source ${row.url} deleted` });
}

export interface SelectionInput {
  os: string;
  release: string;
  arches?: string[];
  subarches?: string[];
  labels?: string[];
}

export type SelectionChange = { ok: true; row: SelectionRow } | { ok: false; problem: "missing" | "duplicate" };

const describeSel = (os: string, release: string, arches: string[]) => `${os}/${release} (arches ${arches.join(",")})`;

export async function createSelection(db: D1Database, actor: string, source: SourceRow, input: SelectionInput): Promise<SelectionChange> {
  const os = checkWord("os", input.os);
  const release = checkWord("release", input.release);
  const arches = checkList("arches", input.arches ?? ["*"]);
  const subarches = checkList("subarches", input.subarches ?? ["*"]);
  const labels = checkList("labels", input.labels ?? ["*"]);
  const [, ins] = await db.batch([
    eventStatementIf(
      db,
      {
        type: "boot_source_selection.created",
        level: "AUDIT",
        actor,
        description: `selection ${describeSel(os, release, arches)} added to boot source ${source.url}`,
      },
      "EXISTS (SELECT 1 FROM boot_sources WHERE id = ?) AND NOT EXISTS (SELECT 1 FROM boot_source_selections WHERE source_id = ? AND os = ? AND release = ?)",
      source.id,
      source.id,
      os,
      release,
    ),
    db
      .prepare(
        `INSERT OR IGNORE INTO boot_source_selections (source_id, os, release, arches, subarches, labels) SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM boot_sources WHERE id = ?) RETURNING ${SELECTION_COLS}`,
      )
      .bind(source.id, os, release, JSON.stringify(arches), JSON.stringify(subarches), JSON.stringify(labels), source.id),
  ]);
  const row = ins!.results[0] as SelectionRow | undefined;
  if (row) return { ok: true, row };
  return (await getSourceRow(db, source.id)) ? { ok: false, problem: "duplicate" } : { ok: false, problem: "missing" };
}

export async function updateSelection(
  db: D1Database,
  actor: string,
  source: SourceRow,
  sel: SelectionRow,
  patch: Partial<SelectionInput>,
): Promise<SelectionChange> {
  const cur = selectionJson(sel);
  const os = patch.os !== undefined ? checkWord("os", patch.os) : cur.os;
  const release = patch.release !== undefined ? checkWord("release", patch.release) : cur.release;
  const arches = patch.arches !== undefined ? checkList("arches", patch.arches) : cur.arches;
  const subarches = patch.subarches !== undefined ? checkList("subarches", patch.subarches) : cur.subarches;
  const labels = patch.labels !== undefined ? checkList("labels", patch.labels) : cur.labels;
  const [, upd] = await db.batch([
    eventStatementIf(
      db,
      {
        type: "boot_source_selection.updated",
        level: "AUDIT",
        actor,
        description: `selection ${describeSel(os, release, arches)} of boot source ${source.url} updated`,
      },
      "EXISTS (SELECT 1 FROM boot_source_selections WHERE id = ?) AND NOT EXISTS (SELECT 1 FROM boot_source_selections WHERE source_id = ? AND os = ? AND release = ? AND id != ?)",
      sel.id,
      source.id,
      os,
      release,
      sel.id,
    ),
    db
      .prepare(
        `UPDATE OR IGNORE boot_source_selections SET os = ?, release = ?, arches = ?, subarches = ?, labels = ? WHERE id = ? RETURNING ${SELECTION_COLS}`,
      )
      .bind(os, release, JSON.stringify(arches), JSON.stringify(subarches), JSON.stringify(labels), sel.id),
  ]);
  const row = upd!.results[0] as SelectionRow | undefined;
  if (row) return { ok: true, row };
  return (await getSelectionRow(db, source.id, sel.id)) ? { ok: false, problem: "duplicate" } : { ok: false, problem: "missing" };
}

export async function deleteSelection(db: D1Database, actor: string, source: SourceRow, sel: SelectionRow): Promise<boolean> {
  const s = selectionJson(sel);
  return auditedDelete(db, "boot_source_selections", sel.id, {
    type: "boot_source_selection.deleted",
    actor,
    description: `selection ${describeSel(s.os, s.release, s.arches)} removed from boot source ${source.url}`,
  });
}
