// Image imports from the boot sources (cloud/images/ does the work): start, stop and read the
// progress of the one sync that may run at a time. The API, the MAAS facade and the cron call
// these; nothing else writes image_syncs.
import type { Env } from "../env";
import { abandon } from "./image-import";
import { IMAGE_SYNC_OBJECT } from "../images/sync-contract";
import { eventStatement } from "./events";
import type { ItemProgress, SyncRow, SyncStatus } from "../../shared/image-sync";

export type { ItemProgress, SyncRow, SyncStatus };

const SYNC_COLUMNS = "id, state, trigger, actor, items_total, items_done, bytes_total, bytes_done, error, started_at, finished_at";

/** A running sync whose heartbeat is this old is poked (its object may have lost its alarm). */
const STALE_MS = 60_000;

const syncObject = (env: Env) => env.IMAGE_SYNC.get(env.IMAGE_SYNC.idFromName(IMAGE_SYNC_OBJECT));

async function runningSync(db: D1Database): Promise<(SyncRow & { heartbeat_at: number | null }) | null> {
  return db.prepare(`SELECT ${SYNC_COLUMNS}, heartbeat_at FROM image_syncs WHERE state = 'running'`).first<SyncRow & { heartbeat_at: number | null }>();
}

/**
 * Starts a sync of every source's selections; started false (and the running one) when one
 * runs already. A running row whose object has no job (it can never finish) is ended first.
 */
export async function startImport(env: Env, actor: string, trigger: "manual" | "schedule" = "manual"): Promise<{ started: boolean; sync: SyncRow }> {
  const db = env.DB;
  const running = await runningSync(db);
  if (running) {
    if (await syncObject(env).kick()) return { started: false, sync: strip(running) };
    await abandon(env, running.id, "the sync's worker lost its state");
  }
  let row: SyncRow | null;
  try {
    const [, inserted] = await db.batch([
      eventStatement(db, { type: "IMAGE_SYNC_STARTED", actor, description: `image sync started (${trigger})` }),
      db
        .prepare(`INSERT INTO image_syncs (state, trigger, actor, heartbeat_at) VALUES ('running', ?, ?, ?) RETURNING ${SYNC_COLUMNS}`)
        .bind(trigger, actor, Date.now()),
    ]);
    row = (inserted?.results[0] as SyncRow | undefined) ?? null;
  } catch (e) {
    // The partial unique index: another start won the race.
    if (!/UNIQUE/i.test(String((e as Error).message))) throw e;
    row = null;
  }
  if (!row) {
    const other = await runningSync(db);
    if (other) return { started: false, sync: strip(other) };
    throw new Error("no image sync could be started");
  }
  try {
    await syncObject(env).begin(row.id, actor);
  } catch (e) {
    await abandon(env, row.id, `the sync could not start: ${(e as Error).message}`);
    throw e;
  }
  return { started: true, sync: row };
}

function strip(r: SyncRow & { heartbeat_at?: number | null }): SyncRow {
  const { heartbeat_at: _, ...rest } = r;
  return rest;
}

/** Stops the running sync after the chunk in flight; false when none runs. */
export async function stopImport(env: Env, actor: string): Promise<boolean> {
  const db = env.DB;
  const running = await runningSync(db);
  if (!running) return false;
  const [res] = await db.batch([
    db.prepare("UPDATE image_syncs SET state = 'stopped', finished_at = ? WHERE id = ? AND state = 'running'").bind(Date.now(), running.id),
    eventStatement(db, { type: "IMAGE_SYNC_STOPPED", actor, description: `image sync ${running.id} stopped` }),
  ]);
  if (!res?.meta.changes) return false;
  await syncObject(env)
    .stop()
    .catch((e: unknown) => console.warn("telling the image sync to stop failed", String(e)));
  return true;
}

export async function importStatus(db: D1Database): Promise<SyncStatus> {
  const sync = await db.prepare(`SELECT ${SYNC_COLUMNS} FROM image_syncs ORDER BY id DESC LIMIT 1`).first<SyncRow>();
  const running = sync?.state === "running";
  // The items of versions not complete yet: while a sync runs, exactly what it still has to do.
  const { results } = running
    ? await db
        .prepare(
          `SELECT i.osystem || '/' || i.series AS image, i.architecture, v.version, f.ftype, f.sha256, f.size, f.bytes_done, f.state, f.error
           FROM boot_image_files f JOIN boot_image_versions v ON v.id = f.version_id JOIN boot_images i ON i.id = v.image_id
           WHERE v.complete = 0 ORDER BY f.id`,
        )
        .all<ItemProgress>()
    : { results: [] as ItemProgress[] };
  return { running, sync: sync ?? null, items: results };
}

/**
 * The cron's part: a sync when the last one finished more than `intervalS` ago and a source
 * exists; a running sync whose heartbeat went quiet is poked so it resumes.
 */
export async function scheduledImport(env: Env, at: number): Promise<void> {
  const intervalS = Number(env.PLINTH_IMAGE_SYNC_INTERVAL_S ?? 3600);
  const db = env.DB;
  const running = await runningSync(db);
  if (running) {
    if ((running.heartbeat_at ?? running.started_at) < at - STALE_MS && !(await syncObject(env).kick())) {
      await abandon(env, running.id, "the sync's worker lost its state");
    }
    return;
  }
  if (!(intervalS > 0)) return;
  const source = await db.prepare("SELECT 1 FROM boot_sources LIMIT 1").first();
  if (!source) return;
  const last = await db.prepare("SELECT max(coalesce(finished_at, started_at)) AS t FROM image_syncs").first<{ t: number | null }>();
  if (last?.t != null && last.t > at - intervalS * 1000) return;
  await startImport(env, "region", "schedule");
}
