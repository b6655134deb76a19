// Periodic power-state polling of every machine with a BMC. Each machine has a slot in the
// poll interval (a hash of its id), so a fleet's queries are spread evenly over the interval
// instead of all coming due at once. Every minute the cron trigger picks the machines whose
// slot has come (at most maxPerRun, through a partial index that holds only BMC machines),
// moves each to its next slot, and sends them to a connected rack of their site as
// `power.poll` commands of up to `batchSize` machines; the appliance queries them with its own
// cap on queries in flight. Results land here: power_state and power_checked_at on each
// machine, and an event when the state changed without Plinth having caused it.
import { NODE_STATUS } from "../../../shared/lifecycle";
import {
  DEFAULT_DEADLINE_MS,
  MAX_POLL_BATCH,
  POWER_POLL_CAPABILITY,
  type PowerPollParams,
  PowerPollResult,
  type PowerPollState,
} from "../../../shared/tunnel/commands";
import type { Env } from "../../env";
import { type EventLevel, machineEventStatement } from "../events";
import { newCommandId } from "../racks/commands";
import { openPowerParams } from "./power-params";
import type { CommandOutcome, StoredCommand } from "../racks/delivery";

export const DEFAULT_POLL_INTERVAL_S = 300;
export const DEFAULT_POLL_MAX_PER_RUN = 1000;
export const DEFAULT_POLL_BATCH = 100;
/**
 * A lifecycle transition this long before the previous check (or any time since) explains a
 * change: the boot environment's own `poweroff` after commissioning comes a little after the
 * transition its last report caused.
 */
export const ATTRIBUTION_GRACE_MS = 120_000;

/** Phases in which the boot environment powers off and reboots the machine itself. */
const PHASES = new Set<number>([
  NODE_STATUS.COMMISSIONING,
  NODE_STATUS.TESTING,
  NODE_STATUS.DEPLOYING,
  NODE_STATUS.RELEASING,
  NODE_STATUS.DISK_ERASING,
  NODE_STATUS.ENTERING_RESCUE_MODE,
  NODE_STATUS.EXITING_RESCUE_MODE,
]);

export interface PollSettings {
  /** 0 turns polling off. */
  intervalMs: number;
  maxPerRun: number;
  batchSize: number;
}

function positiveInt(v: unknown, fallback: number): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : typeof v === "number" ? v : Number.NaN;
  return Number.isInteger(n) && n >= 0 ? n : fallback;
}

/** PLINTH_POWER_POLL_INTERVAL_S (default 300, 0 = off) and PLINTH_POWER_POLL_MAX_PER_RUN (default 1000). */
export function pollSettings(env: Pick<Env, "PLINTH_POWER_POLL_INTERVAL_S" | "PLINTH_POWER_POLL_MAX_PER_RUN">): PollSettings {
  return {
    intervalMs: positiveInt(env.PLINTH_POWER_POLL_INTERVAL_S, DEFAULT_POLL_INTERVAL_S) * 1000,
    maxPerRun: Math.max(1, positiveInt(env.PLINTH_POWER_POLL_MAX_PER_RUN, DEFAULT_POLL_MAX_PER_RUN)),
    batchSize: DEFAULT_POLL_BATCH,
  };
}

/**
 * The machine's offset in the interval: Knuth's multiplicative hash of its id, so neighbouring
 * ids land far apart. The same arithmetic runs in SQL (NEXT_DUE_SQL); ids stay far below 2^31.
 */
export function pollPhase(id: number, intervalMs: number): number {
  return Number(((BigInt(id) * 2654435761n) % 4294967296n) % BigInt(intervalMs));
}

/** The machine's first slot strictly after `now`. */
export function nextPollAt(id: number, now: number, intervalMs: number): number {
  return now + intervalMs - ((now - pollPhase(id, intervalMs)) % intervalMs);
}

// ?1 now, ?2 interval (ms), ?3 JSON array of machine ids. now > phase, so % stays non-negative.
const NEXT_DUE_SQL = `UPDATE machines SET power_poll_due_at = ?1 + ?2 - ((?1 - ((id * 2654435761) % 4294967296) % ?2) % ?2)
  WHERE id IN (SELECT value FROM json_each(?3))`;

export interface PollRun {
  /** Machines whose slot had come (at most maxPerRun). */
  due: number;
  /** Sent to a rack in a power.poll command. */
  sent: number;
  /** No connected rack of their site runs power.poll, or their parameters could not be read. */
  skipped: number;
  commands: { id: string; rackId: string; machines: number }[];
}

interface DueRow {
  id: number;
  system_id: string;
  site_id: number;
  rack_id: string | null;
  power_type: string;
  power_params_enc: string | null;
}

