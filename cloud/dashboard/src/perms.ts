// What the signed-in user may do, from the grant table the region enforces (shared/roles.ts):
// the page hides what would be refused, the region still decides.
import { ACTION_PERMISSION as PERMISSION_OF_ACTION, GRANTS, type Permission, roleAllows } from "../../../shared/roles";
import type { SessionUser } from "./types";

export function can(user: SessionUser, perm: Permission, site: string | null): boolean {
  return user.roles.some((b) => roleAllows(b.role, b.site, perm, site));
}

export function canAnywhere(user: SessionUser, perm: Permission): boolean {
  return user.roles.some((b) => GRANTS[b.role].has(perm));
}

/** The permission each machine action needs, looked up by the action names the region sends. */
export const ACTION_PERMISSION: Readonly<Partial<Record<string, Permission>>> = PERMISSION_OF_ACTION;

/** Actions that lose work or data, or take a machine away from its user: they ask first. */
export const DESTRUCTIVE = new Set(["release", "deploy", "abort", "delete", "power_off", "power_cycle", "mark_broken", "commission", "rescue_mode"]);

export const ACTION_LABEL: Record<string, string> = {
  commission: "Commission",
  abort: "Abort",
  allocate: "Allocate",
  deploy: "Deploy",
  release: "Release",
  rescue_mode: "Enter rescue mode",
  exit_rescue_mode: "Exit rescue mode",
  lock: "Lock",
  unlock: "Unlock",
  delete: "Delete",
  mark_broken: "Mark broken",
  mark_fixed: "Mark fixed",
  power_on: "Power on",
  power_off: "Power off",
  power_cycle: "Power cycle",
  identify: "Identify",
  query_power_state: "Check power",
};
