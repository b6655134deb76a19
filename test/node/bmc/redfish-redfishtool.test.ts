// The emulator proven against a real Redfish client: Debian's redfishtool (DMTF's own CLI)
// drives it over HTTPS, and its view and our driver's view of the system must agree.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedfishDriver } from "../../../appliance/bmc/redfish";
import { type EmulatorOptions, RedfishEmulator } from "../../redfish-emulator";

const run = promisify(execFile);
let emu: RedfishEmulator | undefined;
let driver: RedfishDriver | undefined;

beforeAll(async () => {
  try {
    await run("redfishtool", ["-V"], { timeout: 20_000 });
  } catch (e) {
    throw new Error(`redfishtool is required (apt-get install redfishtool; see test/deps/redfish.txt): ${String(e)}`);
  }
});

afterEach(async () => {
  await driver?.close();
  await emu?.stop();
  driver = undefined;
  emu = undefined;
});

async function start(opts: EmulatorOptions = {}): Promise<{ emu: RedfishEmulator; driver: RedfishDriver }> {
  emu = await RedfishEmulator.start(opts);
  driver = new RedfishDriver({ baseUrl: emu.url, user: "admin", password: "password", fingerprint: emu.fingerprint256 });
  return { emu, driver };
}

/** Runs redfishtool against the emulator; never throws, so failures can be asserted. */
async function rt(e: RedfishEmulator, args: string[], password = "password") {
  const base = ["-n", "-r", `127.0.0.1:${e.port}`, "-u", "admin", "-p", password, "-S", "Always", "-T", "10"];
  try {
    const r = await run("redfishtool", [...base, ...args], { timeout: 30_000, encoding: "utf8" });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const x = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof x.code !== "number") throw err;
    return { code: x.code, stdout: x.stdout ?? "", stderr: x.stderr ?? "" };
  }
}

async function rtJson(e: RedfishEmulator, args: string[]): Promise<Record<string, unknown>> {
  const r = await rt(e, args);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe("emulator cross-checked with redfishtool", () => {
  it("redfishtool powers off, our driver sees it; our driver powers on, redfishtool sees it", async () => {
    const { emu, driver } = await start();
    expect((await rt(emu, ["Systems", "-I", "437XR1138R2", "reset", "ForceOff"])).code).toBe(0);
    expect(await driver.queryPower()).toBe("off");
    await driver.powerOn();
    expect(await rtJson(emu, ["Systems", "-I", "437XR1138R2", "-P", "PowerState"])).toEqual({ PowerState: "On" });
    expect(emu.resets).toEqual(["ForceOff", "On"]);
  });

  it("redfishtool's session login and logout work and leave no session behind", async () => {
    const { emu } = await start();
    expect((await rt(emu, ["-A", "Session", "Systems", "-1", "reset", "ForceRestart"])).code).toBe(0);
    expect(emu.resets).toEqual(["ForceRestart"]);
    const reset = emu.log.find((l) => l.path.endsWith("ComputerSystem.Reset"));
    expect(reset?.auth).toBe("session");
    expect(emu.log.some((l) => l.method === "DELETE" && l.auth === "session")).toBe(true);
    expect(emu.sessions.size).toBe(0);
  });

  it("a boot override set by our driver reads back in redfishtool", async () => {
    const { emu, driver } = await start();
    await driver.setBootDevice({ device: "disk", persistent: true, efi: false });
    const { Boot } = await rtJson(emu, ["Systems", "-1", "-P", "Boot"]);
    expect(Boot).toMatchObject({
      BootSourceOverrideTarget: "Hdd",
      BootSourceOverrideEnabled: "Continuous",
      BootSourceOverrideMode: "Legacy",
    });
  });

  it("redfishtool's PATCH carries the ETag as If-Match, which the emulator checks", async () => {
    const { emu } = await start({ requireIfMatch: true });
    expect((await rt(emu, ["Systems", "-1", "setBootOverride", "Once", "Pxe"])).code).toBe(0);
    expect((await rt(emu, ["Systems", "-1", "setIndicatorLed", "Blinking"])).code).toBe(0);
    expect(emu.system().IndicatorLED).toBe("Blinking");
    const patches = emu.log.filter((l) => l.method === "PATCH");
    expect(patches).toHaveLength(2);
    expect(patches.every((p) => p.ifMatch?.startsWith('W/"'))).toBe(true);
  });

  it("the emulator refuses a ResetType the system does not advertise, with a Redfish error", async () => {
    const { emu } = await start();
    const r = await rt(emu, ["raw", "POST", "/redfish/v1/Systems/437XR1138R2/Actions/ComputerSystem.Reset", "-d", '{"ResetType": "PowerCycle"}']);
    expect(r.code).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toContain("400");
    expect(emu.resets).toEqual([]);
  });

  it("a wrong password fails in redfishtool too", async () => {
    const { emu } = await start();
    const r = await rt(emu, ["Systems", "-1"], "wrong");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("401");
  });

  it("service root, versions and the Systems collection are what the mockup says", async () => {
    const { emu } = await start();
    expect(await rtJson(emu, ["versions"])).toEqual({ v1: "/redfish/v1/" });
    const root = await rtJson(emu, ["root"]);
    expect(root).toMatchObject({ RedfishVersion: "1.15.0", Systems: { "@odata.id": "/redfish/v1/Systems" } });
    const systems = await rtJson(emu, ["Systems"]);
    expect(systems.Members).toEqual([{ "@odata.id": "/redfish/v1/Systems/437XR1138R2" }]);
  });
});
