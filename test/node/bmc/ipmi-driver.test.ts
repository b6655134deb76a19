// Our IPMI driver against a real OpenIPMI ipmi_sim on loopback, every result cross-checked
// with the real `ipmitool -I lanplus` and with what the chassis-control script recorded.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PowerError } from "../../../appliance/bmc/driver";
import { IpmiDriver, type IpmiDriverOptions } from "../../../appliance/bmc/ipmi";
import { type IpmiSim, ipmitool, startIpmiSim } from "./ipmi-sim";

const PORT = 9631;
const users = [
  { id: 2, name: "admin", password: "password", priv: "admin" as const },
  { id: 3, name: "viewer", password: "viewpass", priv: "user" as const },
];
let dir: string;
let sim: IpmiSim;
const drivers: IpmiDriver[] = [];

function driver(o: Partial<IpmiDriverOptions> = {}): IpmiDriver {
  const d = new IpmiDriver({ host: "127.0.0.1", port: PORT, user: "admin", password: "password", timeoutMs: 500, retries: 1, ...o });
  drivers.push(d);
  return d;
}

async function powerError(p: Promise<unknown>): Promise<PowerError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PowerError);
  return e as PowerError;
}

const status = () => ipmitool(PORT, ["chassis", "power", "status"]).trim();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "plinth-ipmi-"));
  sim = await startIpmiSim({ port: PORT, dir, users });
});

