// Bonds, VLAN interfaces and bridges on a machine, with the rules MAAS applies to them
// (maasserver/forms/interface.py and models/interface.py in canonical/maas):
// - a bond is built on one or more physical interfaces of the machine, none of which is already
//   a parent of anything else, all on the same VLAN; it takes the first member's MAC and VLAN
//   unless given others, and its members lose their own links;
// - a VLAN interface has one parent, physical or a bond (not a VLAN, a bridge or a bond member),
//   sits on a tagged VLAN (vid > 0) of its parent's fabric, once per VLAN on that parent, and
//   carries its parent's MAC;
// - a bridge has one port: physical, bond or VLAN, not a bridge, and not already in a bond or
//   a bridge (VLAN siblings are fine);
// - an interface with children cannot be deleted; deleting a bond leaves its members standalone.
// MTU: NULL means the VLAN's; a set MTU is at least 552 (Linux's floor, as in MAAS) and never
// above its VLAN's. The effective MTU is MAAS's: the own or the VLAN's, raised to the largest of
// the children's (a parent cannot carry less than what is stacked on it).
// Every change is one batch: an assertion that the machine is as it was read (status, lock and
// interfaces), the change and its machine.interface event.
import { z } from "zod";
import { NETWORK_EDITABLE, STATUS_NAME, type Status } from "../../../shared/lifecycle";
import { ApiError } from "../../http/errors";
import { interfaceEvent } from "./interfaces";
import type { MachineRef } from "./types";
import type { InterfaceJson } from "../../../shared/interfaces";

export const INTERFACE_TYPES = ["physical", "bond", "vlan", "bridge"] as const;
export type InterfaceType = (typeof INTERFACE_TYPES)[number];
export const BOND_MODES = ["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"] as const;
export const BOND_LACP_RATES = ["slow", "fast"] as const;
export const BOND_XMIT_HASH_POLICIES = ["layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4"] as const;
export const BRIDGE_TYPES = ["standard", "ovs"] as const;
export const MIN_MTU = 552;
const MAX_MTU = 65535;
const DEFAULT_MTU = 1500;

const choice = <T extends readonly [string, ...string[]]>(field: string, values: T) =>
  z.enum(values, { message: `not a valid ${field}: it should be one of ${values.map((v) => `'${v}'`).join(", ")}` });
const ms = z.number().int().min(0).max(1_000_000);

/** Bond params by MAAS's names; what is left out keeps its value (or takes MAAS's default on create). */
export const BondParams = z.strictObject({
  bond_mode: choice("bond_mode", BOND_MODES).optional(),
  bond_miimon: ms.optional(),
  bond_downdelay: ms.optional(),
  bond_updelay: ms.optional(),
  bond_lacp_rate: choice("bond_lacp_rate", BOND_LACP_RATES).optional(),
  bond_xmit_hash_policy: choice("bond_xmit_hash_policy", BOND_XMIT_HASH_POLICIES).optional(),
  bond_num_grat_arp: z.number().int().min(0).max(255).optional(),
});
export type BondParams = z.infer<typeof BondParams>;

export const BridgeParams = z.strictObject({
  bridge_type: choice("bridge_type", BRIDGE_TYPES).optional(),
  bridge_stp: z.boolean().optional(),
  bridge_fd: z.number().int().min(0).max(3600).optional(),
});
export type BridgeParams = z.infer<typeof BridgeParams>;

const BOND_DEFAULTS: Required<BondParams> = {
  bond_mode: "active-backup",
  bond_miimon: 100,
  bond_downdelay: 0,
  bond_updelay: 0,
  bond_lacp_rate: "slow",
  bond_xmit_hash_policy: "layer2",
  bond_num_grat_arp: 1,
};
const BRIDGE_DEFAULTS: Required<BridgeParams> = { bridge_type: "standard", bridge_stp: false, bridge_fd: 15 };

export const INTERFACE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$/;
const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

export interface KindMachine extends MachineRef {
  status: number;
  locked: number | boolean;
}

export interface IfaceKindRow {
  id: number;
  name: string;
  mac: string;
  type: InterfaceType;
  vlan_id: number | null;
  mtu: number | null;
  params: string;
  enabled: number;
  is_boot: number;
}

