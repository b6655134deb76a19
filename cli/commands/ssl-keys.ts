// plinth ssl-keys …: the X.509 certificates a user keeps in the region (MAAS's SSL keys).
import { readFileSync } from "node:fs";
import { CliError, EXIT } from "../client";
import type { Group } from "../command";
import { printJson, printTable } from "../output";
import { USER, who } from "./ssh-keys";

export const sslKeys: Group = {
  name: "ssl-keys",
  summary: "SSL keys (PEM certificates) kept for MAAS clients: list, add a .pem file, delete",
  commands: [
    {
      name: "list",
      summary: "List SSL keys",
      options: USER,
      run: async (ctx) => {
        const r = await ctx.client().call("GET /users/{username}/ssl-keys", { path: { username: await who(ctx) } });
        if (ctx.json) printJson(r);
        else printTable(r.items, ["id", "fingerprint"], "no SSL keys: plinth ssl-keys add cert.pem");
      },
    },
    {
      name: "add",
      summary: "Add a certificate from a PEM file",
      args: "<file.pem>",
      options: USER,
      run: async (ctx) => {
        const f = ctx.args[0];
        if (!f) throw new CliError("usage: plinth ssl-keys add <file.pem>", EXIT.usage);
        let key: string;
        try {
          key = readFileSync(f, "utf8");
        } catch {
          throw new CliError(`${f}: not a readable file`, EXIT.usage);
        }
        const r = await ctx.client().call("POST /users/{username}/ssl-keys", { path: { username: await who(ctx) }, body: { key } });
        if (ctx.json) printJson(r);
        else process.stdout.write(`added certificate ${r.fingerprint}, id ${r.id}\n`);
      },
    },
    {
      name: "delete",
      summary: "Delete a certificate by its id (see list)",
      args: "<id>",
      options: USER,
      run: async (ctx) => {
        const id = ctx.args[0];
        if (!id) throw new CliError("missing <id>", EXIT.usage);
        await ctx.client().call("DELETE /users/{username}/ssl-keys/{id}", { path: { username: await who(ctx), id } });
        if (ctx.json) printJson({ deleted: id });
        else process.stdout.write(`deleted SSL key ${id}\n`);
      },
    },
  ],
};
