// Redfish (appliance/bmc/redfish), what a BMC answers over HTTPS: any status and any body (JSON
// of any shape, vendor-flavoured resources with fields mutated or retyped, not JSON at all) is
// read into the checked value or a PowerError, never another exception; and what the driver
// then does with a checked ComputerSystem (power state, reset type) never throws.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PowerError } from "../../../appliance/bmc/driver";
import { readJson } from "../../../appliance/bmc/redfish/client";
import { powerStateOf } from "../../../appliance/bmc/redfish/driver";
import { chooseResetType } from "../../../appliance/bmc/redfish/reset";
import { ActionInfo, Collection, ComputerSystem, ServiceRoot, SessionServiceSchema } from "../../../appliance/bmc/redfish/schemas";
import { expectOnly, runs, TIMEOUT } from "./fuzz";
import { replaceAt } from "./fuzz";

// Resources as BMCs send them (trimmed): the seeds the mutations start from.
const SYSTEM = {
  "@odata.id": "/redfish/v1/Systems/1",
  Id: "1",
  PowerState: "On",
  IndicatorLED: "Off",
  Boot: {
    BootSourceOverrideTarget: "None",
    "BootSourceOverrideTarget@Redfish.AllowableValues": ["None", "Pxe", "Hdd"],
    BootSourceOverrideEnabled: "Disabled",
    BootSourceOverrideMode: "UEFI",
  },
  Actions: {
    "#ComputerSystem.Reset": {
      target: "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
      "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "GracefulShutdown", "ForceRestart"],
      "@Redfish.ActionInfo": "/redfish/v1/Systems/1/ResetActionInfo",
    },
  },
};
const ROOT = {
  Systems: { "@odata.id": "/redfish/v1/Systems" },
  SessionService: { "@odata.id": "/redfish/v1/SessionService" },
  Links: { Sessions: { "@odata.id": "/redfish/v1/SessionService/Sessions" } },
};
const COLLECTION = { Members: [{ "@odata.id": "/redfish/v1/Systems/1" }] };
const ACTION_INFO = { Parameters: [{ Name: "ResetType", AllowableValues: ["On", "ForceOff"] }] };
const ERROR = {
  error: { code: "Base.1.8.GeneralError", message: "x", "@Message.ExtendedInfo": [{ MessageId: "Base.1.8.PropertyValueNotInList", Message: "no" }] },
};
const SEEDS: unknown[] = [SYSTEM, ROOT, COLLECTION, ACTION_INFO, ERROR];

const anyJson = fc.jsonValue({ maxDepth: 4 });
const mutatedSeed = fc
  .tuple(fc.constantFrom(...SEEDS), fc.array(fc.tuple(fc.array(fc.nat(), { maxLength: 5 }), anyJson), { minLength: 1, maxLength: 3 }))
  .map(([seed, edits]) => edits.reduce((v, [path, by]) => replaceAt(v, path, by), seed));
const body = fc.oneof(
  { weight: 4, arbitrary: mutatedSeed.map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.constantFrom(...SEEDS).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom(...SEEDS).chain((v) => fc.nat(JSON.stringify(v).length).map((n) => JSON.stringify(v).slice(0, n))) },
);
const status = fc.oneof(
  { weight: 6, arbitrary: fc.constant(200) },
  { weight: 1, arbitrary: fc.constantFrom(201, 204, 400, 401, 403, 404, 405, 409, 429, 500, 501, 503) },
);
const SCHEMAS = [ComputerSystem, ServiceRoot, Collection, SessionServiceSchema, ActionInfo] as const;

describe("Redfish responses (fast-check)", () => {
  it(
    "any status and body: the checked value or a PowerError, and the driver's reading of a system never throws",
    () => {
      fc.assert(
        fc.property(status, body, fc.nat(SCHEMAS.length - 1), (s, b, i) => {
          const schema = SCHEMAS[i]!;
          const r = expectOnly(() => readJson({ status: s, headers: {}, body: b }, "/redfish/v1/Systems/1", schema), PowerError);
          if ("error" in r) {
            expect(r.error.message.length).toBeGreaterThan(0);
            return;
          }
          // Any 2xx is a success (check() in client.ts).
          expect(s >= 200 && s < 300).toBe(true);
          if (schema === ComputerSystem) {
            const sys = r.value as ComputerSystem;
            expect(["on", "off", "unknown"]).toContain(powerStateOf(sys.PowerState));
            const allowed = sys.Actions?.["#ComputerSystem.Reset"]?.["ResetType@Redfish.AllowableValues"];
            for (const intent of ["on", "off", "soft_off", "cycle", "reset"] as const) chooseResetType(intent, allowed);
          }
        }),
        runs(2000),
      );
    },
    TIMEOUT,
  );
});