export interface IfaceRel {
  child_id: number;
  parent_id: number;
}

interface VlanLite {
  id: number;
  fabric_id: number;
  vid: number;
  mtu: number;
}

/** A refusal naming the field it is about (the MAAS facade answers it as {field: [message]}). */
const invalid = (field: string, message: string) => new ApiError(400, "invalid_interface", message, [{ path: field, message }]);

/** What MAAS answers with NodeStateViolation (409) when the network of a machine is not editable. */
export function assertNetworkEditable(m: KindMachine): void {
  if (!(NETWORK_EDITABLE as readonly number[]).includes(m.status)) {
    throw new ApiError(
      409,
      "illegal_state",
      `cannot change the network of ${m.hostname}: the machine is ${STATUS_NAME[m.status as Status] ?? "in another state"} (interfaces change only when it is ${NETWORK_EDITABLE.map((s) => STATUS_NAME[s]).join(", ")})`,
    );
  }
  if (m.locked) throw new ApiError(409, "locked", `cannot change the network of ${m.hostname}: the machine is locked`);
}

// ---- reading -------------------------------------------------------------------------------

const KIND_COLS = "id, name, mac, type, vlan_id, mtu, params, enabled, is_boot";

// Changes whenever an interface of the machine is added, removed, renamed, moved to another
// VLAN or re-parented: the write asserts it is unchanged since the checks read it.
const FINGERPRINT = `(SELECT group_concat(f, ';') FROM (SELECT i.id || ',' || i.name || ',' || i.type || ',' || coalesce(i.vlan_id, '') || ',' || i.mac || ',' ||
  coalesce((SELECT group_concat(p.parent_id) FROM interface_parents p WHERE p.child_id = i.id), '') AS f FROM interfaces i WHERE i.machine_id = ? ORDER BY i.id))`;

interface State {
  rows: IfaceKindRow[];
  rels: IfaceRel[];
  vlans: Map<number, VlanLite>;
  fingerprint: string | null;
}

async function loadState(db: D1Database, machineId: number, moreVlans: number[] = []): Promise<State> {
  const [rows, rels, fp] = await db.batch([
    db.prepare(`SELECT ${KIND_COLS} FROM interfaces WHERE machine_id = ? ORDER BY id`).bind(machineId),
    db
      .prepare(
        "SELECT p.child_id, p.parent_id FROM interface_parents p JOIN interfaces i ON i.id = p.child_id WHERE i.machine_id = ? ORDER BY p.child_id, p.parent_id",
      )
      .bind(machineId),
    db.prepare(`SELECT ${FINGERPRINT} AS f`).bind(machineId),
  ]);
  const ifaces = (rows!.results ?? []) as IfaceKindRow[];
  const vlanIds = [...new Set([...ifaces.flatMap((i) => (i.vlan_id !== null ? [i.vlan_id] : [])), ...moreVlans])];
  const vlans = new Map<number, VlanLite>();
  if (vlanIds.length) {
    const { results } = await db
      .prepare("SELECT id, fabric_id, vid, mtu FROM vlans WHERE id IN (SELECT value FROM json_each(?))")
      .bind(JSON.stringify(vlanIds))
      .all<VlanLite>();
    for (const v of results) vlans.set(v.id, v);
  }
  return { rows: ifaces, rels: (rels!.results ?? []) as IfaceRel[], vlans, fingerprint: (fp!.results?.[0] as { f: string | null } | undefined)?.f ?? null };
}

export interface TreeEntry {
  parents: string[];
  children: string[];
  effectiveMtu: number;
}

/**
 * Parents and children by name (sorted, as MAAS lists them) and the effective MTU of each
 * interface of one machine. `vlanMtu` answers the MTU of a VLAN by id (undefined: unknown).
 */
