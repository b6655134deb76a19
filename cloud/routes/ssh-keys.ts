// SSH keys per user: /users/{username}/ssh-keys. Deployments give the owner's keys to the
// deployed system's default user, so this is how an operator gets into what they deployed.
import type { Hono } from "hono";
import { z } from "zod";
import { can } from "../auth/roles";
import { addSshKey, parseSshKey, removeSshKey, listSshKeys } from "../domain/ssh-keys";
import { USER_COLUMNS, type UserRow } from "../domain/users";
import type { AppEnv, Ctx } from "../http/context";
import { ApiError, badRequest, conflict, forbidden, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { readJson } from "../http/validate";

const KeyBody = z.strictObject({
  key: z
    .string()
    .min(1)
    .max(16 * 1024),
});

/** The user named in the path: the caller, or anyone for an admin of every site. */
export async function keyOwner(c: Ctx, what: string): Promise<UserRow> {
  const name = c.req.param("username") ?? "";
  if (name !== c.get("caller").username && !can(c.get("caller"), "user.manage", null)) throw forbidden(`another user's ${what} need admin on every site`);
  const u = await c.env.DB.prepare(`SELECT ${USER_COLUMNS} FROM users WHERE username = ?`).bind(name).first<UserRow>();
  if (!u) throw notFound("user");
  return u;
}

export function sshKeyRoutes(app: Hono<AppEnv>) {
  def(app, "get", "/users/:username/ssh-keys", { summary: "List a user's SSH keys", tag: "users", roles: "admin, or the user" }, async (c) => {
    const u = await keyOwner(c, "SSH keys");
    return c.json({ items: await listSshKeys(c.env.DB, u.id) });
  });
  def(
    app,
    "post",
    "/users/:username/ssh-keys",
    { summary: "Add an SSH public key (one authorized_keys line)", tag: "users", body: KeyBody, status: 201, roles: "admin, or the user" },
    async (c) => {
      const u = await keyOwner(c, "SSH keys");
      const b = await readJson(c, KeyBody);
      const parsed = await parseSshKey(b.key);
      if (!parsed.ok) throw badRequest(parsed.error);
      const r = await addSshKey(c.env.DB, c.get("caller").username, u, parsed.key);
      if (r.ok) return c.json(r.key, 201);
      if (r.problem === "duplicate") throw conflict(`${u.username} has this key already (${parsed.key.fingerprint})`);
      if (r.problem === "full") throw badRequest(`${u.username} has the most SSH keys a user may have; delete one first`);
      throw new ApiError(409, "conflict", "the user's keys changed while adding this one; try again");
    },
  );
  def(
    app,
    "delete",
    "/users/:username/ssh-keys/:id",
    { summary: "Delete an SSH key by its id (the base64url SHA256 fingerprint)", tag: "users", status: 204, roles: "admin, or the user" },
    async (c) => {
      const u = await keyOwner(c, "SSH keys");
      const id = c.req.param("id") ?? "";
      const r = await removeSshKey(c.env.DB, c.get("caller").username, u, id);
      if (r.ok) return c.body(null, 204);
      if (r.problem === "missing") throw notFound("SSH key");
      throw new ApiError(409, "conflict", "the user's keys changed while deleting this one; try again");
    },
  );
}
