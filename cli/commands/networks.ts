// plinth fabrics | vlans | subnets | ipranges: what each site's rack serves DHCP on.
import { CliError, type Client, EXIT } from "../client";
import { type Ctx, first, type Group, int, list, out, str } from "../command";
import { printFields, printJson, printTable } from "../output";
import type { IpRangeJson, IpRangeListed, SubnetJson, SubnetListed, SubnetUtilisation, VlanJson } from "../../shared/subnets";
import { named } from "./resources";

type Range = IpRangeJson;

type Subnet = SubnetJson;

type Usage = SubnetUtilisation;

/** A subnet named by id or by CIDR (a CIDR in two sites needs the id). */
async function resolveSubnet(c: Client, ref: string): Promise<string> {
  if (/^\d+$/.test(ref)) return ref;
  if (!ref.includes("/")) throw new CliError(`"${ref}" is neither a subnet id nor a CIDR like 10.0.0.0/24`, EXIT.usage);
  const hits: Subnet[] = (await c.call("GET /subnets", { query: { cidr: ref } })).items;
  if (hits.length === 0) throw new CliError(`no subnet ${ref}`, EXIT.notFound, "not_found");
  if (hits.length > 1) throw new CliError(`${ref} is in several sites (${hits.map((s) => `id ${s.id} in ${s.site}`).join(", ")}): name it by id`, EXIT.usage);
  return String(hits[0]!.id);
}

const pct = (n: number, of: number) => (of ? `${Math.round((100 * n) / of)}%` : "-");

const usageCells = (u: Usage) => ({ used: `${u.used} (${pct(u.used, u.usable)})`, dynamic: u.dynamic, reserved: u.reserved, free: u.free });

const rangeRow = (r: Range & { cidr?: string }) => ({ ...r, range: `${r.start_ip}-${r.end_ip}` });

function subnetBody(ctx: Ctx) {
  const o = ctx.opts;
  if (o["managed"] && o["unmanaged"]) throw new CliError("--managed or --unmanaged, not both", EXIT.usage);
  return {
    name: str(o["name"]),
    vlan_id: int(o["vlan"], "vlan"),
    gateway_ip: str(o["gateway"]),
    dns_servers: list(o["dns"]),
    managed: o["unmanaged"] ? false : o["managed"] ? true : undefined,
  };
}

const subnetOptions = {
  name: { type: "string", help: "a label" },
  vlan: { type: "string", help: "VLAN id (plinth vlans list)" },
  gateway: { type: "string", help: "default gateway, inside the subnet" },
  dns: { type: "string", multiple: true, help: "DNS server for DHCP clients" },
  unmanaged: { type: "boolean", help: "the rack serves no DHCP here (someone else does)" },
} as const;

export const fabrics = named("fabrics", "fabric");

/** A VLAN by its id (VIDs repeat across fabrics). */
function vlanId(ref: string | undefined): string {
  if (!ref) throw new CliError("missing <id> (plinth vlans list shows the ids)", EXIT.usage);
  if (!/^\d+$/.test(ref)) throw new CliError(`"${ref}" is not a VLAN id (plinth vlans list shows the ids)`, EXIT.usage);
  return ref;
}

const vlanFields = (v: VlanJson) => printFields({ ...v, dhcp: v.dhcp_on ? "on" : "off" }, ["id", "fabric", "vid", "name", "mtu", "dhcp"]);

