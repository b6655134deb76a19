// boot-resources/ and boot-resources/{id}/: the boot_images rows /api/v1 serves, read only.
// Each resource carries one set whose file has MAAS's filetype (root-tgz, root-dd.zst, ...);
// a declared image with no bytes yet is not listed (it cannot be deployed, and Juju reads the
// list as what it can deploy) but reads by id with an incomplete set, as MAAS shows an upload
// in progress. op=import, is_importing and stop_import drive the sync of the boot sources
// (cloud/domain/image-sync.ts).
import { isImageFormat, MAAS_FILETYPE } from "../../shared/images";
import { isGlobalAdmin } from "../auth/roles";
import { importStatus, startImport, stopImport } from "../domain/image-sync";
import type { ImageRow as BootImageRow } from "../routes/images";
import type { Handler } from "./table";
import { API, forbidden, json, MaasError } from "./wire";

/** The columns boot-resources/ reads of the boot_images rows /api/v1 serves. */
type ImageRow = Pick<BootImageRow, "id" | "osystem" | "series" | "architecture" | "kind" | "format" | "sha256" | "size" | "created_at">;
const COLS = "id, osystem, series, architecture, kind, format, sha256, size, created_at";

const filetypeOf = (format: string) => (isImageFormat(format) ? MAAS_FILETYPE[format] : "root-dd");

const imageJson = (b: ImageRow) => ({
  id: b.id,
  type: b.kind === "synced" ? "Synced" : "Uploaded",
  name: `${b.osystem}/${b.series}`,
  architecture: b.architecture,
  subarches: b.architecture.split("/")[1] ?? "generic",
  kflavor: "generic",
  filetype: filetypeOf(b.format),
  resource_uri: `${API}/boot-resources/${b.id}/`,
});

/** The single read adds MAAS's `sets`: one version, named by its upload date, with its one file. */
function detailJson(b: ImageRow) {
  const version = new Date(b.created_at).toISOString().slice(0, 10).replaceAll("-", "");
  const complete = b.sha256 !== null;
  const filetype = filetypeOf(b.format);
  return {
    ...imageJson(b),
    sets: {
      [version]: {
        version,
        label: "uploaded",
        size: b.size,
        complete,
        progress: complete ? 100 : 0,
        files: { [filetype]: { filename: filetype, filetype, sha256: b.sha256 ?? "", size: b.size, complete } },
      },
    },
  };
}

// MAAS answers these ops with a sentence, and its clients print it.
const plain = (text: string) => new Response(text, { headers: { "content-type": "text/plain; charset=utf-8" } });

export const bootResourceHandlers: Handler[] = [
  {
    name: "BootResourcesHandler",
    doc: "Manage the boot resources.",
    path: "boot-resources/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List the boot resources a deployment can use: those with their bytes stored (one declared but not yet uploaded is read by id).",
        params: ["type"],
        // Juju takes the list's architectures as what it can deploy: an image with no bytes would lie.
        run: async (r) =>
          json((await r.db.prepare(`SELECT ${COLS} FROM boot_images WHERE sha256 IS NOT NULL ORDER BY id`).all<ImageRow>()).results.map(imageJson)),
      },
      {
        method: "GET",
        op: "is_importing",
        doc: "Get the status of importing resources.",
        run: async (r) => json((await importStatus(r.db)).running),
      },
      {
        method: "POST",
        op: "import",
        doc: "Import the boot resources the boot sources' selections name (admin); one import runs at a time.",
        run: async (r) => {
          if (!isGlobalAdmin(r.caller)) throw forbidden();
          await startImport(r.c.env, r.caller.username, "manual");
          return plain("Import of boot resources started");
        },
      },
      {
        method: "POST",
        op: "stop_import",
        doc: "Stop the running import after the item in flight (admin).",
        run: async (r) => {
          if (!isGlobalAdmin(r.caller)) throw forbidden();
          await stopImport(r.c.env, r.caller.username);
          return plain("Import of boot resources is being stopped");
        },
      },
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
          const b = await r.db.prepare(`SELECT ${COLS} FROM boot_images WHERE id = ?`).bind(Number(r.path["id"])).first<ImageRow>();
          if (!b) throw new MaasError(404, "No BootResource matches the given query.");
          return json(detailJson(b));
        },
      },
    ],
  },
];
