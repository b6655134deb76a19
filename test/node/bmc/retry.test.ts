// MAAS's retry policy, with a scripted fake driver (one queue of outcomes per operation,
// like rufio's fake BMC) and an injected sleep, so nothing waits in real time.
import { describe, expect, it } from "vitest";
import { POWER_RETRY_SCHEDULE_S, type PowerDriver, PowerError, type PowerState } from "../../../appliance/bmc/driver";
import { RedfishDriver } from "../../../appliance/bmc/redfish";
import { runPowerAction } from "../../../appliance/bmc/retry";
import { RedfishEmulator } from "../../redfish-emulator";

type Outcome = PowerError | Error | PowerState | "ok";

class ScriptedDriver implements PowerDriver {
  readonly type = "scripted";
  readonly calls: string[] = [];
  constructor(
    private readonly script: Record<string, Outcome[]>,
    private readonly fallback: Record<string, Outcome> = {},
  ) {}
  private async run(op: string): Promise<PowerState | undefined> {
    this.calls.push(op);
    const next = this.script[op]?.shift() ?? this.fallback[op] ?? "ok";
    if (next instanceof Error) throw next;
    return next === "ok" ? undefined : next;
  }
  async powerOn() {
    await this.run("on");
  }
  async powerOff() {
    await this.run("off");
  }
  async powerCycle() {
    await this.run("cycle");
  }
  async queryPower(): Promise<PowerState> {
    return (await this.run("query")) ?? "unknown";
  }
  async identify() {
    await this.run("identify");
  }
  async setBootDevice() {
    await this.run("boot");
  }
}

const transient = () => new PowerError("transient", "connection", "BMC unreachable");
const fatal = () => new PowerError("fatal", "bad_credentials", "wrong password");

function recorder() {
  const slept: number[] = [];
  return { slept, sleep: async (s: number) => void slept.push(s) };
}