export const vlans: Group = {
  name: "vlans",
  summary: "VLANs: list, show, create, update, delete",
  commands: [
    {
      name: "list",
      summary: "List VLANs",
      options: { fabric: { type: "string", help: "only this fabric's" } },
      run: async (ctx) => {
        const r: { items: VlanJson[] } = await ctx.client().call("GET /vlans");
        const fabric = str(ctx.opts["fabric"]);
        const items = fabric ? r.items.filter((v) => v.fabric === fabric) : r.items;
        out(ctx, { items }, () =>
          printTable(
            items.map((v) => ({ ...v, dhcp: v.dhcp_on ? "on" : "off" })),
            ["id", "fabric", "vid", "name", "mtu", "dhcp"],
            "no VLANs",
          ),
        );
      },
    },
    {
      name: "create",
      summary: "Create a VLAN on a fabric",
      args: "<vid>",
      options: {
        fabric: { type: "string", help: "fabric (default: fabric-0)" },
        name: { type: "string", help: "a label" },
        mtu: { type: "string", help: "MTU (default 1500)" },
        dhcp: { type: "boolean", help: "the rack serves DHCP on it" },
      },
      run: async (ctx) => {
        const vid = int(first(ctx, "<vid> (0-4094)"), "vid")!;
        const o = ctx.opts;
        const r = await ctx.client().call("POST /vlans", {
          body: { vid, fabric: str(o["fabric"]), name: str(o["name"]), mtu: int(o["mtu"], "mtu"), dhcp_on: o["dhcp"] === true ? true : undefined },
        });
        out(ctx, r, () => process.stdout.write(`created VLAN ${r.vid} on ${r.fabric}, id ${r.id}\n`));
      },
    },
    {
      name: "show",
      summary: "Show a VLAN",
      args: "<id>",
      run: async (ctx) => {
        const r: VlanJson = await ctx.client().call("GET /vlans/{id}", { path: { id: vlanId(ctx.args[0]) } });
        out(ctx, r, () => vlanFields(r));
      },
    },
    {
      name: "update",
      summary: "Change a VLAN's VID, name, MTU or DHCP",
      args: "<id>",
      options: {
        vid: { type: "string", help: "VID (0-4094)" },
        name: { type: "string", help: "a label" },
        mtu: { type: "string", help: "MTU" },
        dhcp: { type: "boolean", help: "the rack serves DHCP on it" },
        "no-dhcp": { type: "boolean", help: "the rack serves no DHCP on it" },
      },
      run: async (ctx) => {
        const id = vlanId(ctx.args[0]);
        const o = ctx.opts;
        if (o["dhcp"] && o["no-dhcp"]) throw new CliError("--dhcp or --no-dhcp, not both", EXIT.usage);
        const body = {
          vid: int(o["vid"], "vid"),
          name: str(o["name"]),
          mtu: int(o["mtu"], "mtu"),
          dhcp_on: o["dhcp"] ? true : o["no-dhcp"] ? false : undefined,
        };
        if (Object.values(body).every((v) => v === undefined))
          throw new CliError("nothing to change (plinth vlans update --help lists the options)", EXIT.usage);
        const r: VlanJson = await ctx.client().call("PATCH /vlans/{id}", { path: { id }, body });
        out(ctx, r, () => process.stdout.write(`updated VLAN ${r.vid} on ${r.fabric} (id ${r.id})\n`));
      },
    },
    {
      name: "delete",
      summary: "Delete VLANs no subnet is on",
      args: "<id>...",
      run: async (ctx) => {
        const c = ctx.client();
        const ids = ctx.args.length ? ctx.args.map(vlanId) : [vlanId(undefined)];
        for (const id of ids) {
          await c.call("DELETE /vlans/{id}", { path: { id } });
          if (!ctx.json) process.stdout.write(`deleted VLAN ${id}\n`);
        }
        if (ctx.json) printJson({ deleted: ids.map(Number) });
      },
    },
  ],
};

