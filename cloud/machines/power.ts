// Power actions go to the site's rack appliance; the manual driver asks a human instead.
// The admin-only reveal of BMC parameters is audited (MAAS's op=power_parameters).
import type { Hono } from "hono";
import { z } from "zod";
import { isGlobalAdmin } from "../auth/roles";
import { decryptJson } from "../auth/secrets";
import type { AppEnv } from "../http/context";
import { forbidden } from "../http/errors";
import { def } from "../http/openapi";
import { intParam, readJson } from "../http/validate";
import { recordEvent } from "../domain/events";
import { dispatchRackCommand, type RackCommandType } from "../domain/racks/commands";
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
    def(app, "post", `/machines/:id/${action}`, { summary: `Power: ${spec.verb}`, tag: "power", body: spec.body, roles: "remote-hands, operator, admin", status: 202 }, async (c) => {
      const m = await loadMachine(c, "machine.power");
      const params = (await readJson(c, spec.body)) as Record<string, unknown>;
      const caller = c.get("caller");
      const base = { machineId: m.id, systemId: m.systemId, hostname: m.hostname, siteId: m.siteId, actor: caller.username, status: m.status };
      if (m.powerType === "manual") {
        await recordEvent(c.env.DB, { ...base, type: `power.${action}`, level: "WARNING", description: `${spec.verb} requested: the power driver is manual, someone on site must do it` });
        return c.json({ command_id: null, manual: true, message: `manual power driver: ask someone on site to ${spec.verb} ${m.hostname}` }, 202);
      }
      await recordEvent(c.env.DB, { ...base, type: `power.${action}`, description: `${spec.verb} requested` });
      // A query waits briefly for its answer; actions answer at once with the command id.
      const sent = await dispatchRackCommand(c.env, m, spec.type, params, { actor: caller.username, waitMs: spec.type === "power.query" ? QUERY_WAIT_MS : 0 });
      const result = sent.result ? (sent.result.state === "expired" ? { ok: false, error: { code: "expired", message: "no result by the deadline" } } : sent.result.state === "done" ? { ok: true, data: sent.result.data ?? {} } : { ok: false, error: sent.result.error }) : undefined;
      return c.json({ command_id: sent.commandId, rack_id: sent.rackId, state: sent.state, ...(result ? { result } : {}) }, 202);
    });
  }

  // The cron trigger runs the poller every minute; this runs it now (after a site outage, or
  // where no scheduler fires, as under `wrangler dev`). Only machines whose slot came are asked.
  def(app, "post", "/power/poll", { summary: "Run the power-state poller now (global admin)", tag: "power", body: z.strictObject({}), roles: "admin (every site)" }, async (c) => {
    if (!isGlobalAdmin(c.get("caller"))) throw forbidden("running the power poller needs a global admin");
    await readJson(c, z.strictObject({}));
    const run = await pollPower(c.env, Date.now(), pollSettings(c.env));
    return c.json({ due: run.due, sent: run.sent, skipped: run.skipped, commands: run.commands.map((x) => ({ command_id: x.id, rack_id: x.rackId, machines: x.machines })) });
  });

  def(app, "get", "/machines/:id/power-parameters", { summary: "Reveal BMC parameters (admin only, audited)", tag: "power", roles: "admin" }, async (c) => {
    const m = await loadMachine(c, "machine.secrets");
    const row = await c.env.DB.prepare("SELECT power_params_enc AS enc FROM machines WHERE id = ?").bind(m.id).first<{ enc: string | null }>();
    const params = row?.enc ? await decryptJson(c.env.PLINTH_SECRET_KEY, row.enc, m.systemId) : {};
    await recordEvent(c.env.DB, { machineId: m.id, systemId: m.systemId, hostname: m.hostname, siteId: m.siteId, type: "machine.power_parameters_revealed", level: "AUDIT", actor: c.get("caller").username, description: "BMC parameters revealed", status: m.status });
    return c.json({ power_type: m.powerType, power_parameters: params });
  });
}
