// The whole power path: API call → region (workerd) → rack tunnel → a real appliance process →
// our RMCP+ driver → OpenIPMI's ipmi_sim; the result lands on the machine and in its events,
// and ipmitool, a second client, sees the same chassis state. At the end, none of the secrets
// the run used (BMC passwords, API keys, the enrolment token, the rack credential) is in the
// region's or the appliance's logs.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, Appliance, cli, type Region, region, stopRegion, until } from "../tunnel/rig";
import { type IpmiSim, ipmitool, startIpmiSim } from "./ipmi-sim";

const PORT = 9671;
let r: Region;
let sim: IpmiSim;
let app: Appliance;
let rackId = "";
let sys = "";
let stateDir = "";
let enrolToken = "";
// Distinct enough that a hit in the logs is this secret and nothing else (IPMI passwords: ≤ 20 bytes).
const BMC = { user: "admin", password: `bmc-${randomBytes(6).toString("hex")}`, cipher: 3 };
const WRONG_BMC_PASSWORD = `bad-${randomBytes(6).toString("hex")}`;

beforeAll(async () => {
  sim = await startIpmiSim({
    port: PORT,
    dir: mkdtempSync(join(tmpdir(), "plinth-ipmi-path-")),
    users: [{ id: 2, name: BMC.user, password: BMC.password, priv: "admin" }],
  });
  r = await region(undefined, undefined, { logs: true });
  const tok = await api(r, "POST", "/racks/enrol-tokens", { site: "default" });
  const dir = mkdtempSync(join(tmpdir(), "plinth-appliance-ipmi-"));
  stateDir = dir;
  enrolToken = tok.json.token;
  const enrol = cli(["enrol", "--state-dir", dir, "--hostname", "rack-ipmi", "--region", r.url, "--token", tok.json.token]);
  if (enrol.code !== 0) throw new Error(`enrol: ${enrol.out}`);
  app = new Appliance(dir, r.url);
  app.start();
  rackId = await until("the rack to connect", async () => {
    const racks = await api(r, "GET", "/racks");
    return racks.json.items.find((x: { hostname: string; connected: boolean }) => x.hostname === "rack-ipmi" && x.connected)?.id as string | undefined;
  });
  const m = await api(r, "POST", "/machines", {
    hostname: "ipmi-path-1",
    mac_addresses: ["52:54:03:00:00:01"],
    power_type: "ipmi",
    power_parameters: { power_address: "127.0.0.1", power_port: PORT, power_user: BMC.user, power_pass: BMC.password, privilege_level: "ADMIN" },
  });
  if (m.status !== 201) throw new Error(`machine: ${m.status} ${JSON.stringify(m.json)}`);
  sys = m.json.system_id;
}, 240_000);

afterAll(async () => {
  await app?.kill("SIGTERM");
  if (r) await stopRegion(r.child);
  await sim?.stop();
});

async function run(action: string, body: object = {}) {
  const res = await api(r, "POST", `/machines/${sys}/${action}`, body);
  expect(res.status, JSON.stringify(res.json)).toBe(202);
  const id = res.json.command_id as string;
  return until(`${action} to finish`, async () => {
    const c = await api(r, "GET", `/racks/${rackId}/commands/${id}`);
    return c.json.state === "pending" ? null : c.json;
  });
}

