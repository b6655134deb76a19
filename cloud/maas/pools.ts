// resourcepools/ and resourcepool/{id}/ (also resourcepools/{id}/).
import { pools } from "../domain/catalog";
import { catalogNamedHandlers } from "./named";
import { poolJson } from "./shape";

export const poolHandlers = catalogNamedHandlers({
  rows: pools,
  what: "resource pool",
  singular: "ResourcePool",
  object: "resourcepool/{id}/",
  aliases: ["resourcepools/{id}/"],
  shape: (_db, row) => poolJson(row),
});
