// A machine's network interfaces as the operator edits them: links to subnets (rows of
// ip_addresses, as MAAS has them: any number per interface), VLANs, added and removed NICs.
// Each change and its event are one batch.
import { ApiError } from "../../http/errors";
import { canonicalIp, isUnique, staticProblem, subnetSpace, takeLowest } from "../addresses";
import { type EventValues, eventStatement, eventStatementIf } from "../events";
import type { MachineRef } from "./types";

type Machine = MachineRef & { status: number };

/** A machine.interface event, as every interface change writes in its batch (links here, kinds in interface-kinds.ts). */
export function interfaceEvent(db: D1Database, actor: string, m: Machine, description: string): D1PreparedStatement {
  return eventStatement(db, interfaceEventValues(actor, m, description));
}

function interfaceEventValues(actor: string, m: Machine, description: string): EventValues {
  return {
    machineId: m.id,
    systemId: m.systemId,
    hostname: m.hostname,
    siteId: m.siteId,
    type: "machine.interface",
    actor,
    description,
    fromStatus: m.status,
    toStatus: m.status,
  };
}

export type LinkMode = "auto" | "dhcp" | "static" | "link_up";

/** A link as the APIs show it: an ip_addresses row bound to an interface. */
export interface LinkRow {
  id: number;
  interface_id: number;
  subnet_id: number | null;
  ip: string | null;
  kind: string;
  default_gateway: number;
}

export const LINK_SELECT = "SELECT id, interface_id, subnet_id, ip, kind, default_gateway FROM ip_addresses";

/** The links of these interfaces, in creation order (discovered addresses are not links). */
export async function linksOf(db: D1Database, interfaceIds: number[]): Promise<LinkRow[]> {
  if (interfaceIds.length === 0) return [];
  const { results } = await db
    .prepare(`${LINK_SELECT} WHERE interface_id IN (SELECT value FROM json_each(?)) ORDER BY id`)
    .bind(JSON.stringify([...new Set(interfaceIds)]))
    .all<LinkRow>();
  return results;
}

const fieldProblem = (status: 400 | 409, code: string, field: string, message: string) => new ApiError(status, code, message, [{ path: field, message }]);

const familySql = (family: 4 | 6) => `(SELECT id FROM subnets WHERE instr(cidr, ':') ${family === 6 ? ">" : "="} 0)`;

