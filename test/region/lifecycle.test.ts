// Every status × every user action through the real API: legal ones land where the table
// says (and write their event), illegal ones are 409 with the status and the allowed actions.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ApiError } from "../../cloud/http/errors";
import { applyAction } from "../../cloud/domain/machines/transition";
import { ALL_STATUSES, decide, INTERNAL_ACTIONS, type InternalAction, NODE_STATUS as S, STATUS_NAME, type Status, USER_ACTIONS } from "../../shared/lifecycle";
import { call, deployableImage, makeMachine, makeUser, statusOf } from "./helpers";

let admin: string;
beforeAll(async () => {
  await deployableImage("ubuntu", "noble");
  admin = await makeUser("admin", [["admin", null]]);
});

function request(action: string, id: string) {
  if (action === "delete") return ["DELETE", `/machines/${id}`] as const;
  return ["POST", `/machines/${id}/${action}`] as const;
}

describe.each(ALL_STATUSES.map((s) => [STATUS_NAME[s], s] as const))("from %s", (_name, status) => {
  it.each(USER_ACTIONS.map((a) => [a]))("%s", async (action) => {
    const id = await makeMachine({ status, previousStatus: status === S.RESCUE_MODE ? S.DEPLOYED : null });
    const [method, path] = request(action, id);
    const r = await call(admin, method, path, method === "POST" ? {} : undefined);
    const d = decide({ status: status as Status, previousStatus: status === S.RESCUE_MODE ? S.DEPLOYED : null, locked: false }, action);
    if (!d.ok) {
      expect(r.status, r.text).toBe(409);
      expect(r.json.error.code).toBe("illegal_transition");
      expect(r.json.error.details.status).toBe(status);
      expect(r.json.error.details.allowed_actions).not.toContain(action);
      expect(await statusOf(id)).toBe(status);
      return;
    }
    if (action === "delete") {
      expect(r.status).toBe(204);
      expect(await env.DB.prepare("SELECT 1 FROM machines WHERE system_id = ?").bind(id).first()).toBeNull();
    } else {
      expect(r.status, r.text).toBe(200);
      // Manual-power releases and rescue exits complete at once: RELEASING then READY,
      // EXITING_RESCUE_MODE then where the machine was.
      const exited = decide({ status: d.to, previousStatus: d.previousStatus, locked: false }, "rescue_exited");
      const expected = action === "release" && d.to === S.RELEASING ? S.READY : action === "exit_rescue_mode" && exited.ok ? exited.to : d.to;
      expect(r.json.status).toBe(expected);
    }
    const ev = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE system_id = ? AND type = ?").bind(id, `machine.${action}`).first<{ n: number }>();
    expect(ev!.n).toBe(1);
  });
});

describe("the table itself follows MAAS", () => {
  const cases: [Status, string, Status][] = [
    [S.NEW, "commission", S.COMMISSIONING],
    [S.READY, "allocate", S.ALLOCATED],
    [S.ALLOCATED, "deploy", S.DEPLOYING],
    [S.READY, "deploy", S.DEPLOYING],
    [S.DEPLOYED, "release", S.RELEASING],
    [S.ALLOCATED, "release", S.READY],
    [S.BROKEN, "mark_fixed", S.READY],
    [S.DEPLOYED, "mark_broken", S.BROKEN],
    [S.DEPLOYING, "abort", S.ALLOCATED],
    [S.DEPLOYED, "rescue_mode", S.ENTERING_RESCUE_MODE],
    [S.RESCUE_MODE, "exit_rescue_mode", S.EXITING_RESCUE_MODE],
  ];
  it.each(cases)("%i --%s--> %i", (from, action, to) => {
    const d = decide({ status: from, previousStatus: null, locked: false }, action as never);
    expect(d.ok && d.to).toBe(to);
  });

  it("illegal: deploy a NEW machine, commission a DEPLOYED one, allocate an ALLOCATED one", () => {
    for (const [s, a] of [
      [S.NEW, "deploy"],
      [S.DEPLOYED, "commission"],
      [S.ALLOCATED, "allocate"],
    ] as const) {
      expect(decide({ status: s, previousStatus: null, locked: false }, a).ok).toBe(false);
    }
  });

  it("rescue is a round trip back to where the machine was", () => {
    let m = { status: S.DEPLOYED as Status, previousStatus: null as Status | null, locked: false };
    for (const a of ["rescue_mode", "rescue_entered", "exit_rescue_mode", "rescue_exited"] as const) {
      const d = decide(m, a);
      if (!d.ok) throw new Error(d.reason);
      m = { status: d.to, previousStatus: d.previousStatus, locked: d.locked };
    }
    expect(m.status).toBe(S.DEPLOYED);
  });

  it("internal transitions: commissioning done, deployed, released", () => {
    expect(decide({ status: S.COMMISSIONING, previousStatus: S.NEW, locked: false }, "commissioning_done")).toMatchObject({ ok: true, to: S.READY });
    expect(decide({ status: S.DEPLOYING, previousStatus: S.ALLOCATED, locked: false }, "deployed")).toMatchObject({ ok: true, to: S.DEPLOYED });
    expect(decide({ status: S.RELEASING, previousStatus: S.DEPLOYED, locked: false }, "released")).toMatchObject({ ok: true, to: S.READY });
    expect(decide({ status: S.READY, previousStatus: null, locked: false }, "deployed").ok).toBe(false);
  });
});

