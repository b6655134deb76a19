// Lifecycle actions (POST /machines/:id/:action) and allocation with constraints.
import type { Hono } from "hono";
import { z } from "zod";
import type { UserAction } from "../../shared/lifecycle";
import { can, type Caller, isGlobalAdmin, type Permission } from "../auth/roles";
import type { AppEnv, Ctx } from "../http/context";
import { ApiError, badRequest, forbidden } from "../http/errors";
import { def } from "../http/openapi";
import { hostnameSchema, nameSchema, readJson, systemIdSchema } from "../http/validate";
import { randomString } from "../auth/crypto";
import { applyAction, illegal } from "../domain/machines/transition";
import { notifyConfigChanged } from "../domain/racks/commands";
import { lifecyclePower, powerPlanFor } from "../domain/machines/lifecycle-power";
import { loadMachine } from "./load";
import type { MachineRow } from "./repo";
import { machineResponse } from "./routes";

const comment = z.string().max(4096).optional();
const Plain = z.strictObject({ comment });

const ACTION_BODIES = {
  commission: z.strictObject({ comment, skip_bmc_config: z.boolean().optional(), skip_networking: z.boolean().optional(), skip_storage: z.boolean().optional() }),
  abort: Plain,
  deploy: z.strictObject({
    comment,
    osystem: z.string().max(64).regex(/^[a-z0-9._-]*$/).optional(),
    distro_series: z.string().max(64).regex(/^[a-z0-9._-]*$/).optional(),
    hwe_kernel: z.string().max(64).optional(),
    /** base64 cloud-init user data, as MAAS takes it. */
    user_data: z.base64().max(64 * 1024).optional(),
  }),
  release: z.strictObject({ comment, erase: z.boolean().default(false), quick_erase: z.boolean().optional(), secure_erase: z.boolean().optional(), force: z.boolean().optional() }),
  mark_broken: Plain,
  mark_fixed: Plain,
  rescue_mode: Plain,
  exit_rescue_mode: Plain,
  lock: Plain,
  unlock: Plain,
} satisfies Partial<Record<UserAction, z.ZodType>>;
type BodyAction = keyof typeof ACTION_BODIES;

const PERMISSION: Record<BodyAction, Permission> = {
  commission: "machine.lifecycle",
  abort: "machine.lifecycle",
  deploy: "machine.lifecycle",
  release: "machine.lifecycle",
  rescue_mode: "machine.lifecycle",
  exit_rescue_mode: "machine.lifecycle",
  lock: "machine.lifecycle",
  unlock: "machine.lifecycle",
  mark_broken: "machine.mark",
  mark_fixed: "machine.mark",
};

/** A machine someone else owns may only be deployed or released by an admin. */
function requireOwnerOrAdmin(caller: Caller, m: MachineRow) {
  if (m.ownerId !== null && m.ownerId !== caller.userId && !isGlobalAdmin(caller) && !can(caller, "machine.secrets", m.siteId)) {
    throw forbidden(`the machine is owned by ${m.owner ?? "another user"}`);
  }
}

export async function runAction(c: Ctx, m: MachineRow, action: BodyAction, body: Record<string, unknown>) {
  const to = await applyUserAction(c, m, action, body);
  // The site's racks decide what this machine boots from their snapshot: tell them now, not
  // at their next reconnect (and before a power on, so the machine boots what it should).
  // A rack that cannot be told gets it then; the action stands.
  const push = () => notifyConfigChanged(c.env, m.siteId).catch((e: unknown) => console.warn("config push after an action failed", String(e)));
  await push();
  const plan = powerPlanFor(action, m.status, to, m.previousStatus);
  if (!plan) return;
  const actor = c.get("caller").username;
  const sent = await lifecyclePower(c.env, { id: m.id, systemId: m.systemId, hostname: m.hostname, siteId: m.siteId, rackId: m.rackId, status: to }, plan, { actor, action });
  // With the manual driver there is no power action to wait for: the step completes at once.
  // With no rack to send it through, the machine stays in the step (never powered off, so not
  // Ready): its deadline fails it unless someone acts.
  if (plan.kind !== "start" && plan.finishes && sent === "manual") {
    const done = plan.finishes === "release" ? "released" : "rescue_exited";
    // exit_rescue_mode keeps previous_status (where the machine returns); release records where it came from.
    const previousStatus = plan.finishes === "release" ? m.status : m.previousStatus;
    await applyAction(c.env.DB, { ...m, locked: !!m.locked, status: to, previousStatus }, done, { actor: "region", reason: "manual power: nothing to wait for" });
    await push();
  }
}

