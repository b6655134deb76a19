// plinth interfaces list|show|update <machine>: a machine's interfaces (physical, bond, VLAN,
// bridge) with their VLAN and MTU, and one interface's subnet links.
import { CliError, type Client, EXIT } from "../client";
import { type Ctx, type Group, int, out, str } from "../command";
import { printFields, printTable } from "../output";
import { resolveMachine } from "./resolve-machine";
import type { InterfaceJson } from "../../shared/interfaces";

type Iface = InterfaceJson;

interface Link {
  id: number;
  mode: string;
  subnet_id: number | null;
  ip: string | null;
  default_gateway: boolean;
}

/** The machine and interface named by the first two arguments. */
function refs(ctx: Ctx, what: string): [string, string] {
  const [machine, iface] = ctx.args;
  if (!machine || !iface) throw new CliError(`missing ${what}`, EXIT.usage);
  return [machine, iface];
}

async function ifaceOf(c: Client, machine: string, ref: string): Promise<{ id: string; iface: Iface }> {
  const id = await resolveMachine(c, machine);
  const r: { items: Iface[] } = await c.call("GET /machines/{id}/interfaces", { path: { id } });
  const iface = /^\d+$/.test(ref) ? r.items.find((i) => i.id === Number(ref)) : r.items.find((i) => i.name === ref);
  if (!iface) throw new CliError(`${machine} has no interface "${ref}" (plinth interfaces list ${machine})`, EXIT.notFound, "not_found");
  return { id, iface };
}

const row = (i: Iface) => ({
  ...i,
  vlan: i.vlan_id,
  mtu: i.mtu === null ? `${i.effective_mtu} (VLAN's)` : i.mtu,
  state: i.enabled ? "enabled" : "disabled",
  boot: i.is_boot ? "yes" : "",
});

/** `--mtu default` goes back to the VLAN's MTU; `--vlan none` takes the interface off its VLAN. */
function nullable(v: unknown, flag: string, none: string): number | null | undefined {
  return v === none ? null : int(v, flag);
}

export const interfaces: Group = {
  name: "interfaces",
  summary: "A machine's interfaces: list, show (with links), update",
  commands: [
    {
      name: "list",
      summary: "List a machine's interfaces",
      args: "<machine>",
      run: async (ctx) => {
        const machine = ctx.args[0];
        if (!machine) throw new CliError("missing <machine> (system_id or hostname)", EXIT.usage);
        const c = ctx.client();
        const id = await resolveMachine(c, machine);
        const r: { items: Iface[] } = await c.call("GET /machines/{id}/interfaces", { path: { id } });
        out(ctx, r, () =>
          printTable(r.items.map(row), ["id", "name", "type", "mac", "vlan", "mtu", "state", "parents", "boot"], `${machine} has no interfaces`),
        );
      },
    },
    {
      name: "show",
      summary: "Show one interface of a machine and its subnet links",
      args: "<machine> <interface>",
      run: async (ctx) => {
        const [machine, ref] = refs(ctx, "<machine> <interface> (name or id)");
        const c = ctx.client();
        const { id, iface } = await ifaceOf(c, machine, ref);
        const links: { items: Link[] } = await c.call("GET /machines/{id}/interfaces/{iface}/links", { path: { id, iface: String(iface.id) } });
        out(ctx, { ...iface, links: links.items }, () => {
          printFields({ ...row(iface), params: Object.keys(iface.params).length ? iface.params : null }, [
            "id",
            "name",
            "type",
            "mac",
            "vlan",
            "mtu",
            "state",
            "parents",
            "children",
            "boot",
            "params",
          ]);
          process.stdout.write("\nlinks:\n");
          printTable(
            links.items.map((l) => ({ ...l, subnet: l.subnet_id, gateway: l.default_gateway ? "default" : "" })),
            ["id", "mode", "subnet", "ip", "gateway"],
            "  none",
          );
        });
      },
    },
    {
      name: "update",
      summary: "Change an interface's name, MTU, VLAN, MAC or whether it is enabled",
      args: "<machine> <interface>",
      options: {
        name: { type: "string", help: "new name (1 to 15 letters, digits, '.', '_' or '-')" },
        mtu: { type: "string", help: "MTU, or 'default' for the VLAN's" },
        vlan: { type: "string", help: "VLAN id (plinth vlans list), or 'none'" },
        mac: { type: "string", help: "MAC address" },
        enable: { type: "boolean", help: "enable the interface" },
        disable: { type: "boolean", help: "disable the interface" },
      },
      run: async (ctx) => {
        const [machine, ref] = refs(ctx, "<machine> <interface> (name or id)");
        const o = ctx.opts;
        if (o["enable"] && o["disable"]) throw new CliError("--enable or --disable, not both", EXIT.usage);
        const body = {
          name: str(o["name"]),
          mtu: nullable(o["mtu"], "mtu", "default"),
          vlan_id: nullable(o["vlan"], "vlan", "none"),
          mac_address: str(o["mac"]),
          enabled: o["enable"] ? true : o["disable"] ? false : undefined,
        };
        if (Object.values(body).every((v) => v === undefined))
          throw new CliError("nothing to change (plinth interfaces update --help lists the options)", EXIT.usage);
        const c = ctx.client();
        const { id, iface } = await ifaceOf(c, machine, ref);
        const r: Iface = await c.call("PATCH /machines/{id}/interfaces/{iface}", { path: { id, iface: String(iface.id) }, body });
        out(ctx, r, () => process.stdout.write(`updated ${r.name} of ${machine}\n`));
      },
    },
  ],
};
