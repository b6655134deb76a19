// The Redfish driver against the emulator (a fake built from DMTF's public-rackmount1
// mockup) over HTTPS on loopback with a pinned certificate fingerprint.
import { afterEach, describe, expect, it } from "vitest";
import { PowerError } from "../../../appliance/bmc/driver";
import { RedfishDriver, type RedfishDriverOptions } from "../../../appliance/bmc/redfish";
import { type EmulatorOptions, RedfishEmulator } from "../../redfish-emulator";

let emu: RedfishEmulator | undefined;
let driver: RedfishDriver | undefined;

afterEach(async () => {
  await driver?.close();
  await emu?.stop();
  driver = undefined;
  emu = undefined;
});

async function setup(emuOpts: EmulatorOptions = {}, drvOpts: Partial<RedfishDriverOptions> = {}): Promise<{ emu: RedfishEmulator; driver: RedfishDriver }> {
  emu = await RedfishEmulator.start(emuOpts);
  driver = new RedfishDriver({
    baseUrl: emu.url,
    user: "admin",
    password: "password",
    fingerprint: emu.fingerprint256 || undefined,
    timeoutMs: 5_000,
    ...drvOpts,
  });
  return { emu, driver };
}

async function powerError(p: Promise<unknown>): Promise<PowerError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof PowerError)) throw new Error(`expected a PowerError, got ${String(e)}`);
  return e;
}

function resetAllowable(sys: Record<string, unknown>, values: string[] | undefined): void {
  const actions = sys.Actions as Record<string, Record<string, unknown>>;
  const reset = actions["#ComputerSystem.Reset"]!;
  if (values) reset["ResetType@Redfish.AllowableValues"] = values;
  else delete reset["ResetType@Redfish.AllowableValues"];
}

describe("redfish driver: power over HTTPS with a pinned fingerprint", () => {
  it("powers off and on, queries the state, and uses a session it deletes on close", async () => {
    const { emu, driver } = await setup();
    expect(await driver.queryPower()).toBe("on");
    await driver.powerOff();
    expect(emu.system().PowerState).toBe("Off");
    expect(await driver.queryPower()).toBe("off");
    await driver.powerOn();
    expect(emu.system().PowerState).toBe("On");
    expect(emu.resets).toEqual(["ForceOff", "On"]);
    expect(emu.sessions.size).toBe(1);
    const authed = emu.log.filter((l) => l.path !== "/redfish/v1" && l.method !== "POST" && l.method !== "DELETE");
    expect(authed.every((l) => l.auth === "session")).toBe(true);
    await driver.close();
    expect(emu.sessions.size).toBe(0);
    expect(emu.log.at(-1)?.method).toBe("DELETE");
  });

  it("accepts the pin in lower case without colons", async () => {
    emu = await RedfishEmulator.start();
    driver = new RedfishDriver({
      baseUrl: emu.url,
      user: "admin",
      password: "password",
      fingerprint: emu.fingerprint256.replace(/:/g, "").toLowerCase(),
    });
    expect(await driver.queryPower()).toBe("on");
  });

  it("refuses a BMC whose certificate does not match the pin, before sending credentials", async () => {
    const { emu, driver } = await setup({}, { fingerprint: "AB".repeat(32) });
    const e = await powerError(driver.powerOn());
    expect(e.kind).toBe("fatal");
    expect(e.code).toBe("tls_fingerprint_mismatch");
    expect(e.message).toContain(emu.fingerprint256.replace(/:/g, ""));
    expect(emu.log).toEqual([]);
    expect(emu.resets).toEqual([]);
  });

  it("without a pin, verifies against the system CAs and so rejects a self-signed BMC", async () => {
    const { emu, driver } = await setup({}, { fingerprint: undefined });
    const e = await powerError(driver.queryPower());
    expect(e.kind).toBe("fatal");
    expect(e.code).toBe("tls");
    expect(emu.log).toEqual([]);
  });

  it("rejects a malformed pin as a bad setting", () => {
    expect(() => new RedfishDriver({ baseUrl: "https://127.0.0.1:1", user: "a", password: "b", fingerprint: "abc" })).toThrow(/SHA-256/);
  });

  it("serves plain HTTP when the BMC has no TLS", async () => {
    const { emu, driver } = await setup({ tls: false });
    await driver.powerOff();
    expect(emu.system().PowerState).toBe("Off");
  });
});

