// plinth machines …: list, show, create, update, delete, and the lifecycle and power actions.
import { isStatus, NODE_STATUS, STATUS_NAME } from "../../shared/lifecycle";
import { CliError, EXIT } from "../client";
import { type Command, type Ctx, type Group, list, str } from "../command";
import { bytes, mib, printFields, printJson, printTable } from "../output";
import { WAIT_TARGETS, waitFor } from "../wait";
import { resolveMachine } from "./resolve-machine";
import { storageCmd } from "./storage";

interface Machine {
  system_id: string;
  hostname: string;
  status: number;
  status_name: string;
  status_message: string;
  power_state: string;
  site: string;
  zone: string;
  pool: string;
  owner: string | null;
  cpu_count: number;
  memory: number;
  architecture: string;
  tags: string[];
  allowed_actions: string[];
  [k: string]: unknown;
}

function need(ctx: Ctx, n: number, what: string): string[] {
  if (ctx.args.length < n) throw new CliError(`missing ${what}`, EXIT.usage);
  return ctx.args;
}

/** The status words the region's filter takes (its keys and MAAS names, any case, - or _). */
const STATUS_WORDS = new Set([...Object.keys(NODE_STATUS), ...Object.values(STATUS_NAME)].map((w) => w.toLowerCase().replaceAll("-", "_")));

/**
 * Checked here because the region's answer to a bad list parameter is a bare "Invalid input";
 * the CLI names the values it would have taken.
 */
function checkStatuses(values: string[] | undefined): string[] | undefined {
  for (const v of values ?? []) {
    const ok = /^\d+$/.test(v) ? isStatus(Number(v)) : STATUS_WORDS.has(v.toLowerCase().replaceAll("-", "_"));
    if (!ok) {
      const words = Object.keys(NODE_STATUS).map((k) => k.toLowerCase().replaceAll("_", "-"));
      throw new CliError(`unknown status "${v}": use one of ${words.join(", ")} (or its code, 0-${Math.max(...Object.values(NODE_STATUS))})`, EXIT.usage);
    }
  }
  return values;
}

const filterOptions = {
  status: { type: "string", multiple: true, help: "status name or code, e.g. ready, deployed" },
  site: { type: "string", multiple: true, help: "site name" },
  zone: { type: "string", multiple: true, help: "zone name" },
  pool: { type: "string", multiple: true, help: "resource pool" },
  tag: { type: "string", multiple: true, help: "tag the machine must have" },
  owner: { type: "string", multiple: true, help: "owner username" },
  q: { type: "string", help: "free text: hostname prefix, MAC prefix or system_id" },
  limit: { type: "string", help: "machines per page (1-1000, default 100)" },
  cursor: { type: "string", help: "continue from a previous page's next_cursor" },
  all: { type: "boolean", help: "follow the cursor through every page" },
} as const;

const listCmd: Command = {
  name: "list",
  summary: "List machines (filters, cursor paging)",
  options: filterOptions,
  async run(ctx) {
    const o = ctx.opts;
    const statuses = checkStatuses(list(o["status"]));
    const c = ctx.client();
    const items: Machine[] = [];
    let cursor = str(o["cursor"]);
    let next: string | null = null;
    // Bounded: 1,000 pages of up to 1,000 machines is a million machines.
    for (let page = 0; page < 1000; page++) {
      const p: { items: Machine[]; next_cursor: string | null } = await c.call("GET /machines", {
        query: {
          status: statuses,
          site: list(o["site"]),
          zone: list(o["zone"]),
          pool: list(o["pool"]),
          tag: list(o["tag"]),
          owner: list(o["owner"]),
          q: str(o["q"]),
          limit: Number(str(o["limit"]) ?? (o["all"] ? 1000 : 100)),
          cursor,
        },
      });
      items.push(...p.items);
      next = p.next_cursor;
      if (!o["all"] || !next) break;
      cursor = next;
    }
    if (ctx.json) return printJson({ items, next_cursor: o["all"] ? null : next });
    printTable(
      items.map((m) => ({ ...m, status: m.status_name, power: m.power_state, cpus: m.cpu_count, ram: mib(m.memory), owner: m.owner })),
      ["system_id", "hostname", "status", "power", "site", "zone", "pool", "owner", "cpus", "ram"],
      "no machines match",
    );
    if (next && !o["all"]) process.stderr.write(`more: --cursor ${next} (or --all)\n`);
  },
};

