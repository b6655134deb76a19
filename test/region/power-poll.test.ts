// The periodic power poll in workerd with real D1 and a rack on a real WebSocket: which machines
// come due, how they are spread over the interval, the per-run bound, and how an answer lands
// (state, last check, an event for a change made outside Plinth, none for Plinth's own).
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Env } from "../../cloud/env";
import { nextPollAt, pollPhase, pollPower } from "../../cloud/domain/machines/power-poll";
import { call, makeMachine, makeUser } from "./helpers";
import { connect, enrolRack, type Inbox } from "./tunnel-helpers";

const regionEnv = env as unknown as Env;
const I = 300_000;
const ipmi = { power_address: "10.9.0.1", power_user: "u", power_pass: "p" };
const CAPS = ["power", "events", "config", "power.poll"];
let admin: string;

beforeEach(async () => {
  admin ??= await makeUser("poll-admin", [["admin", null]]);
  // Storage is shared within the file: each test starts with nobody due.
  await env.DB.prepare("UPDATE machines SET power_poll_due_at = 9000000000000").run();
});

async function idOf(sys: string): Promise<number> {
  return (await env.DB.prepare("SELECT id FROM machines WHERE system_id = ?").bind(sys).first<{ id: number }>())!.id;
}

async function polls(rack: Inbox, n: number): Promise<any[]> {
  const out: any[] = [];
  for (let i = 0; i < n; i++) out.push(await rack.next((m) => m.t === "command" && m.type === "power.poll"));
  return out;
}

