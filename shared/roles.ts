// Roles and what they allow, once for both sides: the region enforces this table, the dashboard
// reads the same one to hide what the region would refuse.
import type { UserAction } from "./lifecycle";

export const ROLES = ["admin", "operator", "remote-hands", "viewer"] as const;
export type Role = (typeof ROLES)[number];

export type Permission =
  | "machine.read"
  | "machine.power"
  | "machine.mark"
  | "machine.comment"
  | "machine.lifecycle"
  | "machine.edit"
  | "machine.create"
  | "machine.delete"
  | "machine.secrets"
  | "catalog.manage"
  | "network.manage"
  | "site.manage"
  | "user.manage"
  | "rack.manage"
  | "event.read";

const VIEWER: Permission[] = ["machine.read", "event.read"];
const REMOTE_HANDS: Permission[] = [...VIEWER, "machine.power", "machine.mark", "machine.comment"];
const OPERATOR: Permission[] = [...REMOTE_HANDS, "machine.lifecycle", "machine.edit", "machine.create", "machine.delete", "catalog.manage"];
const ADMIN: Permission[] = [...OPERATOR, "machine.secrets", "network.manage", "site.manage", "user.manage", "rack.manage"];

export const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  viewer: new Set(VIEWER),
  "remote-hands": new Set(REMOTE_HANDS),
  operator: new Set(OPERATOR),
  admin: new Set(ADMIN),
};

/**
 * Does a role bound to `boundSite` allow `perm` on an object of `site`? A binding with no site
 * holds on every site; an object of no site needs such a binding. Sites are ids in the region
 * and names in the dashboard: either works, as long as both sides use the same.
 */
export function roleAllows<S>(role: Role, boundSite: S | null, perm: Permission, site: S | null): boolean {
  return GRANTS[role].has(perm) && (boundSite === null || (site !== null && boundSite === site));
}

/** Power actions (POST /machines/:id/<action>): they go to the rack, not through the lifecycle. */
export const POWER_ACTIONS = ["power_on", "power_off", "power_cycle", "identify", "query_power_state"] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];

/** The permission each machine action needs. */
export const ACTION_PERMISSION: Readonly<Record<UserAction | PowerAction, Permission>> = {
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
