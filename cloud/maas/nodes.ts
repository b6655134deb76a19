// nodes/{system_id}/interfaces/ (block devices and the rest of storage: storage.ts). A link is a row of
// ip_addresses bound to the interface (MAAS's model): an interface may have several, and a
// link's id is its row's.
import { z } from "zod";
import { NETWORK_EDITABLE, STATUS_NAME, type Status } from "../../shared/lifecycle";
import { createInterfaceKind, deleteInterfaceKind, interfaceKinds, type InterfaceChanges, updateInterfaceKind } from "../domain/machines/interface-kinds";
import { adoptSubnet } from "../domain/networks";
import { pushConfigAfter } from "../domain/racks/commands";
import { ApiError } from "../http/errors";
import {
  addInterface,
  disconnectInterface,
  linkSubnet as addLink,
  linksOf,
  setDefaultGateway,
  unlinkSubnet as removeLink,
} from "../domain/machines/interfaces";
import type { MachineRow } from "../machines/repo";
import { machineFor, netCache } from "./load";
import { type IfaceRow, interfaceJson } from "./shape";
import type { Handler, Req } from "./table";
import { boolParam, deleted, fieldError, json, MaasError, type Params, parse } from "./wire";

const IFACE_COLS = "id, machine_id, name, mac, type, vlan_id, speed_mbps, link_connected, is_boot";
// MAAS refuses network changes outside these states (NodeStateViolation, 409).
const EDITABLE = new Set<number>(NETWORK_EDITABLE);

async function ifaceJsonList(db: D1Database, m: MachineRow, rows: IfaceRow[]) {
  const links = await linksOf(
    db,
    rows.map((i) => i.id),
  );
  const net = await netCache(
    db,
    links.flatMap((l) => (l.subnet_id !== null ? [l.subnet_id] : [])),
    rows.flatMap((i) => (i.vlan_id !== null ? [i.vlan_id] : [])),
  );
  const kinds = await interfaceKinds(db, [m.id]);
  return rows.map((i) => interfaceJson(m.systemId, i, net, links, kinds.get(i.id)));
}

async function ifaceOf(r: Req, m: MachineRow): Promise<IfaceRow> {
  const id = Number(r.path["id"]);
  const row = Number.isInteger(id)
    ? await r.db.prepare(`SELECT ${IFACE_COLS} FROM interfaces WHERE id = ? AND machine_id = ?`).bind(id, m.id).first<IfaceRow>()
    : null;
  if (!row) throw new MaasError(404, "No Interface matches the given query.");
  return row;
}

function editable(m: MachineRow) {
  if (!EDITABLE.has(m.status)) throw new MaasError(409, `Cannot change the network of ${m.hostname}: the machine is ${STATUS_NAME[m.status as Status]}.`);
  if (m.locked) throw new MaasError(409, `Cannot change the network of ${m.hostname}: the machine is locked.`);
}

/** The rack's DHCP reserves link addresses by MAC: a changed link is news for the site's racks. */
async function pushConfig(r: Req, m: MachineRow) {
  await pushConfigAfter(r.c.env, m.siteId, "a link change");
}

async function answer(r: Req, m: MachineRow, id: number) {
  const row = (await r.db.prepare(`SELECT ${IFACE_COLS} FROM interfaces WHERE id = ?`).bind(id).first<IfaceRow>())!;
  return json((await ifaceJsonList(r.db, m, [row]))[0]);
}

const LinkBody = z.object({
  mode: z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(["auto", "dhcp", "static", "link_up"], { message: "Select a valid choice." })),
  subnet: z.string().max(64).optional(),
  ip_address: z.string().max(64).optional(),
  default_gateway: z.string().optional(),
  force: z.string().optional(),
});

async function subnetByKey(db: D1Database, key: string) {
  return db
    .prepare(`SELECT id, cidr, vlan_id, site_id FROM subnets WHERE ${/^\d+$/.test(key) ? "id = ?" : "cidr = ?"}`)
    .bind(/^\d+$/.test(key) ? Number(key) : key)
    .first<{ id: number; cidr: string; vlan_id: number | null; site_id: number | null }>();
}

const truthy = (v: string | undefined) => v !== undefined && /^(true|1|yes|on)$/i.test(v);

/** The domain's refusals of a link, in MAAS's shape: {field: [reason]}. */
async function asFieldError<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof ApiError && Array.isArray(e.details)) {
      const d = (e.details as { path?: string; message?: string }[])[0];
      if (d?.path) throw fieldError(d.path, d.message ?? e.message);
    }
    throw e;
  }
}

