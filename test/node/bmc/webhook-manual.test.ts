// The manual driver: every action is handed to a person, the state is never known.
import { describe, expect, it } from "vitest";
import { MANUAL_NOTICE, ManualDriver, type ManualRequest } from "../../../appliance/bmc/manual";
import { runPowerAction } from "../../../appliance/bmc/retry";

describe("manual driver", () => {
  it("reports each action for a human and never knows the state", async () => {
    const told: [string, ManualRequest][] = [];
    const d = new ManualDriver((m, r) => told.push([m, r]));
    await d.powerOn();
    await d.powerOff(true);
    await d.powerCycle();
    await d.identify({ seconds: 5 });
    await d.setBootDevice({ device: "pxe", persistent: false, efi: true });
    expect(await d.queryPower()).toBe("unknown");
    expect(told.map(([, r]) => r.action)).toEqual(["on", "soft_off", "cycle", "identify", "boot"]);
    expect(told.every(([m]) => m.startsWith(MANUAL_NOTICE))).toBe(true);
    expect(told[4]?.[0]).toBe("manual: ask a human to set next boot from pxe (UEFI) this machine");
  });

  it("goes through the retry runner in one attempt, state unknown", async () => {
    const slept: number[] = [];
    const out = await runPowerAction(new ManualDriver(), { kind: "off" }, { sleep: async (s) => void slept.push(s) });
    expect(out).toEqual({ state: "unknown", attempts: 1 });
    expect(slept).toEqual([]);
  });
});