export function interfaceTree(
  rows: readonly { id: number; name: string; vlan_id: number | null; mtu: number | null }[],
  rels: readonly IfaceRel[],
  vlanMtu: (id: number) => number | undefined,
): Map<number, TreeEntry> {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const kids = new Map<number, number[]>();
  const ups = new Map<number, number[]>();
  for (const r of rels) {
    if (!byId.has(r.child_id) || !byId.has(r.parent_id)) continue;
    kids.set(r.parent_id, [...(kids.get(r.parent_id) ?? []), r.child_id]);
    ups.set(r.child_id, [...(ups.get(r.child_id) ?? []), r.parent_id]);
  }
  const memo = new Map<number, number>();
  const effective = (id: number, depth = 0): number => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const r = byId.get(id)!;
    let mtu = r.mtu ?? (r.vlan_id !== null ? vlanMtu(r.vlan_id) : undefined) ?? DEFAULT_MTU;
    // The type rules keep the graph acyclic (bond → physical, VLAN → physical or bond, bridge →
    // anything but a bridge); the depth bound only keeps a corrupted table from looping.
    if (depth < 8) for (const c of kids.get(id) ?? []) mtu = Math.max(mtu, effective(c, depth + 1));
    memo.set(id, mtu);
    return mtu;
  };
  const names = (ids: number[] | undefined) => (ids ?? []).map((i) => byId.get(i)!.name).sort();
  return new Map(rows.map((r) => [r.id, { parents: names(ups.get(r.id)), children: names(kids.get(r.id)), effectiveMtu: effective(r.id) }]));
}

/** What the MAAS facade's interface JSON adds to an interface row: params, MTU, relations. */
export interface KindInfo {
  params: Record<string, unknown>;
  mtu: number | null;
  /** The largest effective MTU of the interfaces built on this one (0: none). */
  childrenMtu: number;
  enabled: boolean;
  tags: string[];
  parents: string[];
  children: string[];
}

function parseTags(raw: string): string[] {
  try {
    const v = JSON.parse(raw) as unknown;
    return Array.isArray(v) ? v.filter((t): t is string => typeof t === "string") : [];
  } catch {
    return [];
  }
}

/** KindInfo of every interface of the given machines, in one batch. */
export async function interfaceKinds(db: D1Database, machineIds: number[]): Promise<Map<number, KindInfo>> {
  const out = new Map<number, KindInfo>();
  if (!machineIds.length) return out;
  const ids = JSON.stringify([...new Set(machineIds)]);
  const [rows, rels] = await db.batch([
    db
      .prepare(
        `SELECT i.id, i.machine_id, i.name, i.vlan_id, i.mtu, i.params, i.enabled, i.tags, v.mtu AS vlan_mtu FROM interfaces i LEFT JOIN vlans v ON v.id = i.vlan_id
         WHERE i.machine_id IN (SELECT value FROM json_each(?)) ORDER BY i.id`,
      )
      .bind(ids),
    db
      .prepare(
        "SELECT p.child_id, p.parent_id FROM interface_parents p JOIN interfaces i ON i.id = p.child_id WHERE i.machine_id IN (SELECT value FROM json_each(?))",
      )
      .bind(ids),
  ]);
  type Row = {
    id: number;
    machine_id: number;
    name: string;
    vlan_id: number | null;
    mtu: number | null;
    params: string;
    enabled: number;
    tags: string;
    vlan_mtu: number | null;
  };
  const all = (rows!.results ?? []) as Row[];
  const relRows = (rels!.results ?? []) as IfaceRel[];
  const vlanMtu = new Map(all.flatMap((r) => (r.vlan_id !== null && r.vlan_mtu !== null ? [[r.vlan_id, r.vlan_mtu] as const] : [])));
  const tree = interfaceTree(all, relRows, (v) => vlanMtu.get(v));
  const byId = new Map(all.map((r) => [r.id, r]));
  const enabled = (id: number, depth = 0): boolean => {
    const ps = relRows.filter((x) => x.child_id === id);
    if (!ps.length || depth > 8) return !!byId.get(id)?.enabled;
    return ps.some((x) => enabled(x.parent_id, depth + 1));
  };
  for (const r of all) {
    const t = tree.get(r.id)!;
    const kids = relRows.filter((x) => x.parent_id === r.id).map((x) => tree.get(x.child_id)?.effectiveMtu ?? 0);
    out.set(r.id, {
      params: parseParams(r.params),
      mtu: r.mtu,
      childrenMtu: Math.max(0, ...kids),
      enabled: enabled(r.id),
      tags: parseTags(r.tags),
      parents: t.parents,
      children: t.children,
    });
  }
  return out;
}

