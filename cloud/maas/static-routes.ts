// static-routes/: Plinth has no static routes, and the list is honestly empty so Juju's probe succeeds.
import type { Handler } from "./table";
import { json } from "./wire";

export const staticRouteHandlers: Handler[] = [
  {
    name: "StaticRoutesHandler",
    doc: "Manage static routes (Plinth has none).",
    path: "static-routes/",
    actions: [{ method: "GET", op: null, doc: "List all static routes.", run: async () => json([]) }],
  },
];
