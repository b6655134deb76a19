// What the signed-in user may do, from the same grant table the region enforces
// (cloud/auth/roles.ts): the page hides what would be refused, the region still decides.
import { GRANTS, type Permission } from "../../auth/roles";
import type { SessionUser } from "./types";

export function can(user: SessionUser, perm: Permission, site: string | null): boolean {
  return user.roles.some((b) => GRANTS[b.role].has(perm) && (b.site === null || b.site === site));
}

export function canAnywhere(user: SessionUser, perm: Permission): boolean {
  return user.roles.some((b) => GRANTS[b.role].has(perm));
}

/** Which permission each machine action needs (as cloud/machines/actions.ts and power.ts). */
export const ACTION_PERMISSION: Record<string, Permission> = {
  commission: "machine.lifecycle",
  abort: "machine.lifecycle",
  allocate: "machine.lifecycle",
  deploy: "machine.lifecycle",
  release: "machine.lifecycle",
  rescue_mode: "machine.lifecycle",
  exit_rescue_mode: "machine.lifecycle",
  lock: "machine.lifecycle",
  unlock: "machine.lifecycle",
  delete: "machine.delete",
  mark_broken: "machine.mark",
  mark_fixed: "machine.mark",
  power_on: "machine.power",
  power_off: "machine.power",
  power_cycle: "machine.power",
  identify: "machine.power",
  query_power_state: "machine.power",
};

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