async function linkSubnet(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.edit");
  const i = await ifaceOf(r, m);
  editable(m);
  const b = parse(LinkBody, r.p);
  const s = b.subnet ? await subnetByKey(r.db, b.subnet) : null;
  if (b.subnet && !s) throw fieldError("subnet", `Select a valid choice. ${b.subnet} is not one of the available choices.`);
  if (!s && b.mode !== "link_up") throw fieldError("subnet", "This field is required.");
  if (s && s.site_id !== null && s.site_id !== m.siteId) throw fieldError("subnet", "The subnet is on another site than the machine.");
  if (s && s.site_id === null) await adoptSubnet(r.db, r.caller.username, s.id, { id: m.siteId, name: m.site });
  if (b.mode === "link_up") {
    const others = await linksOf(r.db, [i.id]);
    if (others.length > 0 && !truthy(b.force)) {
      throw fieldError(
        "mode",
        "Cannot configure interface to link up (with no IP address) while other links are already configured. Specify force=True to override this behavior and delete all links.",
      );
    }
  }
  await asFieldError(() =>
    addLink(r.db, r.caller.username, m, i, {
      mode: b.mode,
      subnetId: s?.id ?? null,
      ip: b.ip_address || undefined,
      defaultGateway: truthy(b.default_gateway),
      replaceAll: b.mode === "link_up",
    }),
  );
  await pushConfig(r, m);
  return answer(r, m, i.id);
}

async function unlinkSubnet(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.edit");
  const i = await ifaceOf(r, m);
  editable(m);
  const id = r.p.get("id");
  if (!id) throw fieldError("id", "This field is required.");
  if (!/^\d+$/.test(id) || !(await removeLink(r.db, r.caller.username, m, i, Number(id))))
    throw fieldError("id", `Select a valid choice. ${id} is not one of the available choices.`);
  await pushConfig(r, m);
  return answer(r, m, i.id);
}

async function disconnect(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.edit");
  const i = await ifaceOf(r, m);
  editable(m);
  await disconnectInterface(r.db, r.caller.username, m, i);
  await pushConfig(r, m);
  return answer(r, m, i.id);
}

async function defaultGateway(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.edit");
  const i = await ifaceOf(r, m);
  editable(m);
  const linkId = r.p.get("link_id");
  if (linkId !== undefined && linkId !== "" && !/^\d+$/.test(linkId)) throw fieldError("link_id", "Enter a whole number.");
  await asFieldError(() => setDefaultGateway(r.db, r.caller.username, m, i, linkId ? Number(linkId) : null));
  return answer(r, m, i.id);
}

const PhysicalBody = z.object({
  mac_address: z
    .string()
    .regex(/^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i, "Enter a valid MAC address.")
    .transform((s) => s.toLowerCase().replaceAll("-", ":")),
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,15}$/, "Enter a valid interface name.")
    .optional(),
  vlan: z.string().regex(/^\d+$/, "Select a valid choice.").transform(Number).optional(),
});

/** MAAS's interface tags, comma-separated as gomaasclient sends them; undefined when not given. */
function formTags(p: Params): string[] | undefined {
  if (!p.has("tags")) return undefined;
  const tags = [
    ...new Set(
      p
        .all("tags")
        .flatMap((v) => v.split(","))
        .map((t) => t.trim())
        .filter(Boolean),
    ),
  ];
  if (tags.length > 32) throw fieldError("tags", "Ensure there are at most 32 tags.");
  const bad = tags.find((t) => !/^[\w.:-]{1,64}$/.test(t));
  if (bad) throw fieldError("tags", `"${bad.slice(0, 64)}" is not a valid tag: letters, digits and _ . : - only, at most 64.`);
  return tags;
}

async function createPhysical(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.edit");
  editable(m);
  const b = parse(PhysicalBody, r.p);
  if (await r.db.prepare("SELECT 1 FROM interfaces WHERE mac = ?").bind(b.mac_address).first())
    throw fieldError("mac_address", `MAC address ${b.mac_address} already in use.`);
  if (b.vlan !== undefined && !(await r.db.prepare("SELECT 1 FROM vlans WHERE id = ?").bind(b.vlan).first()))
    throw fieldError("vlan", "Select a valid choice.");
  const mtu = formMtu(r.p) ?? undefined;
  if (mtu !== undefined && (mtu < 552 || mtu > 65535)) throw fieldError("mtu", "Ensure this value is between 552 and 65535.");
  const id = await addInterface(r.db, r.caller.username, m, { mac: b.mac_address, name: b.name, vlanId: b.vlan ?? null, mtu, tags: formTags(r.p) });
  return answer(r, m, id);
}