const showCmd: Command = {
  name: "show",
  summary: "Show a machine with its interfaces and disks",
  args: "<machine>",
  async run(ctx) {
    const c = ctx.client();
    const id = await resolveMachine(c, need(ctx, 1, "<machine> (system_id or hostname)")[0]!);
    const m = await c.call("GET /machines/{id}", { path: { id } });
    if (ctx.json) return printJson(m);
    printFields(
      {
        ...m,
        status: `${m.status_name}${m.status_message ? ` (${m.status_message})` : ""}`,
        memory: mib(m.memory),
        locked: m.locked ? "yes" : "no",
        actions: m.allowed_actions,
        boot_rack: m.boot_rack ? `${m.boot_rack.hostname ?? m.boot_rack.id} (${m.boot_rack.id}) at ${new Date(m.boot_rack.at).toISOString()}` : null,
      },
      [
        "system_id",
        "hostname",
        "status",
        "power_state",
        "power_type",
        "site",
        "zone",
        "pool",
        "owner",
        "architecture",
        "cpu_count",
        "memory",
        "locked",
        "tags",
        "actions",
        "boot_rack",
      ],
    );
    process.stdout.write("\ninterfaces:\n");
    printTable(m.interfaces, ["name", "mac", "ip_address", "speed_mbps"], "  none");
    process.stdout.write("\ndisks:\n");
    printTable(
      m.block_devices.map((d: { size: number }) => ({ ...d, size: bytes(d.size) })),
      ["name", "model", "serial", "size"],
      "  none",
    );
  },
};

const createCmd: Command = {
  name: "create",
  summary: "Add a machine by hand",
  options: {
    mac: { type: "string", multiple: true, help: "MAC address (repeatable; the first boots)" },
    hostname: { type: "string", help: "hostname (default: generated)" },
    site: { type: "string", help: "site (default: default)" },
    zone: { type: "string", help: "zone" },
    pool: { type: "string", help: "resource pool" },
    arch: { type: "string", help: "architecture, e.g. amd64/generic" },
    "power-type": { type: "string", help: "manual | ipmi | redfish | webhook" },
    "power-param": { type: "string", multiple: true, help: "power parameter key=value" },
    commission: { type: "boolean", help: "commission at once" },
  },
  async run(ctx) {
    const o = ctx.opts;
    const macs = list(o["mac"]);
    if (!macs?.length) throw new CliError("give at least one --mac", EXIT.usage);
    const params = Object.fromEntries((list(o["power-param"]) ?? []).map((kv) => [kv.split("=")[0]!, kv.split("=").slice(1).join("=")]));
    const m = await ctx.client().call("POST /machines", {
      body: {
        mac_addresses: macs,
        hostname: str(o["hostname"]),
        site: str(o["site"]),
        zone: str(o["zone"]),
        pool: str(o["pool"]),
        architecture: str(o["arch"]),
        power_type: str(o["power-type"]) as "manual" | undefined,
        power_parameters: Object.keys(params).length ? params : undefined,
        commission: o["commission"] === true ? true : undefined,
      },
    });
    if (ctx.json) return printJson(m);
    process.stdout.write(`created ${m.hostname} (${m.system_id}), ${m.status_name}\n`);
  },
};

