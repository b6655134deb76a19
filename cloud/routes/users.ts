// Users, their role bindings per site, and API keys.
import type { Hono } from "hono";
import { z } from "zod";
import { ROLES } from "../../shared/roles";
import { can, isGlobalAdmin } from "../auth/roles";
import type { AppEnv, Ctx } from "../http/context";
import { badRequest, conflict, forbidden, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { nameSchema, readJson, readQuery } from "../http/validate";
import { createApiKey, createUser, deleteUser, grantRole, revokeApiKey, revokeRole, USER_COLUMNS, type UserRow, updateUser } from "../domain/users";

const RoleBinding = z.strictObject({ role: z.enum(ROLES), site: nameSchema.nullable().default(null) });
const UserBody = z.strictObject({
  username: nameSchema,
  email: z.email().max(254).or(z.literal("")).default(""),
  password: z.string().min(8).max(256).optional(),
  roles: z.array(RoleBinding).max(100).default([]),
});
const UserPatch = z.strictObject({
  email: z.email().max(254).or(z.literal("")).optional(),
  password: z.string().min(8).max(256).optional(),
  is_active: z.boolean().optional(),
});
const DeleteQuery = z.strictObject({ transfer_to: nameSchema.optional() });
const KeyBody = z.strictObject({ name: z.string().max(64).default("") });

async function userByName(db: D1Database, username: string) {
  return db.prepare(`SELECT ${USER_COLUMNS} FROM users WHERE username = ?`).bind(username).first<UserRow>();
}

async function serializeUser(db: D1Database, u: UserRow) {
  const { results } = await db
    .prepare("SELECT rb.id, rb.role, s.name AS site FROM role_bindings rb LEFT JOIN sites s ON s.id = rb.site_id WHERE rb.user_id = ? ORDER BY rb.id")
    .bind(u.id)
    .all();
  return { username: u.username, email: u.email, is_active: !!u.is_active, created_at: u.created_at, roles: results };
}

function requireUserAdmin(c: Ctx) {
  if (!can(c.get("caller"), "user.manage", null)) throw forbidden("managing users needs admin on every site");
}

async function siteIdOrNull(db: D1Database, site: string | null): Promise<number | null> {
  if (site === null) return null;
  const row = await db.prepare("SELECT id FROM sites WHERE name = ?").bind(site).first<{ id: number }>();
  if (!row) throw badRequest(`no site named "${site}"`);
  return row.id;
}

export function userRoutes(app: Hono<AppEnv>) {
  def(app, "get", "/me", { summary: "Who am I: user, roles, the key used", tag: "users" }, async (c) => {
    const caller = c.get("caller");
    const u = await userByName(c.env.DB, caller.username);
    return c.json({ ...(await serializeUser(c.env.DB, u!)), via: caller.via, is_admin: isGlobalAdmin(caller) });
  });

  def(app, "get", "/users", { summary: "List users", tag: "users", roles: "admin" }, async (c) => {
    requireUserAdmin(c);
    const { results } = await c.env.DB.prepare(`SELECT ${USER_COLUMNS} FROM users ORDER BY username`).all<UserRow>();
    return c.json({ items: await Promise.all(results.map((u) => serializeUser(c.env.DB, u))) });
  });
  def(app, "get", "/users/:username", { summary: "Read a user", tag: "users", roles: "admin, or the user" }, async (c) => {
    const name = c.req.param("username") ?? "";
    if (name !== c.get("caller").username) requireUserAdmin(c);
    const u = await userByName(c.env.DB, name);
    if (!u) throw notFound("user");
    return c.json(await serializeUser(c.env.DB, u));
  });
  def(app, "post", "/users", { summary: "Create a user with role bindings", tag: "users", body: UserBody, status: 201, roles: "admin" }, async (c) => {
    requireUserAdmin(c);
    const b = await readJson(c, UserBody);
    const db = c.env.DB;
    if (await userByName(db, b.username)) throw conflict(`user ${b.username} already exists`);
    const bindings = await Promise.all(b.roles.map(async (r) => ({ role: r.role, siteId: await siteIdOrNull(db, r.site) })));
    const row = await createUser(db, c.get("caller").username, { username: b.username, email: b.email, password: b.password, bindings });
    return c.json(await serializeUser(db, row), 201);
  });
  def(app, "patch", "/users/:username", { summary: "Update a user (admin, or the user for email/password)", tag: "users", body: UserPatch }, async (c) => {
    const name = c.req.param("username") ?? "";
    const self = name === c.get("caller").username;
    const b = await readJson(c, UserPatch);
    if (!self || b.is_active !== undefined) requireUserAdmin(c);
    const u = await userByName(c.env.DB, name);
    if (!u) throw notFound("user");
    await updateUser(c.env.DB, u.id, { email: b.email, password: b.password, isActive: b.is_active });
    return c.json(await serializeUser(c.env.DB, (await userByName(c.env.DB, name))!));
  });
  def(
    app,
    "delete",
    "/users/:username",
    { summary: "Delete a user (one who owns machines only with transfer_to, who takes them)", tag: "users", query: DeleteQuery, status: 204, roles: "admin" },
    async (c) => {
      requireUserAdmin(c);
      const name = c.req.param("username") ?? "";
      if (name === c.get("caller").username) throw conflict("you cannot delete yourself");
      const u = await userByName(c.env.DB, name);
      if (!u) throw notFound("user");
      const toName = readQuery(c, DeleteQuery).transfer_to;
      const to = toName === undefined ? undefined : await userByName(c.env.DB, toName);
      if (to === null) throw badRequest(`transfer_to: no user ${toName}`);
      if (to && to.id === u.id) throw badRequest("transfer_to: a user cannot take their own machines");
      const r = await deleteUser(c.env.DB, c.get("caller").username, u, to);
      if (r.ok) return c.body(null, 204);
      if (r.problem === "owns")
        throw conflict(`${u.username} owns ${r.machines} machine(s): release them first, or pass ?transfer_to=<user> to give them to someone else`);
      throw notFound("user");
    },
  );

  def(
    app,
    "post",
    "/users/:username/roles",
    { summary: "Grant a role on a site (or every site)", tag: "users", body: RoleBinding, status: 201, roles: "admin" },
    async (c) => {
      requireUserAdmin(c);
      const u = await userByName(c.env.DB, c.req.param("username") ?? "");
      if (!u) throw notFound("user");
      const b = await readJson(c, RoleBinding);
      const siteId = await siteIdOrNull(c.env.DB, b.site);
      const dup = await c.env.DB.prepare("SELECT id FROM role_bindings WHERE user_id = ? AND role = ? AND site_id IS ?").bind(u.id, b.role, siteId).first();
      if (dup) throw conflict("the user already has this role there");
      await grantRole(c.env.DB, c.get("caller").username, u, b.role, b.site === null || siteId === null ? null : { id: siteId, name: b.site });
      return c.json(await serializeUser(c.env.DB, u), 201);
    },
  );
  def(app, "delete", "/users/:username/roles/:id", { summary: "Revoke a role binding", tag: "users", status: 204, roles: "admin" }, async (c) => {
    requireUserAdmin(c);
    const u = await userByName(c.env.DB, c.req.param("username") ?? "");
    if (!u) throw notFound("user");
    if (!(await revokeRole(c.env.DB, u.id, Number(c.req.param("id"))))) throw notFound("role binding");
    return c.body(null, 204);
  });

  // API keys: the caller's own, or (admin) anyone's.
  const keyOwner = async (c: Ctx) => {
    const name = c.req.param("username") ?? c.get("caller").username;
    if (name !== c.get("caller").username) requireUserAdmin(c);
    const u = await userByName(c.env.DB, name);
    if (!u) throw notFound("user");
    return u;
  };
  for (const base of ["/keys", "/users/:username/keys"]) {
    def(app, "get", base, { summary: "List API keys (never their secrets)", tag: "keys" }, async (c) => {
      const u = await keyOwner(c);
      const { results } = await c.env.DB.prepare(
        "SELECT key_id, name, maas_consumer_key, maas_token_key, created_at, last_used_at, revoked_at FROM api_keys WHERE user_id = ? ORDER BY id",
      )
        .bind(u.id)
        .all();
      return c.json({ items: results });
    });
    def(app, "post", base, { summary: "Create an API key; the secret is shown once", tag: "keys", body: KeyBody, status: 201 }, async (c) => {
      const u = await keyOwner(c);
      const b = await readJson(c, KeyBody);
      const k = await createApiKey(c.env.DB, c.get("caller").username, u, b.name);
      return c.json({ key_id: k.keyId, name: k.name, api_key: k.apiKey, maas_api_key: k.maasApiKey }, 201);
    });
    def(app, "delete", `${base}/:keyId`, { summary: "Revoke an API key (native and MAAS forms together)", tag: "keys", status: 204 }, async (c) => {
      const u = await keyOwner(c);
      if (!(await revokeApiKey(c.env.DB, c.get("caller").username, u, { keyId: c.req.param("keyId") ?? "" }))) throw notFound("API key");
      return c.body(null, 204);
    });
  }
}