describe("retry policy", () => {
  it("never retries a fatal error", async () => {
    const d = new ScriptedDriver({ on: [fatal()] });
    const r = recorder();
    await expect(runPowerAction(d, { kind: "on" }, { sleep: r.sleep })).rejects.toMatchObject({
      kind: "fatal",
      code: "bad_credentials",
    });
    expect(d.calls).toEqual(["on"]);
    expect(r.slept).toEqual([]);
  });

  it("retries transient errors on the schedule, confirming by query before each retry", async () => {
    const d = new ScriptedDriver({ on: [transient(), transient()], query: ["off", "off", "on"] });
    const r = recorder();
    const retried: number[] = [];
    const out = await runPowerAction(d, { kind: "on" }, { sleep: r.sleep, onRetry: (a) => retried.push(a) });
    expect(out).toEqual({ state: "on", attempts: 3 });
    expect(r.slept).toEqual([1, 2]);
    expect(retried).toEqual([1, 2]);
    expect(d.calls).toEqual(["on", "query", "on", "query", "on", "query"]);
  });

  it("does not re-send when the query shows the failed-looking request worked", async () => {
    const d = new ScriptedDriver({ off: [transient()], query: ["off"] });
    const r = recorder();
    const out = await runPowerAction(d, { kind: "off" }, { sleep: r.sleep });
    expect(out).toEqual({ state: "off", attempts: 1 });
    expect(d.calls).toEqual(["off", "query"]);
  });

  it("keeps waiting for a BMC that accepted the action but has not got there yet", async () => {
    const d = new ScriptedDriver({ query: ["off", "off", "on"] });
    const r = recorder();
    const out = await runPowerAction(d, { kind: "on" }, { sleep: r.sleep });
    expect(out).toEqual({ state: "on", attempts: 2 });
    expect(d.calls).toEqual(["on", "query", "query", "on", "query"]);
  });

  it("gives up after the whole schedule with a transient error", async () => {
    const d = new ScriptedDriver({}, { on: transient(), query: "off" });
    const r = recorder();
    const err = await runPowerAction(d, { kind: "on" }, { sleep: r.sleep }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PowerError);
    expect(err).toMatchObject({ kind: "transient", code: "connection" });
    expect((err as Error).message).toMatch(/gave up after 8 attempts over 35 s/);
    expect(r.slept).toEqual([...POWER_RETRY_SCHEDULE_S]);
    expect(d.calls.filter((c) => c === "on")).toHaveLength(POWER_RETRY_SCHEDULE_S.length + 1);
  });

  it("a fatal error from the confirming query ends the run", async () => {
    const d = new ScriptedDriver({ on: [transient()], query: [fatal()] });
    const r = recorder();
    await expect(runPowerAction(d, { kind: "on" }, { sleep: r.sleep })).rejects.toMatchObject({ kind: "fatal" });
    expect(d.calls).toEqual(["on", "query"]);
  });

  it("a transient error from the confirming query is retried like any other", async () => {
    const d = new ScriptedDriver({ query: [transient(), "on"] });
    const r = recorder();
    const out = await runPowerAction(d, { kind: "on" }, { sleep: r.sleep });
    expect(out).toEqual({ state: "on", attempts: 1 });
    expect(r.slept).toEqual([1]);
  });

  it("retries actions without a power state and does not query for them", async () => {
    const d = new ScriptedDriver({ identify: [transient()], boot: [transient(), transient()] });
    const r = recorder();
    expect(await runPowerAction(d, { kind: "identify", seconds: 10 }, { sleep: r.sleep })).toEqual({
      state: undefined,
      attempts: 2,
    });
    await runPowerAction(d, { kind: "boot", options: { device: "pxe", persistent: false, efi: true } }, { sleep: r.sleep });
    expect(d.calls).toEqual(["identify", "identify", "boot", "boot", "boot"]);
    expect(r.slept).toEqual([1, 1, 2]);
  });

  it("a query is retried and returns the state", async () => {
    const d = new ScriptedDriver({ query: [transient(), "off"] });
    const out = await runPowerAction(d, { kind: "query" }, { sleep: recorder().sleep });
    expect(out).toEqual({ state: "off", attempts: 2 });
  });

  it("an unknown state (manual, webhook without a query) counts as reached", async () => {
    const d = new ScriptedDriver({ query: ["unknown"] });
    const out = await runPowerAction(d, { kind: "off" }, { sleep: recorder().sleep });
    expect(out).toEqual({ state: "unknown", attempts: 1 });
  });

  it("a driver bug (not a PowerError) is fatal, not retried", async () => {
    const d = new ScriptedDriver({ cycle: [new TypeError("x is undefined")] });
    await expect(runPowerAction(d, { kind: "cycle" }, { sleep: recorder().sleep })).rejects.toMatchObject({
      kind: "fatal",
      code: "internal",
    });
    expect(d.calls).toEqual(["cycle"]);
  });

  it("reset on a driver without it is fatal unsupported", async () => {
    const d = new ScriptedDriver({});
    await expect(runPowerAction(d, { kind: "reset" }, { sleep: recorder().sleep })).rejects.toMatchObject({
      kind: "fatal",
      code: "unsupported",
    });
  });

  it("recovers a Redfish power on through a 503 from the emulator", async () => {
    const emu = await RedfishEmulator.start({ customizeSystem: (s) => Object.assign(s, { PowerState: "Off" }) });
    const driver = new RedfishDriver({ baseUrl: emu.url, user: "admin", password: "password", fingerprint: emu.fingerprint256 });
    try {
      emu.inject("reset", { status: 503 });
      const r = recorder();
      const out = await runPowerAction(driver, { kind: "on" }, { sleep: r.sleep });
      expect(out).toEqual({ state: "on", attempts: 2 });
      expect(r.slept).toEqual([1]);
      expect(emu.resets).toEqual(["On"]);
    } finally {
      await driver.close();
      await emu.stop();
    }
  });
});
