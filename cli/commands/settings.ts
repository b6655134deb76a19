// plinth settings …: the region-wide settings (MAAS's get_config/set_config).
import { CliError, EXIT } from "../client";
import type { Group } from "../command";
import { printJson, printTable } from "../output";

/** The command line gives text; the setting's default says which type the region expects. */
function typed(text: string, like: unknown): string | number | boolean {
  if (typeof like === "boolean") {
    if (/^(true|yes|on|1)$/i.test(text)) return true;
    if (/^(false|no|off|0)$/i.test(text)) return false;
    throw new CliError(`expected true or false, got "${text}"`, EXIT.usage);
  }
  if (typeof like === "number") {
    if (!/^-?\d+$/.test(text)) throw new CliError(`expected a whole number, got "${text}"`, EXIT.usage);
    return Number(text);
  }
  return text;
}

export const settings: Group = {
  name: "settings",
  summary: "Region-wide settings: list, get, set (admin)",
  commands: [
    {
      name: "list",
      summary: "List every setting with its value and default",
      run: async (ctx) => {
        const r = await ctx.client().call("GET /settings");
        if (ctx.json) printJson(r);
        else
          printTable(
            r.items.map((s: { name: string; value: unknown; default: unknown }) => ({
              ...s,
              value: JSON.stringify(s.value),
              default: JSON.stringify(s.default),
            })),
            ["name", "value", "default"],
            "no settings",
          );
      },
    },
    {
      name: "get",
      summary: "Print one setting's value",
      args: "<name>",
      run: async (ctx) => {
        const name = ctx.args[0];
        if (!name) throw new CliError("missing <name>", EXIT.usage);
        const r = await ctx.client().call("GET /settings/{name}", { path: { name } });
        if (ctx.json) printJson(r);
        else process.stdout.write(`${typeof r.value === "string" ? r.value : JSON.stringify(r.value)}\n`);
      },
    },
    {
      name: "set",
      summary: "Change a setting (admin on every site)",
      args: "<name> <value>",
      run: async (ctx) => {
        const [name, text] = ctx.args;
        if (!name || text === undefined) throw new CliError("usage: plinth settings set <name> <value>", EXIT.usage);
        const cur = await ctx.client().call("GET /settings/{name}", { path: { name } });
        const r = await ctx.client().call("PUT /settings/{name}", { path: { name }, body: { value: typed(text, cur.default) } });
        if (ctx.json) printJson(r);
        else process.stdout.write(`${name} = ${JSON.stringify(r.value)}\n`);
      },
    },
  ],
};

/** MAAS's CLI calls these get-config/set-config: `plinth config` finds them too. */
export const config: Group = { ...settings, name: "config", summary: "Alias of settings: list, get, set (admin)" };
