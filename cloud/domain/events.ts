// The audit log's one writer. Every change in the domain layer returns its event as a prepared
// statement so the caller can put it in the same D1 batch (one transaction) as the change: no
// change is ever recorded without its event, nor an event without its change.
export type EventLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR" | "AUDIT";

export interface EventText {
  type: string;
  level?: EventLevel;
  actor: string;
  description: string;
}

/** A status column of the event: a number, none, or the machine's status as the row reads it. */
export type StatusRef = number | null | "current";

const COLUMNS = "machine_id, system_id, hostname, site_id, type, level, actor, from_status, to_status, description, created_at";

export interface EventValues extends EventText {
  machineId?: number | null;
  systemId?: string | null;
  hostname?: string | null;
  siteId?: number | null;
  fromStatus?: number | null;
  toStatus?: number | null;
  at?: number;
}

function values(e: EventValues): unknown[] {
  return [
    e.machineId ?? null,
    e.systemId ?? null,
    e.hostname ?? null,
    e.siteId ?? null,
    e.type,
    e.level ?? "INFO",
    e.actor,
    e.fromStatus ?? null,
    e.toStatus ?? null,
    e.description,
    e.at ?? Date.now(),
  ];
}

/** An event from known values. */
export function eventStatement(db: D1Database, e: EventValues): D1PreparedStatement {
  return db.prepare(`INSERT INTO events (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).bind(...values(e));
}

/**
 * An event from known values, written only when `condition` (SQL that names no table of its
 * own) holds at its point of the batch: placed before a guarded change, it is written exactly
 * when the change will be, so a change that finds nothing to do leaves no event.
 */
export function eventStatementIf(db: D1Database, e: EventValues, condition: string, ...args: unknown[]): D1PreparedStatement {
  return db.prepare(`INSERT INTO events (${COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${condition}`).bind(...values(e), ...args);
}

/**
 * Deletes row `id` of `table` (a table name of the caller's, never input) with its AUDIT event,
 * in one batch: the event is written only when the row is there to delete. False when it was
 * gone already.
 */
export async function auditedDelete(db: D1Database, table: string, id: number, e: Omit<EventValues, "level">): Promise<boolean> {
  const [, del] = await db.batch([
    eventStatementIf(db, { ...e, level: "AUDIT" }, `EXISTS (SELECT 1 FROM ${table} WHERE id = ?)`, id),
    db.prepare(`DELETE FROM ${table} WHERE id = ?`).bind(id),
  ]);
  return del!.meta.changes > 0;
}

function statusSql(s: StatusRef | undefined, args: unknown[]): string {
  if (s === "current") return "m.status";
  args.push(s ?? null);
  return "?";
}

/**
 * An event about the machine rows that `where` selects (alias `m`), read inside the batch: it
 * names the machine as it is at that point of the transaction, and writes nothing when no row
 * matches (so a guard in `where` makes the event conditional on the change it records).
 */
export function machineEventStatement(
  db: D1Database,
  e: EventText & { fromStatus?: StatusRef; toStatus?: StatusRef; at?: number },
  where: string,
  ...whereArgs: unknown[]
): D1PreparedStatement {
  const args: unknown[] = [e.type, e.level ?? "INFO", e.actor];
  const from = statusSql(e.fromStatus, args);
  const to = statusSql(e.toStatus, args);
  args.push(e.description, e.at ?? Date.now());
  return db
    .prepare(`INSERT INTO events (${COLUMNS}) SELECT m.id, m.system_id, m.hostname, m.site_id, ?, ?, ?, ${from}, ${to}, ?, ? FROM machines m WHERE ${where}`)
    .bind(...args, ...whereArgs);
}

/** An event about the rack rows that `where` selects (alias `r`), on the rack's site. */
export function rackEventStatement(db: D1Database, e: EventText & { at?: number }, where: string, ...whereArgs: unknown[]): D1PreparedStatement {
  return db
    .prepare(`INSERT INTO events (${COLUMNS}) SELECT NULL, NULL, NULL, r.site_id, ?, ?, ?, NULL, NULL, ?, ? FROM racks r WHERE ${where}`)
    .bind(e.type, e.level ?? "INFO", e.actor, e.description, e.at ?? Date.now(), ...whereArgs);
}

/** Writes an event that records no change of its own (a comment, a request, a reveal). */
export async function recordEvent(db: D1Database, e: EventValues & { status?: number | null }): Promise<void> {
  await eventStatement(db, { ...e, fromStatus: e.fromStatus ?? e.status ?? null, toStatus: e.toStatus ?? e.status ?? null }).run();
}
