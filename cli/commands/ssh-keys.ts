// plinth ssh-keys …: the SSH public keys deployments give to the owner's deployed systems.
import { readFileSync } from "node:fs";
import { CliError, EXIT } from "../client";
import { type Ctx, type Group, str } from "../command";
import { printJson, printTable } from "../output";

export const USER = { user: { type: "string", help: "another user's keys (admin)" } } as const;

/** The user whose keys a command works on: --user, else the signed-in one. */
export async function who(ctx: Ctx): Promise<string> {
  return str(ctx.opts["user"]) ?? (await ctx.client().call("GET /me")).username;
}

export const sshKeys: Group = {
  name: "ssh-keys",
  summary: "SSH keys deployed machines accept: list, add (a .pub file or a key line), delete",
  commands: [
    {
      name: "list",
      summary: "List SSH keys",
      options: USER,
      run: async (ctx) => {
        const r = await ctx.client().call("GET /users/{username}/ssh-keys", { path: { username: await who(ctx) } });
        if (ctx.json) printJson(r);
        else printTable(r.items, ["id", "type", "comment", "fingerprint"], "no SSH keys: plinth ssh-keys add ~/.ssh/id_ed25519.pub");
      },
    },
    {
      name: "add",
      summary: "Add a public key from a .pub file, or the key line itself",
      args: "<file.pub|key>",
      options: USER,
      run: async (ctx) => {
        const a = ctx.args[0];
        if (!a) throw new CliError("usage: plinth ssh-keys add <file.pub|'ssh-ed25519 AAAA… comment'>", EXIT.usage);
        let key = a;
        if (!/^\S+ [A-Za-z0-9+/=]{16,}/.test(a)) {
          try {
            key = readFileSync(a, "utf8");
          } catch {
            throw new CliError(`${a}: neither a readable file nor a public key line`, EXIT.usage);
          }
        }
        const r = await ctx.client().call("POST /users/{username}/ssh-keys", { path: { username: await who(ctx) }, body: { key: key.trim() } });
        if (ctx.json) printJson(r);
        else process.stdout.write(`added ${r.type} key ${r.fingerprint}${r.comment ? ` (${r.comment})` : ""}, id ${r.id}\n`);
      },
    },
    {
      name: "delete",
      summary: "Delete a key by its id (see list)",
      args: "<id>",
      options: USER,
      run: async (ctx) => {
        const id = ctx.args[0];
        if (!id) throw new CliError("missing <id>", EXIT.usage);
        await ctx.client().call("DELETE /users/{username}/ssh-keys/{id}", { path: { username: await who(ctx), id } });
        if (ctx.json) printJson({ deleted: id });
        else process.stdout.write(`deleted SSH key ${id}\n`);
      },
    },
  ],
};
