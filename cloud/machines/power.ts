// Power actions go to the site's rack appliance; the manual driver asks a human instead.
// The admin-only reveal of BMC parameters is audited (MAAS's op=power_parameters).
import type { Hono } from "hono";
import { z } from "zod";
import { ACTION_PERMISSION, type PowerAction } from "../../shared/roles";
import { isGlobalAdmin } from "../auth/roles";
import type { AppEnv } from "../http/context";
import { forbidden } from "../http/errors";
import { def } from "../http/openapi";
import { intParam, readJson } from "../http/validate";
import { requestPower } from "../domain/machines/power";
import { revealPowerParams } from "../domain/machines/power-params";
import type { RackCommandType } from "../domain/racks/commands";
import { loadMachine } from "./load";
import { pollPower, pollSettings } from "../domain/machines/power-poll";

const QUERY_WAIT_MS = 5000;

const POWER_ACTIONS: Record<string, { type: RackCommandType; body: z.ZodType; verb: string }> = {
  power_on: { type: "power.on", body: z.strictObject({ comment: z.string().max(4096).optional() }), verb: "power on" },
  power_off: { type: "power.off", body: z.strictObject({ comment: z.string().max(4096).optional(), soft: z.boolean().optional() }), verb: "power off" },
  power_cycle: { type: "power.cycle", body: z.strictObject({ comment: z.string().max(4096).optional() }), verb: "power cycle" },
  query_power_state: { type: "power.query", body: z.strictObject({}), verb: "query power state" },
  identify: { type: "bmc.identify", body: z.strictObject({ seconds: intParam(0, 255).optional(), force: z.boolean().optional() }), verb: "identify (blink)" },
};

export function powerRoutes(app: Hono<AppEnv>) {
  for (const [action, spec] of Object.entries(POWER_ACTIONS)) {
    def(
      app,
      "post",
      `/machines/:id/${action}`,
      { summary: `Power: ${spec.verb}`, tag: "power", body: spec.body, roles: "remote-hands, operator, admin", status: 202 },
      async (c) => {
        const m = await loadMachine(c, ACTION_PERMISSION[action as PowerAction]);
        const params = (await readJson(c, spec.body)) as Record<string, unknown>;
        // A query waits briefly for its answer; actions answer at once with the command id.
        const sent = await requestPower(c.env, c.get("caller").username, m, {
          command: spec.type,
          action,
          verb: spec.verb,
          params,
          waitMs: spec.type === "power.query" ? QUERY_WAIT_MS : 0,
        });
        if (!sent) return c.json({ command_id: null, manual: true, message: `manual power driver: ask someone on site to ${spec.verb} ${m.hostname}` }, 202);
        const result = sent.result
          ? sent.result.state === "expired"
            ? { ok: false, error: { code: "expired", message: "no result by the deadline" } }
            : sent.result.state === "done"
              ? { ok: true, data: sent.result.data ?? {} }
              : { ok: false, error: sent.result.error }
          : undefined;
        return c.json({ command_id: sent.commandId, rack_id: sent.rackId, state: sent.state, ...(result ? { result } : {}) }, 202);
      },
    );
  }

  // The cron trigger runs the poller every minute; this runs it now (after a site outage, or
  // where no scheduler fires, as under `wrangler dev`). Only machines whose slot came are asked.
  def(
    app,
    "post",
    "/power/poll",
    { summary: "Run the power-state poller now (global admin)", tag: "power", body: z.strictObject({}), roles: "admin (every site)" },
    async (c) => {
      if (!isGlobalAdmin(c.get("caller"))) throw forbidden("running the power poller needs a global admin");
      await readJson(c, z.strictObject({}));
      const run = await pollPower(c.env, Date.now(), pollSettings(c.env));
      return c.json({
        due: run.due,
        sent: run.sent,
        skipped: run.skipped,
        commands: run.commands.map((x) => ({ command_id: x.id, rack_id: x.rackId, machines: x.machines })),
      });
    },
  );

  def(app, "get", "/machines/:id/power-parameters", { summary: "Reveal BMC parameters (admin only, audited)", tag: "power", roles: "admin" }, async (c) => {
    const m = await loadMachine(c, "machine.secrets");
    const params = await revealPowerParams(c.env.DB, c.env.PLINTH_SECRET_KEY, m, c.get("caller").username);
    return c.json({ power_type: m.powerType, power_parameters: params });
  });
}
