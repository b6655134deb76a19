// fabrics/ and fabrics/{id}/: a fabric comes with its untagged VLAN, as in MAAS.
import { z } from "zod";
import type { NamedRow } from "../domain/named";
import { fabrics } from "../domain/networks";
import { nameField } from "./named";
import { networkNamedHandlers, vlansWhere } from "./net";
import { vlanJson } from "./shape";
import { API, patchOf } from "./wire";

async function fabricJson(db: D1Database, f: NamedRow) {
  const vlans = (await vlansWhere(db, "v.fabric_id = ?", f.id)).map(vlanJson);
  return { id: f.id, name: f.name, description: f.description, class_type: null, vlans, resource_uri: `${API}/fabrics/${f.id}/` };
}

const FabricBody = z.object({ name: nameField.optional(), description: z.string().max(1024).default(""), class_type: z.string().max(64).optional() });
const params = ["name", "description", "class_type"];

export const fabricHandlers = networkNamedHandlers({
  rows: fabrics,
  singular: "Fabric",
  shape: fabricJson,
  create: {
    body: FabricBody,
    params,
    doc: "Create a fabric (with its untagged VLAN).",
    defaultName: async (db) => `fabric-${(await db.prepare("SELECT coalesce(max(id), 0) + 1 AS n FROM fabrics").first<{ n: number }>())!.n}`,
    write: (r, input) => fabrics.create(r.db, r.caller.username, input, { untaggedVlan: true }),
  },
  update: { body: patchOf(FabricBody), params },
  protectedId: 1,
});
