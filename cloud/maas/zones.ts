// zones/ and zones/{name}/.
import { zones } from "../domain/catalog";
import { manageCatalog, NamedBody, namedHandlers, NamedPatch } from "./named";
import { zoneJson } from "./shape";

const params = ["name", "description"];

export const zoneHandlers = namedHandlers({
  rows: zones,
  what: "zone",
  noun: "zone",
  plural: "Zones",
  singular: "Zone",
  collection: "zones/",
  object: "zones/{name}/",
  key: "name",
  manage: manageCatalog,
  shape: (_db, row) => zoneJson(row),
  create: { body: NamedBody, params },
  update: { body: NamedPatch, params, checkName: true },
  protectedId: 1,
});