/** Returns the machine's new status. */
async function applyUserAction(c: Ctx, m: MachineRow, action: BodyAction, body: Record<string, unknown>): Promise<number> {
  const caller = c.get("caller");
  const db = c.env.DB;
  const base = { ...m, locked: !!m.locked };
  const reason = typeof body["comment"] === "string" ? (body["comment"] as string) : undefined;
  if (action === "deploy" || action === "release") requireOwnerOrAdmin(caller, m);
  if (action === "deploy") {
    const set: Record<string, string | null> = {};
    if (body["osystem"] !== undefined) set["osystem"] = body["osystem"] as string;
    if (body["distro_series"] !== undefined) set["distro_series"] = body["distro_series"] as string;
    if (body["user_data"] !== undefined) set["user_data"] = body["user_data"] as string;
    if (!set["osystem"] && !m.osystem) set["osystem"] = "ubuntu";
    if (!set["distro_series"] && !m.distroSeries) set["distro_series"] = "noble";
    // A fresh secret for this deployment's phone-home URL: only the OS written now can finish it.
    set["deploy_token"] = randomString(32);
    set["deploy_installed_at"] = null;
    return applyAction(db, base, "deploy", { actor: caller.username, reason, set, ownerId: m.ownerId ?? caller.userId });
  }
  if (action === "release") {
    const erase = body["erase"] === true;
    // MAAS: quick_erase wipes signatures and the disk ends; otherwise the whole disk is zeroed
    // (secure_erase falls back to that where the drive cannot do it itself).
    const eraseMode = erase ? (body["quick_erase"] === true ? "quick" : "full") : null;
    return applyAction(db, base, "release", { actor: caller.username, reason, erase, set: { erase_mode: eraseMode, deploy_token: null } });
  }
  return applyAction(db, base, action, { actor: caller.username, reason });
}

export const AllocateBody = z.strictObject({
  system_id: systemIdSchema.optional(),
  hostname: hostnameSchema.optional(),
  arch: z.string().max(64).optional(),
  cpu_count: z.number().int().min(0).max(100_000).optional(),
  mem: z.number().int().min(0).max(1 << 30).optional(),
  storage: z.number().min(0).optional(),
  tags: z.array(nameSchema).max(32).optional(),
  not_tags: z.array(nameSchema).max(32).optional(),
  zone: nameSchema.optional(),
  not_in_zone: z.array(nameSchema).max(32).optional(),
  pool: nameSchema.optional(),
  not_in_pool: z.array(nameSchema).max(32).optional(),
  site: nameSchema.optional(),
  comment,
});
export type AllocateConstraints = z.output<typeof AllocateBody>;

/**
 * Allocates one READY machine matching the constraints in a single conditional UPDATE
 * (D1 runs each statement atomically), so concurrent callers never get the same machine.
 * The event is written in the same batch, keyed by a nonce. Returns the system_id or null.
 */
