// Long phases fail when their deadline passes: the Cron Trigger runs with a scheduled time
// we choose, so time is advanced without waiting.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../cloud/index";
import { beforeAll, expect, it } from "vitest";
import { NODE_STATUS as S, PHASE_DEADLINES, type Status } from "../../shared/lifecycle";
import { call, deployableImage, makeMachine, makeUser, statusOf } from "./helpers";

let admin: string;
beforeAll(async () => {
  await deployableImage("ubuntu", "noble");
  admin = await makeUser("admin", [["admin", null]]);
});

async function cron(at: number) {
  // The Worker's own scheduled handler, as the Cron Trigger calls it, at a time we choose.
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: at, cron: "* * * * *" }), env as never, ctx);
  await waitOnExecutionContext(ctx);
}

/** [name, status before, action that starts the phase, its body, previous status before]. */
const phases: [string, Status, string, Record<string, unknown>, Status | null][] = [
  ["commissioning", S.NEW, "commission", {}, null],
  ["deploying", S.ALLOCATED, "deploy", {}, null],
  ["disk erasing", S.DEPLOYED, "release", { erase: true }, null],
  ["entering rescue", S.DEPLOYED, "rescue_mode", {}, null],
  ["exiting rescue", S.RESCUE_MODE, "exit_rescue_mode", {}, S.DEPLOYED],
];

it.each(phases)("%s fails after its deadline, not before", async (_name, from, action, body, previousStatus) => {
  const id = await makeMachine({ status: from, previousStatus, powerType: "ipmi", powerParams: { power_address: "127.0.0.1" } });
  const before = Date.now();
  const r = await call(admin, "POST", `/machines/${id}/${action}`, body);
  expect(r.status, r.text).toBe(200);
  const phase = r.json.status as Status;
  const d = PHASE_DEADLINES[phase]!;
  expect(d, `${phase} has a deadline`).toBeDefined();
  // The deadline is the phase's length from when it started.
  expect(r.json.status_expires).toBeGreaterThanOrEqual(before + d.minutes * 60_000);
  expect(r.json.status_expires).toBeLessThanOrEqual(Date.now() + d.minutes * 60_000);
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

it("testing fails after its deadline, not before", async () => {
  // No user action enters TESTING yet (MAAS runs tests after commissioning): the machine is put
  // there as the phase would leave it, with its deadline from now.
  const d = PHASE_DEADLINES[S.TESTING]!;
  const started = Date.now();
  const id = await makeMachine({ status: S.TESTING, previousStatus: S.READY });
  await env.DB.prepare("UPDATE machines SET status_expires = ? WHERE system_id = ?")
    .bind(started + d.minutes * 60_000, id)
    .run();
  await cron(started + (d.minutes - 1) * 60_000);
  expect(await statusOf(id)).toBe(S.TESTING);
  await cron(started + (d.minutes + 1) * 60_000);
  expect(await statusOf(id)).toBe(S.FAILED_TESTING);
  expect(d.fail).toBe(S.FAILED_TESTING);
  const ev = await env.DB.prepare("SELECT actor, from_status, to_status, level FROM events WHERE system_id = ? AND type = 'machine.timeout'").bind(id).first();
  expect(ev).toEqual({ actor: "region", from_status: S.TESTING, to_status: S.FAILED_TESTING, level: "ERROR" });
});

it("a machine that failed to exit rescue still knows where it returns to", async () => {
  const id = await makeMachine({ status: S.RESCUE_MODE, previousStatus: S.DEPLOYED, powerType: "ipmi", powerParams: { power_address: "127.0.0.1" } });
  expect((await call(admin, "POST", `/machines/${id}/exit_rescue_mode`, {})).json.status).toBe(S.EXITING_RESCUE_MODE);
  await cron(Date.now() + 21 * 60_000);
  const row = await env.DB.prepare("SELECT status, previous_status, status_expires FROM machines WHERE system_id = ?").bind(id).first();
  expect(row).toEqual({ status: S.FAILED_EXITING_RESCUE_MODE, previous_status: S.DEPLOYED, status_expires: null });
});

it("every phase with a deadline is tested here", () => {
  const tested = new Set<Status>([S.TESTING, S.RELEASING, S.COMMISSIONING, S.DEPLOYING, S.DISK_ERASING, S.ENTERING_RESCUE_MODE, S.EXITING_RESCUE_MODE]);
  expect(
    Object.keys(PHASE_DEADLINES)
      .map(Number)
      .sort((a, b) => a - b),
  ).toEqual([...tested].sort((a, b) => a - b));
});
