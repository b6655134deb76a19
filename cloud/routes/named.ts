// Sites, zones, resource pools, fabrics and spaces are the same shape (name, description):
// one set of CRUD routes serves them all.
import type { Hono } from "hono";
import { z } from "zod";
import { can, type Permission, visibleSites } from "../auth/roles";
import type { AppEnv } from "../http/context";
import { conflict, forbidden, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { nameSchema, readJson } from "../http/validate";

export const NamedBody = z.strictObject({ name: nameSchema, description: z.string().max(1024).default("") });
const NamedPatch = z.strictObject({ name: nameSchema.optional(), description: z.string().max(1024).optional() });

interface NamedSpec {
  path: string;
  table: "sites" | "zones" | "resource_pools" | "fabrics" | "spaces";
  what: string;
  manage: Permission;
  /** Rows that machines (or others) must have: never deletable. */
  protectedId?: number;
  /** SQL that counts what still refers to a row (bound to its id). */
  inUse?: string;
}

export const NAMED: NamedSpec[] = [
  { path: "sites", table: "sites", what: "site", manage: "site.manage", protectedId: 1, inUse: "SELECT (SELECT count(*) FROM machines WHERE site_id = ?1) + (SELECT count(*) FROM racks WHERE site_id = ?1) AS n" },
  { path: "zones", table: "zones", what: "zone", manage: "catalog.manage", protectedId: 1, inUse: "SELECT count(*) AS n FROM machines WHERE zone_id = ?1" },
  { path: "pools", table: "resource_pools", what: "pool", manage: "catalog.manage", protectedId: 1, inUse: "SELECT count(*) AS n FROM machines WHERE pool_id = ?1" },
  { path: "fabrics", table: "fabrics", what: "fabric", manage: "network.manage", protectedId: 1 },
  { path: "spaces", table: "spaces", what: "space", manage: "network.manage" },
];

export function namedRoutes(app: Hono<AppEnv>) {
  for (const spec of NAMED) {
    const { path, table, what } = spec;
    const readOne = async (db: D1Database, key: string) => {
      const byId = /^\d+$/.test(key);
      return db
        .prepare(`SELECT id, name, description, created_at FROM ${table} WHERE ${byId ? "id" : "name"} = ?`)
        .bind(byId ? Number(key) : key)
        .first<{ id: number; name: string; description: string; created_at: number }>();
    };
    const visible = (caller: Parameters<typeof visibleSites>[0], id: number) => {
      if (table !== "sites") return true;
      const sites = visibleSites(caller);
      return sites === null || sites.includes(id);
    };

    def(app, "get", `/${path}`, { summary: `List ${path}`, tag: path }, async (c) => {
      const { results } = await c.env.DB.prepare(`SELECT id, name, description, created_at FROM ${table} ORDER BY name`).all<{ id: number }>();
      return c.json({ items: results.filter((r) => visible(c.get("caller"), r.id)) });
    });
    def(app, "get", `/${path}/:key`, { summary: `Read a ${what} by name or id`, tag: path }, async (c) => {
      const row = await readOne(c.env.DB, c.req.param("key") ?? "");
      if (!row || !visible(c.get("caller"), row.id)) throw notFound(what);
      return c.json(row);
    });
    def(app, "post", `/${path}`, { summary: `Create a ${what}`, tag: path, body: NamedBody, status: 201, roles: spec.manage }, async (c) => {
      if (!can(c.get("caller"), spec.manage, null)) throw forbidden(`creating a ${what} needs ${spec.manage} on every site`);
      const body = await readJson(c, NamedBody);
      const row = await c.env.DB.prepare(`INSERT INTO ${table} (name, description) VALUES (?, ?) RETURNING id, name, description, created_at`).bind(body.name, body.description).first();
      return c.json(row, 201);
    });
    def(app, "patch", `/${path}/:key`, { summary: `Update a ${what}`, tag: path, body: NamedPatch, roles: spec.manage }, async (c) => {
      const row = await readOne(c.env.DB, c.req.param("key") ?? "");
      if (!row || !visible(c.get("caller"), row.id)) throw notFound(what);
      if (!can(c.get("caller"), spec.manage, table === "sites" ? row.id : null)) throw forbidden();
      const body = await readJson(c, NamedPatch);
      const next = await c.env.DB.prepare(`UPDATE ${table} SET name = ?, description = ? WHERE id = ? RETURNING id, name, description, created_at`)
        .bind(body.name ?? row.name, body.description ?? row.description, row.id)
        .first();
      return c.json(next);
    });
    def(app, "delete", `/${path}/:key`, { summary: `Delete an unused ${what}`, tag: path, status: 204, roles: spec.manage }, async (c) => {
      const row = await readOne(c.env.DB, c.req.param("key") ?? "");
      if (!row || !visible(c.get("caller"), row.id)) throw notFound(what);
      if (!can(c.get("caller"), spec.manage, null)) throw forbidden();
      if (row.id === spec.protectedId) throw conflict(`the default ${what} cannot be deleted`);
      if (spec.inUse) {
        const n = await c.env.DB.prepare(spec.inUse).bind(row.id).first<{ n: number }>();
        if (n && n.n > 0) throw conflict(`the ${what} is still in use by ${n.n} objects`);
      }
      await c.env.DB.prepare(`DELETE FROM ${table} WHERE id = ?`).bind(row.id).run();
      return c.body(null, 204);
    });
  }
}
