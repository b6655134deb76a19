// Builds a rack's configuration snapshot from D1: the subnets it serves, reservations, each
// known MAC's boot intent (from the machine's status) and the image manifest. The version is a
// content hash, so "changed?" is a string comparison and a re-push of the same data is a no-op.
import { NODE_STATUS, NODE_TOKEN_LIVE, type Status } from "../../shared/lifecycle";
import type { BootIntent, ConfigSnapshot, DeploySpec } from "../../shared/tunnel/config";
import { bootDiskOf } from "../domain/machines/storage";
import { renderPlan } from "../domain/storage/render";
import { DISK_COLS, type DiskRowFull, type StorageColumns, storageFrom, storageSetting } from "../domain/storage/repo";
import { sha256Hex } from "../auth/crypto";
import { dnsStatements, siteDns } from "../domain/dns/site";

const INTENT_BY_STATUS = new Map<number, BootIntent["intent"]>([
  // An enlisted machine that boots again gathers its inventory again (MAAS does the same).
  [NODE_STATUS.NEW, "enlist"],
  [NODE_STATUS.COMMISSIONING, "commission"],
  [NODE_STATUS.TESTING, "commission"],
  [NODE_STATUS.DEPLOYING, "deploy"],
  [NODE_STATUS.DEPLOYED, "local"],
  [NODE_STATUS.RESCUE_MODE, "rescue"],
  [NODE_STATUS.ENTERING_RESCUE_MODE, "rescue"],
  // Leaving rescue: a deployed machine reboots into its disk; whatever PXE boots now gets that.
  [NODE_STATUS.EXITING_RESCUE_MODE, "local"],
  [NODE_STATUS.RELEASING, "release"],
  [NODE_STATUS.DISK_ERASING, "release"],
]);

/**
 * The address the rack's DHCP reserves for an interface's MAC: its link's address on a subnet
 * this rack serves (a sticky DHCP address first, then STATIC). One per MAC: DHCP answers a MAC
 * with one address (IPv4: the rack serves DHCPv4 only). Not AUTO: a deployed system gets its AUTO
 * address from its rendered network configuration, not from DHCP. Served by DHCP, AUTO addresses
 * change hands on every release and redeploy while the previous holder's lease still runs, and
 * the rack refused both machines (seen in the e2e: two VMs redeployed with swapped addresses).
 */
const RESERVED_IP = `(SELECT a.ip FROM ip_addresses a WHERE a.interface_id = i.id AND a.ip IS NOT NULL AND instr(a.ip, ':') = 0 AND a.kind IN ('sticky', 'static')
   AND a.subnet_id IN (SELECT id FROM subnets WHERE site_id = ?1 OR rack_id = ?2)
   ORDER BY CASE a.kind WHEN 'sticky' THEN 0 ELSE 1 END, a.id LIMIT 1)`;

/**
 * Machine interfaces' addresses, then reservations for MACs that are no machine's. One address
 * per MAC and one MAC per address: the rack refuses a snapshot that reserves an address twice
 * (possible only across overlapping subnets, each unique in itself).
 */
function reservationsOf(nics: { mac: string; ip_address: string | null; hostname: string; system_id: string }[], byMac: { mac: string; ip: string }[]) {
  const out: ConfigSnapshot["reservations"] = [];
  const macs = new Set<string>();
  const ips = new Set<string>();
  const add = (r: ConfigSnapshot["reservations"][number]) => {
    if (macs.has(r.mac) || ips.has(r.ip)) return;
    macs.add(r.mac);
    ips.add(r.ip);
    out.push(r);
  };
  for (const n of nics) if (n.ip_address) add({ mac: n.mac, ip: n.ip_address, hostname: n.hostname, systemId: n.system_id });
  for (const r of byMac) add({ mac: r.mac, ip: r.ip, hostname: "", systemId: "" });
  return out;
}

/**
 * Each deploying machine's storage for its deploy spec: the design in force (its own, or the
 * default layout over its disks) rendered as the installer's plan, with its boot disk as the
 * installer finds it (by serial when it has one: names change across boots).
 */
async function deployStorage(
  db: D1Database,
  machines: (StorageColumns & { id: number; system_id: string })[],
  disks: (DiskRowFull & { machine_id: number })[],
): Promise<Map<string, DeploySpec["storage"]>> {
  const out = new Map<string, DeploySpec["storage"]>();
  if (!machines.length) return out;
  const setting = await storageSetting(db);
  for (const m of machines) {
    const rows = disks.filter((d) => d.machine_id === m.id);
    if (!rows.length) continue;
    try {
      const { design, ctx } = storageFrom(m, rows, setting);
      const boot = rows.find((d) => d.id === design.boot_disk) ?? rows[0];
      out.set(m.system_id, { layout: design.layout, disk: bootDiskOf(boot), plan: renderPlan(design, ctx) });
    } catch (e) {
      // Deploy refuses a design that cannot be built; one that fails here is the first disk's flat layout.
      console.error("storage plan of", m.system_id, "could not be rendered", e);
      out.set(m.system_id, { layout: "flat", disk: bootDiskOf(rows[0]), plan: [] });
    }
  }
  return out;
}

