// A machine's network interfaces as the operator edits them: links to subnets, VLANs, added
// and removed NICs. Each change and its event are one batch.
import { eventStatement } from "../events";
import type { MachineRef } from "./types";

type Machine = MachineRef & { status: number };

function interfaceEvent(db: D1Database, actor: string, m: Machine, description: string): D1PreparedStatement {
  return eventStatement(db, {
    machineId: m.id,
    systemId: m.systemId,
    hostname: m.hostname,
    siteId: m.siteId,
    type: "machine.interface",
    actor,
    description,
    fromStatus: m.status,
    toStatus: m.status,
  });
}

/** How an interface is linked: to a subnet (with an address in static mode), up with no link, or off its VLAN too. */
export type InterfaceLink =
  | { mode: "auto" | "dhcp" | "static"; subnetId: number; vlanId: number | null; ip: string | null }
  | { mode: "link_up" }
  | { mode: "disconnected" };

export async function setInterfaceLink(db: D1Database, actor: string, m: Machine, ifaceId: number, link: InterfaceLink, description: string): Promise<void> {
  const change =
    link.mode === "link_up"
      ? db.prepare("UPDATE interfaces SET subnet_id = NULL, ip_address = NULL, link_mode = 'link_up' WHERE id = ?").bind(ifaceId)
      : link.mode === "disconnected"
        ? db.prepare("UPDATE interfaces SET subnet_id = NULL, ip_address = NULL, vlan_id = NULL, link_mode = 'link_up' WHERE id = ?").bind(ifaceId)
        : db
            .prepare("UPDATE interfaces SET subnet_id = ?, vlan_id = coalesce(?, vlan_id), ip_address = ?, link_mode = ? WHERE id = ?")
            .bind(link.subnetId, link.vlanId, link.ip, link.mode, ifaceId);
  await db.batch([change, interfaceEvent(db, actor, m, description)]);
}

/** Adds a physical interface (named ethN after the machine's count when no name is given); returns its id. */
export async function addInterface(
  db: D1Database,
  actor: string,
  m: Machine,
  nic: { mac: string; name?: string | undefined; vlanId: number | null },
): Promise<number> {
  const [row] = await db.batch([
    db
      .prepare(
        "INSERT INTO interfaces (machine_id, name, mac, vlan_id, link_mode) VALUES (?1, coalesce(?2, 'eth' || (SELECT count(*) FROM interfaces WHERE machine_id = ?1)), ?3, ?4, 'link_up') RETURNING id",
      )
      .bind(m.id, nic.name ?? null, nic.mac, nic.vlanId),
    interfaceEvent(db, actor, m, `interface ${nic.mac} added`),
  ]);
  return (row!.results[0] as { id: number }).id;
}

export async function updateInterface(
  db: D1Database,
  actor: string,
  m: Machine,
  i: { id: number; name: string },
  ch: { name: string; vlanId: number | null },
): Promise<void> {
  await db.batch([
    db.prepare("UPDATE interfaces SET name = ?, vlan_id = ? WHERE id = ?").bind(ch.name, ch.vlanId, i.id),
    interfaceEvent(db, actor, m, `${i.name}: updated`),
  ]);
}

export async function deleteInterface(db: D1Database, actor: string, m: Machine, i: { id: number; name: string }): Promise<void> {
  await db.batch([db.prepare("DELETE FROM interfaces WHERE id = ?").bind(i.id), interfaceEvent(db, actor, m, `${i.name}: deleted`)]);
}
