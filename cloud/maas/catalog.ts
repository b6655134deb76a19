// zones/, resourcepools/ + resourcepool/{id}/, tags/ (with op=machines and op=update_nodes),
// domains/ and boot-resources/: the same tables /api/v1 serves, in MAAS's shapes.
import { z } from "zod";
import { can, require as requirePerm, visibleSites } from "../auth/roles";
import { recordEvent } from "../domain/events";
import { getMachine, listMachines } from "../machines/repo";
import { machinesJson } from "./load";
import { DOMAIN, poolJson, zoneJson } from "./shape";
import type { Handler, Req } from "./table";
import { API, deleted, fieldError, forbidden, json, MaasError, parse } from "./wire";
import type { ImageRow as BootImageRow } from "../routes/images";

const nameRe = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const nameField = z.string().min(1, "This field is required.").max(64).regex(nameRe, "Enter a valid name: letters, digits, '.', '_' and '-'.");
const NamedBody = z.object({ name: nameField, description: z.string().max(1024).default("") });
const NamedPatch = z.object({ name: nameField.optional(), description: z.string().max(1024).optional() });

function manageCatalog(r: Req) {
  if (!can(r.caller, "catalog.manage", null)) throw forbidden("Managing zones, pools and tags needs operator or admin on every site.");
}

interface NamedRow {
  id: number;
  name: string;
  description: string;
}

/** Zones and pools are the same (name, description) shape; only their paths and keys differ. */
function namedHandlers(o: { table: "zones" | "resource_pools"; what: string; plural: string; singular: string; collection: string; object: string; key: "name" | "id"; shape: (row: NamedRow) => unknown }): Handler[] {
  const find = async (r: Req) => {
    const k = r.path[o.key] ?? "";
    const row = await r.db
      .prepare(`SELECT id, name, description FROM ${o.table} WHERE ${o.key === "id" && /^\d+$/.test(k) ? "id = ?" : "name = ?"}`)
      .bind(o.key === "id" && /^\d+$/.test(k) ? Number(k) : k)
      .first<NamedRow>();
    if (!row) throw new MaasError(404, `No ${o.what} matches the given query.`);
    return row;
  };
  return [
    {
      name: `${o.plural}Handler`,
      doc: `Manage ${o.what}s.`,
      path: o.collection,
      actions: [
        { method: "GET", op: null, doc: `List ${o.what}s.`, run: async (r) => json((await r.db.prepare(`SELECT id, name, description FROM ${o.table} ORDER BY id`).all<NamedRow>()).results.map(o.shape)) },
        {
          method: "POST",
          op: null,
          doc: `Create a ${o.what}.`,
          params: ["name", "description"],
          run: async (r) => {
            manageCatalog(r);
            const b = parse(NamedBody, r.p);
            if (await r.db.prepare(`SELECT 1 FROM ${o.table} WHERE name = ?`).bind(b.name).first()) throw fieldError("name", `${o.what} with this Name already exists.`);
            const row = await r.db.prepare(`INSERT INTO ${o.table} (name, description) VALUES (?, ?) RETURNING id, name, description`).bind(b.name, b.description).first<NamedRow>();
            return json(o.shape(row!));
          },
        },
      ],
    },
    {
      name: `${o.singular}Handler`,
      doc: `Manage a ${o.what}.`,
      path: o.object,
      aliases: o.table === "resource_pools" ? ["resourcepools/{id}/"] : [],
      actions: [
        { method: "GET", op: null, doc: `Read a ${o.what}.`, run: async (r) => json(o.shape(await find(r))) },
        {
          method: "PUT",
          op: null,
          doc: `Update a ${o.what}.`,
          params: ["name", "description"],
          run: async (r) => {
            manageCatalog(r);
            const row = await find(r);
            const b = parse(NamedPatch, r.p);
            if (b.name && b.name !== row.name && (await r.db.prepare(`SELECT 1 FROM ${o.table} WHERE name = ?`).bind(b.name).first())) throw fieldError("name", `${o.what} with this Name already exists.`);
            const next = await r.db.prepare(`UPDATE ${o.table} SET name = ?, description = ? WHERE id = ? RETURNING id, name, description`).bind(b.name ?? row.name, b.description ?? row.description, row.id).first<NamedRow>();
            return json(o.shape(next!));
          },
        },
        {
          method: "DELETE",
          op: null,
          doc: `Delete a ${o.what}.`,
          run: async (r) => {
            manageCatalog(r);
            const row = await find(r);
            if (row.id === 1) throw new MaasError(400, `The default ${o.what} cannot be deleted.`);
            const col = o.table === "zones" ? "zone_id" : "pool_id";
            const used = (await r.db.prepare(`SELECT count(*) AS n FROM machines WHERE ${col} = ?`).bind(row.id).first<{ n: number }>())!.n;
            // MAAS would move the machines to the default; Plinth asks for that to be explicit.
            if (used) throw new MaasError(400, `The ${o.what} ${row.name} still holds ${used} machine(s): move them first.`);
            await r.db.prepare(`DELETE FROM ${o.table} WHERE id = ?`).bind(row.id).run();
            return deleted();
          },
        },
      ],
    },
  ];
}

