// The appliance side of the power poll: the executor runs `power.poll` commands through the real
// webhook driver against a slow HTTP BMC on loopback, with one cap on queries in flight shared
// by every poll; each machine gets its own answer (a BMC that fails is that machine's error).
// Also: a machine's commands run in the order they arrived (boot.set before power.on).
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandLedger } from "../../../appliance/journal/ledger";
import { Executor } from "../../../appliance/commands/executor";
import { Limiter } from "../../../appliance/commands/limiter";
import type { CommandMessage } from "../../../shared/tunnel/protocol";

let server: Server;
let port = 0;
let inFlight = 0;
let peak = 0;
const requests: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const [, action, sys] = (req.url ?? "").split("/");
    requests.push(`${action} ${sys}`);
    inFlight++;
    peak = Math.max(peak, inFlight);
    setTimeout(() => {
      inFlight--;
      if (sys?.startsWith("broken")) {
        res.statusCode = 500;
        res.end("BMC on fire");
        return;
      }
      res.end(action === "q" ? `status: ${sys?.startsWith("on") ? "on" : "off"}` : "ok");
    }, 40);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

function hook(sys: string) {
  const b = `http://127.0.0.1:${port}`;
  return {
    power_on_uri: `${b}/on/${sys}`,
    power_off_uri: `${b}/off/${sys}`,
    power_query_uri: `${b}/q/${sys}`,
    power_boot_uri: `${b}/boot/${sys}`,
    power_on_regex: "status: on",
    power_off_regex: "status: off",
  };
}

const machine = (sys: string) => ({ system_id: sys, power_type: "webhook", power_parameters: hook(sys) });
let n = 0;
const command = (type: CommandMessage["type"], params: Record<string, unknown>): CommandMessage => ({
  t: "command",
  v: 1,
  id: `c-poll-${++n}`,
  type,
  params,
  deadline: Date.now() + 60_000,
});

describe("power.poll on the appliance", () => {
  it("queries every machine once, at most `cap` at a time across polls, and answers each", async () => {
    const ledger = await CommandLedger.open(mkdtempSync(join(tmpdir(), "plinth-poll-")));
    const limiter = new Limiter(3);
    const ex = new Executor(ledger, { log: () => {}, pollLimiter: limiter, pollQueryTimeoutMs: 5000 });
    peak = 0;
    requests.length = 0;
    const a = ["on-a1", "off-a2", "on-a3", "broken-a4", "off-a5", "on-a6", "off-a7", "on-a8"];
    const b = ["on-b1", "off-b2", "on-b3", "off-b4", "on-b5", "off-b6"];
    // A machine whose BMC address does not answer at all (nothing listens on port 9).
    const dead = { system_id: "dead-1", power_type: "webhook", power_parameters: { ...hook("dead-1"), power_query_uri: "http://127.0.0.1:9/q/dead-1" } };
    const t0 = Date.now();
    const [ra, rb] = await Promise.all([
      ex.handle(command("power.poll", { machines: [...a.map(machine), dead] })),
      ex.handle(command("power.poll", { machines: b.map(machine) })),
    ]);
    const took = Date.now() - t0;
    expect(ra.outcome.ok).toBe(true);
    expect(rb.outcome.ok).toBe(true);
    const states = (ra.outcome.data as { states: { system_id: string; state?: string; error?: { code: string; kind?: string } }[] }).states;
    expect(states.map((s) => s.system_id)).toEqual([...a, "dead-1"]);
    for (const s of states) {
      if (s.system_id.startsWith("on")) expect(s).toEqual({ system_id: s.system_id, state: "on" });
      if (s.system_id.startsWith("off")) expect(s).toEqual({ system_id: s.system_id, state: "off" });
    }
    expect(states.find((s) => s.system_id === "broken-a4")!.error).toBeDefined();
    expect(states.find((s) => s.system_id === "dead-1")!.error).toMatchObject({ kind: "transient" });
    expect((rb.outcome.data as { states: unknown[] }).states).toHaveLength(6);
    // One query per machine (no retry schedule inside a poll), never more than 3 in flight.
    expect(requests.filter((r) => r.startsWith("q ")).sort()).toEqual([...a, ...b].map((s) => `q ${s}`).sort());
    expect(peak).toBe(3);
    expect(limiter.peak).toBe(3);
    expect(limiter.inFlight).toBe(0);
    // 15 queries of 40 ms, 3 at a time: at least 5 rounds.
    expect(took).toBeGreaterThanOrEqual(5 * 40 - 10);
    // The ledger remembers it like any command: a repeat is answered, not run again.
    const before = requests.length;
    const again = await ex.handle({ ...command("power.poll", {}), id: ra.id });
    expect(again.replay).toBe(true);
    expect(requests.length).toBe(before);
  });

  it("refuses a malformed poll as a fatal bad_settings error", async () => {
    const ledger = await CommandLedger.open(mkdtempSync(join(tmpdir(), "plinth-poll-")));
    const ex = new Executor(ledger, { log: () => {} });
    const r = await ex.handle(command("power.poll", { machines: "all of them" }));
    expect(r.outcome).toMatchObject({ ok: false, error: { code: "bad_settings", kind: "fatal" } });
  });

  it("runs one machine's commands in the order they arrived: boot.set, then power.on", async () => {
    const ledger = await CommandLedger.open(mkdtempSync(join(tmpdir(), "plinth-order-")));
    const ex = new Executor(ledger, { log: () => {}, retrySleep: async () => {} });
    requests.length = 0;
    const p = { system_id: "on-order", power_type: "webhook", power_parameters: hook("on-order") };
    const boot = ex.handle(command("boot.set", { ...p, device: "pxe", persistent: false, efi: false }));
    const on = ex.handle(command("power.on", p));
    const [rb, ro] = await Promise.all([boot, on]);
    expect(rb.outcome.ok).toBe(true);
    expect(ro.outcome.ok).toBe(true);
    expect(requests.filter((r) => r.endsWith("on-order"))[0]).toBe("boot on-order");
    expect(requests.indexOf("on on-order")).toBeGreaterThan(requests.indexOf("boot on-order"));
  });
});