/** Clears the machine's default-gateway mark for one address family (it is kept on at most one link per family). */
function clearGateway(db: D1Database, machineId: number, family: 4 | 6): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE ip_addresses SET default_gateway = 0 WHERE default_gateway = 1 AND subnet_id IN ${familySql(family)}
       AND interface_id IN (SELECT id FROM interfaces WHERE machine_id = ?)`,
    )
    .bind(machineId);
}

export interface NewLink {
  mode: LinkMode;
  /** Required but for LINK_UP. */
  subnetId: number | null;
  /** STATIC: the address; none takes the lowest free one now (as MAAS does). */
  ip?: string | undefined;
  defaultGateway?: boolean;
  /** LINK_UP with force: the interface's other links go. */
  replaceAll?: boolean;
}

/**
 * Links an interface (MAAS link_subnet): a new ip_addresses row, the interface moved onto the
 * subnet's VLAN, an UP-only link it had replaced. A STATIC address is checked against the
 * subnet (in it, not its network, broadcast or gateway address, not in a dynamic range) and
 * the UNIQUE index refuses one that is taken; refused input changes nothing. Returns the link id.
 */
export async function linkSubnet(db: D1Database, actor: string, m: Machine, iface: { id: number; name: string }, link: NewLink): Promise<number> {
  // MAAS: a bond member is configured through its bond, never on its own.
  const bond = await db
    .prepare("SELECT c.name FROM interface_parents p JOIN interfaces c ON c.id = p.child_id WHERE p.parent_id = ? AND c.type = 'bond'")
    .bind(iface.id)
    .first<{ name: string }>();
  if (bond) throw fieldProblem(400, "bond_member", "id", `${iface.name} is a member of ${bond.name}: link the bond instead`);
  const s = link.subnetId === null ? null : await subnetSpace(db, link.subnetId);
  if (link.subnetId !== null && !s) throw fieldProblem(400, "no_subnet", "subnet", `no subnet ${link.subnetId}`);
  if (!s && link.mode !== "link_up") throw fieldProblem(400, "subnet_required", "subnet", `a ${link.mode.toUpperCase()} link needs a subnet`);
  if (link.ip !== undefined && link.mode !== "static")
    throw fieldProblem(400, "address_not_static", "ip_address", "an IP address can only be given in STATIC mode");
  if (link.defaultGateway && (link.mode === "dhcp" || link.mode === "link_up"))
    throw fieldProblem(400, "gateway_mode", "default_gateway", "only an AUTO or STATIC link can be the default gateway");
  if (link.defaultGateway && !s?.gateway) throw fieldProblem(400, "no_gateway", "default_gateway", `the subnet ${s?.cidr ?? ""} has no gateway`);
  let ip: string | null = null;
  if (link.ip !== undefined) {
    const problem = staticProblem(s!, link.ip);
    if (problem) throw fieldProblem(400, problem.code, "ip_address", problem.message);
    ip = canonicalIp(link.ip)!;
  }
  const vlanId = s ? ((await db.prepare("SELECT vlan_id FROM subnets WHERE id = ?").bind(s.id).first<{ vlan_id: number | null }>())?.vlan_id ?? null) : null;
  const describe = (addr: string | null) => `${iface.name}: linked ${s ? `to ${s.cidr} ` : ""}(${link.mode}${addr ? ` ${addr}` : ""})`;
  const statements = (addr: string | null) => [
    link.replaceAll
      ? db.prepare("DELETE FROM ip_addresses WHERE interface_id = ?").bind(iface.id)
      : // Up-only with nothing else is what an unlinked interface is: a real link takes its place.
        db.prepare("DELETE FROM ip_addresses WHERE interface_id = ? AND kind = 'link_up'").bind(iface.id),
    db.prepare("UPDATE interfaces SET vlan_id = coalesce(?, vlan_id) WHERE id = ?").bind(vlanId, iface.id),
    ...(link.defaultGateway ? [clearGateway(db, m.id, s!.net.family)] : []),
    db
      .prepare("INSERT INTO ip_addresses (subnet_id, ip, kind, interface_id, machine_id, default_gateway) VALUES (?, ?, ?, ?, ?, ?) RETURNING id")
      .bind(s?.id ?? null, addr, link.mode, iface.id, m.id, link.defaultGateway ? 1 : 0),
    interfaceEvent(db, actor, m, describe(addr)),
  ];
  const insertedId = (res: D1Result[]) => (res[link.defaultGateway ? 3 : 2]!.results[0] as { id: number }).id;
  if (link.mode === "static" && ip === null) {
    const id = await takeLowest(db, s!, `${iface.name} (STATIC link)`, async (addr) => insertedId(await db.batch(statements(addr))));
    return id!;
  }
  try {
    return insertedId(await db.batch(statements(ip)));
  } catch (e) {
    if (isUnique(e) && ip) throw fieldProblem(409, "address_in_use", "ip_address", `${ip} is already in use in ${s!.cidr}`);
    throw e;
  }
}

/** Removes one link of the interface; false when the interface has no such link. */
export async function unlinkSubnet(db: D1Database, actor: string, m: Machine, iface: { id: number; name: string }, linkId: number): Promise<boolean> {
  // The event is written only when the link is there to remove.
  const [, del] = await db.batch([
    eventStatementIf(
      db,
      interfaceEventValues(actor, m, `${iface.name}: link ${linkId} removed`),
      "EXISTS (SELECT 1 FROM ip_addresses WHERE id = ? AND interface_id = ?)",
      linkId,
      iface.id,
    ),
    db.prepare("DELETE FROM ip_addresses WHERE id = ? AND interface_id = ?").bind(linkId, iface.id),
  ]);
  return del!.meta.changes === 1;
}

/** MAAS disconnect: no links, no VLAN. */
export async function disconnectInterface(db: D1Database, actor: string, m: Machine, iface: { id: number; name: string }): Promise<void> {
  await db.batch([
    db.prepare("DELETE FROM ip_addresses WHERE interface_id = ?").bind(iface.id),
    db.prepare("UPDATE interfaces SET vlan_id = NULL WHERE id = ?").bind(iface.id),
    interfaceEvent(db, actor, m, `${iface.name}: disconnected`),
  ]);
}

/**
 * Makes a link of the interface the machine's default gateway for its address family (MAAS
 * set_default_gateway). Without `linkId` the interface's one AUTO or STATIC link with a gateway
 * per family is taken; more than one of a family needs `linkId`.
 */
export async function setDefaultGateway(db: D1Database, actor: string, m: Machine, iface: { id: number; name: string }, linkId: number | null): Promise<void> {
  const { results } = await db
    .prepare(
      `SELECT a.id, s.cidr, s.gateway_ip FROM ip_addresses a JOIN subnets s ON s.id = a.subnet_id
       WHERE a.interface_id = ? AND a.kind IN ('auto', 'static', 'sticky', 'user_reserved') ORDER BY a.id`,
    )
    .bind(iface.id)
    .all<{ id: number; cidr: string; gateway_ip: string | null }>();
  const eligible = results.filter((l) => l.gateway_ip);
  let chosen: typeof eligible;
  if (linkId !== null) {
    const l = results.find((x) => x.id === linkId);
    if (!l) throw fieldProblem(400, "no_link", "link_id", `${iface.name} has no AUTO or STATIC link ${linkId}`);
    if (!l.gateway_ip) throw fieldProblem(400, "no_gateway", "link_id", `the subnet ${l.cidr} of link ${linkId} has no gateway`);
    chosen = [l];
  } else {
    if (eligible.length === 0) throw fieldProblem(400, "no_gateway", "link_id", `${iface.name} has no AUTO or STATIC link on a subnet with a gateway`);
    const fam = (l: { cidr: string }) => (l.cidr.includes(":") ? 6 : 4);
    for (const f of [4, 6] as const) {
      if (eligible.filter((l) => fam(l) === f).length > 1)
        throw fieldProblem(400, "link_id_required", "link_id", `${iface.name} has several IPv${f} links with a gateway: name one with link_id`);
    }
    chosen = eligible;
  }
  const stmts: D1PreparedStatement[] = [];
  for (const l of chosen) {
    stmts.push(clearGateway(db, m.id, l.cidr.includes(":") ? 6 : 4));
    stmts.push(db.prepare("UPDATE ip_addresses SET default_gateway = 1 WHERE id = ?").bind(l.id));
  }
  await db.batch([...stmts, interfaceEvent(db, actor, m, `${iface.name}: default gateway via ${chosen.map((l) => l.gateway_ip).join(", ")}`)]);
}

/** MAAS clear_default_gateways: the machine's routes then come from whichever link the renderer picks first. */
export async function clearDefaultGateways(db: D1Database, actor: string, m: Machine): Promise<void> {
  await db.batch([
    db.prepare("UPDATE ip_addresses SET default_gateway = 0 WHERE interface_id IN (SELECT id FROM interfaces WHERE machine_id = ?)").bind(m.id),
    interfaceEvent(db, actor, m, "default gateways cleared"),
  ]);
}

/** Adds a physical interface (named ethN after the machine's count when no name is given); returns its id. */
export async function addInterface(
  db: D1Database,
  actor: string,
  m: Machine,
  nic: { mac: string; name?: string | undefined; vlanId: number | null; mtu?: number | undefined; tags?: string[] | undefined },
): Promise<number> {
  const [row] = await db.batch([
    db
      .prepare(
        "INSERT INTO interfaces (machine_id, name, mac, vlan_id, mtu, tags) VALUES (?1, coalesce(?2, 'eth' || (SELECT count(*) FROM interfaces WHERE machine_id = ?1)), ?3, ?4, ?5, ?6) RETURNING id",
      )
      .bind(m.id, nic.name ?? null, nic.mac, nic.vlanId, nic.mtu ?? null, JSON.stringify(nic.tags ?? [])),
    interfaceEvent(db, actor, m, `interface ${nic.mac} added`),
  ]);
  return (row!.results[0] as { id: number }).id;
}
