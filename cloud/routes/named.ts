// Sites, zones, resource pools, fabrics and spaces are the same shape (name, description):
// one set of CRUD routes serves them all.
import type { Hono } from "hono";
import { z } from "zod";
import { can, type Permission, visibleSites } from "../auth/roles";
import { pools, sites, zones } from "../domain/catalog";
import type { NamedRows } from "../domain/named";
import { fabrics, spaces } from "../domain/networks";
import type { AppEnv } from "../http/context";
import { conflict, forbidden, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { nameSchema, readJson } from "../http/validate";

export const NamedBody = z.strictObject({ name: nameSchema, description: z.string().max(1024).default("") });
const NamedPatch = z.strictObject({ name: nameSchema.optional(), description: z.string().max(1024).optional() });

interface NamedSpec {
  path: string;
  rows: NamedRows;
  what: string;
  manage: Permission;
  /** Rows that machines (or others) must have: never deletable. */
  protectedId?: number;
}

export const NAMED: NamedSpec[] = [
  { path: "sites", rows: sites, what: "site", manage: "site.manage", protectedId: 1 },
  { path: "zones", rows: zones, what: "zone", manage: "catalog.manage", protectedId: 1 },
  { path: "pools", rows: pools, what: "pool", manage: "catalog.manage", protectedId: 1 },
  { path: "fabrics", rows: fabrics, what: "fabric", manage: "network.manage", protectedId: 1 },
  { path: "spaces", rows: spaces, what: "space", manage: "network.manage" },
];

export function namedRoutes(app: Hono<AppEnv>) {
  for (const spec of NAMED) {
    const { path, rows, what } = spec;
    const table = rows.table;
    const readOne = (db: D1Database, key: string) => rows.find(db, key);
    const visible = (caller: Parameters<typeof visibleSites>[0], id: number) => {
      if (table !== "sites") return true;
      const seen = visibleSites(caller);
      return seen === null || seen.includes(id);
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
      return c.json(await rows.create(c.env.DB, c.get("caller").username, body), 201);
    });
    def(app, "patch", `/${path}/:key`, { summary: `Update a ${what}`, tag: path, body: NamedPatch, roles: spec.manage }, async (c) => {
      const row = await readOne(c.env.DB, c.req.param("key") ?? "");
      if (!row || !visible(c.get("caller"), row.id)) throw notFound(what);
      if (!can(c.get("caller"), spec.manage, table === "sites" ? row.id : null)) throw forbidden();
      const body = await readJson(c, NamedPatch);
      return c.json(await rows.update(c.env.DB, c.get("caller").username, row, body));
    });
    def(app, "delete", `/${path}/:key`, { summary: `Delete an unused ${what}`, tag: path, status: 204, roles: spec.manage }, async (c) => {
      const row = await readOne(c.env.DB, c.req.param("key") ?? "");
      if (!row || !visible(c.get("caller"), row.id)) throw notFound(what);
      if (!can(c.get("caller"), spec.manage, null)) throw forbidden();
      if (row.id === spec.protectedId) throw conflict(`the default ${what} cannot be deleted`);
      const n = await rows.usage(c.env.DB, row.id);
      if (n > 0) throw conflict(`the ${what} is still in use by ${n} objects`);
      await rows.delete(c.env.DB, c.get("caller").username, row);
      return c.body(null, 204);
    });
  }
}