export const subnets: Group = {
  name: "subnets",
  summary: "Subnets: list, show (with utilisation), create, update, delete",
  commands: [
    {
      name: "list",
      summary: "List subnets with their IP ranges",
      options: {
        site: { type: "string", help: "only this site's" },
        usage: { type: "boolean", help: "add each subnet's utilisation" },
      },
      run: async (ctx) => {
        const c = ctx.client();
        const r: { items: SubnetListed[] } = await c.call("GET /subnets", { query: { site: str(ctx.opts["site"]) } });
        const u = !!ctx.opts["usage"];
        if (ctx.json) return printJson(r);
        printTable(
          r.items.map((s) => ({
            ...s,
            vlan: s.vlan_id,
            gateway: s.gateway_ip,
            dhcp: s.managed ? "managed" : "unmanaged",
            ranges: s.ip_ranges.map((x) => `${x.type} ${x.start_ip}-${x.end_ip}`),
            ...(u && s.utilisation ? usageCells(s.utilisation) : {}),
          })),
          ["id", "cidr", "name", "site", "vlan", "gateway", "dhcp", ...(u ? ["used", "dynamic", "reserved", "free"] : ["ranges"])],
          "no subnets: plinth subnets create <cidr> --site SITE",
        );
      },
    },
    {
      name: "show",
      summary: "Show a subnet, its IP ranges and how full it is",
      args: "<id|cidr>",
      run: async (ctx) => {
        const c = ctx.client();
        const id = await resolveSubnet(c, first(ctx, "<id|cidr>"));
        const [s, u]: [Subnet, Usage] = await Promise.all([
          c.call("GET /subnets/{id}", { path: { id } }),
          c.call("GET /subnets/{id}/utilisation", { path: { id } }),
        ]);
        out(ctx, { ...s, utilisation: u }, () => {
          printFields({ ...s, dhcp: s.managed ? "managed" : "unmanaged", ...usageCells(u), usable: u.usable }, [
            "id",
            "cidr",
            "name",
            "site",
            "vlan_id",
            "gateway_ip",
            "dns_servers",
            "dhcp",
            "usable",
            "used",
            "dynamic",
            "reserved",
            "free",
          ]);
          process.stdout.write("\nip ranges:\n");
          printTable(s.ip_ranges.map(rangeRow), ["id", "type", "range", "comment"], "  none");
        });
      },
    },
    {
      name: "create",
      summary: "Create a subnet in a site",
      args: "<cidr>",
      options: { site: { type: "string", help: "site (default: default)" }, ...subnetOptions },
      run: async (ctx) => {
        const b = subnetBody(ctx);
        const r = await ctx.client().call("POST /subnets", { body: { cidr: first(ctx, "<cidr>"), site: str(ctx.opts["site"]), ...b } });
        out(ctx, r, () => process.stdout.write(`created subnet ${r.cidr} in ${r.site}, id ${r.id}\n`));
      },
    },
    {
      name: "update",
      summary: "Change a subnet's name, VLAN, gateway, DNS servers or DHCP management",
      args: "<id|cidr>",
      options: { ...subnetOptions, managed: { type: "boolean", help: "the rack serves DHCP here" } },
      run: async (ctx) => {
        const c = ctx.client();
        const id = await resolveSubnet(c, first(ctx, "<id|cidr>"));
        const b = subnetBody(ctx);
        if (Object.values(b).every((v) => v === undefined))
          throw new CliError("nothing to change (plinth subnets update --help lists the options)", EXIT.usage);
        const r = await c.call("PATCH /subnets/{id}", { path: { id }, body: b });
        out(ctx, r, () => process.stdout.write(`updated subnet ${r.cidr} (id ${r.id})\n`));
      },
    },
    {
      name: "delete",
      summary: "Delete subnets and their IP ranges",
      args: "<id|cidr>...",
      run: async (ctx) => {
        const c = ctx.client();
        first(ctx, "<id|cidr>");
        const deleted: number[] = [];
        for (const ref of ctx.args) {
          const id = await resolveSubnet(c, ref);
          await c.call("DELETE /subnets/{id}", { path: { id } });
          deleted.push(Number(id));
          if (!ctx.json) process.stdout.write(`deleted subnet ${ref}\n`);
        }
        if (ctx.json) printJson({ deleted });
      },
    },
  ],
};