/** An interface as /api/v1 shows it. */
export interface InterfaceView extends InterfaceJson {
  type: InterfaceType;
}

export function parseParams(raw: string | null | undefined): Record<string, unknown> {
  try {
    const v = JSON.parse(raw ?? "{}") as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export async function machineInterfaces(db: D1Database, machineId: number): Promise<InterfaceView[]> {
  const s = await loadState(db, machineId);
  const tree = interfaceTree(s.rows, s.rels, (v) => s.vlans.get(v)?.mtu);
  return s.rows.map((r) => {
    const t = tree.get(r.id)!;
    return {
      id: r.id,
      name: r.name,
      type: r.type,
      mac: r.mac,
      vlan_id: r.vlan_id,
      mtu: r.mtu,
      effective_mtu: t.effectiveMtu,
      enabled: isEnabled(r, s),
      params: parseParams(r.params),
      parents: t.parents,
      children: t.children,
      is_boot: !!r.is_boot,
    };
  });
}

/** MAAS: a bond, bridge or VLAN interface is enabled when one of its parents is. */
function isEnabled(r: IfaceKindRow, s: State, depth = 0): boolean {
  const parents = s.rels.filter((x) => x.child_id === r.id).map((x) => s.rows.find((i) => i.id === x.parent_id)!);
  if (!parents.length || depth > 8) return !!r.enabled;
  return parents.some((p) => p && isEnabled(p, s, depth + 1));
}

// ---- validating ----------------------------------------------------------------------------

/** The interface as it would be after the change. */
interface Proposed {
  id: number | null;
  type: InterfaceType;
  name: string;
  mac: string;
  parents: number[];
  vlanId: number | null;
  mtu: number | null;
  params: Record<string, unknown>;
  enabled: boolean;
}

function parseKindParams(type: InterfaceType, given: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!given || !Object.keys(given).length) return {};
  const schema = type === "bond" ? BondParams : type === "bridge" ? BridgeParams : null;
  if (!schema) {
    const k = Object.keys(given)[0]!;
    throw invalid(k, `${k} does not apply to a ${type} interface`);
  }
  const r = schema.safeParse(given);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.map(String).join(".") || "params";
    const message = issue.code === "unrecognized_keys" ? `${issue.keys.join(", ")}: not a parameter of a ${type} interface` : `${field}: ${issue.message}`;
    throw invalid(issue.code === "unrecognized_keys" ? issue.keys[0]! : field, message);
  }
  return r.data;
}

