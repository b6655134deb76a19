// domains/ and domains/{id}/: the one DNS domain Plinth serves, "maas".
import { DOMAIN } from "./shape";
import type { Handler } from "./table";
import { json, MaasError } from "./wire";

export const domainHandlers: Handler[] = [
  {
    name: "DomainsHandler",
    doc: "Manage domains.",
    path: "domains/",
    actions: [{ method: "GET", op: null, doc: "List all domains.", run: async () => json([DOMAIN]) }],
  },
  {
    name: "DomainHandler",
    doc: "Manage domain.",
    path: "domains/{id}/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "Read domain.",
        run: async (r) => {
          if (r.path["id"] !== "0" && r.path["id"] !== DOMAIN.name) throw new MaasError(404, "No Domain matches the given query.");
          return json(DOMAIN);
        },
      },
    ],
  },
];
