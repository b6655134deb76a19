// Builds a rack's configuration snapshot from D1: the subnets it serves, reservations, each
// known MAC's boot intent (from the machine's status) and the image manifest. The version is a
// content hash, so "changed?" is a string comparison and a re-push of the same data is a no-op.
import { NODE_STATUS } from "../../shared/lifecycle";
import type { BootIntent, ConfigSnapshot } from "../../shared/tunnel/config";
import { sha256Hex } from "../auth/crypto";

const INTENT_BY_STATUS = new Map<number, BootIntent["intent"]>([
  // An enlisted machine that boots again gathers its inventory again (MAAS does the same).
  [NODE_STATUS.NEW, "enlist"],
  [NODE_STATUS.COMMISSIONING, "commission"],
  [NODE_STATUS.TESTING, "commission"],
  [NODE_STATUS.DEPLOYING, "deploy"],
  [NODE_STATUS.DEPLOYED, "local"],
  [NODE_STATUS.RESCUE_MODE, "rescue"],
  [NODE_STATUS.ENTERING_RESCUE_MODE, "rescue"],
  [NODE_STATUS.RELEASING, "release"],
  [NODE_STATUS.DISK_ERASING, "release"],
]);

export async function buildSnapshot(db: D1Database, rackId: string): Promise<ConfigSnapshot | null> {
  const rack = await db.prepare("SELECT r.site_id, s.name AS site FROM racks r JOIN sites s ON s.id = r.site_id WHERE r.id = ?").bind(rackId).first<{ site_id: number; site: string }>();
  if (!rack) return null;
  const [subnets, ranges, nics, images] = await db.batch([
    db.prepare("SELECT id, cidr, gateway_ip, dns_servers, managed FROM subnets WHERE site_id = ?1 OR rack_id = ?2 ORDER BY id").bind(rack.site_id, rackId),
    db.prepare("SELECT r.subnet_id, r.type, r.start_ip, r.end_ip FROM ip_ranges r JOIN subnets s ON s.id = r.subnet_id WHERE s.site_id = ?1 OR s.rack_id = ?2 ORDER BY r.id").bind(rack.site_id, rackId),
    db
      .prepare("SELECT i.mac, i.ip_address, m.hostname, m.system_id, m.status, m.osystem, m.distro_series FROM interfaces i JOIN machines m ON m.id = i.machine_id WHERE m.site_id = ? ORDER BY i.mac")
      .bind(rack.site_id),
    db.prepare("SELECT osystem, series, architecture, url, sha256, format, size FROM boot_images ORDER BY id"),
  ]);
  type Range = { subnet_id: number; type: "dynamic" | "reserved"; start_ip: string; end_ip: string };
  type Nic = { mac: string; ip_address: string | null; hostname: string; system_id: string; status: number; osystem: string; distro_series: string };
  const rangeRows = (ranges!.results ?? []) as Range[];
  const nicRows = (nics!.results ?? []) as Nic[];
  const body: Omit<ConfigSnapshot, "version"> = {
    site: rack.site,
    subnets: ((subnets!.results ?? []) as { id: number; cidr: string; gateway_ip: string | null; dns_servers: string; managed: number }[]).map((s) => ({
      id: s.id,
      cidr: s.cidr,
      gateway: s.gateway_ip,
      dns: JSON.parse(s.dns_servers) as string[],
      managed: !!s.managed,
      ranges: rangeRows.filter((r) => r.subnet_id === s.id).map((r) => ({ type: r.type, start: r.start_ip, end: r.end_ip })),
    })),
    reservations: nicRows.filter((n) => n.ip_address).map((n) => ({ mac: n.mac, ip: n.ip_address!, hostname: n.hostname, systemId: n.system_id })),
    bootIntents: nicRows.map((n) => ({
      mac: n.mac,
      systemId: n.system_id,
      intent: INTENT_BY_STATUS.get(n.status) ?? "none",
      ...(n.osystem ? { osystem: n.osystem } : {}),
      ...(n.distro_series ? { series: n.distro_series } : {}),
    })),
    images: ((images!.results ?? []) as ConfigSnapshot["images"]).map((i) => ({ ...i })),
  };
  return { version: (await sha256Hex(JSON.stringify(body))).slice(0, 32), ...body };
}
