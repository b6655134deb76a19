// Who may do what, per site: the callers of the region against the grant table of shared/roles.ts.
import { type Permission, type Role, roleAllows } from "../../shared/roles";
import { forbidden, notFound } from "../http/errors";

export type { Permission } from "../../shared/roles";

export interface Binding {
  role: Role;
  siteId: number | null;
}

export interface Caller {
  userId: number;
  username: string;
  bindings: Binding[];
  /** How the caller signed in: an API key id, or "session". */
  via: string;
}

/** May the caller do `perm` on an object of `siteId` (null: an object that belongs to no site)? */
export function can(caller: Caller, perm: Permission, siteId: number | null): boolean {
  return caller.bindings.some((b) => roleAllows(b.role, b.siteId, perm, siteId));
}

/** Does any of the caller's bindings allow `perm` (on its own site)? For lists that show only such objects. */
export function canAnywhere(caller: Caller, perm: Permission): boolean {
  return caller.bindings.some((b) => can(caller, perm, b.siteId));
}

/** Sites whose machines the caller may see; null means all of them. */
export function visibleSites(caller: Caller): number[] | null {
  if (caller.bindings.some((b) => b.siteId === null)) return null;
  return [...new Set(caller.bindings.map((b) => b.siteId!))];
}

export function canSee(caller: Caller, siteId: number): boolean {
  const sites = visibleSites(caller);
  return sites === null || sites.includes(siteId);
}

/**
 * Objects on sites the caller cannot see answer 404, as if absent: a 403 would tell a
 * remote-hands account of another site that the machine exists.
 */
export function require(caller: Caller, perm: Permission, siteId: number | null, what = "machine"): void {
  if (siteId !== null && !canSee(caller, siteId)) throw notFound(what);
  if (!can(caller, perm, siteId)) throw forbidden(`your role does not allow ${perm} here`);
}

export function isGlobalAdmin(caller: Caller): boolean {
  return caller.bindings.some((b) => b.role === "admin" && b.siteId === null);
}