function validate(s: State, m: KindMachine, p: Proposed, parentsChanged: boolean): void {
  const byId = new Map(s.rows.map((r) => [r.id, r]));
  if (!INTERFACE_NAME.test(p.name)) throw invalid("name", `"${p.name}" is not a valid interface name: 1 to 15 letters, digits, '.', '_' or '-'`);
  const parents = p.parents.map((id) => {
    const r = byId.get(id);
    if (!r) throw invalid("parents", `interface ${id} is not an interface of ${m.hostname}`);
    return r;
  });
  if (p.id !== null && p.parents.includes(p.id)) throw invalid("parents", "an interface cannot be its own parent");
  if (new Set(p.parents).size !== p.parents.length) throw invalid("parents", "a parent is listed twice");
  const childrenOf = (id: number) => s.rels.filter((x) => x.parent_id === id && x.child_id !== p.id).map((x) => byId.get(x.child_id)!);
  const vlan = p.vlanId !== null ? s.vlans.get(p.vlanId) : undefined;
  if (p.vlanId !== null && !vlan) throw invalid("vlan", `there is no VLAN ${p.vlanId}`);

  switch (p.type) {
    case "physical":
      if (parents.length) throw invalid("parents", "a physical interface cannot have parents");
      break;
    case "bond": {
      if (!parents.length) throw invalid("parents", "a bond needs at least one parent interface");
      const notPhysical = parents.filter((r) => r.type !== "physical");
      if (notPhysical.length)
        throw invalid("parents", `only physical interfaces can be bonded: ${notPhysical.map((r) => `${r.name} is a ${r.type}`).join(", ")}`);
      const inUse = parents.filter((r) => childrenOf(r.id).length).map((r) => r.name);
      if (inUse.length) throw invalid("parents", `interfaces already in use (bonded, or with a VLAN or bridge of their own): ${inUse.sort().join(", ")}`);
      if (parentsChanged && new Set([...parents.map((r) => r.vlan_id), p.vlanId]).size > 1)
        throw invalid("parents", "all parents of a bond must be on the same VLAN as the bond");
      break;
    }
    case "vlan": {
      if (parents.length !== 1) throw invalid("parent", "a VLAN interface has exactly one parent");
      const parent = parents[0]!;
      if (parent.type === "vlan") throw invalid("parent", `a VLAN interface cannot sit on another VLAN interface (${parent.name} is one)`);
      if (parent.type === "bridge") throw invalid("parent", "a VLAN interface can only be created on a physical or bond interface");
      if (childrenOf(parent.id).some((c) => c.type === "bond")) throw invalid("parent", `${parent.name} is a bond member: put the VLAN on the bond`);
      if (!vlan) throw invalid("vlan", "a VLAN interface must be on a tagged VLAN");
      if (vlan.vid === 0) throw invalid("vlan", "a VLAN interface can only be on a tagged VLAN (vid > 0), not the untagged one");
      const parentVlan = parent.vlan_id !== null ? s.vlans.get(parent.vlan_id) : undefined;
      if (!parentVlan) throw invalid("parent", `${parent.name} is not connected to a VLAN: connect it to its fabric first`);
      if (parentVlan.fabric_id !== vlan.fabric_id) throw invalid("vlan", "a VLAN interface can only be on a VLAN of its parent's fabric");
      const twin = childrenOf(parent.id).find((c) => c.type === "vlan" && c.vlan_id === vlan.id);
      if (twin) throw invalid("vlan", `${parent.name} already has a VLAN interface for VLAN ${vlan.vid} (${twin.name})`);
      break;
    }
    case "bridge": {
      if (parents.length !== 1) throw invalid("parents", "a bridge has exactly one parent interface (its port)");
      const parent = parents[0]!;
      if (parent.type === "bridge") throw invalid("parents", `a bridge cannot be built on another bridge (${parent.name})`);
      if (childrenOf(parent.id).some((c) => c.type === "bond" || c.type === "bridge"))
        throw invalid("parents", `${parent.name} is already in a bond or a bridge`);
      break;
    }
  }

  // After the type rules: a second VLAN interface for the same VLAN on a parent would also take
  // the first one's name, and the rule says more than the name clash.
  if (s.rows.some((r) => r.name === p.name && r.id !== p.id)) throw invalid("name", `${m.hostname} already has an interface named '${p.name}'`);
  if (p.type !== "physical" && p.type !== "vlan" && !MAC.test(p.mac)) throw invalid("mac_address", `"${p.mac}" is not a valid MAC address`);
  if (p.mtu !== null) {
    if (!Number.isInteger(p.mtu) || p.mtu < MIN_MTU || p.mtu > MAX_MTU) throw invalid("mtu", `MTU ${p.mtu} is out of range: ${MIN_MTU} to ${MAX_MTU}`);
    if (vlan && p.mtu > vlan.mtu) throw invalid("mtu", `MTU ${p.mtu} is above the MTU of its VLAN (vid ${vlan.vid}: ${vlan.mtu})`);
  }
}

/**
 * A bond's or bridge's own MAC: a parent's, or one that no physical interface anywhere and no
 * interface of another machine has (lookups by MAC, such as the rack's boot landing, must still
 * find one machine).
 */
async function checkOwnMac(db: D1Database, machineId: number, mac: string, parents: IfaceKindRow[]): Promise<void> {
  if (parents.some((r) => r.mac === mac)) return;
  const other = await db.prepare("SELECT 1 FROM interfaces WHERE mac = ? AND (type = 'physical' OR machine_id != ?)").bind(mac, machineId).first();
  if (other) throw invalid("mac_address", `MAC address ${mac} is already in use by another interface`);
}