/** One cron run of the poller (`now` is the trigger's scheduled time). */
export async function pollPower(env: Env, now: number, settings: PollSettings = pollSettings(env)): Promise<PollRun> {
  const run: PollRun = { due: 0, sent: 0, skipped: 0, commands: [] };
  if (settings.intervalMs <= 0) return run;
  const db = env.DB;
  // `power_type != 'manual'` is the partial index's condition: only BMC machines are read.
  const { results: due } = await db
    .prepare(
      "SELECT id, system_id, site_id, rack_id, power_type, power_params_enc FROM machines WHERE power_type != 'manual' AND power_poll_due_at <= ? ORDER BY power_poll_due_at, id LIMIT ?",
    )
    .bind(now, settings.maxPerRun)
    .all<DueRow>();
  run.due = due.length;
  if (!due.length) return run;
  // Each moves to its next slot first: whatever happens to this run, a machine is asked at
  // most once per interval, and one that could not be asked now is not retried every minute.
  await db
    .prepare(NEXT_DUE_SQL)
    .bind(now, settings.intervalMs, JSON.stringify(due.map((m) => m.id)))
    .run();

  const sites = [...new Set(due.map((m) => m.site_id))];
  const { results: racks } = await db
    .prepare(
      "SELECT id, site_id, capabilities FROM racks WHERE revoked_at IS NULL AND connected = 1 AND site_id IN (SELECT value FROM json_each(?)) ORDER BY last_seen_at DESC, id",
    )
    .bind(JSON.stringify(sites))
    .all<{ id: string; site_id: number; capabilities: string }>();
  const capable = racks.filter((r) => {
    try {
      return (JSON.parse(r.capabilities) as unknown[]).includes(POWER_POLL_CAPABILITY);
    } catch {
      return false;
    }
  });
  const bySite = new Map<number, string>();
  for (const r of capable) if (!bySite.has(r.site_id)) bySite.set(r.site_id, r.id);
  const rackOf = new Map(capable.map((r) => [r.id, r.site_id]));

  const perRack = new Map<string, PowerPollParams["machines"]>();
  for (const m of due) {
    // The machine's own rack when it is connected and serves the machine's site, else the site's.
    const rackId = m.rack_id && rackOf.get(m.rack_id) === m.site_id ? m.rack_id : bySite.get(m.site_id);
    if (!rackId) {
      run.skipped++;
      continue;
    }
    let power: Record<string, unknown> = {};
    try {
      power = await openPowerParams(env.PLINTH_SECRET_KEY, m.power_params_enc, m.system_id);
    } catch (e) {
      console.warn("power poll: cannot read the BMC parameters", m.system_id, String(e));
      run.skipped++;
      continue;
    }
    const list = perRack.get(rackId) ?? [];
    list.push({ system_id: m.system_id, power_type: m.power_type, power_parameters: power });
    perRack.set(rackId, list);
  }

  const created = Date.now();
  const size = Math.min(settings.batchSize, MAX_POLL_BATCH);
  const cmds: StoredCommand[] = [];
  for (const [rackId, machines] of perRack) {
    for (let i = 0; i < machines.length; i += size) {
      const batch = machines.slice(i, i + size);
      cmds.push({
        id: newCommandId(),
        rackId,
        type: "power.poll",
        params: { machines: batch },
        deadline: created + DEFAULT_DEADLINE_MS["power.poll"],
        machineId: null,
        createdAt: created,
      });
    }
  }
  if (!cmds.length) return run;
  await db.batch(
    cmds.map((c) =>
      db
        .prepare(
          "INSERT INTO rack_commands (id, rack_id, machine_id, type, actor, deadline, created_at) VALUES (?, ?, NULL, 'power.poll', 'region:power-poll', ?, ?)",
        )
        .bind(c.id, c.rackId, c.deadline, c.createdAt),
    ),
  );
  await Promise.all(
    cmds.map(async (c) => {
      try {
        await env.RACK_TUNNEL.get(env.RACK_TUNNEL.idFromName(c.rackId)).enqueue(c, 0);
        const n = (c.params as PowerPollParams).machines.length;
        run.sent += n;
        run.commands.push({ id: c.id, rackId: c.rackId, machines: n });
      } catch (e) {
        // Its row expires at the deadline; these machines come round at their next slot.
        console.error("power poll: queueing failed", c.rackId, String(e));
        run.skipped += (c.params as PowerPollParams).machines.length;
      }
    }),
  );
  return run;
}

interface MachinePower {
  id: number;
  system_id: string;
  status: number;
  power_state: string;
  power_checked_at: number | null;
}