describe("redfish driver: authentication", () => {
  it("a wrong password is fatal bad credentials", async () => {
    const { emu, driver } = await setup({}, { password: "wrong" });
    const e = await powerError(driver.powerOn());
    expect([e.kind, e.code]).toEqual(["fatal", "bad_credentials"]);
    expect(e.message).toContain('"admin"');
    expect(emu.resets).toEqual([]);
  });

  it("a wrong password with basic auth is fatal bad credentials", async () => {
    const { driver } = await setup({}, { password: "wrong", auth: "basic" });
    const e = await powerError(driver.queryPower());
    expect([e.kind, e.code]).toEqual(["fatal", "bad_credentials"]);
  });

  it("falls back to basic auth when the BMC has no session service", async () => {
    const { emu, driver } = await setup({ sessions: false });
    await driver.powerOff();
    expect(emu.system().PowerState).toBe("Off");
    expect(emu.log.find((l) => l.method === "POST" && l.path.endsWith("ComputerSystem.Reset"))?.auth).toBe("basic");
  });

  it("session-only mode does not fall back", async () => {
    const { driver } = await setup({ sessions: false }, { auth: "session" });
    const e = await powerError(driver.queryPower());
    expect([e.kind, e.code]).toEqual(["fatal", "unsupported"]);
  });

  it("concurrent actions share one login", async () => {
    const { emu, driver } = await setup();
    expect(await Promise.all([driver.queryPower(), driver.queryPower(), driver.queryPower()])).toEqual(["on", "on", "on"]);
    expect(emu.log.filter((l) => l.method === "POST" && l.path.endsWith("/Sessions"))).toHaveLength(1);
    expect(emu.sessions.size).toBe(1);
  });

  it("logs in again when the BMC forgot the session", async () => {
    const { emu, driver } = await setup();
    expect(await driver.queryPower()).toBe("on");
    emu.expireSessions();
    await driver.powerOff();
    expect(emu.system().PowerState).toBe("Off");
    expect(emu.log.filter((l) => l.method === "POST" && l.path.endsWith("/Sessions"))).toHaveLength(2);
  });
});

describe("redfish driver: reset types from what the system advertises", () => {
  it("cycles with ForceRestart when PowerCycle is not offered (the mockup)", async () => {
    const { emu, driver } = await setup();
    await driver.powerCycle();
    expect(emu.resets).toEqual(["ForceRestart"]);
  });

  it("prefers PowerCycle when offered", async () => {
    const { emu, driver } = await setup({ customizeSystem: (s) => resetAllowable(s, ["On", "ForceOff", "PowerCycle"]) });
    await driver.powerCycle();
    expect(emu.resets).toEqual(["PowerCycle"]);
  });

  it("cycles as ForceOff then On when no restart is offered", async () => {
    const { emu, driver } = await setup({ customizeSystem: (s) => resetAllowable(s, ["On", "ForceOff"]) });
    await driver.powerCycle();
    expect(emu.resets).toEqual(["ForceOff", "On"]);
    expect(emu.system().PowerState).toBe("On");
  });

  it("cycling a machine that is off turns it on", async () => {
    const { emu, driver } = await setup({ customizeSystem: (s) => Object.assign(s, { PowerState: "Off" }) });
    await driver.powerCycle();
    expect(emu.resets).toEqual(["On"]);
  });

  it("uses ForceOn when On is not offered, and GracefulShutdown for a soft off", async () => {
    const { emu, driver } = await setup({
      customizeSystem: (s) => resetAllowable(s, ["ForceOn", "ForceOff", "GracefulShutdown"]),
    });
    await driver.powerOff(true);
    await driver.powerOn();
    expect(emu.resets).toEqual(["GracefulShutdown", "ForceOn"]);
  });

  it("leaves a machine that is already in the wanted state alone", async () => {
    const { emu, driver } = await setup();
    await driver.powerOn();
    await driver.powerOff();
    await driver.powerOff(true);
    expect(emu.resets).toEqual(["ForceOff"]);
  });

  it("reset is ForceRestart", async () => {
    const { emu, driver } = await setup();
    await driver.powerReset();
    expect(emu.resets).toEqual(["ForceRestart"]);
  });

  it("an intent the system does not offer is fatal and sends nothing", async () => {
    const { emu, driver } = await setup({ customizeSystem: (s) => resetAllowable(s, ["On", "ForceOff"]) });
    const e = await powerError(driver.powerOff(true));
    expect([e.kind, e.code]).toEqual(["fatal", "unsupported"]);
    expect(e.message).toContain("GracefulShutdown");
    expect(emu.log.some((l) => l.path.endsWith("ComputerSystem.Reset"))).toBe(false);
  });

  it("reads the allowable values from @Redfish.ActionInfo", async () => {
    const info = "/redfish/v1/Systems/437XR1138R2/ResetActionInfo";
    const { emu, driver } = await setup({
      customizeSystem: (s) => {
        resetAllowable(s, undefined);
        const actions = s.Actions as Record<string, Record<string, unknown>>;
        actions["#ComputerSystem.Reset"]!["@Redfish.ActionInfo"] = info;
      },
    });
    emu.addResource(info, {
      "@odata.id": info,
      Parameters: [{ Name: "ResetType", Required: true, AllowableValues: ["On", "ForceOff", "PowerCycle"] }],
    });
    await driver.powerCycle();
    expect(emu.resets).toEqual(["PowerCycle"]);
  });

  it("a BMC that refuses the ResetType with 400 is fatal unsupported", async () => {
    const { emu, driver } = await setup({
      customizeSystem: (s) => {
        resetAllowable(s, undefined);
        s.PowerState = "Off";
      },
    });
    emu.inject("reset", {
      status: 400,
      body: { error: { code: "Base.1.8.ActionParameterValueNotInList", message: "no" } },
    });
    const e = await powerError(driver.powerOn());
    expect([e.kind, e.code]).toEqual(["fatal", "unsupported"]);
  });
});

