// plinth dns domains | records: operators' DNS data. Machine and device records are the
// region's own (derived from what is deployed) and not edited here.
import { CliError, EXIT } from "../client";
import { type Command, type Ctx, type Group, int, str } from "../command";
import { printFields, printJson, printTable } from "../output";

/** One JSON document, or one line for a human. */
function say(ctx: Ctx, v: unknown, line: string): void {
  if (ctx.json) printJson(v);
  else process.stdout.write(`${line}\n`);
}

const usage = (text: string) => new CliError(`usage: ${text}`, EXIT.usage);

/** `--ttl 300` or `--ttl default` (the domain's, or the region's). */
function ttl(ctx: Ctx): number | null | undefined {
  const v = str(ctx.opts["ttl"]);
  return v === "default" ? null : int(v, "ttl");
}

const domains: Command = {
  name: "domains",
  summary: "DNS domains: list | show NAME | create NAME | update NAME | delete NAME",
  args: "[list | show <name> | create <name> | update <name> | delete <name>]",
  options: {
    ttl: { type: "string", help: "default TTL of its records, in seconds (or: default)" },
    "not-authoritative": { type: "boolean", help: "the racks forward it instead of answering for it" },
    authoritative: { type: "boolean", help: "the racks answer for it (update)" },
    default: { type: "boolean", help: "new machines get names in it" },
    name: { type: "string", help: "new name (update)" },
  },
  run: async (ctx) => {
    const [sub = "list", name] = ctx.args;
    const c = ctx.client();
    const o = ctx.opts;
    if (sub === "list") {
      const r = await c.call("GET /domains");
      if (ctx.json) return printJson(r);
      return printTable(
        r.items.map((d: Record<string, unknown>) => ({ ...d, default: d["is_default"] ? "*" : "", records: d["resource_record_count"] })),
        ["id", "name", "default", "authoritative", "ttl", "records"],
        "no domains",
      );
    }
    if (!name) throw usage(`plinth dns domains ${sub} <name>`);
    if (sub === "show") {
      const d = await c.call("GET /domains/{key}", { path: { key: name } });
      return ctx.json ? printJson(d) : printFields(d, Object.keys(d));
    }
    if (sub === "create") {
      const d = await c.call("POST /domains", {
        body: { name, ttl: ttl(ctx), authoritative: o["not-authoritative"] ? false : undefined, is_default: o["default"] === true ? true : undefined },
      });
      return say(ctx, d, `created domain ${d.name}, id ${d.id}`);
    }
    if (sub === "update") {
      if (o["authoritative"] && o["not-authoritative"]) throw usage("--authoritative or --not-authoritative, not both");
      const body = {
        name: str(o["name"]),
        ttl: ttl(ctx),
        authoritative: o["not-authoritative"] ? false : o["authoritative"] ? true : undefined,
        is_default: o["default"] === true ? (true as const) : undefined,
      };
      if (Object.values(body).every((v) => v === undefined)) throw usage("plinth dns domains update <name> [--name N] [--ttl S] [--authoritative] [--default]");
      const d = await c.call("PATCH /domains/{key}", { path: { key: name }, body });
      return say(ctx, d, `updated domain ${d.name}`);
    }
    if (sub === "delete") {
      await c.call("DELETE /domains/{key}", { path: { key: name } });
      return say(ctx, { deleted: name }, `deleted domain ${name}`);
    }
    throw usage("plinth dns domains [list | show | create | update | delete] <name>");
  },
};

const records: Command = {
  name: "records",
  summary: "Operators' DNS records: list | create NAME --type T --data D | delete ID",
  args: "[list | create <name> | delete <id>...]",
  options: {
    domain: { type: "string", help: "the domain (default: the default domain); a filter for list" },
    type: { type: "string", help: "A, AAAA, CNAME, MX, SRV, TXT or NS; a filter for list" },
    data: { type: "string", help: 'the record\'s data, e.g. 10.0.0.5 or "10 mail.example.com"' },
    ttl: { type: "string", help: "TTL in seconds (or: default, the domain's)" },
    name: { type: "string", help: "a filter for list" },
  },
  run: async (ctx) => {
    const [sub = "list", ...rest] = ctx.args;
    const c = ctx.client();
    const o = ctx.opts;
    if (sub === "list") {
      const r = await c.call("GET /dns/records", { query: { domain: str(o["domain"]), name: str(o["name"]), type: str(o["type"]) } });
      if (ctx.json) return printJson(r);
      return printTable(r.items, ["id", "fqdn", "type", "data", "ttl"], "no DNS records (machines' own names are not listed here)");
    }
    if (sub === "create") {
      const [name] = rest;
      const type = str(o["type"]);
      const data = str(o["data"]);
      if (!name || !type || !data) throw usage("plinth dns records create <name> --type T --data D [--domain D] [--ttl S]");
      const r = await c.call("POST /dns/records", { body: { name, type: type.toUpperCase(), data, domain: str(o["domain"]), ttl: ttl(ctx) } });
      return say(ctx, r, `created ${r.fqdn} ${r.type} ${r.data}, id ${r.id}`);
    }
    if (sub === "delete") {
      if (!rest.length) throw usage("plinth dns records delete <id>...");
      for (const id of rest) {
        if (!/^\d+$/.test(id)) throw usage(`plinth dns records delete <id>... ("${id}" is not an id: plinth dns records list)`);
        await c.call("DELETE /dns/records/{id}", { path: { id } });
        if (!ctx.json) process.stdout.write(`deleted DNS record ${id}\n`);
      }
      if (ctx.json) printJson({ deleted: rest.map(Number) });
      return;
    }
    throw usage("plinth dns records [list | create <name> --type T --data D | delete <id>...]");
  },
};

export const dns: Group = { name: "dns", summary: "DNS: domains and operators' records", commands: [domains, records] };
