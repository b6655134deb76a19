// Sites, zones, resource pools, fabrics and spaces are rows of one shape (name, description):
// one writer serves the five, and catalog.ts / networks.ts name it per aggregate.
import { eventStatement } from "./events";

export type NamedTable = "sites" | "zones" | "resource_pools" | "fabrics" | "spaces";

export interface NamedRow {
  id: number;
  name: string;
  description: string;
  created_at: number;
}

export interface NamedInput {
  name: string;
  description: string;
}

export interface NamedPatch {
  name?: string | undefined;
  description?: string | undefined;
}

const COLS = "id, name, description, created_at";

/** The noun events use (`zone.created`): the API's word, not the table's. */
const NOUN: Record<NamedTable, string> = { sites: "site", zones: "zone", resource_pools: "pool", fabrics: "fabric", spaces: "space" };

/** What still refers to a row, counted in SQL bound to its id; absent: nothing holds it. */
const USAGE: Partial<Record<NamedTable, string>> = {
  sites:
    "SELECT (SELECT count(*) FROM machines WHERE site_id = ?1) + (SELECT count(*) FROM racks WHERE site_id = ?1) + (SELECT count(*) FROM devices WHERE site_id = ?1) AS n",
  zones: "SELECT (SELECT count(*) FROM machines WHERE zone_id = ?1) + (SELECT count(*) FROM devices WHERE zone_id = ?1) AS n",
  resource_pools: "SELECT count(*) AS n FROM machines WHERE pool_id = ?1",
};

export interface NamedRows {
  readonly table: NamedTable;
  /** By name, or by id when `byId` and the key is all digits. */
  find(db: D1Database, key: string, byId?: boolean): Promise<NamedRow | null>;
  /** How many objects refer to the row (0 for kinds nothing refers to). */
  usage(db: D1Database, id: number): Promise<number>;
  create(db: D1Database, actor: string, input: NamedInput): Promise<NamedRow>;
  update(db: D1Database, actor: string, row: NamedRow, patch: NamedPatch): Promise<NamedRow>;
  delete(db: D1Database, actor: string, row: Pick<NamedRow, "id" | "name">): Promise<void>;
}

/**
 * The reads and writes of one named kind. `create` takes statements to run in its batch after
 * the insert (a fabric's untagged VLAN): they can find the new row by its unique name.
 */
export function namedRows(table: NamedTable): NamedRows & {
  createWith(db: D1Database, actor: string, input: NamedInput, then: D1PreparedStatement[]): Promise<NamedRow>;
} {
  const noun = NOUN[table];
  const createWith = async (db: D1Database, actor: string, input: NamedInput, then: D1PreparedStatement[]) => {
    const [ins] = await db.batch([
      db.prepare(`INSERT INTO ${table} (name, description) VALUES (?, ?) RETURNING ${COLS}`).bind(input.name, input.description),
      ...then,
      eventStatement(db, { type: `${noun}.created`, actor, description: `${noun} ${input.name} created` }),
    ]);
    return ins!.results[0] as NamedRow;
  };
  return {
    table,
    async find(db, key, byId = true) {
      const id = byId && /^\d+$/.test(key);
      return db
        .prepare(`SELECT ${COLS} FROM ${table} WHERE ${id ? "id" : "name"} = ?`)
        .bind(id ? Number(key) : key)
        .first<NamedRow>();
    },
    async usage(db, id) {
      const sql = USAGE[table];
      return sql ? ((await db.prepare(sql).bind(id).first<{ n: number }>())?.n ?? 0) : 0;
    },
    createWith,
    create: (db, actor, input) => createWith(db, actor, input, []),
    async update(db, actor, row, patch) {
      const name = patch.name ?? row.name;
      const what = name === row.name ? `${noun} ${name} updated` : `${noun} ${row.name} renamed ${name}`;
      const [upd] = await db.batch([
        db.prepare(`UPDATE ${table} SET name = ?, description = ? WHERE id = ? RETURNING ${COLS}`).bind(name, patch.description ?? row.description, row.id),
        eventStatement(db, { type: `${noun}.updated`, actor, description: what }),
      ]);
      return upd!.results[0] as NamedRow;
    },
    async delete(db, actor, row) {
      await db.batch([
        db.prepare(`DELETE FROM ${table} WHERE id = ?`).bind(row.id),
        eventStatement(db, { type: `${noun}.deleted`, actor, description: `${noun} ${row.name} deleted` }),
      ]);
    },
  };
}
