// Which ResetType to send for each of our power actions, given what the system advertises.
// Vendors differ (no PowerCycle on many, ForceOn without On on some), so each action has an
// ordered preference and we take the first one the BMC lists.
import { PowerError } from "../driver";

export type ResetIntent = "on" | "off" | "soft_off" | "cycle" | "reset";

export const RESET_PREFERENCES: Record<ResetIntent, readonly string[]> = {
  on: ["On", "ForceOn"],
  off: ["ForceOff"],
  soft_off: ["GracefulShutdown"],
  cycle: ["PowerCycle", "ForceRestart"],
  reset: ["ForceRestart", "PowerCycle"],
};

/**
 * Returns the ResetType for the intent, or undefined when the BMC offers none of our
 * preferences for it. Without an advertised list (it is optional in Redfish) the first
 * preference is sent and a 400 from the BMC tells us it was unsupported.
 */
export function chooseResetType(intent: ResetIntent, allowable: readonly string[] | undefined): string | undefined {
  const prefs = RESET_PREFERENCES[intent];
  if (allowable === undefined) return prefs[0];
  return prefs.find((p) => allowable.includes(p));
}

export function unsupportedReset(intent: ResetIntent, allowable: readonly string[] | undefined): PowerError {
  return new PowerError(
    "fatal",
    "unsupported",
    `the BMC does not offer a reset type for "${intent}" (wanted one of ${RESET_PREFERENCES[intent].join(", ")}; ` +
      `it offers ${allowable?.join(", ") || "none"})`,
  );
}
