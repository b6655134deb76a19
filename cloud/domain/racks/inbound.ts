// The one way a rack's command results enter the region. The Durable Object hands every
// result (arrived, replayed or expired) here; nothing else lands them. Repeats change nothing:
// every write is conditional on the command still being pending.
import { finishLifecycleStep } from "../machines/lifecycle-power";
import { landPoll } from "../machines/power-poll";
import type { CommandOutcome, StoredCommand } from "./delivery";
import { landOutcomes } from "./landing";

export interface Landing {
  cmd: StoredCommand;
  outcome: CommandOutcome;
}

/**
 * Lands results in one D1 batch (power polls in their own, as each reads the machines it asks
 * about), then moves on the lifecycle steps they finish (release's power off, rescue exit).
 * Returns whether what the site's racks serve changed, so the caller pushes a new snapshot.
 * A lifecycle step that cannot be finished is logged, never thrown: the result stays landed.
 */
export async function landResults(db: D1Database, items: Landing[], now = Date.now()): Promise<{ configChanged: boolean }> {
  if (!items.length) return { configChanged: false };
  await landOutcomes(
    db,
    items.filter((i) => i.cmd.type !== "power.poll"),
    now,
  );
  for (const p of items.filter((i) => i.cmd.type === "power.poll")) await landPoll(db, p.cmd, p.outcome, now);
  let configChanged = false;
  for (const i of items) {
    if (!i.cmd.finishes) continue;
    try {
      if (await finishLifecycleStep(db, i.cmd, i.outcome)) configChanged = true;
    } catch (e) {
      console.error("rack results: finishing a lifecycle step failed", e);
    }
  }
  return { configChanged };
}