interface TagRow {
  id: number;
  name: string;
  comment: string;
  definition: string;
  kernel_opts: string;
}
const tagJson = (t: TagRow) => ({ name: t.name, definition: t.definition, comment: t.comment, kernel_opts: t.kernel_opts || null, resource_uri: `${API}/tags/${encodeURIComponent(t.name)}/` });
const TAG_COLS = "id, name, comment, definition, kernel_opts";
const TagBody = z.object({ name: nameField, comment: z.string().max(1024).default(""), definition: z.string().max(4096).default(""), kernel_opts: z.string().max(1024).default("") });
const TagPatch = z.object({ name: nameField.optional(), comment: z.string().max(1024).optional(), definition: z.string().max(4096).optional(), kernel_opts: z.string().max(1024).optional() });

async function tagOf(r: Req): Promise<TagRow> {
  const t = await r.db.prepare(`SELECT ${TAG_COLS} FROM tags WHERE name = ?`).bind(r.path["name"] ?? "").first<TagRow>();
  if (!t) throw new MaasError(404, "No Tag matches the given query.");
  return t;
}

async function taggedMachines(r: Req) {
  const t = await tagOf(r);
  const { rows } = await listMachines(r.db, { tags: [t.name], visibleSites: visibleSites(r.caller), limit: 10_000 });
  return json(await machinesJson(r.db, rows));
}

async function updateNodes(r: Req): Promise<Response> {
  const t = await tagOf(r);
  if (t.definition) throw new MaasError(400, "Cannot manually add or remove nodes of a tag that has a definition.");
  const stmts: D1PreparedStatement[] = [];
  let added = 0;
  let removed = 0;
  for (const [op, ids] of [["add", r.p.all("add")], ["remove", r.p.all("remove")]] as const) {
    for (const sid of ids) {
      const m = /^[a-z0-9]{1,64}$/.test(sid) ? await getMachine(r.db, sid) : null;
      const sites = visibleSites(r.caller);
      if (!m || (sites !== null && !sites.includes(m.siteId))) throw fieldError(op, `Unknown node(s): ${sid}.`);
      requirePerm(r.caller, "machine.edit", m.siteId);
      const has = !!(await r.db.prepare("SELECT 1 FROM machine_tags WHERE machine_id = ? AND tag_id = ?").bind(m.id, t.id).first());
      if (op === "add" && !has) {
        added++;
        stmts.push(r.db.prepare("INSERT OR IGNORE INTO machine_tags (machine_id, tag_id) VALUES (?, ?)").bind(m.id, t.id));
      } else if (op === "remove" && has) {
        removed++;
        stmts.push(r.db.prepare("DELETE FROM machine_tags WHERE machine_id = ? AND tag_id = ?").bind(m.id, t.id));
      }
    }
  }
  if (stmts.length) await r.db.batch(stmts);
  await recordEvent(r.db, { type: "tag.machines", actor: r.caller.username, description: `tag ${t.name}: +${added} -${removed} (MAAS API)` });
  return json({ added, removed });
}

