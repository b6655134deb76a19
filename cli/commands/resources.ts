// plinth sites|zones|pools|tags|racks|tokens|users|events …
import { CliError, EXIT } from "../client";
import { type Command, first, type Group, out, str } from "../command";
import { printFields, printTable } from "../output";

type Row = Record<string, unknown>;

/** Sites, zones, pools and fabrics share one shape: name and description. */
export function named(name: "sites" | "zones" | "pools" | "fabrics", what: string): Group {
  const L = `GET /${name}` as const;
  const G = `GET /${name}/{key}` as const;
  const P = `POST /${name}` as const;
  const D = `DELETE /${name}/{key}` as const;
  const U = `PATCH /${name}/{key}` as const;
  return {
    name,
    summary: `${what[0]!.toUpperCase()}${what.slice(1)}s: list, show, create, update, delete`,
    commands: [
      {
        name: "list",
        summary: `List ${what}s`,
        run: async (ctx) => {
          const r = await ctx.client().call(L);
          out(ctx, r, () => printTable(r.items, ["id", "name", "description"]));
        },
      },
      {
        name: "show",
        summary: `Show a ${what}`,
        args: "<name>",
        run: async (ctx) => {
          const r = await ctx.client().call(G, { path: { key: first(ctx, "<name>") } });
          out(ctx, r, () => printFields(r, Object.keys(r)));
        },
      },
      {
        name: "create",
        summary: `Create a ${what}`,
        args: "<name>",
        options: { description: { type: "string", help: "what it is for" } },
        run: async (ctx) => {
          const r = await ctx.client().call(P, { body: { name: first(ctx, "<name>"), description: str(ctx.opts["description"]) } });
          out(ctx, r, () => process.stdout.write(`created ${what} ${r["name"]}\n`));
        },
      },
      {
        name: "update",
        summary: `Rename a ${what} or change its description`,
        args: "<name>",
        options: { name: { type: "string", help: "new name" }, description: { type: "string", help: "what it is for" } },
        run: async (ctx) => {
          const key = first(ctx, "<name>");
          const body = { name: str(ctx.opts["name"]), description: str(ctx.opts["description"]) };
          if (body.name === undefined && body.description === undefined) throw new CliError("nothing to change: give --name or --description", EXIT.usage);
          const r = await ctx.client().call(U, { path: { key }, body });
          out(ctx, r, () => process.stdout.write(`updated ${what} ${r["name"]}\n`));
        },
      },
      {
        name: "delete",
        summary: `Delete an unused ${what}`,
        args: "<name>",
        run: async (ctx) => {
          const key = first(ctx, "<name>");
          await ctx.client().call(D, { path: { key } });
          out(ctx, { deleted: key }, () => process.stdout.write(`deleted ${what} ${key}\n`));
        },
      },
    ],
  };
}

const tags: Group = {
  name: "tags",
  summary: "Tags: list, create, delete",
  commands: [
    {
      name: "list",
      summary: "List tags",
      run: async (ctx) => {
        const r = await ctx.client().call("GET /tags");
        out(ctx, r, () => printTable(r.items, ["name", "comment", "definition"]));
      },
    },
    {
      name: "create",
      summary: "Create a tag",
      args: "<name>",
      options: { comment: { type: "string", help: "what it means" } },
      run: async (ctx) => {
        const r = await ctx.client().call("POST /tags", { body: { name: first(ctx, "<name>"), comment: str(ctx.opts["comment"]) } });
        out(ctx, r, () => process.stdout.write(`created tag ${r["name"]}\n`));
      },
    },
    {
      name: "delete",
      summary: "Delete a tag",
      args: "<name>",
      run: async (ctx) => {
        const name = first(ctx, "<name>");
        await ctx.client().call("DELETE /tags/{name}", { path: { name } });
        out(ctx, { deleted: name }, () => process.stdout.write(`deleted tag ${name}\n`));
      },
    },
  ],
};

const racks: Group = {
  name: "racks",
  summary: "Rack appliances: list, show",
  commands: [
    {
      name: "list",
      summary: "List racks with their connection state",
      run: async (ctx) => {
        const r: { items: Row[] } = await ctx.client().call("GET /racks");
        out(ctx, r, () =>
          printTable(
            r.items.map((x) => ({
              ...x,
              connected: x["revoked"] ? "revoked" : x["connected"] ? "yes" : "no",
              last_seen: x["last_seen_at"] ? new Date(x["last_seen_at"] as number).toISOString() : null,
            })),
            ["id", "hostname", "site", "connected", "version", "last_seen", "pending_commands"],
            "no racks enrolled",
          ),
        );
      },
    },
    {
      name: "show",
      summary: "Show a rack",
      args: "<rack-id>",
      run: async (ctx) => {
        const r: Row = await ctx.client().call("GET /racks/{rackId}", { path: { rackId: first(ctx, "<rack-id>") } });
        out(ctx, r, () => {
          const at = (k: string) => (typeof r[k] === "number" ? new Date(r[k] as number).toISOString() : null);
          printFields(
            { ...r, last_seen_at: at("last_seen_at"), status_at: at("status_at") },
            Object.keys(r).filter((k) => k !== "services"),
          );
          // From the rack's last status report (none yet: it never connected since the region learnt of them).
          process.stdout.write("\nservices:\n");
          printTable((r["services"] as Row[] | undefined) ?? [], ["name", "state", "error"], "  no status report yet");
        });
      },
    },
  ],
};

