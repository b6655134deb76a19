// Cipher suite 17 (HMAC-SHA256, modern BMCs' default), which ipmi_sim lacks: the emulator is
// first proven with the real `ipmitool -I lanplus -C 17` and `-C 3`, then our driver runs
// every command against it, and the refusals ipmi_sim cannot show (suite 0 only, privilege
// above the account's limit, boot options locked by someone else).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PowerError } from "../../../appliance/bmc/driver";
import { IpmiDriver, type IpmiDriverOptions } from "../../../appliance/bmc/ipmi";
import { IpmiEmulator } from "./ipmi-emulator";
import { ipmitoolAsync } from "./ipmi-sim";

const PORT = 9651;
const users = [
  { name: "admin", password: "password", maxPrivilege: 4 },
  { name: "viewer", password: "viewpass", maxPrivilege: 2 },
];
let bmc: IpmiEmulator;
const extra: IpmiEmulator[] = [];
const drivers: IpmiDriver[] = [];

function driver(o: Partial<IpmiDriverOptions> = {}): IpmiDriver {
  const d = new IpmiDriver({ host: "127.0.0.1", port: PORT, user: "admin", password: "password", timeoutMs: 500, retries: 1, ...o });
  drivers.push(d);
  return d;
}

const tool = (cipher: number, args: string[]) => ipmitoolAsync(PORT, args, { user: "admin", password: "password", cipher });

async function powerError(p: Promise<unknown>): Promise<PowerError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PowerError);
  return e as PowerError;
}

beforeAll(async () => {
  bmc = new IpmiEmulator({ users, suites: [3, 17] });
  await bmc.start(PORT);
});

beforeEach(() => {
  bmc.state.bootInProgress = false;
});

afterAll(async () => {
  for (const d of drivers) await d.close();
  await bmc?.stop();
  for (const e of extra) await e.stop();
});

describe("the emulator is a BMC ipmitool accepts", () => {
  for (const cipher of [17, 3]) {
    it(`ipmitool -C ${cipher}: power, boot device, identify, mc info`, async () => {
      await tool(cipher, ["chassis", "power", "on"]);
      expect(bmc.state.power).toBe(true);
      expect(await tool(cipher, ["chassis", "power", "status"])).toContain("Chassis Power is on");
      await tool(cipher, ["chassis", "power", "off"]);
      expect(bmc.state.power).toBe(false);
      await tool(cipher, ["chassis", "bootdev", "pxe", "options=efiboot,persistent"]);
      expect(bmc.state.bootFlags).toEqual(Buffer.from([0xe0, 0x04, 0, 0, 0]));
      await tool(cipher, ["chassis", "identify", "9"]);
      expect(bmc.state.identify).toBe("9 0");
      expect(await tool(cipher, ["mc", "info"])).toContain("Firmware Revision         : 2.17");
    });
  }
});

describe("our driver over suite 17", () => {
  it("chooses suite 17 when the BMC lists 3 and 17, and reuses the session", async () => {
    const d = driver();
    await d.queryPower();
    expect((await d.currentSession())?.suite).toBe(17);
    const opened = bmc.state.sessionsOpened;
    for (let i = 0; i < 5; i++) await d.queryPower();
    expect(bmc.state.sessionsOpened).toBe(opened);
    await d.close();
    expect(await d.currentSession()).toBeUndefined();
  });

  it("power on/off/cycle/reset/soft, cross-checked with ipmitool -C 17", async () => {
    const d = driver();
    await d.powerOn();
    expect(await tool(17, ["chassis", "power", "status"])).toContain("is on");
    await d.powerOff();
    expect(await tool(17, ["chassis", "power", "status"])).toContain("is off");
    await d.powerCycle();
    expect(bmc.state.power).toBe(true);
    await d.powerCycle();
    expect(bmc.state.log.slice(-1)).toEqual(["0:2"]);
    await d.powerReset();
    expect(await d.queryPower()).toBe("on");
    await d.powerOff(true);
    expect(await d.queryPower()).toBe("off");
  });

  it("boot flags exactly as asked; ipmitool reads them, and we read what ipmitool set", async () => {
    const d = driver();
    await d.setBootDevice({ device: "pxe", persistent: false, efi: true });
    expect(bmc.state.bootFlags).toEqual(Buffer.from([0xa0, 0x04, 0, 0, 0]));
    expect(bmc.state.bootInProgress).toBe(false);
    const shown = await tool(17, ["chassis", "bootparam", "get", "5"]);
    expect(shown).toContain("Force PXE");
    expect(shown).toContain("Options apply to only next boot");
    await d.setBootDevice({ device: "disk", persistent: true, efi: false });
    expect(bmc.state.bootFlags).toEqual(Buffer.from([0xc0, 0x08, 0, 0, 0]));
    await tool(17, ["chassis", "bootdev", "pxe", "options=persistent"]);
    expect(await d.getBootDevice()).toMatchObject({ device: "pxe", persistent: true, efi: false, valid: true });
  });

  it("boot options locked by another session: transient", async () => {
    bmc.state.bootInProgress = true;
    const e = await powerError(driver().setBootDevice({ device: "pxe", persistent: false, efi: false }));
    expect(e).toMatchObject({ kind: "transient", code: "boot_options_locked" });
  });

  it("identify and device id", async () => {
    const d = driver();
    await d.identify({ seconds: 30, force: false });
    expect(bmc.state.identify).toBe("30 0");
    await d.identify({ force: true });
    expect(bmc.state.identify).toMatch(/ 1$/);
    expect(await d.deviceId()).toMatchObject({ firmware: "2.17", manufacturerId: 674, ipmiVersion: "2.0" });
  });
});

describe("refusals", () => {
  it("wrong password and wrong user are fatal over suite 17", async () => {
    expect(await powerError(driver({ password: "nope" }).queryPower())).toMatchObject({ kind: "fatal", code: "bad_password" });
    expect(await powerError(driver({ user: "ghost" }).queryPower())).toMatchObject({ kind: "fatal", code: "unknown_user" });
  });

  it("a user-level account asking for admin is refused; at user level it may query but not power", async () => {
    expect(await powerError(driver({ user: "viewer", password: "viewpass" }).queryPower())).toMatchObject({
      kind: "fatal",
      code: "insufficient_privilege",
    });
    const asUser = driver({ user: "viewer", password: "viewpass", privilege: "user" });
    expect(await asUser.queryPower()).toMatch(/on|off/);
    expect(await powerError(asUser.powerOn())).toMatchObject({ kind: "fatal", code: "insufficient_privilege" });
  });

  it("a BMC offering only suite 0 is refused, whatever it would allow", async () => {
    const weak = new IpmiEmulator({ users, suites: [0] });
    extra.push(weak);
    await weak.start(PORT + 1);
    const e = await powerError(driver({ port: PORT + 1 }).queryPower());
    expect(e).toMatchObject({ kind: "fatal", code: "unsupported_cipher" });
    expect(weak.state.sessionsOpened).toBe(0);
  });

  it("a BMC offering only suite 3 gets suite 3", async () => {
    const old = new IpmiEmulator({ users, suites: [3] });
    extra.push(old);
    await old.start(PORT + 2);
    const d = driver({ port: PORT + 2 });
    await d.queryPower();
    expect((await d.currentSession())?.suite).toBe(3);
  });
});