const tagHandlers: Handler[] = [
  {
    name: "TagsHandler",
    doc: "Manage all tags known to MAAS.",
    path: "tags/",
    actions: [
      { method: "GET", op: null, doc: "List tags.", run: async (r) => json((await r.db.prepare(`SELECT ${TAG_COLS} FROM tags ORDER BY name`).all<TagRow>()).results.map(tagJson)) },
      {
        method: "POST",
        op: null,
        doc: "Create a new tag.",
        params: ["name", "comment", "definition", "kernel_opts"],
        run: async (r) => {
          manageCatalog(r);
          const b = parse(TagBody, r.p);
          if (await r.db.prepare("SELECT 1 FROM tags WHERE name = ?").bind(b.name).first()) throw fieldError("name", "Tag with this Name already exists.");
          const t = await r.db.prepare(`INSERT INTO tags (name, comment, definition, kernel_opts) VALUES (?, ?, ?, ?) RETURNING ${TAG_COLS}`).bind(b.name, b.comment, b.definition, b.kernel_opts).first<TagRow>();
          return json(tagJson(t!));
        },
      },
    ],
  },
  {
    name: "TagHandler",
    doc: "Tags are properties that can be associated with a Node and serve as criteria for selecting and allocating nodes.",
    path: "tags/{name}/",
    actions: [
      { method: "GET", op: null, doc: "Read a specific tag.", run: async (r) => json(tagJson(await tagOf(r))) },
      {
        method: "PUT",
        op: null,
        doc: "Update a specific tag.",
        params: ["name", "comment", "definition", "kernel_opts"],
        run: async (r) => {
          manageCatalog(r);
          const t = await tagOf(r);
          const b = parse(TagPatch, r.p);
          if (b.name && b.name !== t.name && (await r.db.prepare("SELECT 1 FROM tags WHERE name = ?").bind(b.name).first())) throw fieldError("name", "Tag with this Name already exists.");
          const next = await r.db
            .prepare(`UPDATE tags SET name = ?, comment = ?, definition = ?, kernel_opts = ? WHERE id = ? RETURNING ${TAG_COLS}`)
            .bind(b.name ?? t.name, b.comment ?? t.comment, b.definition ?? t.definition, b.kernel_opts ?? t.kernel_opts, t.id)
            .first<TagRow>();
          return json(tagJson(next!));
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a specific tag.",
        run: async (r) => {
          manageCatalog(r);
          const t = await tagOf(r);
          await r.db.prepare("DELETE FROM tags WHERE id = ?").bind(t.id).run();
          return deleted();
        },
      },
      { method: "GET", op: "machines", doc: "Get a JSON list containing machine objects that match the given tag name.", run: taggedMachines },
      { method: "GET", op: "nodes", doc: "Get a JSON list containing node objects that match the given tag name.", run: taggedMachines },
      { method: "POST", op: "update_nodes", doc: "Add or remove nodes being associated with this tag.", params: ["add", "remove"], run: updateNodes },
    ],
  },
];

const domainHandlers: Handler[] = [
  { name: "DomainsHandler", doc: "Manage domains.", path: "domains/", actions: [{ method: "GET", op: null, doc: "List all domains.", run: async () => json([DOMAIN]) }] },
  {
    name: "DomainHandler",
    doc: "Manage domain.",
    path: "domains/{id}/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "Read domain.",
        run: async (r) => {
          if (r.path["id"] !== "0" && r.path["id"] !== DOMAIN.name) throw new MaasError(404, "No Domain matches the given query.");
          return json(DOMAIN);
        },
      },
    ],
  },
];

/** The columns boot-resources/ reads of the boot_images rows /api/v1 serves. */
type ImageRow = Pick<BootImageRow, "id" | "osystem" | "series" | "architecture" | "kind" | "size">;
const imageJson = (b: ImageRow) => ({
  id: b.id,
  type: b.kind === "synced" ? "Synced" : "Uploaded",
  name: `${b.osystem}/${b.series}`,
  architecture: b.architecture,
  subarches: b.architecture.split("/")[1] ?? "generic",
  kflavor: "generic",
  resource_uri: `${API}/boot-resources/${b.id}/`,
});

const bootHandlers: Handler[] = [
  {
    name: "BootResourcesHandler",
    doc: "Manage the boot resources.",
    path: "boot-resources/",
    actions: [
      { method: "GET", op: null, doc: "List all boot resources.", params: ["type"], run: async (r) => json((await r.db.prepare("SELECT id, osystem, series, architecture, kind, size FROM boot_images ORDER BY id").all<ImageRow>()).results.map(imageJson)) },
      { method: "GET", op: "is_importing", doc: "Get the status of importing resources.", run: async () => json(false) },
    ],
  },
  {
    name: "BootResourceHandler",
    doc: "Manage a boot resource.",
    path: "boot-resources/{id}/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "Read a boot resource.",
        run: async (r) => {
          const b = await r.db.prepare("SELECT id, osystem, series, architecture, kind, size FROM boot_images WHERE id = ?").bind(Number(r.path["id"])).first<ImageRow>();
          if (!b) throw new MaasError(404, "No BootResource matches the given query.");
          return json(imageJson(b));
        },
      },
    ],
  },
];

export const catalogHandlers: Handler[] = [
  ...namedHandlers({ table: "zones", what: "zone", plural: "Zones", singular: "Zone", collection: "zones/", object: "zones/{name}/", key: "name", shape: zoneJson }),
  ...namedHandlers({ table: "resource_pools", what: "resource pool", plural: "ResourcePools", singular: "ResourcePool", collection: "resourcepools/", object: "resourcepool/{id}/", key: "id", shape: poolJson }),
  ...tagHandlers,
  ...domainHandlers,
  ...bootHandlers,
];
