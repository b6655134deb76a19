// Every status × every user action through the real API: legal ones land where the table
// says (and write their event), illegal ones are 409 with the status and the allowed actions.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ALL_STATUSES, decide, NODE_STATUS as S, STATUS_NAME, type Status, USER_ACTIONS } from "../../shared/lifecycle";
import { call, makeMachine, makeUser, statusOf } from "./helpers";

let admin: string;
beforeAll(async () => {
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
      // Manual-power releases complete at once: RELEASING then READY.
      const expected = action === "release" && d.to === S.RELEASING ? S.READY : d.to;
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
    for (const [s, a] of [[S.NEW, "deploy"], [S.DEPLOYED, "commission"], [S.ALLOCATED, "allocate"]] as const) {
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
