// tags/ and tags/{name}/, with op=machines, op=nodes and op=update_nodes.
import { z } from "zod";
import { require as requirePerm, visibleSites } from "../auth/roles";
import { createTag, deleteTag, findTag, type TagRow, tagMachines, updateTag } from "../domain/catalog";
import { getMachine, listMachines } from "../machines/repo";
import { machinesJson } from "./load";
import { manageCatalog, nameField } from "./named";
import type { Handler, Req } from "./table";
import { API, deleted, fieldError, json, MaasError, parse } from "./wire";

const tagJson = (t: TagRow) => ({
  name: t.name,
  definition: t.definition,
  comment: t.comment,
  kernel_opts: t.kernel_opts || null,
  resource_uri: `${API}/tags/${encodeURIComponent(t.name)}/`,
});
const TagBody = z.object({
  name: nameField,
  comment: z.string().max(1024).default(""),
  definition: z.string().max(4096).default(""),
  kernel_opts: z.string().max(1024).default(""),
});
// Not TagBody.partial(): that would keep the defaults and blank every field a PUT leaves out.
const TagPatch = z.object({
  name: nameField.optional(),
  comment: z.string().max(1024).optional(),
  definition: z.string().max(4096).optional(),
  kernel_opts: z.string().max(1024).optional(),
});

async function tagOf(r: Req): Promise<TagRow> {
  const t = await findTag(r.db, r.path["name"] ?? "");
  if (!t) throw new MaasError(404, "No Tag matches the given query.");
  return t;
}

async function nameFree(db: D1Database, name: string) {
  if (await findTag(db, name)) throw fieldError("name", "Tag with this Name already exists.");
}

async function taggedMachines(r: Req) {
  const t = await tagOf(r);
  const { rows } = await listMachines(r.db, { tags: [t.name], visibleSites: visibleSites(r.caller), limit: 10_000 });
  return json(await machinesJson(r.db, rows));
}

/** MAAS counts what changed: ids already (or not) linked are left out. */
async function updateNodes(r: Req): Promise<Response> {
  const t = await tagOf(r);
  if (t.definition) throw new MaasError(400, "Cannot manually add or remove nodes of a tag that has a definition.");
  const links = { add: [] as number[], remove: [] as number[], via: "(MAAS API)" };
  for (const op of ["add", "remove"] as const) {
    for (const sid of r.p.all(op)) {
      const m = /^[a-z0-9]{1,64}$/.test(sid) ? await getMachine(r.db, sid) : null;
      const sites = visibleSites(r.caller);
      if (!m || (sites !== null && !sites.includes(m.siteId))) throw fieldError(op, `Unknown node(s): ${sid}.`);
      requirePerm(r.caller, "machine.edit", m.siteId);
      const has = !!(await r.db.prepare("SELECT 1 FROM machine_tags WHERE machine_id = ? AND tag_id = ?").bind(m.id, t.id).first());
      if (op === "add" ? !has : has) links[op].push(m.id);
    }
  }
  await tagMachines(r.db, r.caller.username, t, links);
  return json({ added: links.add.length, removed: links.remove.length });
}

const TAG_PARAMS = ["name", "comment", "definition", "kernel_opts"];

async function create(r: Req): Promise<Response> {
  manageCatalog(r);
  const b = parse(TagBody, r.p);
  await nameFree(r.db, b.name);
  return json(tagJson(await createTag(r.db, r.caller.username, b)));
}

async function update(r: Req): Promise<Response> {
  manageCatalog(r);
  const t = await tagOf(r);
  const b = parse(TagPatch, r.p);
  if (b.name && b.name !== t.name) await nameFree(r.db, b.name);
  return json(tagJson(await updateTag(r.db, r.caller.username, t, b)));
}

export const tagHandlers: Handler[] = [
  {
    name: "TagsHandler",
    doc: "Manage all tags known to MAAS.",
    path: "tags/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List tags.",
        run: async (r) => {
          const { results } = await r.db.prepare("SELECT id, name, comment, definition, kernel_opts FROM tags ORDER BY name").all<TagRow>();
          return json(results.map(tagJson));
        },
      },
      { method: "POST", op: null, doc: "Create a new tag.", params: TAG_PARAMS, run: create },
    ],
  },
  {
    name: "TagHandler",
    doc: "Tags are properties that can be associated with a Node and serve as criteria for selecting and allocating nodes.",
    path: "tags/{name}/",
    actions: [
      { method: "GET", op: null, doc: "Read a specific tag.", run: async (r) => json(tagJson(await tagOf(r))) },
      { method: "PUT", op: null, doc: "Update a specific tag.", params: TAG_PARAMS, run: update },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a specific tag.",
        run: async (r) => {
          manageCatalog(r);
          await deleteTag(r.db, r.caller.username, await tagOf(r));
          return deleted();
        },
      },
      { method: "GET", op: "machines", doc: "Get a JSON list containing machine objects that match the given tag name.", run: taggedMachines },
      { method: "GET", op: "nodes", doc: "Get a JSON list containing node objects that match the given tag name.", run: taggedMachines },
      { method: "POST", op: "update_nodes", doc: "Add or remove nodes being associated with this tag.", params: ["add", "remove"], run: updateNodes },
    ],
  },
];
