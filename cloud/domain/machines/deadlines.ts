// Long phases that miss their deadline move to their FAILED_* state. Swept by the Cron
// Trigger every minute; `now` comes from the trigger's scheduled time, so tests advance it.
import { applyAction } from "./transition";

export async function sweepDeadlines(db: D1Database, now: number, limit = 500): Promise<number> {
  const { results } = await db
    .prepare(
      `SELECT id, system_id AS systemId, status, previous_status AS previousStatus, locked, power_type AS powerType
       FROM machines WHERE status_expires IS NOT NULL AND status_expires <= ? ORDER BY status_expires LIMIT ?`,
    )
    .bind(now, limit)
    .all<{ id: number; systemId: string; status: number; previousStatus: number | null; locked: number; powerType: string }>();
  let failed = 0;
  for (const m of results) {
    try {
      await applyAction(db, { ...m, locked: !!m.locked }, "timeout", { actor: "region", reason: "deadline passed", now });
      failed++;
    } catch (e) {
      // Changed under us (finished just in time): the next sweep sees the truth.
      console.warn("deadline sweep skipped", m.systemId, String(e));
    }
  }
  return failed;
}