// ---- bonds, VLAN interfaces and bridges (cloud/domain/machines/interface-kinds.ts) ----------
// Form fields as MAAS names them and gomaasclient / terraform-provider-maas send them: parents
// repeated (create_vlan and create_bridge also take MAAS's singular `parent`), bond_* and
// bridge_* params, mtu, vlan; what Plinth does not model (accept_ra, ip_assignment, link
// speeds, and tags when creating these kinds: a PUT stores them) is accepted and ignored.

const BOND_INTS = ["bond_miimon", "bond_downdelay", "bond_updelay", "bond_num_grat_arp"];
const BOND_STRS = ["bond_mode", "bond_lacp_rate", "bond_xmit_hash_policy"];

/** An optional integer form field; "" means not given. */
function formInt(p: Params, key: string): number | undefined {
  const v = p.get(key)?.trim();
  if (v === undefined || v === "") return undefined;
  if (!/^-?\d+$/.test(v)) throw fieldError(key, "Enter a whole number.");
  return Number(v);
}

function formParams(p: Params, type: "bond" | "bridge"): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const ints = type === "bond" ? BOND_INTS : ["bridge_fd"];
  const strs = type === "bond" ? BOND_STRS : ["bridge_type"];
  for (const k of ints) if (formInt(p, k) !== undefined) out[k] = formInt(p, k);
  for (const k of strs) if (p.get(k)?.trim()) out[k] = p.get(k)!.trim();
  if (type === "bridge" && p.get("bridge_stp")?.trim()) out["bridge_stp"] = parse(z.object({ bridge_stp: boolParam }), p).bridge_stp;
  return out;
}

/** mtu: "" clears it (back to the VLAN's), as in MAAS. */
function formMtu(p: Params): number | null | undefined {
  if (!p.has("mtu")) return undefined;
  return p.get("mtu")!.trim() === "" ? null : formInt(p, "mtu");
}

function formVlan(p: Params): number | null | undefined {
  if (!p.has("vlan")) return undefined;
  const v = p.get("vlan")!.trim();
  if (v === "") return null;
  if (!/^\d+$/.test(v)) throw fieldError("vlan", `Select a valid choice. ${v} is not one of the available choices.`);
  return Number(v);
}

function formIds(p: Params, field: string, keys: string[]): number[] | undefined {
  const given = keys.filter((k) => p.has(k));
  if (given.length > 1) throw new MaasError(400, "Cannot specify both parent and parents fields.");
  if (!given.length) return undefined;
  return p.all(given[0]!).map((v) => {
    if (!/^\d+$/.test(v.trim())) throw fieldError(field, `Select a valid choice. ${v} is not one of the available choices.`);
    return Number(v);
  });
}

function formMac(p: Params): string | undefined {
  const v = p.get("mac_address")?.trim();
  if (!v) return undefined;
  if (!/^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i.test(v)) throw fieldError("mac_address", "Enter a valid MAC address.");
  return v.toLowerCase().replaceAll("-", ":");
}

const onlyOne = (ids: number[] | undefined, field: string) => {
  if (!ids?.length) throw fieldError(field, "This field is required.");
  return ids[0]!;
};

async function createBond(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.edit");
  editable(m);
  const name = r.p.get("name")?.trim();
  if (!name) throw fieldError("name", "This field is required.");
  const parents = formIds(r.p, "parents", ["parents"]);
  if (!parents?.length) throw fieldError("parents", "A bond interface must have one or more parents.");
  const id = await createInterfaceKind(r.db, r.caller.username, m, {
    type: "bond",
    name,
    parents,
    mac: formMac(r.p),
    vlanId: formVlan(r.p) ?? undefined,
    mtu: formMtu(r.p),
    params: formParams(r.p, "bond"),
  });
  return answer(r, m, id);
}

async function createVlanIface(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.edit");
  editable(m);
  const vlan = formVlan(r.p);
  if (vlan == null) throw fieldError("vlan", "A VLAN interface must be connected to a tagged VLAN.");
  const parent = onlyOne(formIds(r.p, "parent", ["parent", "parents"]), "parent");
  const id = await createInterfaceKind(r.db, r.caller.username, m, {
    type: "vlan",
    parent,
    vlanId: vlan,
    name: r.p.get("name")?.trim() || undefined,
    mtu: formMtu(r.p),
  });
  return answer(r, m, id);
}