export const ipranges: Group = {
  name: "ipranges",
  summary: "Dynamic and reserved IP ranges in subnets: list, create, update, delete",
  commands: [
    {
      name: "list",
      summary: "List IP ranges",
      options: { subnet: { type: "string", help: "only this subnet's (id or CIDR)" } },
      run: async (ctx) => {
        const c = ctx.client();
        const ref = str(ctx.opts["subnet"]);
        const subnet = ref ? await resolveSubnet(c, ref) : undefined;
        const { items }: { items: IpRangeListed[] } = await c.call("GET /ip-ranges", { query: { subnet } });
        out(ctx, { items }, () => printTable(items.map(rangeRow), ["id", "cidr", "site", "type", "range", "comment"], "no IP ranges"));
      },
    },
    {
      name: "create",
      summary: "Create a dynamic (DHCP pool) or reserved range",
      args: "--subnet S --type T --start IP --end IP",
      options: {
        subnet: { type: "string", help: "subnet id or CIDR" },
        type: { type: "string", help: "dynamic | reserved" },
        start: { type: "string", help: "first address" },
        end: { type: "string", help: "last address" },
        comment: { type: "string", help: "what it is for" },
      },
      run: async (ctx) => {
        const o = ctx.opts;
        const [subnet, type, start, end] = ["subnet", "type", "start", "end"].map((k) => str(o[k]));
        if (!subnet || !type || !start || !end) throw new CliError("give --subnet, --type (dynamic or reserved), --start and --end", EXIT.usage);
        if (type !== "dynamic" && type !== "reserved") throw new CliError(`--type is dynamic or reserved, not "${type}"`, EXIT.usage);
        const c = ctx.client();
        const subnetId = Number(await resolveSubnet(c, subnet));
        const r = await c.call("POST /ip-ranges", { body: { subnet_id: subnetId, type, start_ip: start, end_ip: end, comment: str(o["comment"]) } });
        out(ctx, r, () => process.stdout.write(`created ${r.type} range ${r.start_ip}-${r.end_ip}, id ${r.id}\n`));
      },
    },
    {
      name: "update",
      summary: "Change a range's type, addresses or comment (it must stay inside its subnet, clear of other ranges)",
      args: "<id>",
      options: {
        type: { type: "string", help: "dynamic | reserved" },
        start: { type: "string", help: "first address" },
        end: { type: "string", help: "last address" },
        comment: { type: "string", help: "what it is for" },
      },
      run: async (ctx) => {
        const id = ctx.args[0];
        if (!id) throw new CliError("missing <id> (plinth ipranges list shows the ids)", EXIT.usage);
        if (!/^\d+$/.test(id)) throw new CliError(`"${id}" is not an IP range id (plinth ipranges list)`, EXIT.usage);
        const o = ctx.opts;
        const given = str(o["type"]);
        const RANGE_TYPES = ["dynamic", "reserved"] as const;
        const type = RANGE_TYPES.find((t) => t === given);
        if (given !== type) throw new CliError(`--type is dynamic or reserved, not "${given}"`, EXIT.usage);
        const body = { type, start_ip: str(o["start"]), end_ip: str(o["end"]), comment: str(o["comment"]) };
        if (Object.values(body).every((v) => v === undefined))
          throw new CliError("nothing to change (plinth ipranges update --help lists the options)", EXIT.usage);
        const r = await ctx.client().call("PATCH /ip-ranges/{id}", { path: { id }, body });
        out(ctx, r, () => process.stdout.write(`updated IP range ${r.id}: ${r.type} ${r.start_ip}-${r.end_ip}\n`));
      },
    },
    {
      name: "delete",
      summary: "Delete IP ranges",
      args: "<id>...",
      run: async (ctx) => {
        const c = ctx.client();
        first(ctx, "<id>");
        for (const id of ctx.args) {
          if (!/^\d+$/.test(id)) throw new CliError(`"${id}" is not an IP range id (plinth ipranges list)`, EXIT.usage);
          await c.call("DELETE /ip-ranges/{id}", { path: { id } });
          if (!ctx.json) process.stdout.write(`deleted IP range ${id}\n`);
        }
        if (ctx.json) printJson({ deleted: ctx.args.map(Number) });
      },
    },
  ],
};

export const networkGroups: Group[] = [fabrics, vlans, subnets, ipranges];