// ---- writing -------------------------------------------------------------------------------

const STALE = "NOT NULL constraint failed: interface_parents.child_id";

/**
 * The batch's first statement: inserts nothing while the machine is as the checks read it, and
 * an impossible row (a NULL key) otherwise, which fails the statement and so rolls the whole
 * batch back (D1 runs a batch as one transaction). A later guard could not do this: the batch's
 * own changes alter the interfaces it would look at.
 */
function assertUnchanged(db: D1Database, m: KindMachine, s: State): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO interface_parents (child_id, parent_id) SELECT NULL, NULL
       WHERE NOT EXISTS (SELECT 1 FROM machines WHERE id = ?1 AND status = ?2 AND locked = 0) OR ${FINGERPRINT.replace("machine_id = ?", "machine_id = ?1")} IS NOT ?3`,
    )
    .bind(m.id, m.status, s.fingerprint);
}

async function run(db: D1Database, stmts: D1PreparedStatement[]): Promise<D1Result[]> {
  try {
    return await db.batch(stmts);
  } catch (e) {
    if (String((e as Error)?.message ?? e).includes(STALE))
      throw new ApiError(409, "concurrent_change", "the machine or its interfaces changed while this change was being checked: try again");
    throw e;
  }
}

/**
 * A bond member carries no links of its own (MAAS removes them when it joins): what is on the
 * interface goes, it is left up with no address.
 */
/** A bond member has no links of its own (its addresses leave with them); what the rack saw on the wire stays. */
function dropLinks(db: D1Database, ids: number[]): D1PreparedStatement {
  return db.prepare("DELETE FROM ip_addresses WHERE interface_id IN (SELECT value FROM json_each(?)) AND kind != 'discovered'").bind(JSON.stringify(ids));
}

export type NewInterface =
  | {
      type: "bond";
      name: string;
      parents: number[];
      mac?: string | undefined;
      vlanId?: number | null | undefined;
      mtu?: number | null | undefined;
      params?: Record<string, unknown> | undefined;
    }
  | { type: "vlan"; parent: number; vlanId: number; name?: string | undefined; mtu?: number | null | undefined }
  | {
      type: "bridge";
      parent: number;
      name?: string | undefined;
      mac?: string | undefined;
      vlanId?: number | null | undefined;
      mtu?: number | null | undefined;
      params?: Record<string, unknown> | undefined;
    };

/** Creates a bond, VLAN interface or bridge on the machine; returns its id. */
export async function createInterfaceKind(db: D1Database, actor: string, m: KindMachine, input: NewInterface): Promise<number> {
  assertNetworkEditable(m);
  const s = await loadState(db, m.id, input.vlanId != null ? [input.vlanId] : []);
  const parentIds = input.type === "bond" ? input.parents : [input.parent];
  const first = s.rows.find((r) => r.id === parentIds[0]);
  const givenParams = "params" in input ? input.params : undefined;
  const params = parseKindParams(input.type, givenParams);
  let name: string;
  if (input.type === "vlan") {
    const vid = s.vlans.get(input.vlanId)?.vid;
    name = input.name ?? (first && vid !== undefined ? `${first.name}.${vid}` : "");
  } else if (input.type === "bridge") name = input.name ?? (first ? `br-${first.name}`.slice(0, 15) : "");
  else name = input.name;
  const p: Proposed = {
    id: null,
    type: input.type,
    name,
    mac: input.type === "vlan" ? (first?.mac ?? "") : (input.mac ?? first?.mac ?? ""),
    parents: parentIds,
    // A bond or bridge is on its first parent's VLAN unless told otherwise (MAAS).
    vlanId: input.vlanId !== undefined ? input.vlanId : (first?.vlan_id ?? null),
    mtu: input.mtu ?? null,
    params: input.type === "bond" ? { ...BOND_DEFAULTS, ...params } : input.type === "bridge" ? { ...BRIDGE_DEFAULTS, ...params } : {},
    enabled: true,
  };
  validate(s, m, p, true);
  if (input.type !== "vlan" && input.mac !== undefined)
    await checkOwnMac(
      db,
      m.id,
      p.mac,
      parentIds.map((id) => s.rows.find((r) => r.id === id)!),
    );

  const parentNames = parentIds.map((id) => s.rows.find((r) => r.id === id)!.name);
  const what =
    p.type === "bond"
      ? `bond ${p.name} created over ${parentNames.join(", ")} (${String(p.params["bond_mode"])})`
      : p.type === "vlan"
        ? `VLAN interface ${p.name} created on ${parentNames[0]} (vid ${s.vlans.get(p.vlanId!)!.vid})`
        : `bridge ${p.name} created on ${parentNames[0]}`;
  const res = await run(db, [
    assertUnchanged(db, m, s),
    db
      .prepare("INSERT INTO interfaces (machine_id, name, mac, type, vlan_id, mtu, params, link_mode) VALUES (?, ?, ?, ?, ?, ?, ?, 'link_up') RETURNING id")
      .bind(m.id, p.name, p.mac, p.type, p.vlanId, p.mtu, JSON.stringify(p.params)),
    // The new row is the machine's only one with this name (checked, and asserted unchanged).
    db
      .prepare(
        "INSERT INTO interface_parents (child_id, parent_id) SELECT (SELECT id FROM interfaces WHERE machine_id = ? AND name = ?), value FROM json_each(?)",
      )
      .bind(m.id, p.name, JSON.stringify(parentIds)),
    ...(p.type === "bond" ? [dropLinks(db, parentIds)] : []),
    interfaceEvent(db, actor, m, what),
  ]);
  return (res[1]!.results[0] as { id: number }).id;
}

export interface InterfaceChanges {
  name?: string | undefined;
  /** null: back to the VLAN's MTU. */
  mtu?: number | null | undefined;
  /** Merged into the current params; bond_* on a bond, bridge_* on a bridge. */
  params?: Record<string, unknown> | undefined;
  vlanId?: number | null | undefined;
  parents?: number[] | undefined;
  mac?: string | undefined;
  enabled?: boolean | undefined;
  tags?: string[] | undefined;
}

/** Updates any interface of the machine: name, MTU, VLAN, params, a bond's members, a bridge's or VLAN's parent. */
export async function updateInterfaceKind(db: D1Database, actor: string, m: KindMachine, id: number, ch: InterfaceChanges): Promise<void> {
  assertNetworkEditable(m);
  const s = await loadState(db, m.id, ch.vlanId != null ? [ch.vlanId] : []);
  const cur = s.rows.find((r) => r.id === id);
  if (!cur) throw new ApiError(404, "not_found", "interface not found");
  const curParents = s.rels.filter((x) => x.child_id === id).map((x) => x.parent_id);
  const parents = ch.parents ?? curParents;
  const parentsChanged = ch.parents !== undefined && [...ch.parents].sort().join() !== [...curParents].sort().join();
  if (ch.mac !== undefined && (cur.type === "vlan" || cur.type === "physical"))
    throw invalid("mac_address", `the MAC of a ${cur.type} interface cannot be changed here`);
  if (ch.enabled !== undefined && cur.type !== "physical")
    throw invalid("enabled", "only a physical interface is enabled or disabled; the others follow their parents");
  const params = { ...parseParams(cur.params), ...parseKindParams(cur.type, ch.params) };
  const parentRows = parents.map((pid) => s.rows.find((r) => r.id === pid));
  const firstParent = parentRows[0];
  let mac = ch.mac ?? cur.mac;
  // MAAS: a child whose MAC came from a parent that leaves takes the first remaining parent's.
  if (ch.mac === undefined && firstParent && (cur.type === "bond" || cur.type === "bridge")) {
    const curParentMacs = new Set(curParents.map((pid) => s.rows.find((r) => r.id === pid)?.mac));
    if (curParentMacs.has(cur.mac) && !parentRows.some((r) => r?.mac === cur.mac)) mac = firstParent.mac;
  }
  if (cur.type === "vlan" && firstParent) mac = firstParent.mac;
  const p: Proposed = {
    id,
    type: cur.type,
    name: ch.name ?? cur.name,
    mac,
    parents,
    vlanId: ch.vlanId !== undefined ? ch.vlanId : cur.vlan_id,
    mtu: ch.mtu !== undefined ? ch.mtu : cur.mtu,
    params,
    enabled: ch.enabled ?? !!cur.enabled,
  };
  // Members must share the bond's VLAN when they are chosen; moving the bond to another VLAN
  // later is allowed, as in MAAS (terraform-provider-maas sends vlan on every update).
  validate(s, m, p, parentsChanged);
  if (ch.mac !== undefined)
    await checkOwnMac(
      db,
      m.id,
      p.mac,
      parentRows.filter((r): r is IfaceKindRow => !!r),
    );

  const added = parents.filter((x) => !curParents.includes(x));
  const changed = [
    p.name !== cur.name ? `renamed from ${cur.name}` : "",
    p.mtu !== cur.mtu ? `MTU ${p.mtu ?? "of its VLAN"}` : "",
    p.vlanId !== cur.vlan_id ? `VLAN ${p.vlanId ?? "none"}` : "",
    ch.params && Object.keys(ch.params).length ? `params ${Object.keys(ch.params).join(", ")}` : "",
    parentsChanged ? `parents ${parentRows.map((r) => r!.name).join(", ")}` : "",
    p.mac !== cur.mac ? `MAC ${p.mac}` : "",
    p.enabled !== !!cur.enabled ? (p.enabled ? "enabled" : "disabled") : "",
    ch.tags ? `tags ${ch.tags.join(", ") || "none"}` : "",
  ].filter(Boolean);
  await run(db, [
    assertUnchanged(db, m, s),
    db
      .prepare("UPDATE interfaces SET name = ?, mac = ?, vlan_id = ?, mtu = ?, params = ?, enabled = ?, tags = coalesce(?, tags) WHERE id = ?")
      .bind(p.name, p.mac, p.vlanId, p.mtu, JSON.stringify(p.params), p.enabled ? 1 : 0, ch.tags ? JSON.stringify(ch.tags) : null, id),
    ...(parentsChanged
      ? [
          db.prepare("DELETE FROM interface_parents WHERE child_id = ?").bind(id),
          db.prepare("INSERT INTO interface_parents (child_id, parent_id) SELECT ?, value FROM json_each(?)").bind(id, JSON.stringify(parents)),
        ]
      : []),
    ...(cur.type === "bond" && added.length ? [dropLinks(db, added)] : []),
    // VLAN interfaces carry their parent's MAC.
    ...(p.mac !== cur.mac
      ? [db.prepare("UPDATE interfaces SET mac = ? WHERE type = 'vlan' AND id IN (SELECT child_id FROM interface_parents WHERE parent_id = ?)").bind(p.mac, id)]
      : []),
    interfaceEvent(db, actor, m, `${p.name}: ${changed.join(", ") || "updated, nothing changed"}`),
  ]);
}

/** Deletes an interface without children; a bond's members become standalone interfaces again. */
export async function deleteInterfaceKind(db: D1Database, actor: string, m: KindMachine, id: number): Promise<void> {
  assertNetworkEditable(m);
  const s = await loadState(db, m.id);
  const cur = s.rows.find((r) => r.id === id);
  if (!cur) throw new ApiError(404, "not_found", "interface not found");
  const children = s.rels.filter((x) => x.parent_id === id).map((x) => s.rows.find((r) => r.id === x.child_id)!.name);
  if (children.length)
    throw new ApiError(409, "in_use", `${cur.name} has interfaces built on it (${children.sort().join(", ")}): delete them first`, { children });
  const members = s.rels.filter((x) => x.child_id === id).map((x) => s.rows.find((r) => r.id === x.parent_id)!.name);
  await run(db, [
    assertUnchanged(db, m, s),
    db.prepare("DELETE FROM interfaces WHERE id = ?").bind(id),
    interfaceEvent(
      db,
      actor,
      m,
      `${cur.type === "physical" ? "interface" : cur.type} ${cur.name} deleted${cur.type === "bond" ? `; ${members.join(", ")} standalone again` : ""}`,
    ),
  ]);
}
