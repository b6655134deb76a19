// /api/v1/machines/{id}/interfaces: a machine's interfaces with their kind (physical, bond,
// VLAN, bridge), parents, children, params and MTU; creating, updating and deleting them. The
// rules are MAAS's and live in cloud/domain/machines/interface-kinds.ts, shared with the MAAS
// facade's nodes/{system_id}/interfaces/.
import type { Hono } from "hono";
import { z } from "zod";
import type { AppEnv, Ctx } from "../http/context";
import { badRequest, conflict, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { macSchema, readJson } from "../http/validate";
import { pushConfigAfter } from "../domain/racks/commands";
import { addInterface, type LinkRow, linkSubnet, linksOf, setDefaultGateway, unlinkSubnet } from "../domain/machines/interfaces";
import { adoptSubnet } from "../domain/networks";
import {
  assertNetworkEditable,
  BondParams,
  BridgeParams,
  createInterfaceKind,
  deleteInterfaceKind,
  INTERFACE_NAME,
  type InterfaceChanges,
  type InterfaceView,
  machineInterfaces,
  updateInterfaceKind,
} from "../domain/machines/interface-kinds";
import { loadMachine } from "../machines/load";
import type { MachineRow } from "../machines/repo";

/** Another interface of the machine, by id or by name. */
const ref = z.union([z.number().int().positive(), z.string().regex(INTERFACE_NAME, "an interface id or name")]);
const ifaceName = z.string().regex(INTERFACE_NAME, "1 to 15 letters, digits, '.', '_' or '-'");
const mtu = z.number().int();
const vlanId = z.number().int().positive();

export const CreateInterface = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("physical"), mac_address: macSchema, name: ifaceName.optional(), vlan_id: vlanId.optional() }),
  z.strictObject({
    type: z.literal("bond"),
    name: ifaceName,
    parents: z.array(ref).min(1).max(16),
    mac_address: macSchema.optional(),
    vlan_id: vlanId.optional(),
    mtu: mtu.optional(),
    params: BondParams.optional(),
  }),
  z.strictObject({ type: z.literal("vlan"), parent: ref, vlan_id: vlanId, name: ifaceName.optional(), mtu: mtu.optional() }),
  z.strictObject({
    type: z.literal("bridge"),
    parent: ref,
    name: ifaceName.optional(),
    mac_address: macSchema.optional(),
    vlan_id: vlanId.optional(),
    mtu: mtu.optional(),
    params: BridgeParams.optional(),
  }),
]);

export const UpdateInterface = z.strictObject({
  name: ifaceName.optional(),
  /** null: back to the VLAN's MTU. */
  mtu: mtu.nullable().optional(),
  vlan_id: vlanId.nullable().optional(),
  /** bond_* on a bond, bridge_* on a bridge; merged into the current ones. */
  params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  /** A bond's members, or the one parent of a VLAN interface or bridge. */
  parents: z.array(ref).min(1).max(16).optional(),
  mac_address: macSchema.optional(),
  enabled: z.boolean().optional(),
});

async function listOf(c: Ctx, m: MachineRow): Promise<InterfaceView[]> {
  return machineInterfaces(c.env.DB, m.id);
}

function resolve(list: InterfaceView[], r: number | string, field: string): number {
  const hit = typeof r === "number" ? list.find((i) => i.id === r) : list.find((i) => i.name === r);
  if (!hit) throw badRequest(`${field}: ${r} is not an interface of this machine`, [{ path: field, message: `${r} is not an interface of this machine` }]);
  return hit.id;
}

async function one(c: Ctx, m: MachineRow, id: number, status: 200 | 201 = 200) {
  const found = (await listOf(c, m)).find((i) => i.id === id);
  if (!found) throw notFound("interface");
  return c.json(found, status);
}

export const LinkBody = z.strictObject({
  mode: z.enum(["auto", "dhcp", "static", "link_up"]),
  /** Required but for link_up. */
  subnet_id: z.number().int().positive().optional(),
  /** static only; left out, the lowest free address of the subnet is taken now. */
  ip_address: z.string().max(64).optional(),
  default_gateway: z.boolean().optional(),
  /** link_up on an interface with links: replace them all (MAAS's force). */
  force: z.boolean().optional(),
});
const GatewayBody = z.strictObject({ link_id: z.number().int().positive().nullable() });