describe("power poll", () => {
  it("sends due BMC machines to their site's rack in batches, skips manual ones, bounds a run, spreads slots by id", async () => {
    const { rackId, credential } = await enrolRack(admin, "poll-a", "rack-poll-a");
    const rack = await connect(rackId, credential, { capabilities: CAPS });
    const bmc: string[] = [];
    for (let i = 0; i < 30; i++) bmc.push(await makeMachine({ site: "poll-a", powerType: "ipmi", powerParams: ipmi }));
    const manual = [await makeMachine({ site: "poll-a" }), await makeMachine({ site: "poll-a" })];
    // New machines are due at once (power_poll_due_at defaults to 0).
    const now = Date.now();

    const r1 = await pollPower(regionEnv, now, { intervalMs: I, maxPerRun: 10, batchSize: 4 });
    expect(r1).toMatchObject({ due: 10, sent: 10, skipped: 0 });
    expect(r1.commands.map((c) => c.machines).sort()).toEqual([2, 4, 4]);
    const first = await polls(rack, 3);
    const firstIds = first.flatMap((c) => c.params.machines.map((m: { system_id: string }) => m.system_id));
    expect(firstIds).toHaveLength(10);
    expect(first[0].params.machines[0]).toMatchObject({ power_type: "ipmi", power_parameters: ipmi });
    for (const m of manual) expect(firstIds).not.toContain(m);

    // The rest come in the next run at the same time; the first ten are not asked again.
    const r2 = await pollPower(regionEnv, now, { intervalMs: I, maxPerRun: 100, batchSize: 100 });
    expect(r2).toMatchObject({ due: 20, sent: 20 });
    const second = (await polls(rack, 1))[0].params.machines.map((m: { system_id: string }) => m.system_id);
    expect(second.filter((s: string) => firstIds.includes(s))).toEqual([]);
    expect(new Set([...firstIds, ...second])).toEqual(new Set(bmc));
    expect((await pollPower(regionEnv, now, { intervalMs: I, maxPerRun: 100, batchSize: 100 })).due).toBe(0);

    // Each machine's next slot is its hash's place in the interval: the same in SQL and JS,
    // within the next interval, and spread (30 machines fall in at least 4 of 5 minutes).
    const slots: number[] = [];
    for (const s of bmc) {
      const id = await idOf(s);
      const row = await env.DB.prepare("SELECT power_poll_due_at AS d FROM machines WHERE id = ?").bind(id).first<{ d: number }>();
      expect(row!.d).toBe(nextPollAt(id, now, I));
      expect(row!.d).toBeGreaterThan(now);
      expect(row!.d).toBeLessThanOrEqual(now + I);
      expect((row!.d - pollPhase(id, I)) % I).toBe(0);
      slots.push(row!.d);
    }
    expect(new Set(slots.map((d) => Math.floor((d - now) / 60_000))).size).toBeGreaterThanOrEqual(4);
    const pending = await call(admin, "GET", `/racks/${rackId}/commands/${r1.commands[0]!.id}`);
    expect(pending.json).toMatchObject({ type: "power.poll", state: "pending", actor: "region:power-poll" });

    // One minute later only the machines whose slot fell in that minute are due.
    const later = now + 60_000;
    const r3 = await pollPower(regionEnv, later, { intervalMs: I, maxPerRun: 100, batchSize: 100 });
    expect(r3.due).toBe(slots.filter((d) => d <= later).length);
    // An interval after the last run every one of them is due again.
    expect((await pollPower(regionEnv, later + I, { intervalMs: I, maxPerRun: 100, batchSize: 100 })).due).toBe(30);
    rack.ws.close(1000);
  });

  it("skips machines whose site has no connected rack that polls, and moves them to their next slot", async () => {
    const { rackId, credential } = await enrolRack(admin, "poll-old", "rack-old");
    // An appliance that does not announce power.poll is never sent one.
    const rack = await connect(rackId, credential, { capabilities: ["power"] });
    const a = await makeMachine({ site: "poll-old", powerType: "ipmi", powerParams: ipmi });
    const b = await makeMachine({ site: "poll-no-rack", powerType: "redfish", powerParams: { power_address: "10.9.0.2" } });
    const now = Date.now();
    const r = await pollPower(regionEnv, now, { intervalMs: I, maxPerRun: 100, batchSize: 100 });
    expect(r).toMatchObject({ due: 2, sent: 0, skipped: 2, commands: [] });
    for (const s of [a, b]) {
      const row = await env.DB.prepare("SELECT power_poll_due_at AS d FROM machines WHERE system_id = ?").bind(s).first<{ d: number }>();
      expect(row!.d).toBe(nextPollAt(await idOf(s), now, I));
    }
    expect((await pollPower(regionEnv, now, { intervalMs: I, maxPerRun: 100, batchSize: 100 })).due).toBe(0);
    // Polling off: nothing is read.
    expect((await pollPower(regionEnv, now + 10 * I, { intervalMs: 0, maxPerRun: 100, batchSize: 100 })).due).toBe(0);
    rack.ws.close(1000);
  });

  it("lands answers: state and last check on each machine; an outside change is a WARNING event, Plinth's own is not", async () => {
    const { rackId, credential } = await enrolRack(admin, "poll-b", "rack-poll-b");
    const rack = await connect(rackId, credential, { capabilities: CAPS });
    const outside = await makeMachine({ site: "poll-b", powerType: "ipmi", powerParams: ipmi });
    const same = await makeMachine({ site: "poll-b", powerType: "ipmi", powerParams: ipmi });
    const ours = await makeMachine({ site: "poll-b", powerType: "ipmi", powerParams: ipmi });
    const broken = await makeMachine({ site: "poll-b", powerType: "ipmi", powerParams: ipmi });
    const newer = await makeMachine({ site: "poll-b", powerType: "ipmi", powerParams: ipmi });
    const t0 = Date.now() - 3_600_000;
    await env.DB.prepare("UPDATE machines SET power_state = 'on', power_checked_at = ? WHERE system_id IN (?, ?, ?, ?)")
      .bind(t0, outside, ours, broken, newer)
      .run();
    await env.DB.prepare("UPDATE machines SET power_state = 'off', power_checked_at = ? WHERE system_id = ?").bind(t0, same).run();
    // Plinth powered `ours` off since its last check (a finished power.off command).
    await env.DB.prepare(
      "INSERT INTO rack_commands (id, rack_id, machine_id, type, state, actor, deadline, created_at, completed_at) VALUES ('c-ours-off', ?, ?, 'power.off', 'done', 'op', 0, ?, ?)",
    )
      .bind(rackId, await idOf(ours), Date.now() - 60_000, Date.now() - 50_000)
      .run();

    const run = await pollPower(regionEnv, Date.now(), { intervalMs: I, maxPerRun: 100, batchSize: 100 });
    expect(run.sent).toBe(5);
    const [cmd] = await polls(rack, 1);
    // `newer` got a fresher answer (a power command's result) after the poll was sent: it is kept.
    await env.DB.prepare("UPDATE machines SET power_state = 'on', power_checked_at = ? WHERE system_id = ?")
      .bind(Date.now() + 1000, newer)
      .run();
    const states = [
      { system_id: outside, state: "off" },
      { system_id: same, state: "off" },
      { system_id: ours, state: "off" },
      { system_id: broken, error: { code: "timeout", message: "no answer from 10.9.0.1", kind: "transient" } },
      { system_id: newer, state: "off" },
      // Not asked by this command: ignored.
      { system_id: "zzzzzz", state: "on" },
    ];
    rack.send({ t: "result", v: 1, id: cmd.id, ok: true, data: { states } });
    // A replay of the same answer changes nothing.
    rack.send({ t: "result", v: 1, id: cmd.id, ok: true, data: { states }, replay: true });
    await rack.barrier();

    const m = async (s: string) => (await call(admin, "GET", `/machines/${s}`)).json;
    expect((await m(outside)).power_state).toBe("off");
    expect((await m(outside)).power_checked_at).toBeGreaterThan(t0);
    expect((await m(same)).power_state).toBe("off");
    expect((await m(ours)).power_state).toBe("off");
    expect((await m(broken)).power_state).toBe("error");
    expect((await m(newer)).power_state).toBe("on");
    const ev = await env.DB.prepare(
      "SELECT system_id, type, level, description FROM events WHERE site_id = (SELECT id FROM sites WHERE name = 'poll-b') AND type LIKE 'power.%' ORDER BY id",
    ).all<{
      system_id: string;
      type: string;
      level: string;
      description: string;
    }>();
    expect(ev.results).toHaveLength(3);
    expect(ev.results).toEqual(
      expect.arrayContaining([
        { system_id: outside, type: "power.changed_outside", level: "WARNING", description: expect.stringMatching(/from on to off outside Plinth/) },
        { system_id: ours, type: "power.changed", level: "INFO", description: expect.stringMatching(/from on to off/) },
        { system_id: broken, type: "power.query_failed", level: "WARNING", description: expect.stringMatching(/no answer from 10\.9\.0\.1/) },
      ]),
    );
    const c = await call(admin, "GET", `/racks/${rackId}/commands/${cmd.id}`);
    expect(c.json).toMatchObject({ state: "done", result: { ok: true, data: { asked: 5, off: 4, error: 1, changed: 2, changed_outside: 1 } } });

    // The next poll of the same machine, still off: no new event.
    await env.DB.prepare("UPDATE machines SET power_poll_due_at = 0 WHERE system_id = ?").bind(outside).run();
    await pollPower(regionEnv, Date.now(), { intervalMs: I, maxPerRun: 100, batchSize: 100 });
    const [again] = await polls(rack, 1);
    rack.send({ t: "result", v: 1, id: again.id, ok: true, data: { states: [{ system_id: outside, state: "off" }] } });
    await rack.barrier();
    const n = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE system_id = ? AND type = 'power.changed_outside'")
      .bind(outside)
      .first<{ n: number }>();
    expect(n!.n).toBe(1);
    rack.ws.close(1000);
  });

  it("a machine in a lifecycle phase powering itself off is Plinth's doing", async () => {
    const { rackId, credential } = await enrolRack(admin, "poll-c", "rack-poll-c");
    const rack = await connect(rackId, credential, { capabilities: CAPS });
    const sys = await makeMachine({ site: "poll-c", powerType: "ipmi", powerParams: ipmi, status: 1 });
    await env.DB.prepare("UPDATE machines SET power_state = 'on', power_checked_at = ? WHERE system_id = ?")
      .bind(Date.now() - 600_000, sys)
      .run();
    await pollPower(regionEnv, Date.now(), { intervalMs: I, maxPerRun: 100, batchSize: 100 });
    const [cmd] = await polls(rack, 1);
    rack.send({ t: "result", v: 1, id: cmd.id, ok: true, data: { states: [{ system_id: sys, state: "off" }] } });
    await rack.barrier();
    const c = await call(admin, "GET", `/racks/${rackId}/commands/${cmd.id}`);
    expect(c.json.state, JSON.stringify(c.json)).toBe("done");
    const ev = await env.DB.prepare("SELECT type FROM events WHERE system_id = ? AND type LIKE 'power.changed%'").bind(sys).all<{ type: string }>();
    expect(ev.results.map((e) => e.type)).toEqual(["power.changed"]);
    rack.ws.close(1000);
  });
});
