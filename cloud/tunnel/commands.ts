// How region code asks a site's rack appliance to do something (power, boot intents, ...).
// The command is recorded in D1 (the API's view) and queued in the rack's Durable Object
// (delivery): the caller gets its id at once (202); queries may wait briefly for the result.
import { type CommandType, DEFAULT_DEADLINE_MS } from "../../shared/tunnel/commands";
import { randomString } from "../auth/crypto";
import { decryptJson } from "../auth/secrets";
import type { Env } from "../env";
import { ApiError } from "../http/errors";
import type { CommandOutcome, StoredCommand } from "./landing";

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

export async function dispatchRackCommand(env: Env, target: RackCommandTarget, type: RackCommandType, params: Record<string, unknown>, opts: DispatchOptions = {}): Promise<Dispatched> {
  const rackId = await pickRack(env.DB, target);
  if (!rackId) {
    throw new ApiError(503, "no_rack", `no rack appliance is enrolled for this machine's site: ${type} cannot be sent`, { command: type }, { "retry-after": "30" });
  }
  const m = await env.DB.prepare("SELECT id, power_type, power_params_enc FROM machines WHERE system_id = ?").bind(target.systemId).first<{ id: number; power_type: string; power_params_enc: string | null }>();
  const power = m?.power_params_enc ? await decryptJson(env.PLINTH_SECRET_KEY, m.power_params_enc, target.systemId) : {};
  const now = Date.now();
  const cmd: StoredCommand = {
    id: newCommandId(),
    rackId,
    type,
    params: { ...params, system_id: target.systemId, power_type: m?.power_type ?? target.powerType ?? "manual", power_parameters: power },
    deadline: now + (opts.deadlineMs ?? DEFAULT_DEADLINE_MS[type]),
    machineId: m?.id ?? target.id ?? null,
    createdAt: now,
  };
  await env.DB.prepare("INSERT INTO rack_commands (id, rack_id, machine_id, type, actor, deadline, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
    .bind(cmd.id, rackId, cmd.machineId, type, opts.actor ?? "", cmd.deadline, now)
    .run();
  const stub = env.RACK_TUNNEL.get(env.RACK_TUNNEL.idFromName(rackId));
  const r = await stub.enqueue(cmd, opts.waitMs ?? 0);
  return { commandId: cmd.id, rackId, state: r.state, ...(r.result ? { result: r.result } : {}) };
}

/** Region code that changes what a site's racks serve (subnets, boot intents) calls this. */
export async function notifyConfigChanged(env: Env, siteId: number): Promise<void> {
  const { results } = await env.DB.prepare("SELECT id FROM racks WHERE site_id = ? AND revoked_at IS NULL AND connected = 1").bind(siteId).all<{ id: string }>();
  await Promise.all(results.map((r) => env.RACK_TUNNEL.get(env.RACK_TUNNEL.idFromName(r.id)).configChanged()));
}
