// package-repositories/ and package-repositories/{id}/ (by id or name): the APT archives MAAS
// clients manage. Anyone reads them; admins of every site write. Lists arrive comma-separated.
import { z } from "zod";
import { can } from "../auth/roles";
import { createRepo, deleteRepo, REPO_COLS, type RepoInput, type RepoRow, repoInput, updateRepo } from "../domain/package-repos";
import type { Handler, Req } from "./table";
import { API, boolParam, deleted, forbidden, json, MaasError, parse } from "./wire";

const word = /^[A-Za-z0-9][A-Za-z0-9.+_-]*$/;
/** "a,b c" or repeated fields: a list of names, each checked. */
const names = (what: string, allowed?: readonly string[]) =>
  z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(/[\s,]+/)).filter(Boolean))
    .pipe(
      z
        .array(
          allowed
            ? z.enum(allowed as [string, ...string[]], { message: `Select valid ${what}: ${allowed.join(", ")}.` })
            : z.string().max(64).regex(word, `Enter valid ${what}.`),
        )
        .max(64),
    );

const POCKETS = ["updates", "security", "backports"] as const;
const ARCHES = ["amd64", "i386", "armhf", "arm64", "ppc64el", "s390x", "riscv64"] as const;

const Form = z.object({
  name: z.string({ error: "This field is required." }).min(1, "This field is required.").max(64).regex(word, "Enter a valid name."),
  url: z
    .string({ error: "This field is required." })
    .max(1024)
    .regex(/^(https?|ftp):\/\/[^\s]+$|^ppa:[A-Za-z0-9.+_-]+\/[A-Za-z0-9.+_-]+$/, "Enter a valid URL (http, https, ftp, or ppa:owner/archive)."),
  distributions: names("distributions").default([]),
  disabled_pockets: names("pockets", POCKETS).default([]),
  disabled_components: names("components").default([]),
  components: names("components").default([]),
  arches: names("architectures", ARCHES).default([]),
  key: z
    .string()
    .max(64 * 1024)
    .refine((k) => k === "" || /-----BEGIN PGP PUBLIC KEY BLOCK-----/.test(k), "Enter an ASCII-armoured GPG public key.")
    .default(""),
  disable_sources: boolParam.default(true),
  enabled: boolParam.default(true),
});
const LISTS = ["distributions", "disabled_pockets", "disabled_components", "components", "arches"];

function repoJson(r: RepoRow) {
  const i = repoInput(r);
  return {
    id: r.id,
    name: i.name,
    url: i.url,
    distributions: i.distributions,
    disabled_pockets: i.disabledPockets,
    disabled_components: i.disabledComponents,
    disable_sources: i.disableSources,
    components: i.components,
    arches: i.arches,
    key: i.key,
    enabled: i.enabled,
    resource_uri: `${API}/package-repositories/${r.id}/`,
  };
}

function mayWrite(r: Req) {
  if (!can(r.caller, "site.manage", null)) throw forbidden();
}

function toInput(p: Partial<z.output<typeof Form>>, base?: RepoInput): RepoInput {
  const b = base;
  return {
    name: p.name ?? b!.name,
    url: p.url ?? b!.url,
    distributions: p.distributions ?? b?.distributions ?? [],
    disabledPockets: p.disabled_pockets ?? b?.disabledPockets ?? [],
    disabledComponents: p.disabled_components ?? b?.disabledComponents ?? [],
    components: p.components ?? b?.components ?? [],
    arches: p.arches ?? b?.arches ?? [],
    key: p.key ?? b?.key ?? "",
    disableSources: p.disable_sources ?? b?.disableSources ?? true,
    enabled: p.enabled ?? b?.enabled ?? true,
  };
}

async function one(r: Req): Promise<RepoRow> {
  const key = r.path["id"] ?? "";
  const row = /^\d{1,15}$/.test(key)
    ? await r.db.prepare(`SELECT ${REPO_COLS} FROM package_repositories WHERE id = ?`).bind(Number(key)).first<RepoRow>()
    : await r.db.prepare(`SELECT ${REPO_COLS} FROM package_repositories WHERE name = ?`).bind(key).first<RepoRow>();
  if (!row) throw new MaasError(404, "No PackageRepository matches the given query.");
  return row;
}

const taken = () => new MaasError(400, { name: ["Package repository with this Name already exists."] });

export const packageRepoHandlers: Handler[] = [
  {
    name: "PackageRepositoriesHandler",
    doc: "Manage the collection of package repositories.",
    path: "package-repositories/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List package repositories.",
        run: async (r) => json((await r.db.prepare(`SELECT ${REPO_COLS} FROM package_repositories ORDER BY id`).all<RepoRow>()).results.map(repoJson)),
      },
      {
        method: "POST",
        op: null,
        doc: "Create a package repository (admin).",
        params: ["name", "url", "distributions", "disabled_pockets", "disabled_components", "components", "arches", "key", "disable_sources", "enabled"],
        run: async (r) => {
          mayWrite(r);
          const row = await createRepo(r.db, r.caller.username, toInput(parse(Form, r.p, LISTS)));
          if (!row) throw taken();
          return json(repoJson(row));
        },
      },
    ],
  },
  {
    name: "PackageRepositoryHandler",
    doc: "Manage an individual package repository.",
    path: "package-repositories/{id}/",
    actions: [
      { method: "GET", op: null, doc: "Read a package repository.", run: async (r) => json(repoJson(await one(r))) },
      {
        method: "PUT",
        op: null,
        doc: "Update a package repository (admin): the fields given change, the rest stay.",
        params: ["name", "url", "distributions", "disabled_pockets", "disabled_components", "components", "arches", "key", "disable_sources", "enabled"],
        run: async (r) => {
          mayWrite(r);
          const row = await one(r);
          const given = Object.fromEntries(Object.entries(parse(Form.partial(), r.p, LISTS)).filter(([k]) => r.p.has(k)));
          const res = await updateRepo(r.db, r.caller.username, row.id, toInput(given, repoInput(row)));
          if (res.ok) return json(repoJson(res.row));
          if (res.problem === "name_taken") throw taken();
          throw new MaasError(404, "No PackageRepository matches the given query.");
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a package repository (admin).",
        run: async (r) => {
          mayWrite(r);
          await deleteRepo(r.db, r.caller.username, await one(r));
          return deleted();
        },
      },
    ],
  },
];