const updateCmd: Command = {
  name: "update",
  summary: "Change a machine's hostname, description, site, zone, pool or power settings",
  args: "<machine>",
  options: {
    hostname: { type: "string", help: "new hostname" },
    description: { type: "string", help: "new description" },
    site: { type: "string", help: "move to site" },
    zone: { type: "string", help: "move to zone" },
    pool: { type: "string", help: "move to pool" },
    "power-type": { type: "string", help: "manual | ipmi | redfish | webhook" },
    "power-param": { type: "string", multiple: true, help: "power parameter key=value" },
  },
  async run(ctx) {
    const c = ctx.client();
    const o = ctx.opts;
    const id = await resolveMachine(c, need(ctx, 1, "<machine>")[0]!);
    const params = list(o["power-param"]);
    const m = await c.call("PATCH /machines/{id}", {
      path: { id },
      body: {
        hostname: str(o["hostname"]),
        description: str(o["description"]),
        site: str(o["site"]),
        zone: str(o["zone"]),
        pool: str(o["pool"]),
        power_type: str(o["power-type"]) as "manual" | undefined,
        power_parameters: params ? Object.fromEntries(params.map((kv) => [kv.split("=")[0]!, kv.split("=").slice(1).join("=")])) : undefined,
      },
    });
    if (ctx.json) return printJson(m);
    process.stdout.write(`updated ${m.hostname} (${m.system_id})\n`);
  },
};

const deleteCmd: Command = {
  name: "delete",
  summary: "Delete machines",
  args: "<machine>...",
  async run(ctx) {
    const c = ctx.client();
    for (const ref of need(ctx, 1, "<machine>")) {
      const id = await resolveMachine(c, ref);
      await c.call("DELETE /machines/{id}", { path: { id } });
      if (!ctx.json) process.stdout.write(`deleted ${ref}\n`);
    }
    if (ctx.json) printJson({ deleted: ctx.args });
  },
};

/** CLI verb → API operation. Power actions answer 202; lifecycle actions return the machine. */
const ACTIONS = {
  commission: { op: "POST /machines/{id}/commission", summary: "Commission: boot the ephemeral environment and inventory the hardware" },
  allocate: { op: "POST /machines/{id}/allocate", summary: "Allocate a Ready machine to yourself" },
  deploy: {
    op: "POST /machines/{id}/deploy",
    summary: "Deploy an operating system",
    extra: { osystem: { type: "string", help: "e.g. ubuntu" }, "distro-series": { type: "string", help: "e.g. noble" } },
  },
  release: { op: "POST /machines/{id}/release", summary: "Release back to Ready", extra: { erase: { type: "boolean", help: "erase disks first" } } },
  abort: { op: "POST /machines/{id}/abort", summary: "Abort the running operation" },
  "mark-broken": { op: "POST /machines/{id}/mark_broken", summary: "Take out of service" },
  "mark-fixed": { op: "POST /machines/{id}/mark_fixed", summary: "Return a broken machine to service" },
  "power-on": { op: "POST /machines/{id}/power_on", summary: "Power on (through the site's rack)" },
  "power-off": { op: "POST /machines/{id}/power_off", summary: "Power off (through the site's rack)" },
  "power-cycle": { op: "POST /machines/{id}/power_cycle", summary: "Power cycle (through the site's rack)" },
  identify: { op: "POST /machines/{id}/identify", summary: "Blink the chassis identify light" },
  rescue: { op: "POST /machines/{id}/rescue_mode", summary: "Boot the rescue environment (an ephemeral OS; the disks are left alone)" },
  "exit-rescue": { op: "POST /machines/{id}/exit_rescue_mode", summary: "Leave rescue mode, back to the status the machine had before" },
  lock: { op: "POST /machines/{id}/lock", summary: "Lock a deployed machine: no release, redeploy or delete until unlocked" },
  unlock: { op: "POST /machines/{id}/unlock", summary: "Unlock a locked machine" },
} as const;