const linkView = (l: LinkRow) => ({ id: l.id, mode: l.kind, subnet_id: l.subnet_id, ip: l.ip, default_gateway: !!l.default_gateway });

/** The rack's DHCP reserves STATIC and sticky addresses by MAC: a changed link is news for the site's racks. */
async function pushConfig(c: Ctx, m: MachineRow) {
  await pushConfigAfter(c.env, m.siteId, "a link change");
}

export function machineInterfaceRoutes(app: Hono<AppEnv>) {
  def(
    app,
    "get",
    "/machines/:id/interfaces",
    { summary: "A machine's interfaces: type, parents, children, params, MTU", tag: "machines", roles: "any; only the caller's sites" },
    async (c) => {
      const m = await loadMachine(c, "machine.read");
      return c.json({ items: await listOf(c, m) });
    },
  );

  def(
    app,
    "post",
    "/machines/:id/interfaces",
    { summary: "Create a physical interface, bond, VLAN interface or bridge", tag: "machines", body: CreateInterface, roles: "operator, admin", status: 201 },
    async (c) => {
      const m = await loadMachine(c, "machine.edit");
      const b = await readJson(c, CreateInterface);
      const actor = c.get("caller").username;
      const list = await listOf(c, m);
      let id: number;
      if (b.type === "physical") {
        assertNetworkEditable(m);
        const used = await c.env.DB.prepare("SELECT 1 FROM interfaces WHERE mac = ?").bind(b.mac_address).first();
        if (used) throw conflict(`MAC address ${b.mac_address} is already in use`);
        if (b.name !== undefined && list.some((i) => i.name === b.name)) throw badRequest(`${m.hostname} already has an interface named '${b.name}'`);
        id = await addInterface(c.env.DB, actor, m, { mac: b.mac_address, name: b.name, vlanId: b.vlan_id ?? null });
      } else if (b.type === "bond") {
        const parents = b.parents.map((p) => resolve(list, p, "parents"));
        id = await createInterfaceKind(c.env.DB, actor, m, { ...b, parents, mac: b.mac_address, vlanId: b.vlan_id });
      } else if (b.type === "vlan") {
        id = await createInterfaceKind(c.env.DB, actor, m, {
          type: "vlan",
          parent: resolve(list, b.parent, "parent"),
          vlanId: b.vlan_id,
          name: b.name,
          mtu: b.mtu,
        });
      } else {
        id = await createInterfaceKind(c.env.DB, actor, m, {
          type: "bridge",
          parent: resolve(list, b.parent, "parent"),
          name: b.name,
          mac: b.mac_address,
          vlanId: b.vlan_id,
          mtu: b.mtu,
          params: b.params,
        });
      }
      return one(c, m, id, 201);
    },
  );

  const target = async (c: Ctx, m: MachineRow) => {
    const key = c.req.param("iface") ?? "";
    const list = await listOf(c, m);
    const hit = /^\d+$/.test(key) ? list.find((i) => i.id === Number(key)) : list.find((i) => i.name === key);
    if (!hit) throw notFound("interface");
    return { hit, list };
  };

  def(
    app,
    "patch",
    "/machines/:id/interfaces/:iface",
    { summary: "Update an interface (name, MTU, VLAN, params, parents)", tag: "machines", body: UpdateInterface, roles: "operator, admin" },
    async (c) => {
      const m = await loadMachine(c, "machine.edit");
      const { hit, list } = await target(c, m);
      const b = await readJson(c, UpdateInterface);
      const ch: InterfaceChanges = {
        name: b.name,
        mtu: b.mtu,
        vlanId: b.vlan_id,
        params: b.params,
        parents: b.parents?.map((p) => resolve(list, p, "parents")),
        mac: b.mac_address,
        enabled: b.enabled,
      };
      await updateInterfaceKind(c.env.DB, c.get("caller").username, m, hit.id, ch);
      return one(c, m, hit.id);
    },
  );

  /** The interface a link change is about, on a machine whose network may change now. */
  const editableTarget = async (c: Ctx) => {
    const m = await loadMachine(c, "machine.edit");
    const { hit } = await target(c, m);
    assertNetworkEditable(m);
    return { m, hit };
  };

  const links = async (c: Ctx, id: number) => ({ items: (await linksOf(c.env.DB, [id])).filter((l) => l.kind !== "discovered").map(linkView) });

  def(
    app,
    "get",
    "/machines/:id/interfaces/:iface/links",
    { summary: "An interface's links (subnet, mode, address, default gateway)", tag: "machines", roles: "any; only the caller's sites" },
    async (c) => {
      const m = await loadMachine(c, "machine.read");
      const { hit } = await target(c, m);
      return c.json(await links(c, hit.id));
    },
  );

  def(
    app,
    "post",
    "/machines/:id/interfaces/:iface/links",
    { summary: "Link an interface to a subnet: auto, static, dhcp or link_up", tag: "machines", body: LinkBody, roles: "operator, admin", status: 201 },
    async (c) => {
      const { m, hit } = await editableTarget(c);
      const b = await readJson(c, LinkBody);
      if (b.subnet_id !== undefined) {
        const s = await c.env.DB.prepare("SELECT site_id FROM subnets WHERE id = ?").bind(b.subnet_id).first<{ site_id: number | null }>();
        if (!s) throw badRequest(`subnet_id: no subnet ${b.subnet_id}`, [{ path: "subnet_id", message: `no subnet ${b.subnet_id}` }]);
        if (s.site_id !== null && s.site_id !== m.siteId)
          throw badRequest("subnet_id: the subnet is on another site than the machine", [{ path: "subnet_id", message: "on another site than the machine" }]);
        if (s.site_id === null) await adoptSubnet(c.env.DB, c.get("caller").username, b.subnet_id, { id: m.siteId, name: m.site });
      }
      if (b.mode === "link_up" && !b.force && (await linksOf(c.env.DB, [hit.id])).some((l) => l.kind !== "discovered"))
        throw conflict(`${hit.name} has links: link_up replaces them only with force: true`);
      await linkSubnet(c.env.DB, c.get("caller").username, m, hit, {
        mode: b.mode,
        subnetId: b.subnet_id ?? null,
        ip: b.ip_address,
        defaultGateway: b.default_gateway === true,
        replaceAll: b.mode === "link_up",
      });
      await pushConfig(c, m);
      return c.json(await links(c, hit.id), 201);
    },
  );

  def(
    app,
    "delete",
    "/machines/:id/interfaces/:iface/links/:link",
    { summary: "Unlink an interface from a subnet (one link, by id)", tag: "machines", roles: "operator, admin", status: 204 },
    async (c) => {
      const { m, hit } = await editableTarget(c);
      const id = c.req.param("link") ?? "";
      if (!/^\d+$/.test(id) || !(await unlinkSubnet(c.env.DB, c.get("caller").username, m, hit, Number(id)))) throw notFound("link");
      await pushConfig(c, m);
      return c.body(null, 204);
    },
  );

  def(
    app,
    "put",
    "/machines/:id/interfaces/:iface/default-gateway",
    {
      summary: "Make one of the interface's AUTO or STATIC links the default gateway of its address family (link_id null: the first that can be)",
      tag: "machines",
      body: GatewayBody,
      roles: "operator, admin",
    },
    async (c) => {
      const { m, hit } = await editableTarget(c);
      const b = await readJson(c, GatewayBody);
      await setDefaultGateway(c.env.DB, c.get("caller").username, m, hit, b.link_id);
      return c.json(await links(c, hit.id));
    },
  );

  def(
    app,
    "delete",
    "/machines/:id/interfaces/:iface",
    { summary: "Delete an interface (refused while others are built on it)", tag: "machines", roles: "operator, admin", status: 204 },
    async (c) => {
      const m = await loadMachine(c, "machine.edit");
      const { hit } = await target(c, m);
      if (hit.is_boot) throw conflict(`${hit.name} is the boot interface: it cannot be deleted`);
      await deleteInterfaceKind(c.env.DB, c.get("caller").username, m, hit.id);
      return c.body(null, 204);
    },
  );
}