describe("power through the whole path to ipmi_sim", () => {
  it("power on: the BMC is on, the machine says so, ipmitool agrees, an event records it", async () => {
    const c = await run("power_on");
    expect(c.state).toBe("done");
    expect(sim.state("power")).toBe("1");
    expect(ipmitool(PORT, ["chassis", "power", "status"], BMC)).toMatch(/is on/);
    const m = await api(r, "GET", `/machines/${sys}`);
    expect(m.json.power_state).toBe("on");
    expect(m.json.power_checked_at).toBeGreaterThan(0);
    const ev = await api(r, "GET", `/events?machine=${sys}&limit=50`);
    expect(ev.json.items.map((e: { type: string }) => e.type)).toEqual(expect.arrayContaining(["power.power_on"]));
  });

  it("power off and a query agree with ipmitool", async () => {
    expect((await run("power_off")).state).toBe("done");
    expect(ipmitool(PORT, ["chassis", "power", "status"], BMC)).toMatch(/is off/);
    const q = await api(r, "POST", `/machines/${sys}/query_power_state`, {});
    expect(q.status).toBe(202);
    const m = await until("power_state off", async () => {
      const x = await api(r, "GET", `/machines/${sys}`);
      return x.json.power_state === "off" ? x.json : null;
    });
    expect(m.power_state).toBe("off");
  });

  it("identify reaches the chassis", async () => {
    expect((await run("identify", { seconds: 15 })).state).toBe("done");
    expect(sim.calls().some((l) => l.includes("identify"))).toBe(true);
  });

  it("a change made behind Plinth's back (ipmitool) is found by the power poll and recorded as an event", async () => {
    expect((await api(r, "GET", `/machines/${sys}`)).json.power_state).toBe("off");
    expect(ipmitool(PORT, ["chassis", "power", "on"], BMC)).toMatch(/Up\/On/);
    // What the cron trigger does each minute, run now (wrangler dev fires no schedule): the
    // machine has never been polled, so its slot has come.
    const poll = await api(r, "POST", "/power/poll", {});
    expect(poll.status).toBe(200);
    expect(poll.json).toMatchObject({ due: 1, sent: 1, skipped: 0, commands: [{ rack_id: rackId, machines: 1 }] });
    const m = await until("the poll to record power on", async () => {
      const x = await api(r, "GET", `/machines/${sys}`);
      return x.json.power_state === "on" ? x.json : null;
    });
    expect(m.power_checked_at).toBeGreaterThan(0);
    const ev = await api(r, "GET", `/events?machine=${sys}&type=power.changed_outside`);
    expect(ev.json.items).toHaveLength(1);
    expect(ev.json.items[0]).toMatchObject({ level: "WARNING", description: expect.stringMatching(/from off to on outside Plinth/) });
    const polls = await api(r, "GET", `/racks/${rackId}`);
    expect(polls.json.pending_commands).toBe(0);
    // Back off through Plinth for the tests that follow.
    expect((await run("power_off")).state).toBe("done");
  });

  it("a wrong password is a fatal error on the command, not a hang", async () => {
    const bad = await api(r, "PATCH", `/machines/${sys}`, { power_parameters: { power_pass: WRONG_BMC_PASSWORD } });
    expect(bad.status).toBe(200);
    const c = await run("power_on");
    expect(c.state).toBe("failed");
    expect(JSON.stringify(c.result)).toMatch(/fatal|password|auth/i);
  });

  it("no secret the run used is in the region's or the appliance's logs", async () => {
    // A MAAS key too, sent in the query string as some clients do: a request log must not keep it.
    const made = await api(r, "POST", "/keys", { name: "log-check" });
    const [ck, tk, ts] = (made.json.maas_api_key as string).split(":") as [string, string, string];
    const q = new URLSearchParams({ oauth_consumer_key: ck, oauth_token: tk, oauth_signature_method: "PLAINTEXT", oauth_signature: `&${ts}` });
    expect((await fetch(`${r.url}/MAAS/api/2.0/users/?op=whoami&${q}`)).status).toBe(200);
    // And a bad bearer key, which is refused and may be logged as refused, but not echoed.
    const badKey = `plk_${"a".repeat(12)}_${randomBytes(16).toString("hex")}`;
    expect((await fetch(`${r.url}/api/v1/me`, { headers: { authorization: `Bearer ${badKey}` } })).status).toBe(401);
    const cred = JSON.parse(readFileSync(join(stateDir, "credential.json"), "utf8")) as { credential: string };
    const secrets: Record<string, string> = {
      "BMC password": BMC.password,
      "wrong BMC password": WRONG_BMC_PASSWORD,
      "admin API key secret": r.admin.split("_")[2]!,
      "MAAS token secret": ts,
      "bad bearer key": badKey,
      "enrolment token": enrolToken,
      "rack credential": cred.credential,
    };
    for (const [what, s] of Object.entries(secrets)) expect(s.length, what).toBeGreaterThan(10);
    // Give the last requests' log lines time to arrive.
    await new Promise((ok) => setTimeout(ok, 500));
    const logs = { region: (r.logs ?? []).join("\n"), appliance: app.output };
    // Not a vacuous check: both logs hold this run's traffic (wrangler logs each request's path).
    expect(logs.region).toContain("/api/v1/me");
    expect(logs.appliance).toContain(rackId);
    const found = Object.entries(logs).flatMap(([where, text]) =>
      Object.entries(secrets)
        .filter(([, s]) => text.includes(s))
        .map(([what]) => `${what} in the ${where}'s log`),
    );
    expect(found).toEqual([]);
  });
});
