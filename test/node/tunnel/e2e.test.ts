// The tunnel end to end: the region in workerd (wrangler dev) and real appliance processes over
// a real WebSocket, through a proxy that can cut it. Every command is counted at the fake BMC
// (executed) and in the region (answered); every event at the appliance (journaled) and in the
// region (stored), and the counts must match exactly.
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, Appliance, cliAsync as cli, CutProxy, FakeBmc, ledgerCounts, type Region, region, restartRegion, stopRegion, until } from "./rig";

let r: Region;
let bmc: FakeBmc;
let proxy: CutProxy;
let app: Appliance;
let rackId = "";
const machines: string[] = [];
/** The fake BMC knows machines by hostname (their URLs are made before the system_id exists). */
const hostOf = new Map<string, string>();

async function power(sys: string, action = "power_on"): Promise<string> {
  const res = await fetch(`${r.url}/api/v1/machines/${sys}/${action}`, {
    method: "POST",
    headers: { authorization: `Bearer ${r.admin}`, "content-type": "application/json" },
    body: "{}",
  });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`${action}: ${res.status} ${text.slice(0, 500)}`);
  return (JSON.parse(text) as { command_id: string }).command_id;
}

async function commandState(id: string): Promise<string> {
  return (await api(r, "GET", `/racks/${rackId}/commands/${id}`)).json.state as string;
}

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** BMC calls per host, to compare before and after a batch. */
const perHost = (action: "on" | "off") => new Map([...hostOf.values()].map((h) => [h, bmc.count(action, h)]));

/**
 * Each command of the batch, one by one: done in the region with an ok result, started and
 * finished exactly once in the appliance's ledger (a second run would be a second start), and
 * the BMC of each machine called exactly as many times as that machine had commands.
 */
async function eachExecutedOnce(sent: { id: string; sys: string }[], action: "on" | "off", before: Map<string, number>): Promise<void> {
  expect(new Set(sent.map((c) => c.id)).size).toBe(sent.length);
  const states = new Map<string, { state: string; ok: unknown }>();
  await pool(sent, 16, async ({ id }) => {
    const c = (await api(r, "GET", `/racks/${rackId}/commands/${id}`)).json;
    states.set(id, { state: c.state, ok: c.result?.ok ?? null });
  });
  const notDone = sent.filter((c) => states.get(c.id)?.state !== "done" || states.get(c.id)?.ok !== true);
  expect(
    notDone.map((c) => [c.id, states.get(c.id)]),
    "commands not done with an ok result",
  ).toEqual([]);
  const ledger = ledgerCounts(app.stateDir);
  const notOnce = sent.filter((c) => {
    const l = ledger.get(c.id);
    return l?.starts !== 1 || l.dones !== 1 || l.ok !== true;
  });
  expect(
    notOnce.map((c) => [c.id, ledger.get(c.id)]),
    "commands not started and finished exactly once",
  ).toEqual([]);
  const want = new Map<string, number>();
  for (const c of sent) want.set(hostOf.get(c.sys)!, (want.get(hostOf.get(c.sys)!) ?? 0) + 1);
  for (const [host, n] of want) expect(bmc.count(action, host) - (before.get(host) ?? 0), `BMC calls for ${host}`).toBe(n);
}

const regionEvents = async () => (await api(r, "GET", `/racks/${rackId}/events?limit=1`)).json.total as number;
const dhcp = (i: number) => ({
  type: "dhcp.discover",
  data: { mac: `52:54:01:${[(i >> 16) & 255, (i >> 8) & 255, i & 255].map((b) => b.toString(16).padStart(2, "0")).join(":")}` },
});

async function allEventsLanded(): Promise<number> {
  const s = await app.status();
  return until(`region to hold all ${s.journal.last_seq} events`, async () => {
    const st = await app.status();
    const n = await regionEvents();
    return n === st.journal.last_seq && st.journal.depth === 0 ? n : null;
  });
}

beforeAll(async () => {
  bmc = new FakeBmc();
  await bmc.start();
  r = await region();
  proxy = new CutProxy(r.port);
  await proxy.start();
  for (let i = 0; i < 10; i++) {
    const host = `tun-e2e-${i}`;
    const res = await api(r, "POST", "/machines", {
      hostname: host,
      mac_addresses: [`52:54:02:00:00:${i.toString(16).padStart(2, "0")}`],
      power_type: "webhook",
      power_parameters: bmc.params(host),
    });
    if (res.status !== 201) throw new Error(`machine: ${res.status} ${JSON.stringify(res.json)}`);
    machines.push(res.json.system_id as string);
    hostOf.set(res.json.system_id as string, host);
  }
}, 180_000);

