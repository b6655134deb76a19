// boot-sources/ and boot-sources/{boot_source_id}/selections/ in MAAS's shapes: keyring_data
// answered as base64 of the binary keyring, selections with their boot_source_id. The keyring
// arrives as a file part (python-libmaas, the maas CLI) or a form field (base64 or armoured);
// cloud/domain/boot-sources.ts validates and writes. Anyone reads; a global admin writes.
import { z } from "zod";
import { isGlobalAdmin } from "../auth/roles";
import {
  createSelection,
  createSource,
  deleteSelection,
  deleteSource,
  getSelectionRow,
  getSourceRow,
  listSelectionRows,
  listSourceRows,
  type SelectionRow,
  SourceInputError,
  type SourceRow,
  selectionJson,
  updateSelection,
  updateSource,
} from "../domain/boot-sources";
import { maasTime } from "./ipaddresses";
import type { Handler, Req } from "./table";
import { API, boolParam, deleted, forbidden, json, MaasError, parse } from "./wire";

const sourceUri = (id: number) => `${API}/boot-sources/${id}/`;

function sourceJson(s: SourceRow) {
  return {
    id: s.id,
    url: s.url,
    keyring_filename: s.keyring_filename,
    keyring_data: s.keyring_data ?? "",
    skip_keyring_verification: !!s.skip_verify,
    created: maasTime(s.created_at),
    updated: maasTime(s.updated_at),
    resource_uri: sourceUri(s.id),
  };
}

function selJson(r: SelectionRow) {
  const s = selectionJson(r);
  return {
    boot_source_id: s.source_id,
    id: s.id,
    os: s.os,
    release: s.release,
    arches: s.arches,
    subarches: s.subarches,
    labels: s.labels,
    resource_uri: `${sourceUri(s.source_id)}selections/${s.id}/`,
  };
}

function mayWrite(r: Req) {
  if (!isGlobalAdmin(r.caller)) throw forbidden();
}

/** The domain's refusals as MAAS form errors. */
async function validated<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof SourceInputError) throw new MaasError(400, { [e.field]: [e.message] });
    throw e;
  }
}

const idParam = (v: string | undefined, what: string) => {
  if (!v || !/^\d{1,9}$/.test(v)) throw new MaasError(404, `No ${what} matches the given query.`);
  return Number(v);
};

async function source(r: Req, key = "id"): Promise<SourceRow> {
  const row = await getSourceRow(r.db, idParam(r.path[key], "BootSource"));
  if (!row) throw new MaasError(404, "No BootSource matches the given query.");
  return row;
}

async function selection(r: Req): Promise<{ src: SourceRow; sel: SelectionRow }> {
  const src = await source(r, "boot_source_id");
  const sel = await getSelectionRow(r.db, src.id, idParam(r.path["id"], "BootSourceSelection"));
  if (!sel) throw new MaasError(404, "No BootSourceSelection matches the given query.");
  return { src, sel };
}

const SourceForm = z.object({
  url: z.string().max(1024),
  keyring_filename: z.string().max(255),
  keyring_data: z.string().max(256 * 1024),
  skip_keyring_verification: boolParam,
});

/** keyring_data from a file part, else from the field; "" (python-libmaas sends it when it has none) is none. */
function keyringOf(r: Req, f: Partial<z.output<typeof SourceForm>>): string | Uint8Array | undefined {
  const file = r.p.files.get("keyring_data");
  if (file) return file;
  return f.keyring_data;
}

const urlTaken = () => new MaasError(400, { url: ["Boot source with this Url already exists."] });

/** "a,b" or repeated fields, as the maas CLI and python-libmaas send lists. */
const words = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(",")).map((s) => s.trim()))
  .pipe(z.array(z.string().max(64)).max(64));
const SelectionForm = z.object({
  os: z.string({ error: "This field is required." }).max(64),
  release: z.string({ error: "This field is required." }).max(64),
  arches: words,
  subarches: words,
  labels: words,
});
const LISTS = ["arches", "subarches", "labels"];
const selTaken = () => new MaasError(400, { __all__: ["Boot source selection with this Boot source, Os and Release already exists."] });