describe("locked machines", () => {
  it.each(USER_ACTIONS.map((a) => [a]))("%s on a locked DEPLOYED machine", async (action) => {
    const id = await makeMachine({ status: S.DEPLOYED, locked: true });
    const [method, path] = request(action, id);
    const r = await call(admin, method, path, method === "POST" ? {} : undefined);
    if (action === "unlock" || action === "mark_broken") {
      expect(r.status, r.text).toBe(200);
      expect(r.json.locked).toBe(action !== "unlock");
    } else {
      expect(r.status, r.text).toBe(409);
      expect(r.json.error.details.locked).toBe(true);
    }
  });
});

describe("events", () => {
  it("every transition writes actor, from, to and reason; the log is append-only", async () => {
    const id = await makeMachine({ status: S.READY });
    const r = await call(admin, "POST", `/machines/${id}/mark_broken`, { comment: "fan noise" });
    expect(r.status).toBe(200);
    const e = await env.DB.prepare("SELECT * FROM events WHERE system_id = ? AND type = 'machine.mark_broken'").bind(id).first<Record<string, unknown>>();
    expect(e).toMatchObject({ actor: "admin", from_status: S.READY, to_status: S.BROKEN, description: "mark_broken: fan noise" });
    await expect(env.DB.prepare("UPDATE events SET actor = 'x'").run()).rejects.toThrow(/append-only/);
    await expect(env.DB.prepare("DELETE FROM events").run()).rejects.toThrow(/append-only/);
  });
});

