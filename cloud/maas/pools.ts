// resourcepools/ and resourcepool/{id}/ (also resourcepools/{id}/).
import { pools } from "../domain/catalog";
import { manageCatalog, NamedBody, namedHandlers, NamedPatch } from "./named";
import { poolJson } from "./shape";

const params = ["name", "description"];

export const poolHandlers = namedHandlers({
  rows: pools,
  what: "resource pool",
  noun: "resource pool",
  plural: "ResourcePools",
  singular: "ResourcePool",
  collection: "resourcepools/",
  object: "resourcepool/{id}/",
  aliases: ["resourcepools/{id}/"],
  key: "id",
  manage: manageCatalog,
  shape: (_db, row) => poolJson(row),
  create: { body: NamedBody, params },
  update: { body: NamedPatch, params, checkName: true },
  protectedId: 1,
});