async function createBridge(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.edit");
  editable(m);
  const ids = formIds(r.p, "parent", ["parent", "parents"]);
  if (ids && ids.length > 1) throw fieldError("parent", "A bridge has exactly one parent interface in Plinth.");
  const id = await createInterfaceKind(r.db, r.caller.username, m, {
    type: "bridge",
    parent: onlyOne(ids, "parent"),
    name: r.p.get("name")?.trim() || undefined,
    mac: formMac(r.p),
    vlanId: formVlan(r.p) ?? undefined,
    mtu: formMtu(r.p),
    params: formParams(r.p, "bridge"),
  });
  return answer(r, m, id);
}

async function updateIface(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.edit");
  const i = await ifaceOf(r, m);
  editable(m);
  const name = r.p.get("name")?.trim();
  if (r.p.has("name") && !name) throw fieldError("name", "This field cannot be blank.");
  const ch: InterfaceChanges = { name, mtu: formMtu(r.p), vlanId: formVlan(r.p), tags: formTags(r.p) };
  if (i.type === "bond" || i.type === "bridge") {
    ch.params = formParams(r.p, i.type);
    ch.mac = formMac(r.p);
  }
  if (i.type !== "physical") ch.parents = formIds(r.p, "parents", i.type === "bond" ? ["parents"] : ["parent", "parents"]);
  if (i.type === "physical" && r.p.get("enabled")?.trim()) ch.enabled = parse(z.object({ enabled: boolParam }), r.p).enabled;
  await updateInterfaceKind(r.db, r.caller.username, m, i.id, ch);
  return answer(r, m, i.id);
}

export const nodeHandlers: Handler[] = [
  {
    name: "InterfacesHandler",
    doc: "Manage interfaces on a node.",
    path: "nodes/{system_id}/interfaces/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List all interfaces belonging to a machine.",
        run: async (r) => {
          const m = await machineFor(r, "machine.read");
          const { results } = await r.db.prepare(`SELECT ${IFACE_COLS} FROM interfaces WHERE machine_id = ? ORDER BY id`).bind(m.id).all<IfaceRow>();
          return json(await ifaceJsonList(r.db, m, results));
        },
      },
      {
        method: "POST",
        op: "create_physical",
        doc: "Create a physical interface on a machine.",
        params: ["mac_address", "name", "vlan", "mtu", "tags"],
        run: createPhysical,
      },
      {
        method: "POST",
        op: "create_bond",
        doc: "Create a bond interface on a machine.",
        params: ["name", "mac_address", "parents", "vlan", "mtu", ...BOND_STRS, ...BOND_INTS],
        run: createBond,
      },
      { method: "POST", op: "create_vlan", doc: "Create a VLAN interface on a machine.", params: ["vlan", "parent", "name", "mtu"], run: createVlanIface },
      {
        method: "POST",
        op: "create_bridge",
        doc: "Create a bridge interface on a machine.",
        params: ["name", "mac_address", "parent", "vlan", "mtu", "bridge_type", "bridge_stp", "bridge_fd"],
        run: createBridge,
      },
    ],
  },
  {
    name: "InterfaceHandler",
    doc: "Manage a node's or device's interface.",
    path: "nodes/{system_id}/interfaces/{id}/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "Read an interface.",
        run: async (r) => {
          const m = await machineFor(r, "machine.read");
          return json((await ifaceJsonList(r.db, m, [await ifaceOf(r, m)]))[0]);
        },
      },
      {
        method: "PUT",
        op: null,
        doc: "Update an interface.",
        params: ["name", "vlan", "mtu", "mac_address", "parents", "enabled", "tags", ...BOND_STRS, ...BOND_INTS, "bridge_type", "bridge_stp", "bridge_fd"],
        run: updateIface,
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete an interface.",
        run: async (r) => {
          const m = await machineFor(r, "machine.edit");
          const i = await ifaceOf(r, m);
          editable(m);
          if (i.is_boot) throw new MaasError(400, "The boot interface cannot be deleted.");
          await deleteInterfaceKind(r.db, r.caller.username, m, i.id);
          return deleted();
        },
      },
      {
        method: "POST",
        op: "link_subnet",
        doc: "Link an interface with a subnet (AUTO, DHCP, STATIC or LINK_UP); an interface may have several links.",
        params: ["mode", "subnet", "ip_address", "default_gateway", "force"],
        run: linkSubnet,
      },
      { method: "POST", op: "unlink_subnet", doc: "Unlink an interface from a subnet.", params: ["id"], run: unlinkSubnet },
      { method: "POST", op: "disconnect", doc: "Disconnect an interface: remove its links and VLAN.", run: disconnect },
      {
        method: "POST",
        op: "set_default_gateway",
        doc: "Set the link (link_id, or the interface's one AUTO or STATIC link with a gateway per family) as the machine's default gateway.",
        params: ["link_id"],
        run: defaultGateway,
      },
    ],
  },
];