function actionCmd(verb: keyof typeof ACTIONS): Command {
  const spec = ACTIONS[verb];
  const waitable = verb in WAIT_TARGETS;
  const extra = ("extra" in spec ? spec.extra : {}) as Command["options"];
  return {
    name: verb,
    summary: spec.summary,
    args: "<machine>...",
    options: {
      ...(verb === "identify" || verb === "allocate" ? {} : { comment: { type: "string", help: "why (kept in the event log)" } }),
      ...extra,
      ...(waitable
        ? {
            wait: { type: "boolean", help: "wait until the machine gets there (or fails), with a progress line" },
            timeout: { type: "string", help: "seconds to wait at most (default 1800)" },
          }
        : {}),
    },
    async run(ctx) {
      const c = ctx.client();
      const o = ctx.opts;
      const results: unknown[] = [];
      let worst = 0;
      for (const ref of need(ctx, 1, "<machine> (system_id or hostname)")) {
        const id = await resolveMachine(c, ref);
        const body: Record<string, unknown> = {};
        if (str(o["comment"])) body["comment"] = o["comment"];
        if (verb === "deploy") {
          if (str(o["osystem"])) body["osystem"] = o["osystem"];
          if (str(o["distro-series"])) body["distro_series"] = o["distro-series"];
        }
        if (verb === "release" && o["erase"]) body["erase"] = true;
        // The operation table types each body; this loop handles all verbs alike.
        const r = await c.call(spec.op, { path: { id }, body } as never);
        let final: unknown = r;
        if (o["wait"]) {
          try {
            final = await waitFor(c, id, verb, Number(str(o["timeout"]) ?? 1800), ctx.json);
          } catch (e) {
            if (!(e instanceof CliError) || ctx.args.length === 1) throw e;
            process.stderr.write(`plinth: ${e.message}\n`);
            worst = Math.max(worst, e.exitCode);
            continue;
          }
        }
        results.push(final);
        if (!ctx.json) {
          const m = final as Partial<Machine> & { message?: string; command_id?: string | null };
          if (verb === "lock" || verb === "unlock") process.stdout.write(`${m.hostname}: ${m.locked ? "locked" : "unlocked"}, ${m.status_name}\n`);
          else if (m.status_name) process.stdout.write(`${m.hostname}: ${m.status_name}${o["wait"] && m.power_state ? `, power ${m.power_state}` : ""}\n`);
          else if (m.message) process.stdout.write(`${ref}: ${m.message}\n`);
          else process.stdout.write(`${ref}: ${verb} sent${m.command_id ? ` (command ${m.command_id})` : ""}\n`);
        }
      }
      if (ctx.json) printJson(results.length === 1 ? results[0] : results);
      return worst;
    },
  };
}

/** tag / untag: machines by system_id or hostname, to or from one or more tags. */
function tagCmd(verb: "tag" | "untag"): Command {
  return {
    name: verb,
    summary: verb === "tag" ? "Add machines to a tag (create the tag first: plinth tags create)" : "Take machines out of a tag",
    args: "<machine>... --tag TAG",
    options: { tag: { type: "string", multiple: true, help: "the tag" } },
    async run(ctx) {
      const c = ctx.client();
      const tags = list(ctx.opts["tag"]);
      if (!tags?.length) throw new CliError(`give the tag: plinth machines ${verb} <machine>... --tag TAG`, EXIT.usage);
      const ids: string[] = [];
      for (const ref of need(ctx, 1, "<machine> (system_id or hostname)")) ids.push(await resolveMachine(c, ref));
      const results: { tag: string; machines: string[] }[] = [];
      for (const name of tags) {
        const r = await c.call("POST /tags/{name}/machines", { path: { name }, body: verb === "tag" ? { add: ids } : { remove: ids } });
        results.push(r);
        // The region lists at most 1,000 of the tag's machines.
        const n = `${r.machines.length}${r.machines.length >= 1000 ? "+" : ""}`;
        if (!ctx.json)
          process.stdout.write(
            `${verb === "tag" ? "tagged" : "untagged"} ${ctx.args.join(" ")} ${verb === "tag" ? "with" : "from"} ${name} (${n} machines have it)\n`,
          );
      }
      if (ctx.json) printJson(results.length === 1 ? results[0] : results);
    },
  };
}

export const machines: Group = {
  name: "machines",
  summary: "Machines: list, show, create, update, delete, storage, tag, lifecycle, rescue, lock and power actions",
  commands: [
    listCmd,
    showCmd,
    createCmd,
    updateCmd,
    deleteCmd,
    storageCmd,
    ...(Object.keys(ACTIONS) as (keyof typeof ACTIONS)[]).map(actionCmd),
    tagCmd("tag"),
    tagCmd("untag"),
  ],
};
