// How region code asks a site's rack appliance to do something (power, boot intents, ...).
// The command is recorded in D1 (the API's view) and queued in the rack's Durable Object
// (delivery): the caller gets its id at once (202); queries may wait briefly for the result.
import { type CommandType, DEFAULT_DEADLINE_MS } from "../../../shared/tunnel/commands";
import { randomString } from "../../auth/crypto";
import { openPowerParams } from "../machines/power-params";
import type { Env } from "../../env";
import { ApiError } from "../../http/errors";
import type { CommandOutcome, StoredCommand } from "./delivery";

export type RackCommandType = Extract<CommandType, "power.on" | "power.off" | "power.cycle" | "power.query" | "bmc.identify" | "boot.set">;

export interface RackCommandTarget {
  systemId: string;
  rackId: string | null;
  siteId: number;
  id?: number;
  powerType?: string;
}

export interface Dispatched {
  commandId: string;
  rackId: string;
  state: "pending" | CommandOutcome["state"];
  result?: CommandOutcome;
}

export interface DispatchOptions {
  actor?: string;
  /** The machine's power settings when the caller has read them already (saves a read). */
  power?: { type: string; enc: string | null };
  /** Statements to write in the same batch as the command rows (the request's event). */
  also?: (sent: { rackId: string; commandIds: string[] }) => D1PreparedStatement[];
  /** Wait up to this long for the outcome before answering (queries). */
  waitMs?: number;
  deadlineMs?: number;
}

/** The rack that serves a machine: its own, else the site's connected one, else any live one (queued until it connects). */
async function pickRack(db: D1Database, target: RackCommandTarget): Promise<string | null> {
  if (target.rackId) {
    const r = await db.prepare("SELECT id FROM racks WHERE id = ? AND revoked_at IS NULL").bind(target.rackId).first<{ id: string }>();
    if (r) return r.id;
  }
  const row = await db
    .prepare("SELECT id FROM racks WHERE site_id = ? AND revoked_at IS NULL ORDER BY connected DESC, last_seen_at DESC LIMIT 1")
    .bind(target.siteId)
    .first<{ id: string }>();
  return row?.id ?? null;
}

export function newCommandId(): string {
  // Time-ordered prefix: ids sort by creation, which keeps replay order stable.
  return `c${Date.now().toString(36)}${randomString(10)}`;
}

export interface CommandStep {
  type: RackCommandType;
  params: Record<string, unknown>;
  /** Region-only: the lifecycle step this command's outcome finishes (see landing.ts). */
  finishes?: StoredCommand["finishes"];
}

export function noRack(type: string): ApiError {
  return new ApiError(
    503,
    "no_rack",
    `no rack appliance is enrolled for this machine's site: ${type} cannot be sent`,
    { command: type },
    { "retry-after": "30" },
  );
}

export async function dispatchRackCommand(
  env: Env,
  target: RackCommandTarget,
  type: RackCommandType,
  params: Record<string, unknown>,
  opts: DispatchOptions = {},
): Promise<Dispatched> {
  const [sent] = await dispatchRackCommands(env, target, [{ type, params }], opts);
  return sent!;
}

/**
 * Several commands for one machine, in order, to one rack: the appliance runs a machine's
 * commands in the order they arrive (boot.set before power.on). Throws 503 no_rack when no
 * rack is enrolled for the site; a rack that is enrolled but away gets them when it connects.
 */
export async function dispatchRackCommands(env: Env, target: RackCommandTarget, steps: CommandStep[], opts: DispatchOptions = {}): Promise<Dispatched[]> {
  const rackId = await pickRack(env.DB, target);
  if (!rackId) throw noRack(steps.map((s) => s.type).join(", "));
  const m =
    opts.power && target.id !== undefined
      ? { id: target.id, power_type: opts.power.type, power_params_enc: opts.power.enc }
      : await env.DB.prepare("SELECT id, power_type, power_params_enc FROM machines WHERE system_id = ?")
          .bind(target.systemId)
          .first<{ id: number; power_type: string; power_params_enc: string | null }>();
  const power = await openPowerParams(env.PLINTH_SECRET_KEY, m?.power_params_enc ?? null, target.systemId);
  const now = Date.now();
  // createdAt orders replays (ids made in the same millisecond sort at random).
  const cmds: StoredCommand[] = steps.map((step, i) => ({
    id: newCommandId(),
    rackId,
    type: step.type,
    params: { ...step.params, system_id: target.systemId, power_type: m?.power_type ?? target.powerType ?? "manual", power_parameters: power },
    deadline: now + (opts.deadlineMs ?? DEFAULT_DEADLINE_MS[step.type]),
    machineId: m?.id ?? target.id ?? null,
    createdAt: now + i,
    ...(step.finishes ? { finishes: step.finishes } : {}),
  }));
  await env.DB.batch([
    ...cmds.map((cmd) =>
      env.DB.prepare("INSERT INTO rack_commands (id, rack_id, machine_id, type, actor, deadline, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)").bind(
        cmd.id,
        rackId,
        cmd.machineId,
        cmd.type,
        opts.actor ?? "",
        cmd.deadline,
        cmd.createdAt,
      ),
    ),
    ...(opts.also?.({ rackId, commandIds: cmds.map((c) => c.id) }) ?? []),
  ]);
  const stub = env.RACK_TUNNEL.get(env.RACK_TUNNEL.idFromName(rackId));
  const out: Dispatched[] = [];
  // One at a time: each is on the socket before the next is queued.
  for (const cmd of cmds) {
    const r = await stub.enqueue(cmd, opts.waitMs ?? 0);
    out.push({ commandId: cmd.id, rackId, state: r.state, ...(r.result ? { result: r.result } : {}) });
  }
  return out;
}

/** Region code that changes what a site's racks serve (subnets, boot intents) calls this. */
/** Tells the connected racks of a site (or of every site, with null) that their snapshot changed. */
/**
 * notifyConfigChanged after a change that stands whether or not a rack hears of it now: a rack
 * that cannot be told gets the snapshot at its next reconnect. `after` names the change in the log.
 */
export async function pushConfigAfter(env: Env, siteId: number | null, after: string): Promise<void> {
  await notifyConfigChanged(env, siteId).catch((e: unknown) => console.warn(`config push after ${after} failed`, String(e)));
}

export async function notifyConfigChanged(env: Env, siteId: number | null): Promise<void> {
  const { results } = await env.DB.prepare("SELECT id FROM racks WHERE (?1 IS NULL OR site_id = ?1) AND revoked_at IS NULL AND connected = 1")
    .bind(siteId)
    .all<{ id: string }>();
  await Promise.all(results.map((r) => env.RACK_TUNNEL.get(env.RACK_TUNNEL.idFromName(r.id)).configChanged()));
}