/** Did Plinth cause this machine's change of power state (a power command, a lifecycle step)? */
async function causedByPlinth(db: D1Database, m: MachinePower): Promise<boolean> {
  if (PHASES.has(m.status)) return true;
  const last = m.power_checked_at ?? 0;
  // A power command still running, or finished after the last check (the one that made the
  // last check is not newer than it); a transition shortly before the last check or since.
  const row = await db
    .prepare(
      `SELECT EXISTS (SELECT 1 FROM rack_commands WHERE machine_id = ?1 AND type IN ('power.on', 'power.off', 'power.cycle') AND (state = 'pending' OR completed_at > ?2)) AS cmd,
              EXISTS (SELECT 1 FROM events WHERE machine_id = ?1 AND created_at >= ?3 AND from_status IS NOT NULL AND to_status IS NOT NULL AND from_status != to_status) AS step`,
    )
    .bind(m.id, last, last - ATTRIBUTION_GRACE_MS)
    .first<{ cmd: number; step: number }>();
  return !!row?.cmd || !!row?.step;
}

const PENDING = "EXISTS (SELECT 1 FROM rack_commands WHERE id = ? AND state = 'pending')";

/**
 * Lands a power.poll outcome once (conditional on its row still being pending). A machine whose
 * power was recorded after the poll was sent keeps that newer answer.
 */
export async function landPoll(db: D1Database, cmd: StoredCommand, o: CommandOutcome, now = Date.now()): Promise<{ changedOutside: string[] }> {
  const close = (state: string, result: unknown) =>
    db
      .prepare("UPDATE rack_commands SET state = ?, result = ?, completed_at = ? WHERE id = ? AND state = 'pending'")
      .bind(state, result === null ? null : JSON.stringify(result), now, cmd.id);
  if (o.state === "expired") {
    await close("expired", null).run();
    return { changedOutside: [] };
  }
  if (o.state === "failed") {
    await close("failed", { ok: false, error: o.error }).run();
    return { changedOutside: [] };
  }
  const parsed = PowerPollResult.safeParse(o.data);
  if (!parsed.success) {
    await close("failed", { ok: false, error: { code: "invalid_result", message: "the rack's power poll answer did not parse" } }).run();
    return { changedOutside: [] };
  }
  // Only machines this command asked about: a rack cannot write into others.
  const asked = new Set(((cmd.params as PowerPollParams).machines ?? []).map((m) => m.system_id));
  const answers = new Map<string, PowerPollState>();
  for (const s of parsed.data.states) if (asked.has(s.system_id)) answers.set(s.system_id, s);
  const { results: rows } = await db
    .prepare("SELECT id, system_id, status, power_state, power_checked_at FROM machines WHERE system_id IN (SELECT value FROM json_each(?))")
    .bind(JSON.stringify([...answers.keys()]))
    .all<MachinePower>();

  const fresh = `(power_checked_at IS NULL OR power_checked_at <= ${Number(cmd.createdAt)})`;
  const event = (m: MachinePower, type: string, level: EventLevel, text: string) =>
    machineEventStatement(
      db,
      { type, level, actor: `rack:${cmd.rackId}`, fromStatus: "current", toStatus: "current", description: text, at: now },
      `m.id = ? AND ${fresh} AND ${PENDING}`,
      m.id,
      cmd.id,
    );
  const stmts: D1PreparedStatement[] = [];
  const updates: { i: number; s: string }[] = [];
  const changedOutside: string[] = [];
  const summary = { asked: asked.size, on: 0, off: 0, unknown: 0, error: 0, changed: 0, changed_outside: 0 };
  for (const m of rows) {
    const a = answers.get(m.system_id)!;
    const next = "state" in a ? a.state : "error";
    summary[next]++;
    if (m.power_checked_at !== null && m.power_checked_at > cmd.createdAt) continue;
    updates.push({ i: m.id, s: next });
    const prev = m.power_state;
    if ((prev === "on" || prev === "off") && (next === "on" || next === "off") && prev !== next) {
      summary.changed++;
      if (await causedByPlinth(db, m)) {
        stmts.push(event(m, "power.changed", "INFO", `power went from ${prev} to ${next} (seen by the power poll; Plinth's own doing)`));
      } else {
        summary.changed_outside++;
        changedOutside.push(m.system_id);
        stmts.push(event(m, "power.changed_outside", "WARNING", `power went from ${prev} to ${next} outside Plinth (seen by the power poll)`));
      }
    } else if (next === "error" && prev !== "error" && "error" in a) {
      stmts.push(event(m, "power.query_failed", "WARNING", `the power poll could not read the BMC: ${a.error.message.slice(0, 500)}`));
    }
  }
  if (updates.length) {
    stmts.push(
      db
        .prepare(
          `UPDATE machines SET power_state = (SELECT json_extract(value, '$.s') FROM json_each(?1) WHERE json_extract(value, '$.i') = machines.id), power_checked_at = ?2
           WHERE id IN (SELECT json_extract(value, '$.i') FROM json_each(?1)) AND ${fresh} AND ${PENDING.replace("?", "?3")}`,
        )
        .bind(JSON.stringify(updates), now, cmd.id),
    );
  }
  stmts.push(close("done", { ok: true, data: { ...summary, states: [...answers.values()] } }));
  await db.batch(stmts);
  return { changedOutside };
}
