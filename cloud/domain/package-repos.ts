// APT archives for deployed machines (MAAS's package repositories): the one writer of
// package_repositories. Stored and served for clients; deployments do not read them yet.
import { auditedDelete, eventStatementIf } from "./events";

export interface RepoRow {
  id: number;
  name: string;
  url: string;
  distributions: string;
  disabled_pockets: string;
  disabled_components: string;
  components: string;
  arches: string;
  key: string;
  disable_sources: number;
  enabled: number;
}

export interface RepoInput {
  name: string;
  url: string;
  distributions: string[];
  disabledPockets: string[];
  disabledComponents: string[];
  components: string[];
  arches: string[];
  key: string;
  disableSources: boolean;
  enabled: boolean;
}

export const REPO_COLS = "id, name, url, distributions, disabled_pockets, disabled_components, components, arches, key, disable_sources, enabled";

const values = (r: RepoInput) => [
  r.name,
  r.url,
  JSON.stringify(r.distributions),
  JSON.stringify(r.disabledPockets),
  JSON.stringify(r.disabledComponents),
  JSON.stringify(r.components),
  JSON.stringify(r.arches),
  r.key,
  r.disableSources ? 1 : 0,
  r.enabled ? 1 : 0,
];

export function repoInput(row: RepoRow): RepoInput {
  const arr = (s: string) => JSON.parse(s) as string[];
  return {
    name: row.name,
    url: row.url,
    distributions: arr(row.distributions),
    disabledPockets: arr(row.disabled_pockets),
    disabledComponents: arr(row.disabled_components),
    components: arr(row.components),
    arches: arr(row.arches),
    key: row.key,
    disableSources: !!row.disable_sources,
    enabled: !!row.enabled,
  };
}

/** null: the name is taken. */
export async function createRepo(db: D1Database, actor: string, r: RepoInput): Promise<RepoRow | null> {
  const [, ins] = await db.batch([
    eventStatementIf(
      db,
      { type: "package_repository.created", level: "AUDIT", actor, description: `package repository ${r.name} (${r.url}) created` },
      "NOT EXISTS (SELECT 1 FROM package_repositories WHERE name = ?)",
      r.name,
    ),
    db
      .prepare(
        `INSERT OR IGNORE INTO package_repositories (name, url, distributions, disabled_pockets, disabled_components, components, arches, key, disable_sources, enabled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${REPO_COLS}`,
      )
      .bind(...values(r)),
  ]);
  return (ins!.results[0] as RepoRow | undefined) ?? null;
}

export type RepoUpdate = { ok: true; row: RepoRow } | { ok: false; problem: "missing" | "name_taken" };

export async function updateRepo(db: D1Database, actor: string, id: number, r: RepoInput): Promise<RepoUpdate> {
  if (await db.prepare("SELECT 1 FROM package_repositories WHERE name = ? AND id != ?").bind(r.name, id).first()) return { ok: false, problem: "name_taken" };
  const [, upd] = await db.batch([
    eventStatementIf(
      db,
      { type: "package_repository.updated", level: "AUDIT", actor, description: `package repository ${r.name} updated` },
      "EXISTS (SELECT 1 FROM package_repositories WHERE id = ?)",
      id,
    ),
    db
      .prepare(
        `UPDATE OR IGNORE package_repositories SET name = ?, url = ?, distributions = ?, disabled_pockets = ?, disabled_components = ?, components = ?, arches = ?, key = ?, disable_sources = ?, enabled = ?, updated_at = ? WHERE id = ? RETURNING ${REPO_COLS}`,
      )
      .bind(...values(r), Date.now(), id),
  ]);
  const row = upd!.results[0] as RepoRow | undefined;
  return row ? { ok: true, row } : { ok: false, problem: "missing" };
}

export async function deleteRepo(db: D1Database, actor: string, row: RepoRow): Promise<boolean> {
  return auditedDelete(db, "package_repositories", row.id, {
    type: "package_repository.deleted",
    actor,
    description: `package repository ${row.name} deleted`,
  });
}
