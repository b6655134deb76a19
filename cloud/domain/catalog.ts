// The catalog machines are filed under: sites, zones, resource pools, and tags with their links
// to machines. The native API and the MAAS facade both write them through here.
import { eventStatement } from "./events";
import { namedRows } from "./named";

export const sites = namedRows("sites");
export const zones = namedRows("zones");
export const pools = namedRows("resource_pools");

export interface TagRow {
  id: number;
  name: string;
  comment: string;
  definition: string;
  kernel_opts: string;
  created_at: number;
}

export interface TagInput {
  name: string;
  comment: string;
  definition: string;
  kernel_opts: string;
}

const TAG_COLS = "id, name, comment, definition, kernel_opts, created_at";

export function findTag(db: D1Database, name: string): Promise<TagRow | null> {
  return db.prepare(`SELECT ${TAG_COLS} FROM tags WHERE name = ?`).bind(name).first<TagRow>();
}

export async function createTag(db: D1Database, actor: string, t: TagInput): Promise<TagRow> {
  const [ins] = await db.batch([
    db
      .prepare(`INSERT INTO tags (name, comment, definition, kernel_opts) VALUES (?, ?, ?, ?) RETURNING ${TAG_COLS}`)
      .bind(t.name, t.comment, t.definition, t.kernel_opts),
    eventStatement(db, { type: "tag.created", actor, description: `tag ${t.name} created` }),
  ]);
  return ins!.results[0] as TagRow;
}

/** Fields left out keep their value. */
export async function updateTag(db: D1Database, actor: string, tag: Pick<TagRow, "id" | "name">, patch: Partial<TagInput>): Promise<TagRow> {
  const name = patch.name ?? tag.name;
  const [upd] = await db.batch([
    db
      .prepare(
        `UPDATE tags SET name = ?, comment = coalesce(?, comment), definition = coalesce(?, definition), kernel_opts = coalesce(?, kernel_opts)
         WHERE id = ? RETURNING ${TAG_COLS}`,
      )
      .bind(name, patch.comment ?? null, patch.definition ?? null, patch.kernel_opts ?? null, tag.id),
    eventStatement(db, { type: "tag.updated", actor, description: name === tag.name ? `tag ${name} updated` : `tag ${tag.name} renamed ${name}` }),
  ]);
  return upd!.results[0] as TagRow;
}

export async function deleteTag(db: D1Database, actor: string, tag: Pick<TagRow, "id" | "name">): Promise<void> {
  await db.batch([
    db.prepare("DELETE FROM tags WHERE id = ?").bind(tag.id),
    eventStatement(db, { type: "tag.deleted", actor, description: `tag ${tag.name} deleted` }),
  ]);
}

export interface TagLinks {
  /** Machine ids (rows, not system ids) to link; ones already linked stay as they are. */
  add: number[];
  remove: number[];
  /** Said after the counts in the event, e.g. "(MAAS API)". */
  via?: string;
}

/** Links machines to a tag and unlinks others; the event counts the ids given. */
export async function tagMachines(db: D1Database, actor: string, tag: Pick<TagRow, "id" | "name">, links: TagLinks): Promise<void> {
  const counts = `tag ${tag.name}: +${links.add.length} -${links.remove.length}`;
  await db.batch([
    ...links.add.map((id) => db.prepare("INSERT OR IGNORE INTO machine_tags (machine_id, tag_id) VALUES (?, ?)").bind(id, tag.id)),
    ...links.remove.map((id) => db.prepare("DELETE FROM machine_tags WHERE machine_id = ? AND tag_id = ?").bind(id, tag.id)),
    eventStatement(db, { type: "tag.machines", actor, description: links.via ? `${counts} ${links.via}` : counts }),
  ]);
}