const tokens: Group = {
  name: "tokens",
  summary: "Rack enrolment tokens: list, create (shown once), revoke",
  commands: [
    {
      name: "list",
      summary: "List enrolment tokens",
      run: async (ctx) => {
        const r: { items: Row[] } = await ctx.client().call("GET /racks/enrol-tokens");
        out(ctx, r, () =>
          printTable(
            r.items.map((t) => ({ ...t, expires: new Date(t["expires_at"] as number).toISOString() })),
            ["id", "prefix", "site", "name", "state", "expires", "uses_left"],
            "no enrolment tokens",
          ),
        );
      },
    },
    {
      name: "create",
      summary: "Create an enrolment token for a site",
      options: {
        site: { type: "string", help: "site (default: default)" },
        name: { type: "string", help: "label" },
        hours: { type: "string", help: "valid for this many hours (default 24)" },
        uses: { type: "string", help: "how many racks may use it (default: unlimited)" },
      },
      run: async (ctx) => {
        const o = ctx.opts;
        const r = await ctx.client().call("POST /racks/enrol-tokens", {
          body: {
            site: str(o["site"]),
            name: str(o["name"]),
            expires_in: str(o["hours"]) ? Math.round(Number(o["hours"]) * 3600) : undefined,
            uses: str(o["uses"]) ? Number(o["uses"]) : undefined,
          },
        });
        out(ctx, r, () =>
          process.stdout.write(`${r["token"]}\n(shown once; site ${r["site"]}, expires ${new Date(r["expires_at"] as number).toISOString()})\n`),
        );
      },
    },
    {
      name: "revoke",
      summary: "Revoke an enrolment token",
      args: "<id>",
      run: async (ctx) => {
        const id = first(ctx, "<id>");
        await ctx.client().call("DELETE /racks/enrol-tokens/{tokenId}", { path: { tokenId: id } });
        out(ctx, { revoked: id }, () => process.stdout.write(`revoked token ${id}\n`));
      },
    },
  ],
};

const users: Group = {
  name: "users",
  summary: "Users and roles: list, show, create, delete",
  commands: [
    {
      name: "list",
      summary: "List users",
      run: async (ctx) => {
        const r: { items: (Row & { roles: { role: string; site: string | null }[] })[] } = await ctx.client().call("GET /users");
        out(ctx, r, () =>
          printTable(
            r.items.map((u) => ({ ...u, roles: u.roles.map((b) => `${b.role}@${b.site ?? "*"}`) })),
            ["username", "email", "is_active", "roles"],
          ),
        );
      },
    },
    {
      name: "show",
      summary: "Show a user",
      args: "<username>",
      run: async (ctx) => {
        const r = await ctx.client().call("GET /users/{username}", { path: { username: first(ctx, "<username>") } });
        out(ctx, r, () => printFields(r, Object.keys(r)));
      },
    },
    {
      name: "create",
      summary: "Create a user",
      args: "<username>",
      options: {
        password: { type: "string", help: "password (8+ characters; omit for API-key-only)" },
        email: { type: "string", help: "email" },
        role: { type: "string", multiple: true, help: "role[@site], e.g. operator or remote-hands@dc1" },
      },
      run: async (ctx) => {
        const roles = ((ctx.opts["role"] as string[] | undefined) ?? []).map((r) => {
          const [role, site] = r.split("@");
          return { role: role as "viewer", site: site || null };
        });
        const r = await ctx
          .client()
          .call("POST /users", { body: { username: first(ctx, "<username>"), password: str(ctx.opts["password"]), email: str(ctx.opts["email"]), roles } });
        out(ctx, r, () => process.stdout.write(`created user ${r["username"]}\n`));
      },
    },
    {
      name: "delete",
      summary: "Delete a user",
      args: "<username>",
      run: async (ctx) => {
        const u = first(ctx, "<username>");
        await ctx.client().call("DELETE /users/{username}", { path: { username: u } });
        out(ctx, { deleted: u }, () => process.stdout.write(`deleted user ${u}\n`));
      },
    },
  ],
};

const events: Group = {
  name: "events",
  summary: "The audit log: list",
  commands: [
    {
      name: "list",
      summary: "List events, newest first",
      options: {
        machine: { type: "string", help: "system_id" },
        site: { type: "string", help: "site name" },
        type: { type: "string", help: 'event type, e.g. machine.deploy, or a prefix ending in ".": machine.' },
        actor: { type: "string", help: "who did it (a username)" },
        level: { type: "string", help: "DEBUG | INFO | WARNING | ERROR | AUDIT" },
        limit: { type: "string", help: "how many (default 50)" },
        before: { type: "string", help: "older than this event id" },
      },
      run: async (ctx) => {
        const o = ctx.opts;
        const r: { items: Row[]; next_before: number | null } = await ctx.client().call("GET /events", {
          query: {
            machine: str(o["machine"]),
            site: str(o["site"]),
            type: str(o["type"]),
            actor: str(o["actor"]),
            level: str(o["level"]) as "INFO" | undefined,
            limit: Number(str(o["limit"]) ?? 50),
            before: str(o["before"]) ? Number(o["before"]) : undefined,
          },
        });
        out(ctx, r, () =>
          printTable(
            r.items.map((e) => ({ ...e, when: new Date(e["created_at"] as number).toISOString(), machine: e["hostname"] ?? e["system_id"] })),
            ["id", "when", "level", "type", "machine", "actor", "description"],
            "no events",
          ),
        );
      },
    },
  ],
};

export const resourceGroups: Group[] = [named("sites", "site"), named("zones", "zone"), named("pools", "pool"), tags, racks, tokens, users, events];
export type { Command };
