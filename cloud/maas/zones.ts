// zones/ and zones/{name}/.
import { zones } from "../domain/catalog";
import { catalogNamedHandlers } from "./named";
import { zoneJson } from "./shape";

export const zoneHandlers = catalogNamedHandlers({ rows: zones, what: "zone", singular: "Zone", object: "zones/{name}/", shape: (_db, row) => zoneJson(row) });
