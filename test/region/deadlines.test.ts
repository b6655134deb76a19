// Long phases fail when their deadline passes: the Cron Trigger runs with a scheduled time
// we choose, so time is advanced without waiting.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../cloud/index";
import { beforeAll, expect, it } from "vitest";
import { NODE_STATUS as S, PHASE_DEADLINES, type Status } from "../../shared/lifecycle";
import { call, makeMachine, makeUser, statusOf } from "./helpers";

let admin: string;
beforeAll(async () => {
  admin = await makeUser("admin", [["admin", null]]);
});

async function cron(at: number) {
  // The Worker's own scheduled handler, as the Cron Trigger calls it, at a time we choose.
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: at, cron: "* * * * *" }), env as never, ctx);
  await waitOnExecutionContext(ctx);
}

const phases: [string, Status, string, Record<string, unknown>][] = [
  ["commissioning", S.NEW, "commission", {}],
  ["deploying", S.ALLOCATED, "deploy", {}],
  ["disk erasing", S.DEPLOYED, "release", { erase: true }],
  ["entering rescue", S.DEPLOYED, "rescue_mode", {}],
];

it.each(phases)("%s fails after its deadline, not before", async (_name, from, action, body) => {
  const id = await makeMachine({ status: from, powerType: "ipmi", powerParams: { power_address: "127.0.0.1" } });
  const r = await call(admin, "POST", `/machines/${id}/${action}`, body);
  expect(r.status, r.text).toBe(200);
  const phase = r.json.status as Status;
  const d = PHASE_DEADLINES[phase]!;
  expect(r.json.status_expires).toBeGreaterThan(Date.now());
  const started = Date.now();

  await cron(started + (d.minutes - 1) * 60_000);
  expect(await statusOf(id)).toBe(phase);

  await cron(started + (d.minutes + 1) * 60_000);
  expect(await statusOf(id)).toBe(d.fail);
  const ev = await env.DB.prepare("SELECT actor, from_status, to_status, level FROM events WHERE system_id = ? AND type = 'machine.timeout'").bind(id).first();
  expect(ev).toEqual({ actor: "region", from_status: phase, to_status: d.fail, level: "ERROR" });
});

it("releasing (a machine with a real BMC) fails after five minutes", async () => {
  const id = await makeMachine({ status: S.DEPLOYED, powerType: "ipmi", powerParams: { power_address: "127.0.0.1" } });
  expect((await call(admin, "POST", `/machines/${id}/release`, {})).json.status).toBe(S.RELEASING);
  await cron(Date.now() + 6 * 60_000);
  expect(await statusOf(id)).toBe(S.FAILED_RELEASING);
});

it("a finished phase clears its deadline", async () => {
  const id = await makeMachine({ status: S.DEPLOYED });
  const r = await call(admin, "POST", `/machines/${id}/mark_broken`, {});
  expect(r.json.status_expires).toBeNull();
  await cron(Date.now() + 24 * 3600_000);
  expect(await statusOf(id)).toBe(S.BROKEN);
});
