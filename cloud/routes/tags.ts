import type { Hono } from "hono";
import { z } from "zod";
import { can, require as requirePerm } from "../auth/roles";
import type { AppEnv } from "../http/context";
import { badRequest, forbidden, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { nameSchema, readJson, systemIdSchema } from "../http/validate";
import { createTag, deleteTag, findTag, tagMachines, updateTag } from "../domain/catalog";
import { getMachine } from "../machines/repo";

const TagBody = z.strictObject({
  name: nameSchema,
  comment: z.string().max(1024).default(""),
  definition: z.string().max(4096).default(""),
  kernel_opts: z.string().max(1024).default(""),
});
const TagPatch = z.strictObject({
  comment: z.string().max(1024).optional(),
  definition: z.string().max(4096).optional(),
  kernel_opts: z.string().max(1024).optional(),
});
const TagMachines = z.strictObject({ add: z.array(systemIdSchema).max(1000).default([]), remove: z.array(systemIdSchema).max(1000).default([]) });

export function tagRoutes(app: Hono<AppEnv>) {
  def(app, "get", "/tags", { summary: "List tags", tag: "tags" }, async (c) =>
    c.json({ items: (await c.env.DB.prepare("SELECT id, name, comment, definition, kernel_opts, created_at FROM tags ORDER BY name").all()).results }),
  );
  def(app, "get", "/tags/:name", { summary: "Read a tag", tag: "tags" }, async (c) => {
    const t = await findTag(c.env.DB, c.req.param("name") ?? "");
    if (!t) throw notFound("tag");
    return c.json(t);
  });
  def(app, "post", "/tags", { summary: "Create a tag", tag: "tags", body: TagBody, status: 201, roles: "operator, admin" }, async (c) => {
    if (!can(c.get("caller"), "catalog.manage", null)) throw forbidden("creating tags needs operator on every site");
    const b = await readJson(c, TagBody);
    return c.json(await createTag(c.env.DB, c.get("caller").username, b), 201);
  });
  def(app, "patch", "/tags/:name", { summary: "Update a tag", tag: "tags", body: TagPatch, roles: "operator, admin" }, async (c) => {
    if (!can(c.get("caller"), "catalog.manage", null)) throw forbidden();
    const t = await findTag(c.env.DB, c.req.param("name") ?? "");
    if (!t) throw notFound("tag");
    const b = await readJson(c, TagPatch);
    return c.json(await updateTag(c.env.DB, c.get("caller").username, t, b));
  });
  def(app, "delete", "/tags/:name", { summary: "Delete a tag", tag: "tags", status: 204, roles: "operator, admin" }, async (c) => {
    if (!can(c.get("caller"), "catalog.manage", null)) throw forbidden();
    const t = await findTag(c.env.DB, c.req.param("name") ?? "");
    if (!t) throw notFound("tag");
    await deleteTag(c.env.DB, c.get("caller").username, t);
    return c.body(null, 204);
  });
  def(
    app,
    "post",
    "/tags/:name/machines",
    { summary: "Add machines to and remove them from a tag", tag: "tags", body: TagMachines, roles: "operator, admin (on the machines' sites)" },
    async (c) => {
      const t = await findTag(c.env.DB, c.req.param("name") ?? "");
      if (!t) throw notFound("tag");
      const b = await readJson(c, TagMachines);
      const caller = c.get("caller");
      const db = c.env.DB;
      const machineIds = async (sids: string[]) => {
        const ids: number[] = [];
        for (const sid of sids) {
          const m = await getMachine(db, sid);
          if (!m) throw badRequest(`no machine ${sid}`);
          requirePerm(caller, "machine.edit", m.siteId);
          ids.push(m.id);
        }
        return ids;
      };
      await tagMachines(db, caller.username, t, { add: await machineIds(b.add), remove: await machineIds(b.remove) });
      const { results } = await db
        .prepare("SELECT m.system_id FROM machine_tags mt JOIN machines m ON m.id = mt.machine_id WHERE mt.tag_id = ? ORDER BY m.id LIMIT 1000")
        .bind(t.id)
        .all<{ system_id: string }>();
      return c.json({ tag: t.name, machines: results.map((r) => r.system_id) });
    },
  );
}