describe("redfish driver: boot override and identify", () => {
  it("sets PXE once in UEFI mode", async () => {
    const { emu, driver } = await setup();
    await driver.setBootDevice({ device: "pxe", persistent: false, efi: true });
    expect(emu.system().Boot).toMatchObject({
      BootSourceOverrideTarget: "Pxe",
      BootSourceOverrideEnabled: "Once",
      BootSourceOverrideMode: "UEFI",
    });
  });

  it("sets disk continuous in legacy mode", async () => {
    const { emu, driver } = await setup();
    await driver.setBootDevice({ device: "disk", persistent: true, efi: false });
    expect(emu.system().Boot).toMatchObject({
      BootSourceOverrideTarget: "Hdd",
      BootSourceOverrideEnabled: "Continuous",
      BootSourceOverrideMode: "Legacy",
    });
  });

  it("HTTP boot is UefiHttp where offered and fatal where not", async () => {
    const { emu, driver } = await setup();
    const e = await powerError(driver.setBootDevice({ device: "http", persistent: false, efi: true }));
    expect([e.kind, e.code]).toEqual(["fatal", "unsupported"]);
    const boot = emu.system().Boot as Record<string, string[]>;
    boot["BootSourceOverrideTarget@Redfish.AllowableValues"]!.push("UefiHttp");
    await driver.setBootDevice({ device: "http", persistent: false, efi: true });
    expect(emu.system().Boot).toMatchObject({ BootSourceOverrideTarget: "UefiHttp" });
  });

  it("HTTP boot with legacy BIOS is a bad setting", async () => {
    const { emu, driver } = await setup();
    const e = await powerError(driver.setBootDevice({ device: "http", persistent: false, efi: false }));
    expect([e.kind, e.code]).toEqual(["fatal", "bad_settings"]);
    expect(emu.log).toEqual([]);
  });

  it("sends the ETag as If-Match for BMCs that require it", async () => {
    const { emu, driver } = await setup({ requireIfMatch: true });
    await driver.setBootDevice({ device: "pxe", persistent: false, efi: true });
    expect(emu.log.find((l) => l.method === "PATCH")?.ifMatch).toMatch(/^W\/"/);
  });

  it("blinks IndicatorLED, and seconds=0 turns it off", async () => {
    const { emu, driver } = await setup();
    await driver.identify({});
    expect(emu.system().IndicatorLED).toBe("Blinking");
    await driver.identify({ seconds: 0 });
    expect(emu.system().IndicatorLED).toBe("Off");
  });

  it("uses LocationIndicatorActive where the system has it", async () => {
    const { emu, driver } = await setup({
      customizeSystem: (s) => {
        delete s.IndicatorLED;
        s.LocationIndicatorActive = false;
      },
    });
    await driver.identify({ seconds: 15, force: true });
    expect(emu.system().LocationIndicatorActive).toBe(true);
  });
});

describe("redfish driver: error classes", () => {
  it("a 5xx is transient", async () => {
    const { emu, driver } = await setup();
    emu.inject("reset", { status: 503 });
    const e = await powerError(driver.powerOff());
    expect([e.kind, e.code]).toEqual(["transient", "bmc_error"]);
    await driver.powerOff();
    expect(emu.system().PowerState).toBe("Off");
  });

  it("a dropped connection is transient", async () => {
    const { emu, driver } = await setup();
    emu.inject("reset", { drop: true });
    const e = await powerError(driver.powerOff());
    expect([e.kind, e.code]).toEqual(["transient", "connection"]);
  });

  it("a BMC that stops answering times out as transient, without hanging", async () => {
    const { emu, driver } = await setup({}, { timeoutMs: 300 });
    emu.inject("get", { hang: true });
    const e = await powerError(driver.queryPower());
    expect([e.kind, e.code]).toEqual(["transient", "connection"]);
  });

  it("a refused connection is transient", async () => {
    const { emu, driver } = await setup();
    await emu.stop();
    const e = await powerError(driver.queryPower());
    expect([e.kind, e.code]).toEqual(["transient", "connection"]);
    expect(e.message).toContain("ECONNREFUSED");
  });

  it("a response that is not a Redfish resource is fatal", async () => {
    const { emu, driver } = await setup();
    emu.inject("get", { status: 200, body: { Members: "not a list" } });
    const e = await powerError(driver.queryPower());
    expect([e.kind, e.code]).toEqual(["fatal", "invalid_response"]);
  });

  it("an oversized response is refused as fatal", async () => {
    const { emu, driver } = await setup();
    emu.inject("get", { status: 200, body: { pad: "x".repeat(5 << 20) } });
    const e = await powerError(driver.queryPower());
    expect([e.kind, e.code]).toEqual(["fatal", "invalid_response"]);
  });

  it("an unknown system id is a bad setting", async () => {
    const { driver } = await setup({}, { systemId: "nope" });
    const e = await powerError(driver.queryPower());
    expect([e.kind, e.code]).toEqual(["fatal", "bad_settings"]);
    expect(e.message).toContain("437XR1138R2");
  });
});
