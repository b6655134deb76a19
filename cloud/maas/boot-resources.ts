// boot-resources/ and boot-resources/{id}/: the boot_images rows /api/v1 serves, read only.
import type { ImageRow as BootImageRow } from "../routes/images";
import type { Handler } from "./table";
import { API, json, MaasError } from "./wire";

/** The columns boot-resources/ reads of the boot_images rows /api/v1 serves. */
type ImageRow = Pick<BootImageRow, "id" | "osystem" | "series" | "architecture" | "kind" | "size">;
const COLS = "id, osystem, series, architecture, kind, size";
const imageJson = (b: ImageRow) => ({
  id: b.id,
  type: b.kind === "synced" ? "Synced" : "Uploaded",
  name: `${b.osystem}/${b.series}`,
  architecture: b.architecture,
  subarches: b.architecture.split("/")[1] ?? "generic",
  kflavor: "generic",
  resource_uri: `${API}/boot-resources/${b.id}/`,
});

export const bootResourceHandlers: Handler[] = [
  {
    name: "BootResourcesHandler",
    doc: "Manage the boot resources.",
    path: "boot-resources/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List all boot resources.",
        params: ["type"],
        run: async (r) => json((await r.db.prepare(`SELECT ${COLS} FROM boot_images ORDER BY id`).all<ImageRow>()).results.map(imageJson)),
      },
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
          const b = await r.db.prepare(`SELECT ${COLS} FROM boot_images WHERE id = ?`).bind(Number(r.path["id"])).first<ImageRow>();
          if (!b) throw new MaasError(404, "No BootResource matches the given query.");
          return json(imageJson(b));
        },
      },
    ],
  },
];
