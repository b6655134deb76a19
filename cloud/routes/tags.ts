import type { Hono } from "hono";
import { z } from "zod";
import { can, require as requirePerm } from "../auth/roles";
import type { AppEnv } from "../http/context";
import { badRequest, forbidden, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { nameSchema, readJson, systemIdSchema } from "../http/validate";
import { recordEvent } from "../domain/events";
import { getMachine } from "../machines/repo";

const TagBody = z.strictObject({ name: nameSchema, comment: z.string().max(1024).default(""), definition: z.string().max(4096).default(""), kernel_opts: z.string().max(1024).default("") });
const TagPatch = z.strictObject({ comment: z.string().max(1024).optional(), definition: z.string().max(4096).optional(), kernel_opts: z.string().max(1024).optional() });
const TagMachines = z.strictObject({ add: z.array(systemIdSchema).max(1000).default([]), remove: z.array(systemIdSchema).max(1000).default([]) });

const COLS = "id, name, comment, definition, kernel_opts, created_at";

export function tagRoutes(app: Hono<AppEnv>) {
  const find = (db: D1Database, name: string) => db.prepare(`SELECT ${COLS} FROM tags WHERE name = ?`).bind(name).first<{ id: number; name: string }>();

  def(app, "get", "/tags", { summary: "List tags", tag: "tags" }, async (c) => c.json({ items: (await c.env.DB.prepare(`SELECT ${COLS} FROM tags ORDER BY name`).all()).results }));
  def(app, "get", "/tags/:name", { summary: "Read a tag", tag: "tags" }, async (c) => {
    const t = await find(c.env.DB, c.req.param("name") ?? "");
    if (!t) throw notFound("tag");
    return c.json(t);
  });
  def(app, "post", "/tags", { summary: "Create a tag", tag: "tags", body: TagBody, status: 201, roles: "operator, admin" }, async (c) => {
    if (!can(c.get("caller"), "catalog.manage", null)) throw forbidden("creating tags needs operator on every site");
    const b = await readJson(c, TagBody);
    const row = await c.env.DB.prepare(`INSERT INTO tags (name, comment, definition, kernel_opts) VALUES (?, ?, ?, ?) RETURNING ${COLS}`).bind(b.name, b.comment, b.definition, b.kernel_opts).first();
    return c.json(row, 201);
  });
  def(app, "patch", "/tags/:name", { summary: "Update a tag", tag: "tags", body: TagPatch, roles: "operator, admin" }, async (c) => {
    if (!can(c.get("caller"), "catalog.manage", null)) throw forbidden();
    const t = await find(c.env.DB, c.req.param("name") ?? "");
    if (!t) throw notFound("tag");
    const b = await readJson(c, TagPatch);
    const row = await c.env.DB.prepare(
      `UPDATE tags SET comment = coalesce(?, comment), definition = coalesce(?, definition), kernel_opts = coalesce(?, kernel_opts) WHERE id = ? RETURNING ${COLS}`,
    )
      .bind(b.comment ?? null, b.definition ?? null, b.kernel_opts ?? null, t.id)
      .first();
    return c.json(row);
  });
  def(app, "delete", "/tags/:name", { summary: "Delete a tag", tag: "tags", status: 204, roles: "operator, admin" }, async (c) => {
    if (!can(c.get("caller"), "catalog.manage", null)) throw forbidden();
    const t = await find(c.env.DB, c.req.param("name") ?? "");
    if (!t) throw notFound("tag");
    await c.env.DB.prepare("DELETE FROM tags WHERE id = ?").bind(t.id).run();
    return c.body(null, 204);
  });
  def(app, "post", "/tags/:name/machines", { summary: "Add machines to and remove them from a tag", tag: "tags", body: TagMachines, roles: "operator, admin (on the machines' sites)" }, async (c) => {
    const t = await find(c.env.DB, c.req.param("name") ?? "");
    if (!t) throw notFound("tag");
    const b = await readJson(c, TagMachines);
    const caller = c.get("caller");
    const db = c.env.DB;
    const stmts: D1PreparedStatement[] = [];
    for (const [op, ids] of [["add", b.add], ["remove", b.remove]] as const) {
      for (const sid of ids) {
        const m = await getMachine(db, sid);
        if (!m) throw badRequest(`no machine ${sid}`);
        requirePerm(caller, "machine.edit", m.siteId);
        stmts.push(
          op === "add"
            ? db.prepare("INSERT OR IGNORE INTO machine_tags (machine_id, tag_id) VALUES (?, ?)").bind(m.id, t.id)
            : db.prepare("DELETE FROM machine_tags WHERE machine_id = ? AND tag_id = ?").bind(m.id, t.id),
        );
      }
    }
    if (stmts.length) await db.batch(stmts);
    await recordEvent(db, { type: "tag.machines", actor: caller.username, description: `tag ${t.name}: +${b.add.length} -${b.remove.length}` });
    const { results } = await db.prepare("SELECT m.system_id FROM machine_tags mt JOIN machines m ON m.id = mt.machine_id WHERE mt.tag_id = ? ORDER BY m.id LIMIT 1000").bind(t.id).all<{ system_id: string }>();
    return c.json({ tag: t.name, machines: results.map((r) => r.system_id) });
  });
}
