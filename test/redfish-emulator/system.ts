// The stateful parts of the emulated ComputerSystem: what Reset and PATCH do to it.
import type { Json } from "./mockup";

export class EmulatorError extends Error {
  constructor(
    readonly status: number,
    readonly messageId: string,
    message: string,
  ) {
    super(message);
  }
}

/** What each ResetType does to PowerState; a restart leaves the system on. */
const RESET_EFFECT: Record<string, "On" | "Off" | "toggle" | "restart" | "none"> = {
  On: "On",
  ForceOn: "On",
  ForceOff: "Off",
  GracefulShutdown: "Off",
  GracefulRestart: "restart",
  ForceRestart: "restart",
  PowerCycle: "restart",
  PushPowerButton: "toggle",
  Nmi: "none",
};

export function resetAllowable(sys: Json): string[] | undefined {
  const action = (sys.Actions as Json | undefined)?.["#ComputerSystem.Reset"] as Json | undefined;
  return action?.["ResetType@Redfish.AllowableValues"] as string[] | undefined;
}

export function applyReset(sys: Json, body: unknown): string {
  const type = (body as Json | null)?.ResetType;
  const allowed = resetAllowable(sys) ?? Object.keys(RESET_EFFECT);
  if (typeof type !== "string" || !allowed.includes(type) || !(type in RESET_EFFECT)) {
    throw new EmulatorError(
      400,
      "Base.1.8.ActionParameterValueNotInList",
      `The value ${JSON.stringify(type)} for the parameter ResetType is not in the list of acceptable values.`,
    );
  }
  const effect = RESET_EFFECT[type];
  if (effect === "On" || effect === "Off") sys.PowerState = effect;
  else if (effect === "toggle") sys.PowerState = sys.PowerState === "On" ? "Off" : "On";
  else if (effect === "restart") sys.PowerState = "On";
  return type;
}

const BOOT_ENABLED = ["Disabled", "Once", "Continuous"];
const BOOT_MODES = ["UEFI", "Legacy"];
const LED = ["Lit", "Blinking", "Off"];

export function applyPatch(sys: Json, body: unknown): void {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new EmulatorError(400, "Base.1.8.MalformedJSON", "The request body is not a JSON object.");
  }
  // Validate everything first so a bad PATCH changes nothing, as a BMC would.
  const next = structuredClone(sys);
  for (const [k, v] of Object.entries(body)) {
    if (k === "Boot") patchBoot(next, v);
    else if (k === "IndicatorLED" && "IndicatorLED" in sys) setEnum(next, k, v, LED);
    else if (k === "LocationIndicatorActive" && "LocationIndicatorActive" in sys) {
      if (typeof v !== "boolean") throw typeError(k, v);
      next[k] = v;
    } else if (k === "AssetTag" && typeof v === "string") next[k] = v;
    else throw new EmulatorError(400, "Base.1.8.PropertyUnknown", `The property ${k} is not in the list of valid properties for the resource.`);
  }
  Object.assign(sys, next);
}

function patchBoot(sys: Json, v: unknown): void {
  const boot = sys.Boot as Json | undefined;
  if (!boot || typeof v !== "object" || v === null) throw typeError("Boot", v);
  for (const [k, val] of Object.entries(v)) {
    if (k === "BootSourceOverrideTarget") {
      setEnum(boot, k, val, (boot["BootSourceOverrideTarget@Redfish.AllowableValues"] as string[]) ?? []);
    } else if (k === "BootSourceOverrideEnabled") setEnum(boot, k, val, BOOT_ENABLED);
    else if (k === "BootSourceOverrideMode" && k in boot) setEnum(boot, k, val, BOOT_MODES);
    else throw new EmulatorError(400, "Base.1.8.PropertyUnknown", `The property Boot/${k} is not known.`);
  }
}

function setEnum(obj: Json, k: string, v: unknown, allowed: string[]): void {
  if (typeof v !== "string" || !allowed.includes(v)) {
    throw new EmulatorError(
      400,
      "Base.1.8.PropertyValueNotInList",
      `The value ${JSON.stringify(v)} for the property ${k} is not in the list of acceptable values.`,
    );
  }
  obj[k] = v;
}

function typeError(k: string, v: unknown): EmulatorError {
  return new EmulatorError(400, "Base.1.8.PropertyValueTypeError", `The value ${JSON.stringify(v)} for ${k} has the wrong type.`);
}
