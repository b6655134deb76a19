// createDriver: MAAS-named power parameters, validated, to a working driver.
import { describe, expect, it } from "vitest";
import { PowerError } from "../../../appliance/bmc/driver";
import { createDriver } from "../../../appliance/bmc/registry";
import { powerParameterSchemas } from "../../../shared/power";
import { RedfishEmulator } from "../../redfish-emulator";

async function powerError(p: Promise<unknown>): Promise<PowerError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof PowerError)) throw new Error(`expected a PowerError, got ${String(e)}`);
  return e;
}

describe("driver registry", () => {
  it("builds a Redfish driver that reaches the emulator over pinned HTTPS", async () => {
    const emu = await RedfishEmulator.start();
    const d = await createDriver("redfish", {
      power_address: `127.0.0.1:${emu.port}`,
      power_user: "admin",
      power_pass: "password",
      node_id: "437XR1138R2",
      tls_fingerprint: emu.fingerprint256,
    });
    try {
      expect(d.type).toBe("redfish");
      await d.powerOff();
      expect(await d.queryPower()).toBe("off");
    } finally {
      await d.close?.();
      await emu.stop();
    }
  });

  it("invalid parameters are a fatal bad setting that does not echo the password", async () => {
    const e = await powerError(createDriver("redfish", { power_user: "admin", power_pass: "hunter2", tls_fingerprint: "zz" }));
    expect([e.kind, e.code]).toEqual(["fatal", "bad_settings"]);
    expect(e.message).toContain("power_address");
    expect(e.message).toContain("tls_fingerprint");
    expect(e.message).not.toContain("hunter2");
  });

  it("refuses unknown parameters and unknown power types", async () => {
    expect(await powerError(createDriver("redfish", { power_address: "bmc", oops: 1 }))).toMatchObject({
      code: "bad_settings",
    });
    expect(await powerError(createDriver("amt", {}))).toMatchObject({ kind: "fatal", code: "bad_settings" });
  });

  it("builds webhook, manual and (lazily) ipmi drivers", async () => {
    const told: string[] = [];
    const w = await createDriver("webhook", {
      power_on_uri: "http://127.0.0.1:9/on",
      power_off_uri: "http://127.0.0.1:9/off",
      power_token: "t",
    });
    const m = await createDriver("manual", {}, { notify: (msg) => told.push(msg) });
    const i = await createDriver("ipmi", { power_address: "127.0.0.1", power_user: "u", power_pass: "p" });
    expect([w.type, m.type, i.type]).toEqual(["webhook", "manual", "ipmi"]);
    await m.powerOn();
    expect(told).toEqual(["manual: ask a human to power on this machine"]);
    await w.close?.();
    await i.close?.();
  });

  it("webhook URLs must be http(s)", async () => {
    const e = await powerError(createDriver("webhook", { power_on_uri: "file:///etc/passwd", power_off_uri: "http://x/" }));
    expect(e.code).toBe("bad_settings");
  });

  it("accepts whatever the region's shared schema accepts", async () => {
    const region = {
      redfish: { power_address: "10.0.0.5", power_user: "root", power_pass: "x", node_id: "1" },
      webhook: { power_on_uri: "https://pdu.example/on", power_off_uri: "https://pdu.example/off" },
      manual: {},
      ipmi: { power_address: "10.0.0.6", cipher_suite_id: "17", privilege_level: "ADMIN" },
    } as const;
    for (const [type, params] of Object.entries(region)) {
      expect(powerParameterSchemas[type as keyof typeof region].safeParse(params).success).toBe(true);
      const d = await createDriver(type, powerParameterSchemas[type as keyof typeof region].parse(params));
      expect(d.type).toBe(type);
      await d.close?.();
    }
  });

  it("IPMI 1.5 is refused as a bad setting", async () => {
    expect(await powerError(createDriver("ipmi", { power_address: "h", power_driver: "LAN" }))).toMatchObject({
      code: "bad_settings",
    });
  });
});