export async function buildSnapshot(db: D1Database, rackId: string): Promise<ConfigSnapshot | null> {
  const rack = await db
    .prepare("SELECT r.site_id, s.name AS site FROM racks r JOIN sites s ON s.id = r.site_id WHERE r.id = ?")
    .bind(rackId)
    .first<{ site_id: number; site: string }>();
  if (!rack) return null;
  const [subnets, ranges, nics, images, macReservations, deploying, deployingDisks, ...dnsRows] = await db.batch([
    db
      .prepare("SELECT id, cidr, gateway_ip, dns_servers, managed, site_id FROM subnets WHERE site_id = ?1 OR rack_id = ?2 ORDER BY id")
      .bind(rack.site_id, rackId),
    db
      .prepare(
        "SELECT r.subnet_id, r.type, r.start_ip, r.end_ip FROM ip_ranges r JOIN subnets s ON s.id = r.subnet_id WHERE s.site_id = ?1 OR s.rack_id = ?2 ORDER BY r.id",
      )
      .bind(rack.site_id, rackId),
    db
      .prepare(
        `SELECT i.mac, i.type, ${RESERVED_IP} AS ip_address, m.hostname, m.system_id, m.status, m.osystem, m.distro_series, m.architecture, m.deploy_token, m.deploy_installed_at, m.erase_mode,
                CASE WHEN m.status = ${NODE_STATUS.DEPLOYING} THEN m.user_data END AS user_data,
                CASE WHEN m.status = ${NODE_STATUS.DEPLOYING} THEN u.ssh_keys END AS ssh_keys,
                CASE WHEN m.status = ${NODE_STATUS.DEPLOYING} THEN m.deploy_network END AS deploy_network,
                CASE WHEN m.status = ${NODE_STATUS.DEPLOYING} THEN
                  (SELECT group_concat(k, ' ') FROM (SELECT t.kernel_opts AS k FROM machine_tags mt JOIN tags t ON t.id = mt.tag_id
                   WHERE mt.machine_id = m.id AND t.kernel_opts != '' ORDER BY t.name))
                END AS kernel_opts
         FROM interfaces i JOIN machines m ON m.id = i.machine_id LEFT JOIN users u ON u.id = m.owner_id WHERE m.site_id = ?1 ORDER BY i.mac`,
      )
      .bind(rack.site_id, rackId),
    db.prepare("SELECT osystem, series, architecture, url, sha256, format, size FROM boot_images ORDER BY id"),
    // Addresses reserved for a MAC that is no machine's (MAAS ipaddresses reserve with mac).
    db
      .prepare(
        `SELECT a.mac, a.ip FROM ip_addresses a JOIN subnets s ON s.id = a.subnet_id
         WHERE a.kind = 'user_reserved' AND a.mac IS NOT NULL AND a.ip IS NOT NULL AND instr(a.ip, ':') = 0 AND (s.site_id = ?1 OR s.rack_id = ?2) ORDER BY a.id`,
      )
      .bind(rack.site_id, rackId),
    // The storage of the site's deploying machines: each one's design becomes its plan.
    db
      .prepare(`SELECT system_id, storage_design, storage_layout, firmware, id FROM machines WHERE site_id = ?1 AND status = ${NODE_STATUS.DEPLOYING}`)
      .bind(rack.site_id),
    db
      .prepare(
        `SELECT b.machine_id, ${DISK_COLS.split(", ")
          .map((c) => `b.${c}`)
          .join(", ")} FROM block_devices b JOIN machines m ON m.id = b.machine_id WHERE m.site_id = ?1 AND m.status = ${NODE_STATUS.DEPLOYING} ORDER BY b.id`,
      )
      .bind(rack.site_id),
    ...dnsStatements(db, rack.site_id),
  ]);
  type Range = { subnet_id: number; type: "dynamic" | "reserved"; start_ip: string; end_ip: string };
  type Nic = {
    type: string;
    mac: string;
    ip_address: string | null;
    hostname: string;
    system_id: string;
    status: number;
    osystem: string;
    distro_series: string;
    architecture: string;
    deploy_token: string | null;
    deploy_installed_at: number | null;
    erase_mode: "quick" | "full" | null;
    user_data: string | null;
    ssh_keys: string | null;
    deploy_network: string | null;
    kernel_opts: string | null;
  };
  type Image = ConfigSnapshot["images"][number] & { architecture: string };
  const storageBySystemId = await deployStorage(
    db,
    (deploying?.results ?? []) as (StorageColumns & { id: number; system_id: string })[],
    (deployingDisks?.results ?? []) as (DiskRowFull & { machine_id: number })[],
  );
  const imageRows = (images!.results ?? []) as Image[];
  // The image a deployment writes: same OS, series and architecture, with bytes in the store.
  const imageFor = (n: Nic) =>
    imageRows.find((i) => i.osystem === n.osystem && i.series === n.distro_series && i.architecture === n.architecture && i.sha256) ?? null;
  const deploySpec = (n: Nic): BootIntent["deploy"] => {
    if (n.status !== NODE_STATUS.DEPLOYING || !n.deploy_token) return undefined;
    const img = imageFor(n);
    let keys: string[] = [];
    try {
      keys = n.ssh_keys ? (JSON.parse(n.ssh_keys) as string[]).filter((k) => typeof k === "string") : [];
    } catch {
      keys = [];
    }
    return {
      token: n.deploy_token,
      image: img ? { sha256: img.sha256!, format: img.format, size: img.size } : null,
      hostname: n.hostname,
      ...(n.user_data ? { userData: n.user_data } : {}),
      sshKeys: keys.slice(0, 64),
      // The design's layout, boot disk and plan; a machine with no known disks: flat on the first the installer finds.
      storage: storageBySystemId.get(n.system_id) ?? { layout: "flat", disk: "", plan: [] },
      // As MAAS: every tag's kernel_opts, in tag name order, joined by spaces.
      kernelOpts: (n.kernel_opts ?? "").slice(0, 4096),
      networkConfig: n.deploy_network ?? "",
    };
  };
  const intentOf = (n: Nic): BootIntent["intent"] => {
    // Once the image is written the node boots its disk, even before the OS phones home.
    if (n.status === NODE_STATUS.DEPLOYING && n.deploy_installed_at !== null) return "local";
    return INTENT_BY_STATUS.get(n.status) ?? "none";
  };
  const rangeRows = (ranges!.results ?? []) as Range[];
  const nicRows = (nics!.results ?? []) as Nic[];
  type SubnetRow = { id: number; cidr: string; gateway_ip: string | null; dns_servers: string; managed: number; site_id: number | null };
  const subnetRows = (subnets!.results ?? []) as SubnetRow[];
  // The site's own subnets only: every rack of the site (and the zone API) serves the same zones.
  const dns = await siteDns(
    db,
    rack.site_id,
    dnsRows,
    subnetRows.filter((s) => s.site_id === rack.site_id).map((s) => ({ cidr: s.cidr, managed: !!s.managed })),
  );
  const body: Omit<ConfigSnapshot, "version"> = {
    site: rack.site,
    subnets: subnetRows.map((s) => ({
      id: s.id,
      cidr: s.cidr,
      gateway: s.gateway_ip,
      dns: JSON.parse(s.dns_servers) as string[],
      managed: !!s.managed,
      ranges: rangeRows.filter((r) => r.subnet_id === s.id).map((r) => ({ type: r.type, start: r.start_ip, end: r.end_ip })),
    })),
    reservations: reservationsOf(nicRows, (macReservations!.results ?? []) as { mac: string; ip: string }[]),
    // A bond, bridge or VLAN interface carries a NIC's MAC too; only the NIC boots.
    bootIntents: nicRows
      .filter((n) => n.type === "physical")
      .map((n) => {
        const intent = intentOf(n);
        const deploy = intent === "deploy" ? deploySpec(n) : undefined;
        // The deployed system's cloud-init reads the MAAS metadata API with this deployment's
        // credentials for as long as it lives; the rack keeps the rest of the spec on disk.
        const liveToken = intent === "local" && n.deploy_token && NODE_TOKEN_LIVE.includes(n.status as Status) ? n.deploy_token : undefined;
        return {
          mac: n.mac,
          systemId: n.system_id,
          intent,
          ...(n.osystem ? { osystem: n.osystem } : {}),
          ...(n.distro_series ? { series: n.distro_series } : {}),
          ...(deploy ? { deploy } : {}),
          ...(liveToken ? { deployToken: liveToken } : {}),
          ...(intent === "release" && n.status === NODE_STATUS.DISK_ERASING && n.erase_mode ? { erase: n.erase_mode } : {}),
        };
      }),
    images: imageRows.map((i) => ({
      osystem: i.osystem,
      series: i.series,
      architecture: i.architecture,
      url: i.url,
      sha256: i.sha256,
      format: i.format,
      size: i.size,
    })),
    dns,
  };
  return { version: (await sha256Hex(JSON.stringify(body))).slice(0, 32), ...body };
}