export const bootSourceHandlers: Handler[] = [
  {
    name: "BootSourcesHandler",
    doc: "Manage the collection of boot sources.",
    path: "boot-sources/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List boot sources.",
        run: async (r) => json((await listSourceRows(r.db)).map(sourceJson)),
      },
      {
        method: "POST",
        op: null,
        doc: "Create a boot source (admin): url, and keyring_data (a file, or base64/armoured text) unless skip_keyring_verification is true.",
        params: ["url", "keyring_filename", "keyring_data", "skip_keyring_verification"],
        run: async (r) => {
          mayWrite(r);
          const f = parse(SourceForm.partial(), r.p);
          if (!f.url) throw new MaasError(400, { url: ["This field is required."] });
          const keyring = keyringOf(r, f);
          if (!keyring?.length && f.keyring_filename && !f.skip_keyring_verification) {
            throw new MaasError(400, {
              keyring_data: ["Plinth reads no keyring files on the region's host: send the keyring itself as keyring_data."],
            });
          }
          const res = await validated(() =>
            createSource(r.db, r.caller.username, {
              url: f.url!,
              keyring,
              keyringFilename: f.keyring_filename,
              skipVerify: f.skip_keyring_verification,
            }),
          );
          if (!res.ok) throw urlTaken();
          return json(sourceJson(res.row), 201);
        },
      },
    ],
  },
  {
    name: "BootSourceHandler",
    doc: "Manage a boot source.",
    path: "boot-sources/{id}/",
    actions: [
      { method: "GET", op: null, doc: "Read a boot source.", run: async (r) => json(sourceJson(await source(r))) },
      {
        method: "PUT",
        op: null,
        doc: "Update a boot source (admin): the fields given change, the rest stay.",
        params: ["url", "keyring_filename", "keyring_data", "skip_keyring_verification"],
        run: async (r) => {
          mayWrite(r);
          const row = await source(r);
          const f = parse(SourceForm.partial(), r.p);
          const given = r.p.files.has("keyring_data") || r.p.has("keyring_data");
          const res = await validated(() =>
            updateSource(r.db, r.caller.username, row.id, {
              url: f.url,
              keyring: given ? (keyringOf(r, f) ?? null) : undefined,
              keyringFilename: f.keyring_filename,
              skipVerify: f.skip_keyring_verification,
            }),
          );
          if (res.ok) return json(sourceJson(res.row));
          if (res.problem === "duplicate_url") throw urlTaken();
          throw new MaasError(404, "No BootSource matches the given query.");
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a boot source and its selections (admin).",
        run: async (r) => {
          mayWrite(r);
          await deleteSource(r.db, r.caller.username, await source(r));
          return deleted();
        },
      },
    ],
  },
  {
    name: "BootSourceSelectionsHandler",
    doc: "Manage the collection of boot source selections.",
    path: "boot-sources/{boot_source_id}/selections/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List a boot source's selections.",
        run: async (r) => json((await listSelectionRows(r.db, (await source(r, "boot_source_id")).id)).map(selJson)),
      },
      {
        method: "POST",
        op: null,
        doc: 'Create a boot source selection (admin): os, release, and lists of arches, subarches, labels ("*" for all).',
        params: ["os", "release", "arches", "subarches", "labels"],
        run: async (r) => {
          mayWrite(r);
          const src = await source(r, "boot_source_id");
          const f = parse(SelectionForm.partial({ arches: true, subarches: true, labels: true }), r.p, LISTS);
          const res = await validated(() => createSelection(r.db, r.caller.username, src, f));
          if (res.ok) return json(selJson(res.row));
          if (res.problem === "duplicate") throw selTaken();
          throw new MaasError(404, "No BootSource matches the given query.");
        },
      },
    ],
  },
  {
    name: "BootSourceSelectionHandler",
    doc: "Manage a boot source selection.",
    path: "boot-sources/{boot_source_id}/selections/{id}/",
    actions: [
      { method: "GET", op: null, doc: "Read a boot source selection.", run: async (r) => json(selJson((await selection(r)).sel)) },
      {
        method: "PUT",
        op: null,
        doc: "Update a boot source selection (admin): the fields given change, the rest stay.",
        params: ["os", "release", "arches", "subarches", "labels"],
        run: async (r) => {
          mayWrite(r);
          const { src, sel } = await selection(r);
          const f = parse(SelectionForm.partial(), r.p, LISTS);
          const res = await validated(() => updateSelection(r.db, r.caller.username, src, sel, f));
          if (res.ok) return json(selJson(res.row));
          if (res.problem === "duplicate") throw selTaken();
          throw new MaasError(404, "No BootSourceSelection matches the given query.");
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a boot source selection (admin).",
        run: async (r) => {
          mayWrite(r);
          const { src, sel } = await selection(r);
          await deleteSelection(r.db, r.caller.username, src, sel);
          return deleted();
        },
      },
    ],
  },
];