afterAll(async () => {
  await app?.kill("SIGKILL");
  await proxy?.stop();
  await bmc?.stop();
  if (r) await stopRegion(r.child);
});

describe("appliance ↔ region tunnel, end to end", () => {
  it("enrols with a token (0600 credential, idempotent) and refuses an exhausted, expired or revoked token", async () => {
    const tok = await api(r, "POST", "/racks/enrol-tokens", { site: "default", uses: 1 });
    expect(tok.status).toBe(201);
    const dir = mkdtempSync(join(tmpdir(), "plinth-appliance-"));
    const first = await cli(["enrol", "--state-dir", dir, "--hostname", "rack-e2e"], { PLINTH_REGION: r.url, PLINTH_ENROL_TOKEN: tok.json.token });
    expect(first.code, first.out).toBe(0);
    expect(statSync(join(dir, "credential.json")).mode & 0o777).toBe(0o600);
    const again = await cli(["enrol", "--state-dir", dir, "--region", r.url, "--token", tok.json.token]);
    expect(again.code).toBe(0);
    expect(again.out).toContain("already enrolled");

    const other = mkdtempSync(join(tmpdir(), "plinth-appliance-"));
    const exhausted = await cli(["enrol", "--state-dir", other, "--hostname", "rack-other", "--region", r.url, "--token", tok.json.token]);
    expect(exhausted.code).toBe(1);
    expect(exhausted.out).toContain("token_exhausted");
    const rev = await api(r, "POST", "/racks/enrol-tokens", { site: "default" });
    await api(r, "DELETE", `/racks/enrol-tokens/${rev.json.id}`);
    expect((await cli(["enrol", "--state-dir", other, "--hostname", "rack-other", "--region", r.url, "--token", rev.json.token])).out).toContain(
      "token_revoked",
    );
    const exp = await api(r, "POST", "/racks/enrol-tokens", { site: "default", expires_in: 1 });
    await new Promise((res) => setTimeout(res, 1100));
    expect((await cli(["enrol", "--state-dir", other, "--hostname", "rack-other", "--region", r.url, "--token", exp.json.token])).out).toContain(
      "token_expired",
    );

    const racks = await api(r, "GET", "/racks");
    rackId = racks.json.items.find((x: { hostname: string }) => x.hostname === "rack-e2e").id;
    app = new Appliance(dir, `http://127.0.0.1:${proxy.port}`);
    app.start();
    await until("the rack to connect", async () => (await api(r, "GET", `/racks/${rackId}`)).json.connected);
    const st = await until("appliance status", () => app.status());
    expect(st.tunnel).toBe("connected");
    const shown = await cli(["status", "--state-dir", dir]);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.out)).toMatchObject({ rack_id: rackId, tunnel: "connected", pending_commands: 0, journal: { depth: 0 } });
    // Its status report: power is run by the daemon itself; no boot interface, so no boot services.
    const health = await until("the rack's status report", async () => {
      const j = (await api(r, "GET", `/racks/${rackId}`)).json;
      return j.status_at ? j : null;
    });
    expect(health.journal_depth).toBe(0);
    expect(health.services).toContainEqual({ name: "power", state: "ok" });
    expect(health.services).toContainEqual({ name: "dhcp", state: "disabled" });
  });

  it("runs a power command round trip: 202, executed once, result on the machine and in its events", async () => {
    const sys = machines[0]!;
    const id = await power(sys);
    expect(await until("the command result", async () => ((await commandState(id)) === "done" ? "done" : null))).toBe("done");
    expect(bmc.count("on", hostOf.get(sys))).toBe(1);
    const m = await api(r, "GET", `/machines/${sys}`);
    expect(m.json.power_state).toBe("on");
    const ev = await api(r, "GET", `/events?machine=${sys}&type=rack.command.done`);
    expect(ev.json.items).toHaveLength(1);
  });

  it("answers 1,000 commands sent over the open tunnel while it is connected, each executed exactly once", async () => {
    const st0 = await app.status();
    expect(st0.tunnel).toBe("connected");
    const before = perHost("on");
    const sent: { id: string; sys: string }[] = [];
    // How many the appliance holds at once (received, not yet answered), sampled while sending.
    let peak = 0;
    let sending = true;
    const sampler = (async () => {
      while (sending) {
        peak = Math.max(peak, (await app.status()).pending_commands as number);
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    await pool(
      Array.from({ length: 1000 }, (_, i) => machines[i % machines.length]!),
      16,
      async (sys) => {
        sent.push({ id: await power(sys), sys });
      },
    );
    await until("every command answered", async () => (await api(r, "GET", `/racks/${rackId}`)).json.pending_commands === 0, 480);
    sending = false;
    await sampler;
    await eachExecutedOnce(sent, "on", before);
    // All of it crossed one connection: no reconnect, no replay.
    const st1 = await app.status();
    expect(st1.tunnel).toBe("connected");
    expect(st1.connects).toBe(st0.connects);
    expect(st1.commands_executed - st0.commands_executed).toBe(1000);
    expect(peak, "commands in flight at once in the appliance").toBeGreaterThan(1);
  }, 300_000);

  it("answers 1,000 commands queued while the appliance is away, each executed exactly once", async () => {
    const before = bmc.count("on");
    // The appliance is stopped (gracefully) so all 1,000 queue in the Durable Object and
    // arrive in one burst when it is back.
    expect(await app.kill("SIGTERM")).toBe(0);
    const ids: string[] = [];
    await pool(
      Array.from({ length: 1000 }, (_, i) => machines[i % machines.length]!),
      16,
      async (sys) => {
        ids.push(await power(sys));
      },
    );
    expect(new Set(ids).size).toBe(1000);
    expect((await api(r, "GET", `/racks/${rackId}`)).json.pending_commands).toBe(1000);
    app.start();
    await until("every command answered", async () => (await api(r, "GET", `/racks/${rackId}`)).json.pending_commands === 0, 480);
    const states = new Map<string, number>();
    await pool(ids, 16, async (id) => {
      const s = await commandState(id);
      states.set(s, (states.get(s) ?? 0) + 1);
    });
    expect(Object.fromEntries(states)).toEqual({ done: 1000 });
    expect(bmc.count("on") - before).toBe(1000);
  }, 300_000);

  it("survives the socket cut mid-stream: every command once, every event once", async () => {
    const total = bmc.count("off");
    const before = perHost("off");
    const sent: { id: string; sys: string }[] = [];
    const emitting = (async () => {
      for (let i = 0; i < 10; i++) await app.emit(Array.from({ length: 100 }, (_, j) => dhcp(i * 100 + j)));
    })();
    await pool(
      Array.from({ length: 200 }, (_, i) => machines[i % machines.length]!),
      8,
      async (sys) => {
        sent.push({ id: await power(sys, "power_off"), sys });
        if (sent.length === 60 || sent.length === 140) proxy.cut();
      },
    );
    await emitting;
    proxy.cut();
    await until("every command answered", async () => (await api(r, "GET", `/racks/${rackId}`)).json.pending_commands === 0, 480);
    expect(bmc.count("off") - total).toBe(200);
    await eachExecutedOnce(sent, "off", before);
    await allEventsLanded();
    const st = await app.status();
    expect(st.connects).toBeGreaterThanOrEqual(3);
  }, 300_000);

  it("survives a region restart: commands queued in the Durable Object and journaled events all arrive once", async () => {
    const before = bmc.count("on");
    const ids = [await power(machines[1]!), await power(machines[2]!)];
    await stopRegion(r.child);
    // While the region is away the site keeps reporting: those events wait in the journal.
    await app.emit(Array.from({ length: 300 }, (_, i) => dhcp(50_000 + i)));
    expect((await app.status()).journal.depth).toBeGreaterThanOrEqual(300);
    await restartRegion(r);
    for (let i = 0; i < 20; i++) ids.push(await power(machines[i % machines.length]!));
    await until("every command answered", async () => (await api(r, "GET", `/racks/${rackId}`)).json.pending_commands === 0, 480);
    for (const id of ids) expect(await commandState(id)).toBe("done");
    expect(bmc.count("on") - before).toBe(22);
    await allEventsLanded();
  }, 300_000);

  it("after SIGKILL mid-command, replays the journal and never runs the command again", async () => {
    const sys = machines[3]!;
    const host = hostOf.get(sys)!;
    bmc.held.add(host);
    const onBefore = bmc.count("on", host);
    await app.emit(Array.from({ length: 200 }, (_, i) => dhcp(60_000 + i)));
    const id = await power(sys);
    await until("the BMC to receive the call", async () => bmc.count("on", host) === onBefore + 1);
    const lastSeq = (await app.status()).journal.last_seq;
    await app.kill("SIGKILL");
    bmc.releaseAll();
    app.start();
    await until("the command to be answered", async () => ((await commandState(id)) !== "pending" ? true : null));
    const c = await api(r, "GET", `/racks/${rackId}/commands/${id}`);
    expect(c.json.state).toBe("failed");
    expect(c.json.result.error.code).toBe("interrupted");
    expect(bmc.count("on", host)).toBe(onBefore + 1);
    const n = await allEventsLanded();
    expect(n).toBe(lastSeq);
  });

  it("keeps serving through 10,000 malformed and oversized frames from a hostile client", async () => {
    const tok = await api(r, "POST", "/racks/enrol-tokens", { site: "default", uses: 1 });
    const hostile = await fetch(`${r.url}/api/v1/racks/enrol`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: tok.json.token, hostname: "hostile" }),
    }).then((x) => x.json() as Promise<{ rack_id: string; credential: string }>);
    const ws = new WebSocket(`${r.url.replace("http", "ws")}/api/v1/racks/${hostile.rack_id}/tunnel`, {
      headers: { authorization: `Bearer ${hostile.credential}` },
    });
    await new Promise((res, rej) => ws.once("open", res).once("error", rej));
    let errors = 0;
    ws.on("message", (d) => {
      if (JSON.parse(d.toString()).t === "error") errors++;
    });
    const junk = [
      "nope",
      "{}",
      "[]",
      "null",
      '{"t":"result","v":1}',
      '{"t":"event","v":1,"events":[]}',
      '{"t":"hello","v":9}',
      JSON.stringify({ t: "event", v: 1, events: [{ seq: 1, at: 0, type: "x", data: {} }] }),
    ];
    for (let i = 0; i < 10_000; i++) {
      ws.send(i % 2000 === 1999 ? "y".repeat(4 * 1024 * 1024 + 10) : junk[i % junk.length]!);
      if (i % 500 === 0) await new Promise((res) => setImmediate(res));
    }
    await until("an error frame for each bad frame", async () => errors >= 10_000, 480);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
    const id = await power(machines[4]!);
    await until("the real rack still serving", async () => ((await commandState(id)) === "done" ? true : null));
  }, 300_000);

  it("rotates the credential over the tunnel and reconnects with the new one", async () => {
    const before = JSON.parse(readFileSync(join(app.stateDir, "credential.json"), "utf8")).credential as string;
    expect((await api(r, "POST", `/racks/${rackId}/rotate`, {})).status).toBe(200);
    const after = await until("the new credential on disk", async () => {
      const c = JSON.parse(readFileSync(join(app.stateDir, "credential.json"), "utf8")).credential as string;
      return c !== before ? c : null;
    });
    expect(after).toMatch(new RegExp(`^prk_${rackId}_`));
    const connects = (await app.status()).connects;
    proxy.cut();
    await until("a reconnect with the new credential", async () => (await app.status()).connects > connects && (await app.status()).tunnel === "connected");
    const old = await fetch(`${r.url}/api/v1/racks/${rackId}/tunnel`, { headers: { authorization: `Bearer ${before}` } });
    expect(old.status).toBe(401);
  });

  it("disconnects a revoked rack within 5 s and refuses it", async () => {
    expect((await app.status()).tunnel).toBe("connected");
    const t0 = performance.now();
    const revoked = await api(r, "POST", `/racks/${rackId}/revoke`, {});
    expect(revoked.status).toBe(200);
    await until("the appliance to lose its tunnel", async () => (await app.status()).tunnel !== "connected", 200, 25);
    const elapsed = performance.now() - t0;
    expect(elapsed, "ms from the revoke call to the appliance's disconnection").toBeLessThan(5000);
    await until("the appliance to be refused", async () => (await app.status()).tunnel === "refused", 200, 50);
    expect((await api(r, "GET", `/racks/${rackId}`)).json.connected).toBe(false);
    expect(await app.kill("SIGTERM")).toBe(0);
  });
});
