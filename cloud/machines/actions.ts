// Lifecycle actions (POST /machines/:id/:action) and allocation with constraints.
import type { Hono } from "hono";
import { z } from "zod";
import type { UserAction } from "../../shared/lifecycle";
import { ACTION_PERMISSION } from "../../shared/roles";
import { can } from "../auth/roles";
import type { AppEnv } from "../http/context";
import { ApiError, forbidden } from "../http/errors";
import { def } from "../http/openapi";
import { hostnameSchema, nameSchema, readJson, systemIdSchema } from "../http/validate";
import { runAction } from "../domain/machines/actions";
import { allocate, allocateThenRead } from "../domain/machines/allocate";
import { illegal } from "../domain/machines/transition";
import { loadMachine, requireOwnerOrAdmin } from "./load";
import { machineAnswer, machineAnswerReads, machineResponse } from "./routes";

const comment = z.string().max(4096).optional();
const Plain = z.strictObject({ comment });

const ACTION_BODIES = {
  commission: z.strictObject({
    comment,
    skip_bmc_config: z.boolean().optional(),
    skip_networking: z.boolean().optional(),
    skip_storage: z.boolean().optional(),
  }),
  abort: Plain,
  deploy: z.strictObject({
    comment,
    osystem: z
      .string()
      .max(64)
      .regex(/^[a-z0-9._-]*$/)
      .optional(),
    distro_series: z
      .string()
      .max(64)
      .regex(/^[a-z0-9._-]*$/)
      .optional(),
    hwe_kernel: z.string().max(64).optional(),
    /** base64 cloud-init user data, as MAAS takes it. */
    user_data: z
      .base64()
      .max(64 * 1024)
      .optional(),
  }),
  release: z.strictObject({
    comment,
    erase: z.boolean().optional(),
    quick_erase: z.boolean().optional(),
    secure_erase: z.boolean().optional(),
    force: z.boolean().optional(),
  }),
  mark_broken: Plain,
  mark_fixed: Plain,
  rescue_mode: Plain,
  exit_rescue_mode: Plain,
  lock: Plain,
  unlock: Plain,
} satisfies Partial<Record<UserAction, z.ZodType>>;
type BodyAction = keyof typeof ACTION_BODIES;

export const AllocateBody = z.strictObject({
  system_id: systemIdSchema.optional(),
  hostname: hostnameSchema.optional(),
  arch: z.string().max(64).optional(),
  cpu_count: z.number().int().min(0).max(100_000).optional(),
  mem: z
    .number()
    .int()
    .min(0)
    .max(1 << 30)
    .optional(),
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

export function actionRoutes(app: Hono<AppEnv>) {
  def(
    app,
    "post",
    "/machines/allocate",
    { summary: "Allocate a READY machine matching constraints (atomic)", tag: "machines", body: AllocateBody, roles: "operator, admin" },
    async (c) => {
      const k = await readJson(c, AllocateBody);
      const caller = c.get("caller");
      if (!caller.bindings.some((b) => can(caller, "machine.lifecycle", b.siteId))) throw forbidden("your role does not allow allocating machines");
      // The answer's reads ride in the allocation's batch: two D1 round trips in all, with the key's.
      const { systemId, results } = await allocateThenRead(c.env.DB, caller, k, (where, nonce) => machineAnswerReads(c.env.DB, where, nonce));
      if (!systemId) throw new ApiError(409, "no_match", "no READY machine matches these constraints", { constraints: k });
      const answer = machineAnswer(results);
      if (!answer) throw new Error(`allocated ${systemId}, yet the reads in its own batch found no machine`);
      return c.json(answer);
    },
  );

  for (const action of Object.keys(ACTION_BODIES) as BodyAction[]) {
    const body = ACTION_BODIES[action];
    def(
      app,
      "post",
      `/machines/:id/${action}`,
      {
        summary: `Machine action: ${action.replaceAll("_", " ")}`,
        tag: "machine actions",
        body,
        roles: ACTION_PERMISSION[action] === "machine.mark" ? "remote-hands, operator, admin" : "operator, admin",
      },
      async (c) => {
        const m = await loadMachine(c, ACTION_PERMISSION[action]);
        const input = await readJson(c, body);
        if (action === "deploy" || action === "release") requireOwnerOrAdmin(c.get("caller"), m);
        const done = await runAction(c.env, c.get("caller"), m, action, input);
        return machineResponse(c, m.systemId, 200, done.warnings);
      },
    );
  }

  // Allocating one named machine is allocate with a system_id constraint.
  def(
    app,
    "post",
    "/machines/:id/allocate",
    { summary: "Machine action: allocate this machine", tag: "machine actions", body: Plain, roles: "operator, admin" },
    async (c) => {
      const m = await loadMachine(c, "machine.lifecycle");
      const input = await readJson(c, Plain);
      const systemId = await allocate(c.env.DB, c.get("caller"), { system_id: m.systemId, comment: input.comment });
      if (!systemId) {
        throw illegal({ ...m, locked: !!m.locked }, m.locked ? "the machine is locked" : "only a Ready machine can be allocated");
      }
      return machineResponse(c, systemId);
    },
  );
}
