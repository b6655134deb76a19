// Zones, resource pools, fabrics and spaces are MAAS resources over the same (name,
// description) rows: one pair of handlers serves each kind, told apart by wording and hooks.
import { z } from "zod";
import { can } from "../auth/roles";
import type { NamedInput, NamedRow, NamedRows } from "../domain/named";
import type { Handler, Req } from "./table";
import { deleted, fieldError, forbidden, json, MaasError, parse } from "./wire";

export const nameField = z
  .string()
  .min(1, "This field is required.")
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "Enter a valid name: letters, digits, '.', '_' and '-'.");
export const NamedBody = z.object({ name: nameField, description: z.string().max(1024).default("") });
export const NamedPatch = z.object({ name: nameField.optional(), description: z.string().max(1024).optional() });

/** Zones, pools and tags: catalog.manage everywhere. */
export function manageCatalog(r: Req) {
  if (!can(r.caller, "catalog.manage", null)) throw forbidden("Managing zones, pools and tags needs operator or admin on every site.");
}

const catalogParams = ["name", "description"];

/** Zones and pools: catalog.manage, a checked rename, the default (id 1) kept. */
export const catalogNamedHandlers = (k: Pick<NamedKind, "rows" | "what" | "singular" | "object" | "aliases" | "shape">) =>
  namedHandlers({
    ...k,
    manage: manageCatalog,
    create: { body: NamedBody, params: catalogParams },
    update: { body: NamedPatch, params: catalogParams, checkName: true },
    protectedId: 1,
  });

type Body = z.ZodType<{ name?: string | undefined; description?: string | undefined }>;

export interface NamedKind {
  rows: NamedRows;
  /** As MAAS words it in "No Fabric matches the given query."; the docs say it in lower case. */
  what: string;
  /** Names the handlers: FabricsHandler and FabricHandler (and the collection, fabrics/). */
  singular: string;
  /** The object's path: a {name} key is read by name only, an {id} one by id or name. */
  object: string;
  aliases?: string[];
  manage: (r: Req) => void;
  shape: (db: D1Database, row: NamedRow) => unknown;
  create: {
    body: Body;
    params: string[];
    doc?: string;
    /** For a body whose name is optional. */
    defaultName?: (db: D1Database) => Promise<string>;
    write?: (r: Req, input: NamedInput) => Promise<NamedRow>;
  };
  /** checkName: a rename onto a taken name is the name field's error (else the constraint's). */
  update: { body: Body; params: string[]; checkName?: boolean };
  /** Never deletable: the default machines and VLANs fall back to. */
  protectedId?: number;
  docs?: { object?: string; list?: string };
}

/** The row a key names (by id too when `byId` and it is all digits), or MAAS's 404. */
export async function namedOf(db: D1Database, rows: NamedRows, what: string, key: string, byId = true): Promise<NamedRow> {
  const row = await rows.find(db, key, byId);
  if (!row) throw new MaasError(404, `No ${what} matches the given query.`);
  return row;
}

export function namedHandlers(k: NamedKind): Handler[] {
  const noun = k.what.toLowerCase();
  const key = k.object.includes("{name}") ? "name" : "id";
  const find = (r: Req) => namedOf(r.db, k.rows, k.what, r.path[key] ?? "", key === "id");
  const taken = async (db: D1Database, name: string) => {
    if (await k.rows.find(db, name, false)) throw fieldError("name", `${k.what} with this Name already exists.`);
  };
  return [
    {
      name: `${k.singular}sHandler`,
      doc: `Manage ${noun}s.`,
      path: `${k.singular.toLowerCase()}s/`,
      actions: [
        {
          method: "GET",
          op: null,
          doc: k.docs?.list ?? `List ${noun}s.`,
          run: async (r) => {
            const { results } = await r.db.prepare(`SELECT id, name, description, created_at FROM ${k.rows.table} ORDER BY id`).all<NamedRow>();
            return json(await Promise.all(results.map((row) => k.shape(r.db, row))));
          },
        },
        {
          method: "POST",
          op: null,
          doc: k.create.doc ?? `Create a ${noun}.`,
          params: k.create.params,
          run: async (r) => {
            k.manage(r);
            const b = parse(k.create.body, r.p);
            const input = { name: b.name ?? (await k.create.defaultName!(r.db)), description: b.description ?? "" };
            await taken(r.db, input.name);
            const row = k.create.write ? await k.create.write(r, input) : await k.rows.create(r.db, r.caller.username, input);
            return json(await k.shape(r.db, row));
          },
        },
      ],
    },
    {
      name: `${k.singular}Handler`,
      doc: k.docs?.object ?? `Manage a ${noun}.`,
      path: k.object,
      aliases: k.aliases ?? [],
      actions: [
        { method: "GET", op: null, doc: `Read a ${noun}.`, run: async (r) => json(await k.shape(r.db, await find(r))) },
        {
          method: "PUT",
          op: null,
          doc: `Update a ${noun}.`,
          params: k.update.params,
          run: async (r) => {
            k.manage(r);
            const row = await find(r);
            const b = parse(k.update.body, r.p);
            if (k.update.checkName && b.name && b.name !== row.name) await taken(r.db, b.name);
            return json(await k.shape(r.db, await k.rows.update(r.db, r.caller.username, row, b)));
          },
        },
        {
          method: "DELETE",
          op: null,
          doc: `Delete a ${noun}.`,
          run: async (r) => {
            k.manage(r);
            const row = await find(r);
            if (row.id === k.protectedId) throw new MaasError(400, `The default ${noun} cannot be deleted.`);
            const used = await k.rows.usage(r.db, row.id);
            // MAAS would move the machines to the default; Plinth asks for that to be explicit.
            if (used) throw new MaasError(400, `The ${noun} ${row.name} still holds ${used} machine(s) or device(s): move them first.`);
            await k.rows.delete(r.db, r.caller.username, row);
            return deleted();
          },
        },
      ],
    },
  ];
}
