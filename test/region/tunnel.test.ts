// The rack tunnel in workerd: real WebSockets to the RackTunnel Durable Object through the
// Worker, real D1. Each test uses its own site and rack (storage is shared within the file).
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, makeMachine, makeUser } from "./helpers";
import { connect, enrolRack, openTunnel } from "./tunnel-helpers";

const hook = { power_on_uri: "http://bmc.test/on", power_off_uri: "http://bmc.test/off", power_query_uri: "http://bmc.test/q" };

describe("rack tunnel", () => {
  it("carries a power command and lands its result on the machine and in its events", async () => {
    const admin = await makeUser("tun-admin-1", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "tun-site-1", "rack-1");
    const sys = await makeMachine({ site: "tun-site-1", powerType: "webhook", powerParams: hook });
    const rack = await connect(rackId, credential);
    const cfg = await rack.next((m) => m.t === "config");
    expect(cfg.snapshot.site).toBe("tun-site-1");
    expect(cfg.snapshot.bootIntents.some((b: { systemId: string }) => b.systemId === sys)).toBe(true);

    const r = await call(admin, "POST", `/machines/${sys}/power_on`, {});
    expect(r.status).toBe(202);
    expect(r.json.command_id).toMatch(/^c/);
    const cmd = await rack.next((m) => m.t === "command");
    expect(cmd).toMatchObject({ id: r.json.command_id, type: "power.on", params: { power_type: "webhook", system_id: sys, power_parameters: hook } });
    rack.send({ t: "ack", v: 1, commands: [cmd.id] });
    rack.send({ t: "result", v: 1, id: cmd.id, ok: true, data: { state: "on" } });
    rack.send({ t: "result", v: 1, id: cmd.id, ok: true, data: { state: "on" }, replay: true });
    // Status reports: the latest replaces the earlier one; a service the protocol does not know is refused.
    rack.send({ t: "status", v: 1, services: [{ name: "dhcp", state: "ok" }], journalDepth: 9 });
    const services = [
      { name: "dhcp", state: "failed", error: "eth1: no such device" },
      { name: "tftp", state: "ok" },
      { name: "dns", state: "disabled" },
      { name: "power", state: "ok" },
    ];
    rack.send({ t: "status", v: 1, services, journalDepth: 3 });
    rack.send({ t: "status", v: 1, services: [{ name: "ntp", state: "ok" }], journalDepth: 0 });
    expect((await rack.next((m) => m.t === "error" && m.code === "invalid_frame")).message).toContain("services.0.name");
    await rack.barrier();

    const m = await call(admin, "GET", `/machines/${sys}`);
    expect(m.json.power_state).toBe("on");
    expect(m.json.power_checked_at).toBeGreaterThan(0);
    const ev = await call(admin, "GET", `/events?machine=${sys}&type=rack.command.done`);
    expect(ev.json.items).toHaveLength(1);
    const c = await call(admin, "GET", `/racks/${rackId}/commands/${cmd.id}`);
    expect(c.json).toMatchObject({ state: "done", result: { ok: true, data: { state: "on" } } });
    const rk = await call(admin, "GET", `/racks/${rackId}`);
    expect(rk.json).toMatchObject({ connected: true, version: "test-1", site: "tun-site-1", pending_commands: 0, services, journal_depth: 3 });
    expect(rk.json.status_at).toBeGreaterThan(Date.now() - 60_000);
    const listed = (await call(admin, "GET", "/racks")).json.items.find((r: { id: string }) => r.id === rackId);
    expect(listed).toMatchObject({ services, journal_depth: 3, status_at: rk.json.status_at });
    rack.ws.close(1000, "bye");
  });

  it("answers a power query within the request when the rack replies quickly", async () => {
    const admin = await makeUser("tun-admin-2", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "tun-site-2", "rack-2");
    const sys = await makeMachine({ site: "tun-site-2", powerType: "webhook", powerParams: hook });
    const rack = await connect(rackId, credential);
    const pending = call(admin, "POST", `/machines/${sys}/query_power_state`, {});
    const cmd = await rack.next((m) => m.t === "command");
    rack.send({ t: "result", v: 1, id: cmd.id, ok: true, data: { state: "off" } });
    const r = await pending;
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ state: "done", result: { ok: true, data: { state: "off" } } });
    rack.ws.close(1000);
  });

  it("keeps a command queued while the rack is away and replays it on reconnect until its result", async () => {
    const admin = await makeUser("tun-admin-3", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "tun-site-3", "rack-3");
    const sys = await makeMachine({ site: "tun-site-3", powerType: "webhook", powerParams: hook });
    const r = await call(admin, "POST", `/machines/${sys}/power_off`, {});
    expect(r.status).toBe(202);
    const first = await connect(rackId, credential);
    const c1 = await first.next((m) => m.t === "command");
    expect(c1.id).toBe(r.json.command_id);
    first.send({ t: "ack", v: 1, commands: [c1.id] });
    first.ws.close(1000);
    // Acked but no result yet: the next connection gets it again.
    const second = await connect(rackId, credential);
    const c2 = await second.next((m) => m.t === "command");
    expect(c2.id).toBe(c1.id);
    second.send({ t: "result", v: 1, id: c2.id, ok: false, error: { code: "bmc_unreachable", message: "no route to BMC", kind: "transient" } });
    await second.barrier();
    const m = await call(admin, "GET", `/machines/${sys}`);
    expect(m.json.power_state).toBe("error");
    second.ws.close(1000);
    const third = await connect(rackId, credential);
    await third.barrier();
    expect(third.frames.filter((f) => f.t === "command")).toHaveLength(0);
    third.ws.close(1000);
  });

  it("expires a command at its deadline with the result `expired`", async () => {
    const admin = await makeUser("tun-admin-4", [["admin", null]]);
    const { rackId } = await enrolRack(admin, "tun-site-4", "rack-4");
    const sys = await makeMachine({ site: "tun-site-4", powerType: "webhook", powerParams: hook });
    const m = await env.DB.prepare("SELECT id FROM machines WHERE system_id = ?").bind(sys).first<{ id: number }>();
    const id = "cexpiretest01";
    const deadline = Date.now() + 20;
    await env.DB.prepare("INSERT INTO rack_commands (id, rack_id, machine_id, type, deadline) VALUES (?, ?, ?, 'power.on', ?)")
      .bind(id, rackId, m!.id, deadline)
      .run();
    const stub = env.RACK_TUNNEL.get(env.RACK_TUNNEL.idFromName(rackId));
    await stub.enqueue({ id, rackId, type: "power.on", params: {}, deadline, machineId: m!.id, createdAt: Date.now() });
    await new Promise((r) => setTimeout(r, 30));
    // The runtime may already have fired the alarm by itself; otherwise this runs it now.
    await runDurableObjectAlarm(stub);
    const c = await call(admin, "GET", `/racks/${rackId}/commands/${id}`);
    expect(c.json.state).toBe("expired");
    const ev = await call(admin, "GET", `/events?machine=${sys}&type=rack.command.expired`);
    expect(ev.json.items).toHaveLength(1);
    expect((await stub.status()).pending).toBe(0);
  });

  it("stores each numbered event once, across resends and reconnects", async () => {
    const admin = await makeUser("tun-admin-5", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "tun-site-5", "rack-5");
    const sys = await makeMachine({ site: "tun-site-5", mac: "52:54:00:aa:00:05" });
    const ev = (seq: number) => ({ seq, at: Date.now(), type: "dhcp.discover", data: { mac: "52:54:00:aa:00:05", arch: "x86_64-efi" } });
    const rack = await connect(rackId, credential, { journal: "j-events" });
    rack.send({ t: "event", v: 1, events: [ev(1), ev(2), ev(3)] });
    expect((await rack.next((m) => m.t === "ack")).upTo).toBe(3);
    rack.send({ t: "event", v: 1, events: [ev(2), ev(3), ev(4)] });
    expect((await rack.next((m) => m.t === "ack")).upTo).toBe(4);
    rack.ws.close(1000);
    const again = await connect(rackId, credential, { journal: "j-events" });
    expect(again.frames.find((f) => f.t === "welcome").lastEventSeq).toBe(4);
    again.send({ t: "event", v: 1, events: [ev(4), ev(5)] });
    expect((await again.next((m) => m.t === "ack")).upTo).toBe(5);
    const list = await call(admin, "GET", `/racks/${rackId}/events?limit=100`);
    expect(list.json.total).toBe(5);
    expect(list.json.items.map((e: { seq: number }) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    const audit = await call(admin, "GET", `/events?machine=${sys}&type=rack.dhcp.discover`);
    expect(audit.json.items).toHaveLength(5);
    const m = (await call(admin, "GET", `/machines/${sys}`)).json;
    expect(m.boot_rack).toMatchObject({ id: rackId, hostname: (await call(admin, "GET", `/racks/${rackId}`)).json.hostname });
    expect(m.boot_rack.at).toBeGreaterThan(Date.now() - 60_000);
    // A late batch with an older boot from this MAC does not move the record back.
    again.send({
      t: "event",
      v: 1,
      events: [{ ...ev(6), at: 1000, type: "boot.request", data: { mac: "52:54:00:aa:00:05", file: "grubx64.efi", protocol: "tftp" } }],
    });
    expect((await again.next((f) => f.t === "ack" && f.upTo === 6)).upTo).toBe(6);
    expect((await call(admin, "GET", `/machines/${sys}`)).json.boot_rack.at).toBe(m.boot_rack.at);
    again.ws.close(1000);
  });

  it("answers invalid, unknown and oversized frames with an error frame and keeps serving", async () => {
    const admin = await makeUser("tun-admin-6", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "tun-site-6", "rack-6");
    const rack = await connect(rackId, credential);
    const bad = [
      "not json",
      "{}",
      '{"t":"command","v":1}',
      '{"t":"hello","v":2}',
      JSON.stringify({ t: "event", v: 1, events: [{ seq: -1 }] }),
      "x".repeat(5 * 1024 * 1024),
    ];
    for (const b of bad) rack.send(b);
    for (let i = 0; i < bad.length; i++) {
      const e = await rack.next((m) => m.t === "error");
      expect(["invalid_frame", "frame_too_big"]).toContain(e.code);
    }
    rack.send('{"t":"heartbeat","v":1}');
    await rack.next((m) => m.t === "heartbeat");
    const r = await call(admin, "GET", `/racks/${rackId}`);
    expect(r.json.connected).toBe(true);
    rack.ws.close(1000);
  });

  it("refuses a wrong credential, and revoking closes the socket and refuses the rack", async () => {
    const admin = await makeUser("tun-admin-7", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "tun-site-7", "rack-7");
    const wrong = `${credential.slice(0, -1)}${credential.endsWith("a") ? "b" : "a"}`;
    expect((await openTunnel(rackId, wrong)).status).toBe(401);
    expect((await openTunnel(rackId, "plk_nope")).status).toBe(401);
    const rack = await connect(rackId, credential);
    const r = await call(admin, "POST", `/racks/${rackId}/revoke`, {});
    expect(r.json).toMatchObject({ revoked: true, sockets_closed: 1 });
    expect((await rack.closedWith()).code).toBe(4401);
    const again = await openTunnel(rackId, credential);
    expect(again.status).toBe(401);
    expect((await again.json<{ error: { code: string } }>()).error.code).toBe("rack_revoked");
    expect((await call(admin, "GET", `/racks/${rackId}`)).json.connected).toBe(false);
  });

  it("rotates the credential over the tunnel: the new one works, the old one retires", async () => {
    const admin = await makeUser("tun-admin-8", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "tun-site-8", "rack-8");
    const rack = await connect(rackId, credential);
    expect((await call(admin, "POST", `/racks/${rackId}/rotate`, {})).status).toBe(200);
    const f = await rack.next((m) => m.t === "credential");
    expect(f.credential).not.toBe(credential);
    const { credentialFingerprint } = await import("../../cloud/domain/racks/credentials");
    rack.send({ t: "credential.ack", v: 1, fingerprint: await credentialFingerprint(f.credential) });
    await rack.barrier();
    expect((await openTunnel(rackId, credential)).status).toBe(401);
    const fresh = await connect(rackId, f.credential);
    fresh.ws.close(1000);
    rack.ws.close(1000);
  });

  it("closes a socket silent past the heartbeat limit and marks the rack disconnected", async () => {
    const admin = await makeUser("tun-admin-9", [["admin", null]]);
    const { rackId, credential } = await enrolRack(admin, "tun-site-9", "rack-9");
    const rack = await connect(rackId, credential);
    expect((await call(admin, "GET", `/racks/${rackId}`)).json.connected).toBe(true);
    const stub = env.RACK_TUNNEL.get(env.RACK_TUNNEL.idFromName(rackId));
    // Pretend the socket opened a minute ago and never sent a heartbeat since.
    await runInDurableObject(stub, (_i, state) => {
      for (const ws of state.getWebSockets()) ws.serializeAttachment({ ...(ws.deserializeAttachment() as object), connectedAt: Date.now() - 60_000 });
    });
    await runDurableObjectAlarm(stub);
    expect((await rack.closedWith()).code).toBe(4408);
    expect((await call(admin, "GET", `/racks/${rackId}`)).json.connected).toBe(false);
    const ev = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE type = 'rack.disconnected' AND actor = ?")
      .bind(`rack:${rackId}`)
      .first<{ n: number }>();
    expect(ev!.n).toBe(1);
  });
});
