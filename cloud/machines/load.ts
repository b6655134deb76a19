import { type Caller, can, isGlobalAdmin, require as requirePerm, type Permission } from "../auth/roles";
import type { Ctx } from "../http/context";
import { badRequest, forbidden, notFound } from "../http/errors";
import { systemIdSchema } from "../http/validate";
import { getMachine, type MachineRow } from "./repo";

/** The machine named in the path, after checking the caller may see it and do `perm` on it. */
export async function loadMachine(c: Ctx, perm: Permission): Promise<MachineRow> {
  const id = c.req.param("id") ?? "";
  if (!systemIdSchema.safeParse(id).success) throw badRequest("system_id must be 6 lower-case letters or digits");
  const m = await getMachine(c.env.DB, id);
  if (!m) throw notFound("machine");
  requirePerm(c.get("caller"), perm, m.siteId);
  return m;
}

export async function idByName(db: D1Database, table: "sites" | "zones" | "resource_pools", name: string, what: string): Promise<number> {
  const row = await db.prepare(`SELECT id FROM ${table} WHERE name = ?`).bind(name).first<{ id: number }>();
  if (!row) throw badRequest(`no ${what} named "${name}"`);
  return row.id;
}

export { notFound };

/** A machine someone else owns may only be deployed or released by an admin (both APIs). */
export function requireOwnerOrAdmin(caller: Caller, m: MachineRow): void {
  if (m.ownerId !== null && m.ownerId !== caller.userId && !isGlobalAdmin(caller) && !can(caller, "machine.secrets", m.siteId)) {
    throw forbidden(`the machine is owned by ${m.owner ?? "another user"}`);
  }
}
