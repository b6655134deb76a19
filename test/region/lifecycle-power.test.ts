// Lifecycle steps start with their power action (as in MAAS), through the site's rack: commission
// and deploy set next boot PXE and power on (cycle when on); release powers off and ends on the
// result; abort powers off. Manual machines and sites without a rack keep the step, with an event.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { call, deployableImage, makeMachine, makeUser } from "./helpers";
import { connect, enrolRack, type Inbox } from "./tunnel-helpers";

const ipmi = { power_address: "10.8.0.1", power_user: "u", power_pass: "p" };

async function commands(rack: Inbox, n: number): Promise<any[]> {
  const out: any[] = [];
  for (let i = 0; i < n; i++) out.push(await rack.next((m) => m.t === "command"));
  return out;
}

async function status(admin: string, sys: string): Promise<number> {
  return (await call(admin, "GET", `/machines/${sys}`)).json.status;
}

beforeAll(() => deployableImage("ubuntu", "noble"));

describe("lifecycle power", () => {
  it("commission: next boot PXE then power on (a machine recorded off) or power cycle (on or unknown)", async () => {
    const admin = await makeUser("lp-admin-1", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "lp-1", "rack-lp-1");
    const rack = await connect(rackId, credential);
    const off = await makeMachine({ site: "lp-1", status: S.READY, powerType: "ipmi", powerParams: { ...ipmi, power_boot_type: "efi" } });
    await env.DB.prepare("UPDATE machines SET power_state = 'off' WHERE system_id = ?").bind(off).run();
    expect((await call(admin, "POST", `/machines/${off}/commission`, {})).json.status).toBe(S.COMMISSIONING);
    const [boot, on] = await commands(rack, 2);
    expect(boot).toMatchObject({
      type: "boot.set",
      params: { system_id: off, device: "pxe", persistent: false, efi: true, power_type: "ipmi", power_parameters: { power_address: "10.8.0.1" } },
    });
    expect(on).toMatchObject({ type: "power.on", params: { system_id: off } });

    const unknown = await makeMachine({ site: "lp-1", status: S.ALLOCATED, powerType: "ipmi", powerParams: ipmi });
    expect((await call(admin, "POST", `/machines/${unknown}/deploy`, {})).json.status).toBe(S.DEPLOYING);
    const [boot2, cycle] = await commands(rack, 2);
    expect(boot2).toMatchObject({ type: "boot.set", params: { system_id: unknown, device: "pxe", efi: false } });
    expect(cycle).toMatchObject({ type: "power.cycle", params: { system_id: unknown } });
    const ev = await call(admin, "GET", `/events?machine=${unknown}&type=power.power_on`);
    expect(ev.json.items[0].description).toMatch(/deploy: power cycle \(next boot PXE\) sent to rack/);
    // The machine's new boot intent reached the rack before its power command.
    const iCfg = rack.frames.findIndex(
      (f) => f.t === "config" && f.snapshot.bootIntents.some((b: { systemId: string; intent: string }) => b.systemId === unknown && b.intent === "deploy"),
    );
    const iCmd = rack.frames.findIndex((f) => f.t === "command" && f.id === boot2.id);
    expect(iCfg).toBeGreaterThanOrEqual(0);
    expect(iCfg).toBeLessThan(iCmd);
    rack.ws.close(1000);
  });

  it("release powers off and ends in READY on the result (FAILED_RELEASING when it fails); abort powers off", async () => {
    const admin = await makeUser("lp-admin-2", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "lp-2", "rack-lp-2");
    const rack = await connect(rackId, credential);
    const a = await makeMachine({ site: "lp-2", status: S.DEPLOYED, powerType: "ipmi", powerParams: ipmi });
    expect((await call(admin, "POST", `/machines/${a}/release`, {})).json.status).toBe(S.RELEASING);
    const [off] = await commands(rack, 1);
    expect(off).toMatchObject({ type: "power.off", params: { system_id: a } });
    expect(off.params).not.toHaveProperty("finishes");
    rack.send({ t: "result", v: 1, id: off.id, ok: true, data: { state: "off", attempts: 1 } });
    await rack.barrier();
    expect(await status(admin, a)).toBe(S.READY);
    const rel = await call(admin, "GET", `/events?machine=${a}&type=machine.released`);
    expect(rel.json.items[0]).toMatchObject({ actor: `rack:${rackId}`, description: "released: powered off" });

    const b = await makeMachine({ site: "lp-2", status: S.DEPLOYED, powerType: "ipmi", powerParams: ipmi });
    await call(admin, "POST", `/machines/${b}/release`, {});
    const [off2] = await commands(rack, 1);
    rack.send({ t: "result", v: 1, id: off2.id, ok: false, error: { code: "bad_credentials", message: "the BMC refused the password", kind: "fatal" } });
    await rack.barrier();
    expect(await status(admin, b)).toBe(S.FAILED_RELEASING);

    const c = await makeMachine({ site: "lp-2", status: S.READY, powerType: "ipmi", powerParams: ipmi });
    await call(admin, "POST", `/machines/${c}/commission`, {});
    await commands(rack, 2);
    expect((await call(admin, "POST", `/machines/${c}/abort`, {})).json.status).toBe(S.READY);
    const [off3] = await commands(rack, 1);
    expect(off3).toMatchObject({ type: "power.off", params: { system_id: c } });
    rack.ws.close(1000);
  });

  it("a rack that is away gets the commands, in order, when it connects", async () => {
    const admin = await makeUser("lp-admin-3", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "lp-3", "rack-lp-3");
    const sys = await makeMachine({ site: "lp-3", status: S.NEW, powerType: "redfish", powerParams: { power_address: "10.8.0.3" } });
    const r = await call(admin, "POST", `/machines/${sys}/commission`, {});
    expect(r.status).toBe(200);
    expect(r.json.status).toBe(S.COMMISSIONING);
    const pending = await env.DB.prepare(
      "SELECT type FROM rack_commands WHERE machine_id = (SELECT id FROM machines WHERE system_id = ?) AND state = 'pending' ORDER BY created_at",
    )
      .bind(sys)
      .all<{ type: string }>();
    expect(pending.results.map((x) => x.type)).toEqual(["boot.set", "power.cycle"]);
    const rack = await connect(rackId, credential);
    const got = await commands(rack, 2);
    expect(got.map((c) => c.type)).toEqual(["boot.set", "power.cycle"]);
    rack.ws.close(1000);
  });

  it("no rack enrolled: the step stands and an event says what was not sent", async () => {
    const admin = await makeUser("lp-admin-4", [["admin", null]]);
    const sys = await makeMachine({ site: "lp-no-rack", status: S.READY, powerType: "ipmi", powerParams: ipmi });
    const r = await call(admin, "POST", `/machines/${sys}/commission`, {});
    expect(r.status).toBe(200);
    expect(r.json.status).toBe(S.COMMISSIONING);
    // Said in the answer too, not only five minutes later by the deadline.
    expect(r.json.warnings).toEqual([expect.stringMatching(/^commission: the power on was not sent: no rack appliance of this machine's site/)]);
    const ev = await call(admin, "GET", `/events?machine=${sys}&type=power.not_sent`);
    expect(ev.json.items[0]).toMatchObject({
      level: "WARNING",
      description: expect.stringMatching(/commission: power cycle \(next boot PXE\) was not sent: no rack appliance is enrolled/),
    });

    const d = await makeMachine({ site: "lp-no-rack", status: S.DEPLOYED, powerType: "ipmi", powerParams: ipmi });
    const rel = await call(admin, "POST", `/machines/${d}/release`, {});
    expect(rel.status).toBe(200);
    // Never powered off, so not Ready: it stays Releasing until its deadline or someone acts.
    expect(rel.json.status).toBe(S.RELEASING);
    expect(rel.json.warnings).toEqual([expect.stringMatching(/^release: the power off was not sent/)]);
    const ev2 = await call(admin, "GET", `/events?machine=${d}&type=power.not_sent`);
    expect(ev2.json.items[0].description).toMatch(/release: power off was not sent.*power it off by hand/);
  });

  it("manual driver: no command, a WARNING that someone must act; release completes at once", async () => {
    const admin = await makeUser("lp-admin-5", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "lp-5", "rack-lp-5");
    const rack = await connect(rackId, credential);
    const sys = await makeMachine({ site: "lp-5", status: S.READY });
    expect((await call(admin, "POST", `/machines/${sys}/deploy`, {})).json.status).toBe(S.DEPLOYING);
    const ev = await call(admin, "GET", `/events?machine=${sys}&type=power.power_on`);
    expect(ev.json.items[0]).toMatchObject({ level: "WARNING", description: expect.stringMatching(/manual, someone on site must do it/) });
    await env.DB.prepare("UPDATE machines SET status = ? WHERE system_id = ?").bind(S.DEPLOYED, sys).run();
    expect((await call(admin, "POST", `/machines/${sys}/release`, {})).json.status).toBe(S.READY);
    await rack.barrier();
    expect(rack.frames.filter((f) => f.t === "command")).toEqual([]);
    const n = await env.DB.prepare("SELECT count(*) AS n FROM rack_commands WHERE rack_id = ?").bind(rackId).first<{ n: number }>();
    expect(n!.n).toBe(0);
    rack.ws.close(1000);
  });

  it("exit rescue: a deployed machine boots its disk and is DEPLOYED on the result; others are powered off and return; failures fail the step", async () => {
    const admin = await makeUser("lp-admin-7", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "lp-7", "rack-lp-7");
    const rack = await connect(rackId, credential);
    const deployed = await makeMachine({
      site: "lp-7",
      status: S.RESCUE_MODE,
      previousStatus: S.DEPLOYED,
      powerType: "ipmi",
      powerParams: { ...ipmi, power_boot_type: "efi" },
    });
    expect((await call(admin, "POST", `/machines/${deployed}/exit_rescue_mode`, {})).json.status).toBe(S.EXITING_RESCUE_MODE);
    const [disk, cycle] = await commands(rack, 2);
    expect(disk).toMatchObject({ type: "boot.set", params: { system_id: deployed, device: "disk", persistent: false, efi: true } });
    expect(cycle).toMatchObject({ type: "power.cycle", params: { system_id: deployed } });
    expect(cycle.params).not.toHaveProperty("finishes");
    // Whatever PXE boots while it leaves rescue is told to boot its disk.
    const cfg = [...rack.frames].reverse().find((f) => f.t === "config");
    expect(cfg.snapshot.bootIntents.find((b: { systemId: string }) => b.systemId === deployed)).toMatchObject({ intent: "local" });
    rack.send({ t: "result", v: 1, id: disk.id, ok: true, data: {} });
    await rack.barrier();
    // The boot device alone ends nothing: the power action's result does.
    expect(await status(admin, deployed)).toBe(S.EXITING_RESCUE_MODE);
    rack.send({ t: "result", v: 1, id: cycle.id, ok: true, data: { state: "on", attempts: 1 } });
    await rack.barrier();
    expect(await status(admin, deployed)).toBe(S.DEPLOYED);
    const back = await call(admin, "GET", `/events?machine=${deployed}&type=machine.rescue_exited`);
    expect(back.json.items[0]).toMatchObject({ actor: `rack:${rackId}`, description: expect.stringMatching(/power cycle done, next boot from disk/) });

    const ready = await makeMachine({ site: "lp-7", status: S.RESCUE_MODE, previousStatus: S.READY, powerType: "ipmi", powerParams: ipmi });
    await call(admin, "POST", `/machines/${ready}/exit_rescue_mode`, {});
    const [off] = await commands(rack, 1);
    expect(off).toMatchObject({ type: "power.off", params: { system_id: ready } });
    rack.send({ t: "result", v: 1, id: off.id, ok: true, data: { state: "off", attempts: 1 } });
    await rack.barrier();
    expect(await status(admin, ready)).toBe(S.READY);

    const failing = await makeMachine({ site: "lp-7", status: S.RESCUE_MODE, previousStatus: S.DEPLOYED, powerType: "ipmi", powerParams: ipmi });
    await call(admin, "POST", `/machines/${failing}/exit_rescue_mode`, {});
    const [, cycle2] = await commands(rack, 2);
    rack.send({ t: "result", v: 1, id: cycle2.id, ok: false, error: { code: "bmc_unreachable", message: "no answer from the BMC", kind: "fatal" } });
    await rack.barrier();
    expect(await status(admin, failing)).toBe(S.FAILED_EXITING_RESCUE_MODE);

    // Manual power: nothing to wait for, the machine is back at once.
    const manual = await makeMachine({ site: "lp-7", status: S.RESCUE_MODE, previousStatus: S.DEPLOYED });
    expect((await call(admin, "POST", `/machines/${manual}/exit_rescue_mode`, {})).json.status).toBe(S.DEPLOYED);
    rack.ws.close(1000);
  });

  it("creating a machine with commission: true powers it on through the rack", async () => {
    const admin = await makeUser("lp-admin-6", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "lp-6", "rack-lp-6");
    const rack = await connect(rackId, credential);
    const c = await call(admin, "POST", "/machines", {
      mac_addresses: ["52:54:00:6c:00:01"],
      site: "lp-6",
      commission: true,
      power_type: "ipmi",
      power_parameters: ipmi,
    });
    expect(c.status, c.text).toBe(201);
    const got = await commands(rack, 2);
    expect(got.map((x) => [x.type, x.params.system_id])).toEqual([
      ["boot.set", c.json.system_id],
      ["power.cycle", c.json.system_id],
    ]);
    rack.ws.close(1000);
  });
});