export async function allocate(db: D1Database, caller: Caller, k: AllocateConstraints): Promise<string | null> {
  const where = ["c.status = 4", "c.locked = 0"];
  const args: (string | number)[] = [];
  const add = (sql: string, ...a: (string | number)[]) => {
    where.push(sql);
    args.push(...a);
  };
  // Only sites where the caller may allocate.
  if (!caller.bindings.some((b) => b.siteId === null && can(caller, "machine.lifecycle", null))) {
    const sites = caller.bindings.filter((b) => b.siteId !== null && can(caller, "machine.lifecycle", b.siteId)).map((b) => b.siteId!);
    add("c.site_id IN (SELECT value FROM json_each(?))", JSON.stringify(sites));
  }
  if (k.system_id) add("c.system_id = ?", k.system_id);
  if (k.hostname) add("c.hostname = ?", k.hostname);
  if (k.arch) add("(c.architecture = ? OR c.architecture LIKE ? ESCAPE '\\')", k.arch, `${k.arch.replace(/[\\%_]/g, (x) => `\\${x}`)}/%`);
  if (k.cpu_count) add("c.cpu_count >= ?", k.cpu_count);
  if (k.mem) add("c.memory >= ?", k.mem);
  if (k.storage) add("c.storage >= ?", k.storage);
  if (k.zone) add("c.zone_id = (SELECT id FROM zones WHERE name = ?)", k.zone);
  if (k.pool) add("c.pool_id = (SELECT id FROM resource_pools WHERE name = ?)", k.pool);
  if (k.site) add("c.site_id = (SELECT id FROM sites WHERE name = ?)", k.site);
  if (k.not_in_zone?.length) add("c.zone_id NOT IN (SELECT id FROM zones WHERE name IN (SELECT value FROM json_each(?)))", JSON.stringify(k.not_in_zone));
  if (k.not_in_pool?.length) add("c.pool_id NOT IN (SELECT id FROM resource_pools WHERE name IN (SELECT value FROM json_each(?)))", JSON.stringify(k.not_in_pool));
  for (const t of k.tags ?? []) add("EXISTS (SELECT 1 FROM machine_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.machine_id = c.id AND t.name = ?)", t);
  for (const t of k.not_tags ?? []) add("NOT EXISTS (SELECT 1 FROM machine_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.machine_id = c.id AND t.name = ?)", t);
  if (args.length > 90) throw badRequest("too many constraints");

  const nonce = crypto.randomUUID();
  const now = Date.now();
  const [upd] = await db.batch([
    db
      .prepare(
        `UPDATE machines SET status = 10, owner_id = ?, op_nonce = ?, updated_at = ?, previous_status = NULL, status_expires = NULL, status_message = ?
         WHERE id = (SELECT c.id FROM machines c WHERE ${where.join(" AND ")} ORDER BY c.id LIMIT 1) AND status = 4 AND locked = 0
         RETURNING system_id`,
      )
      .bind(caller.userId, nonce, now, k.comment ?? "", ...args),
    db
      .prepare(
        `INSERT INTO events (machine_id, system_id, hostname, site_id, type, level, actor, from_status, to_status, description, created_at)
         SELECT id, system_id, hostname, site_id, 'machine.allocate', 'INFO', ?, 4, status, ?, ? FROM machines WHERE op_nonce = ?`,
      )
      .bind(caller.username, k.comment ? `allocate: ${k.comment}` : "allocate", now, nonce),
  ]);
  const row = upd?.results?.[0] as { system_id: string } | undefined;
  return row?.system_id ?? null;
}

export function actionRoutes(app: Hono<AppEnv>) {
  def(app, "post", "/machines/allocate", { summary: "Allocate a READY machine matching constraints (atomic)", tag: "machines", body: AllocateBody, roles: "operator, admin" }, async (c) => {
    const k = await readJson(c, AllocateBody);
    const caller = c.get("caller");
    if (!caller.bindings.some((b) => can(caller, "machine.lifecycle", b.siteId))) throw forbidden("your role does not allow allocating machines");
    const systemId = await allocate(c.env.DB, caller, k);
    if (!systemId) throw new ApiError(409, "no_match", "no READY machine matches these constraints", { constraints: k });
    return machineResponse(c, systemId);
  });

  for (const action of Object.keys(ACTION_BODIES) as BodyAction[]) {
    const body = ACTION_BODIES[action];
    def(app, "post", `/machines/:id/${action}`, { summary: `Machine action: ${action.replaceAll("_", " ")}`, tag: "machine actions", body, roles: PERMISSION[action] === "machine.mark" ? "remote-hands, operator, admin" : "operator, admin" }, async (c) => {
      const m = await loadMachine(c, PERMISSION[action]);
      const input = await readJson(c, body);
      await runAction(c, m, action, input as Record<string, unknown>);
      return machineResponse(c, m.systemId);
    });
  }

  // Allocating one named machine is allocate with a system_id constraint.
  def(app, "post", "/machines/:id/allocate", { summary: "Machine action: allocate this machine", tag: "machine actions", body: Plain, roles: "operator, admin" }, async (c) => {
    const m = await loadMachine(c, "machine.lifecycle");
    const input = await readJson(c, Plain);
    const systemId = await allocate(c.env.DB, c.get("caller"), { system_id: m.systemId, comment: input.comment });
    if (!systemId) {
      throw illegal({ ...m, locked: !!m.locked }, m.locked ? "the machine is locked" : "only a Ready machine can be allocated");
    }
    return machineResponse(c, systemId);
  });

}