afterAll(async () => {
  for (const d of drivers) await d.close();
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("commands through our driver, cross-checked with ipmitool", () => {
  it("power on, query, off, and ipmitool agrees each time", async () => {
    const d = driver();
    await d.powerOn();
    expect(sim.state("power")).toBe("1");
    expect(status()).toBe("Chassis Power is on");
    expect(await d.queryPower()).toBe("on");
    await d.powerOff();
    expect(sim.state("power")).toBe("0");
    expect(status()).toBe("Chassis Power is off");
    expect(await d.queryPower()).toBe("off");
  });

  it("reads a power state ipmitool set", async () => {
    const d = driver();
    ipmitool(PORT, ["chassis", "power", "on"]);
    expect(await d.queryPower()).toBe("on");
    ipmitool(PORT, ["chassis", "power", "off"]);
    expect(await d.queryPower()).toBe("off");
  });

  it("power cycle of a machine that is off powers it on; of one that is on, cycles it", async () => {
    const d = driver();
    ipmitool(PORT, ["chassis", "power", "off"]);
    await d.powerCycle();
    expect(status()).toBe("Chassis Power is on");
    const before = sim.calls().length;
    await d.powerCycle();
    // ipmi_sim cycles as "off now, on about a second later".
    expect(sim.calls().slice(before)).toContain("0x20 set power 0");
    for (let i = 0; i < 50 && !sim.calls().slice(before).includes("0x20 set power 1"); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sim.calls().slice(before)).toContain("0x20 set power 1");
    expect(status()).toBe("Chassis Power is on");
  });

  it("power reset and soft off are accepted", async () => {
    const d = driver();
    ipmitool(PORT, ["chassis", "power", "on"]);
    await d.powerReset();
    expect(status()).toBe("Chassis Power is on");
    await d.powerOff(true);
    expect(await d.queryPower()).toBe(sim.state("power") === "1" ? "on" : "off");
  });

  it("identify with an interval, and forced on", async () => {
    const d = driver();
    await d.identify({ seconds: 7 });
    expect(sim.state("identify")).toBe("7 0");
    await d.identify({ seconds: 0, force: true });
    expect(sim.state("identify")).toBe("0 1");
  });

  it("boot device PXE (persistent, EFI) and disk; ipmitool reads what we set", async () => {
    const d = driver();
    await d.setBootDevice({ device: "pxe", persistent: true, efi: true });
    expect(sim.state("boot")).toBe("pxe");
    expect(ipmitool(PORT, ["chassis", "bootparam", "get", "5"])).toContain("Force PXE");
    await d.setBootDevice({ device: "disk", persistent: false, efi: false });
    // ipmi_sim's chassis control only knows pxe and "default" (anything not forced to PXE).
    expect(sim.state("boot")).toBe("default");
    expect(ipmitool(PORT, ["chassis", "bootparam", "get", "5"])).not.toContain("Force PXE");
  });

  it("reads a boot device ipmitool set", async () => {
    const d = driver();
    ipmitool(PORT, ["chassis", "bootdev", "pxe"]);
    expect(await d.getBootDevice()).toMatchObject({ device: "pxe" });
    ipmitool(PORT, ["chassis", "bootdev", "disk"]);
    expect((await d.getBootDevice()).selector).not.toBe(1);
  });

  it("HTTP boot has no IPMI selector: fatal, nothing sent", async () => {
    const e = await powerError(driver().setBootDevice({ device: "http", persistent: false, efi: true }));
    expect(e).toMatchObject({ kind: "fatal", code: "unsupported" });
  });

  it("get device id matches ipmitool mc info", async () => {
    const id = await driver().deviceId();
    const info = ipmitool(PORT, ["mc", "info"]);
    expect(info).toContain(`Firmware Revision         : ${id.firmware}`);
    expect(info).toContain(`Manufacturer ID           : ${id.manufacturerId}`);
    expect(id.ipmiVersion).toBe("2.0");
  });
});

describe("sessions", () => {
  it("picks suite 3 from what ipmi_sim offers (it lists no 17) and reuses one session", async () => {
    const d = driver();
    await d.queryPower();
    const first = await d.currentSession();
    expect(first?.suite).toBe(3);
    for (let i = 0; i < 5; i++) await d.queryPower();
    expect(await d.currentSession()).toEqual(first);
    await d.close();
    expect(await d.currentSession()).toBeUndefined();
  });

  it("without reuse, each action opens and closes its own session", async () => {
    const d = driver({ reuse: false });
    expect(await d.queryPower()).toMatch(/on|off/);
    expect(await d.currentSession()).toBeUndefined();
  });

  it("keep-alive keeps an idle session usable", async () => {
    const d = driver({ keepAliveMs: 100 });
    await d.queryPower();
    const first = await d.currentSession();
    await new Promise((r) => setTimeout(r, 450));
    expect(await d.currentSession()).toEqual(first);
    await d.queryPower();
    expect(await d.currentSession()).toEqual(first);
  });
});

describe("errors carry the retry policy", () => {
  it("wrong password: fatal bad_password", async () => {
    expect(await powerError(driver({ password: "wrong" }).queryPower())).toMatchObject({ kind: "fatal", code: "bad_password" });
  });

  it("wrong user: fatal unknown_user", async () => {
    expect(await powerError(driver({ user: "nobody" }).queryPower())).toMatchObject({ kind: "fatal", code: "unknown_user" });
  });

  it("only suite 17 allowed against a BMC without it: fatal unsupported_cipher", async () => {
    const e = await powerError(driver({ cipherSuites: [17] }).queryPower());
    expect(e).toMatchObject({ kind: "fatal", code: "unsupported_cipher" });
  });

  it("a user-level account cannot power on: fatal insufficient_privilege", async () => {
    const asUser = driver({ user: "viewer", password: "viewpass", privilege: "user" });
    expect(await asUser.queryPower()).toMatch(/on|off/);
    expect(await powerError(asUser.powerOn())).toMatchObject({ kind: "fatal", code: "insufficient_privilege" });
    // ipmitool at the same privilege gets the same refusal (ipmi_sim does not cap a
    // user-level account asking for admin, so that case cannot be shown against it).
    expect(() => ipmitool(PORT, ["-L", "USER", "chassis", "power", "on"], { user: "viewer", password: "viewpass", cipher: 3 })).toThrow(
      /Insufficient privilege/,
    );
  });

  it("nothing listening on the port: transient", async () => {
    const e = await powerError(driver({ port: PORT + 1 }).queryPower());
    expect(e.kind).toBe("transient");
  });

  it("a BMC that stops answering mid-session: transient, and the driver recovers when it is back", async () => {
    const d = driver({ timeoutMs: 200, retries: 1 });
    await d.queryPower();
    process.kill(sim.pid, "SIGSTOP");
    try {
      expect(await powerError(d.queryPower())).toMatchObject({ kind: "transient", code: "no_response" });
    } finally {
      process.kill(sim.pid, "SIGCONT");
    }
    expect(await d.queryPower()).toMatch(/on|off/);
  });

  it("a BMC restarted mid-session is recovered by a new session", async () => {
    const d = driver({ timeoutMs: 300, retries: 0 });
    ipmitool(PORT, ["chassis", "power", "on"]);
    expect(await d.queryPower()).toBe("on");
    const before = await d.currentSession();
    await sim.stop();
    sim = await startIpmiSim({ port: PORT, dir, users });
    expect(await d.queryPower()).toBe("on");
    expect(await d.currentSession()).toBeDefined();
    expect(before).toBeDefined();
  });
});