// The transitions the appliance and the deadline sweeper drive go through the same code path as
// the API's (applyAction: the table, then a compare-and-set UPDATE with its event in one batch).
// Every status × every internal action, against the real D1, with the expected target written
// out here rather than read back from the table.
describe("internal transitions", () => {
  const KEEP_PREVIOUS_OF: Partial<Record<Status, Status>> = {
    [S.ENTERING_RESCUE_MODE]: S.DEPLOYED,
    [S.EXITING_RESCUE_MODE]: S.DEPLOYED,
    [S.RESCUE_MODE]: S.DEPLOYED,
    [S.FAILED_ENTERING_RESCUE_MODE]: S.DEPLOYED,
    [S.FAILED_EXITING_RESCUE_MODE]: S.DEPLOYED,
    [S.COMMISSIONING]: S.NEW,
    [S.TESTING]: S.READY,
    [S.DEPLOYING]: S.ALLOCATED,
    [S.RELEASING]: S.DEPLOYED,
    [S.DISK_ERASING]: S.DEPLOYED,
  };
  /** action → (from → to). Anything not listed must be refused with 409. */
  const LEGAL: Record<InternalAction, Partial<Record<Status, Status>>> = {
    commissioning_done: { [S.COMMISSIONING]: S.READY, [S.TESTING]: S.READY },
    commissioning_failed: { [S.COMMISSIONING]: S.FAILED_COMMISSIONING },
    deployed: { [S.DEPLOYING]: S.DEPLOYED },
    deployment_failed: { [S.DEPLOYING]: S.FAILED_DEPLOYMENT },
    released: { [S.RELEASING]: S.READY, [S.DISK_ERASING]: S.READY },
    release_failed: { [S.RELEASING]: S.FAILED_RELEASING },
    disk_erased: { [S.DISK_ERASING]: S.READY },
    disk_erase_failed: { [S.DISK_ERASING]: S.FAILED_DISK_ERASING },
    rescue_entered: { [S.ENTERING_RESCUE_MODE]: S.RESCUE_MODE },
    rescue_failed: { [S.ENTERING_RESCUE_MODE]: S.FAILED_ENTERING_RESCUE_MODE },
    // Back to where rescue started from (DEPLOYED here).
    rescue_exited: { [S.EXITING_RESCUE_MODE]: S.DEPLOYED },
    rescue_exit_failed: { [S.EXITING_RESCUE_MODE]: S.FAILED_EXITING_RESCUE_MODE },
    timeout: {
      [S.COMMISSIONING]: S.FAILED_COMMISSIONING,
      [S.TESTING]: S.FAILED_TESTING,
      [S.DEPLOYING]: S.FAILED_DEPLOYMENT,
      [S.RELEASING]: S.FAILED_RELEASING,
      [S.DISK_ERASING]: S.FAILED_DISK_ERASING,
      [S.ENTERING_RESCUE_MODE]: S.FAILED_ENTERING_RESCUE_MODE,
      [S.EXITING_RESCUE_MODE]: S.FAILED_EXITING_RESCUE_MODE,
    },
  };
  /** Rescue remembers where it returns to; a timeout keeps it too (so the phase can be retried). */
  const KEEPS_PREVIOUS = new Set<InternalAction>(["rescue_entered", "rescue_failed", "rescue_exit_failed", "timeout"]);

  async function machineIn(status: Status, locked = false) {
    const systemId = await makeMachine({ status, previousStatus: KEEP_PREVIOUS_OF[status] ?? null, locked });
    await env.DB.prepare("UPDATE machines SET status_expires = ? WHERE system_id = ?")
      .bind(Date.now() + 60_000, systemId)
      .run();
    const row = await env.DB.prepare("SELECT id, status, previous_status AS previousStatus, power_type AS powerType FROM machines WHERE system_id = ?")
      .bind(systemId)
      .first<{ id: number; status: number; previousStatus: number | null; powerType: string }>();
    return { ...row!, systemId, locked };
  }
  const eventsOf = async (systemId: string, type: string) =>
    (await env.DB.prepare("SELECT actor, from_status, to_status, level FROM events WHERE system_id = ? AND type = ?").bind(systemId, type).all()).results;

  describe.each(ALL_STATUSES.map((s) => [STATUS_NAME[s], s] as const))("from %s", (_name, status) => {
    it.each(INTERNAL_ACTIONS.map((a) => [a]))("%s", async (action) => {
      const m = await machineIn(status);
      const to = LEGAL[action][status];
      if (to === undefined) {
        const err = await applyAction(env.DB, m, action, { actor: "rack" }).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ApiError);
        expect((err as ApiError).status).toBe(409);
        expect((err as ApiError).code).toBe("illegal_transition");
        expect(((err as ApiError).details as { status: number }).status).toBe(status);
        expect(await statusOf(m.systemId)).toBe(status);
        expect(await eventsOf(m.systemId, `machine.${action}`)).toEqual([]);
        return;
      }
      expect(await applyAction(env.DB, m, action, { actor: "rack" })).toBe(to);
      const row = await env.DB.prepare("SELECT status, previous_status, status_expires FROM machines WHERE system_id = ?").bind(m.systemId).first();
      // None of these targets is a timed phase: the deadline is gone.
      expect(row).toEqual({ status: to, previous_status: KEEPS_PREVIOUS.has(action) ? (KEEP_PREVIOUS_OF[status] ?? null) : null, status_expires: null });
      const level = action === "timeout" || action.endsWith("failed") ? "ERROR" : "INFO";
      expect(await eventsOf(m.systemId, `machine.${action}`)).toEqual([{ actor: "rack", from_status: status, to_status: to, level }]);
    });
  });

  it("a locked machine takes only the deploy outcome and timeouts", async () => {
    const takes = new Set<InternalAction>(["deployed", "deployment_failed", "timeout"]);
    for (const action of INTERNAL_ACTIONS) {
      for (const [from] of Object.entries(LEGAL[action])) {
        const m = await machineIn(Number(from) as Status, true);
        const r = await applyAction(env.DB, m, action, { actor: "rack" }).then(
          (s) => s,
          (e: ApiError) => e.status,
        );
        expect(r, `${action} from ${from} while locked`).toBe(takes.has(action) ? LEGAL[action][Number(from) as Status] : 409);
      }
    }
  });

  it("a transition applied to a stale read changes nothing (compare-and-set)", async () => {
    const m = await machineIn(S.DEPLOYING);
    expect(await applyAction(env.DB, m, "deployed", { actor: "rack" })).toBe(S.DEPLOYED);
    // The same report again, from the state read before the first one landed.
    const err = await applyAction(env.DB, m, "deployment_failed", { actor: "rack" }).catch((e: ApiError) => e);
    expect((err as ApiError).status).toBe(409);
    expect(await statusOf(m.systemId)).toBe(S.DEPLOYED);
    expect(await eventsOf(m.systemId, "machine.deployment_failed")).toEqual([]);
  });
});
