// Boot sources and their selections in /api/v1: anyone signed in reads them, a global admin
// changes them. cloud/domain/boot-sources.ts validates and writes; this maps its refusals to
// 400/404/409.
import type { Hono } from "hono";
import { z } from "zod";
import { isGlobalAdmin } from "../auth/roles";
import {
  createSelection,
  createSource,
  deleteSelection,
  deleteSource,
  getSelectionRow,
  getSource,
  getSourceRow,
  listSelectionRows,
  listSources,
  type SelectionChange,
  SourceInputError,
  selectionJson,
  sourceJson,
  updateSelection,
  updateSource,
} from "../domain/boot-sources";
import type { AppEnv, Ctx } from "../http/context";
import { badRequest, conflict, forbidden, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { readJson } from "../http/validate";

const keyring = z.string().max(256 * 1024);
const SourceBody = z.strictObject({
  url: z.string().min(1).max(1024),
  keyring_data: keyring.optional(),
  keyring_filename: z.string().max(255).optional(),
  skip_verify: z.boolean().optional(),
});
const SourcePatch = z.strictObject({
  url: z.string().min(1).max(1024).optional(),
  keyring_data: keyring.nullable().optional(),
  keyring_filename: z.string().max(255).optional(),
  skip_verify: z.boolean().optional(),
});
const words = z.array(z.string().max(64)).max(64);
const SelectionBody = z.strictObject({
  os: z.string().max(64),
  release: z.string().max(64),
  arches: words.optional(),
  subarches: words.optional(),
  labels: words.optional(),
});
const SelectionPatch = SelectionBody.partial();

const admin = (c: Ctx) => {
  if (!isGlobalAdmin(c.get("caller"))) throw forbidden("managing boot sources needs a global admin");
};

/** The domain's validation refusals, as 400 with the field named. */
async function validated<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof SourceInputError) throw badRequest(e.message, [{ path: e.field, message: e.message, code: "invalid" }]);
    throw e;
  }
}

const idOf = (s: string | undefined, what: string) => {
  if (!s || !/^\d{1,9}$/.test(s)) throw notFound(what);
  return Number(s);
};

async function sourceRow(c: Ctx) {
  const row = await getSourceRow(c.env.DB, idOf(c.req.param("id"), "boot source"));
  if (!row) throw notFound("boot source");
  return row;
}

async function selectionRow(c: Ctx) {
  const src = await sourceRow(c);
  const sel = await getSelectionRow(c.env.DB, src.id, idOf(c.req.param("sid"), "selection"));
  if (!sel) throw notFound("selection");
  return { src, sel };
}

function selectionResult(r: SelectionChange, os: string, release: string) {
  if (r.ok) return selectionJson(r.row);
  if (r.problem === "duplicate") throw conflict(`the source has a selection for ${os}/${release} already`);
  throw notFound("boot source");
}

export function bootSourceRoutes(app: Hono<AppEnv>) {
  def(app, "get", "/boot-sources", { summary: "List boot sources with their selections", tag: "boot sources" }, async (c) =>
    c.json({ items: await listSources(c.env.DB) }),
  );
  def(app, "get", "/boot-sources/:id", { summary: "Read a boot source", tag: "boot sources" }, async (c) => {
    const s = await getSource(c.env.DB, idOf(c.req.param("id"), "boot source"));
    if (!s) throw notFound("boot source");
    return c.json(s);
  });
  def(
    app,
    "post",
    "/boot-sources",
    { summary: "Add a boot source (a keyring, or skip_verify: true)", tag: "boot sources", body: SourceBody, status: 201, roles: "admin" },
    async (c) => {
      admin(c);
      const b = await readJson(c, SourceBody);
      const r = await validated(() =>
        createSource(c.env.DB, c.get("caller").username, {
          url: b.url,
          keyring: b.keyring_data,
          keyringFilename: b.keyring_filename,
          skipVerify: b.skip_verify,
        }),
      );
      if (!r.ok) throw conflict(`a boot source with the URL ${b.url.trim()} exists already`);
      return c.json(await sourceJson(r.row, []), 201);
    },
  );
  def(app, "patch", "/boot-sources/:id", { summary: "Change a boot source", tag: "boot sources", body: SourcePatch, roles: "admin" }, async (c) => {
    admin(c);
    const row = await sourceRow(c);
    const b = await readJson(c, SourcePatch);
    const r = await validated(() =>
      updateSource(c.env.DB, c.get("caller").username, row.id, {
        url: b.url,
        keyring: b.keyring_data,
        keyringFilename: b.keyring_filename,
        skipVerify: b.skip_verify,
      }),
    );
    if (!r.ok) throw r.problem === "missing" ? notFound("boot source") : conflict(`a boot source with the URL ${b.url?.trim()} exists already`);
    return c.json(await sourceJson(r.row, await listSelectionRows(c.env.DB, row.id)));
  });
  def(
    app,
    "delete",
    "/boot-sources/:id",
    { summary: "Delete a boot source and its selections", tag: "boot sources", status: 204, roles: "admin" },
    async (c) => {
      admin(c);
      await deleteSource(c.env.DB, c.get("caller").username, await sourceRow(c));
      return c.body(null, 204);
    },
  );

  def(app, "get", "/boot-sources/:id/selections", { summary: "List a boot source's selections", tag: "boot sources" }, async (c) => {
    const row = await sourceRow(c);
    return c.json({ items: (await listSelectionRows(c.env.DB, row.id)).map(selectionJson) });
  });
  def(app, "get", "/boot-sources/:id/selections/:sid", { summary: "Read a selection", tag: "boot sources" }, async (c) =>
    c.json(selectionJson((await selectionRow(c)).sel)),
  );
  def(
    app,
    "post",
    "/boot-sources/:id/selections",
    { summary: 'Add a selection (os, release, arches ...; "*" = all)', tag: "boot sources", body: SelectionBody, status: 201, roles: "admin" },
    async (c) => {
      admin(c);
      const src = await sourceRow(c);
      const b = await readJson(c, SelectionBody);
      const r = await validated(() => createSelection(c.env.DB, c.get("caller").username, src, b));
      return c.json(selectionResult(r, b.os, b.release), 201);
    },
  );
  def(
    app,
    "patch",
    "/boot-sources/:id/selections/:sid",
    { summary: "Change a selection", tag: "boot sources", body: SelectionPatch, roles: "admin" },
    async (c) => {
      admin(c);
      const { src, sel } = await selectionRow(c);
      const b = await readJson(c, SelectionPatch);
      const r = await validated(() => updateSelection(c.env.DB, c.get("caller").username, src, sel, b));
      return c.json(selectionResult(r, b.os ?? sel.os, b.release ?? sel.release));
    },
  );
  def(app, "delete", "/boot-sources/:id/selections/:sid", { summary: "Delete a selection", tag: "boot sources", status: 204, roles: "admin" }, async (c) => {
    admin(c);
    const { src, sel } = await selectionRow(c);
    await deleteSelection(c.env.DB, c.get("caller").username, src, sel);
    return c.body(null, 204);
  });
}
