// What each rack's image cache holds, as the rack reports it (`images.state` events): one row
// per (rack, sha256) in rack_images. A change upserts its rows; a full report (sent after every
// (re)connection) also drops the rows it does not list. A row reaching present, failed or
// evicted is worth an operator's attention: it writes a RACK_IMAGE_STATE event, once per state
// change (a full report repeating what the region knows writes none).
import type { RackImageReport, RackImageState } from "../../../shared/tunnel/events";
import { type EventLevel, eventStatementIf } from "../events";

const TOLD: Partial<Record<RackImageState, EventLevel>> = { present: "INFO", evicted: "INFO", failed: "ERROR" };

export async function applyImageState(db: D1Database, rackId: string, data: { full: boolean; images: RackImageReport[] }, now = Date.now()): Promise<void> {
  const rack = await db.prepare("SELECT site_id, hostname FROM racks WHERE id = ?").bind(rackId).first<{ site_id: number; hostname: string }>();
  if (!rack) return;
  const stmts: D1PreparedStatement[] = [];
  if (data.full)
    stmts.push(
      db
        .prepare("DELETE FROM rack_images WHERE rack_id = ? AND sha256 NOT IN (SELECT value FROM json_each(?))")
        .bind(rackId, JSON.stringify(data.images.map((i) => i.sha256))),
    );
  for (const i of data.images) {
    const level = TOLD[i.state];
    if (level)
      stmts.push(
        eventStatementIf(
          db,
          {
            type: "RACK_IMAGE_STATE",
            level,
            actor: `rack:${rackId}`,
            siteId: rack.site_id,
            description: describe(rack.hostname, i),
            at: now,
          },
          "NOT EXISTS (SELECT 1 FROM rack_images WHERE rack_id = ? AND sha256 = ? AND state = ?)",
          rackId,
          i.sha256,
          i.state,
        ),
      );
    stmts.push(
      db
        .prepare(
          `INSERT INTO rack_images (rack_id, sha256, state, bytes, total, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (rack_id, sha256) DO UPDATE SET state = excluded.state, bytes = excluded.bytes, total = excluded.total,
             error = excluded.error, updated_at = excluded.updated_at`,
        )
        .bind(rackId, i.sha256, i.state, i.bytes, i.total, i.state === "failed" ? (i.error ?? "no reason given") : null, now),
    );
  }
  if (stmts.length) await db.batch(stmts);
}

function describe(hostname: string, i: RackImageReport): string {
  const img = `image ${i.sha256.slice(0, 12)}`;
  if (i.state === "present") return `rack ${hostname} holds ${img} (${i.bytes} bytes)`;
  if (i.state === "evicted") return `rack ${hostname} evicted ${img} from its cache`;
  return `rack ${hostname} failed to fetch ${img}: ${i.error ?? "no reason given"}`;
}

export interface RackImageRow {
  sha256: string;
  state: RackImageState;
  bytes: number;
  total: number;
  error: string | null;
  updated_at: number;
}

/** The rack's images with the boot images each sha256 is (none: not, or no longer, in the region). */
export async function listRackImages(db: D1Database, rackId: string) {
  const [rows, named] = await db.batch([
    db.prepare("SELECT sha256, state, bytes, total, error, updated_at FROM rack_images WHERE rack_id = ? ORDER BY sha256").bind(rackId),
    db
      .prepare(
        "SELECT b.id, b.osystem, b.series, b.architecture, b.sha256 FROM boot_images b WHERE b.sha256 IN (SELECT sha256 FROM rack_images WHERE rack_id = ?) ORDER BY b.id",
      )
      .bind(rackId),
  ]);
  const bySha = new Map<string, { id: number; osystem: string; series: string; architecture: string }[]>();
  for (const b of (named!.results ?? []) as { id: number; osystem: string; series: string; architecture: string; sha256: string }[]) {
    const list = bySha.get(b.sha256) ?? [];
    list.push({ id: b.id, osystem: b.osystem, series: b.series, architecture: b.architecture });
    bySha.set(b.sha256, list);
  }
  return ((rows!.results ?? []) as RackImageRow[]).map((r) => ({ ...r, images: bySha.get(r.sha256) ?? [] }));
}

/** Counts per state, for the rack's own JSON. */
export function imageSummaryStatement(db: D1Database, rackId: string): D1PreparedStatement {
  return db
    .prepare(
      "SELECT count(CASE WHEN state = 'present' THEN 1 END) AS present, count(CASE WHEN state = 'downloading' THEN 1 END) AS downloading, count(CASE WHEN state = 'failed' THEN 1 END) AS failed FROM rack_images WHERE rack_id = ?",
    )
    .bind(rackId);
}
