// Plinth rows as MAAS 2.0 objects. gomaasapi checks a strict schema on machines, interfaces,
// subnets, VLANs and block devices, so every key it requires is present even when Plinth has
// no data for it (null, [] or {}), and every object carries its absolute resource_uri.
import { NODE_STATUS, STATUS_NAME, type Status } from "../../shared/lifecycle";
import type { MachineRow } from "../machines/repo";
import type { KindInfo } from "../domain/machines/interface-kinds";
import type { LinkRow } from "../domain/machines/interfaces";
import { deployedStorageOf } from "../domain/machines/storage";
import type { DiskRowFull } from "../domain/storage/repo";
import type { StorageJson } from "./storage-shape";
import { API } from "./wire";

/** owner_data keys the facade keeps for itself (agent_name has no column of its own). */
export const AGENT_KEY = "maas:agent_name";

export interface VlanRow {
  id: number;
  vid: number;
  name: string;
  mtu: number;
  dhcp_on: number;
  fabric_id: number;
  fabric: string;
  space_id: number | null;
  space: string | null;
}

export const VLAN_SELECT = `SELECT v.id, v.vid, v.name, v.mtu, v.dhcp_on, v.fabric_id, f.name AS fabric, v.space_id, sp.name AS space
  FROM vlans v JOIN fabrics f ON f.id = v.fabric_id LEFT JOIN spaces sp ON sp.id = v.space_id`;

export function vlanJson(v: VlanRow | null) {
  if (!v) {
    // A subnet or interface on no VLAN: gomaasapi still wants an object.
    return {
      id: 0,
      name: "untagged",
      vid: 0,
      mtu: 1500,
      dhcp_on: false,
      fabric: "fabric-0",
      fabric_id: 1,
      space: "undefined",
      primary_rack: null,
      secondary_rack: null,
      relay_vlan: null,
      external_dhcp: null,
      description: "",
      resource_uri: `${API}/vlans/0/`,
    };
  }
  return {
    id: v.id,
    name: v.name || (v.vid === 0 ? "untagged" : String(v.vid)),
    vid: v.vid,
    mtu: v.mtu,
    dhcp_on: !!v.dhcp_on,
    fabric: v.fabric,
    fabric_id: v.fabric_id,
    space: v.space ?? "undefined",
    primary_rack: null,
    secondary_rack: null,
    relay_vlan: null,
    external_dhcp: null,
    description: "",
    resource_uri: `${API}/vlans/${v.id}/`,
  };
}

export interface SubnetRow {
  id: number;
  cidr: string;
  name: string;
  vlan_id: number | null;
  site_id: number | null;
  gateway_ip: string | null;
  dns_servers: string;
  managed: number;
}

export const SUBNET_SELECT = "SELECT id, cidr, name, vlan_id, site_id, gateway_ip, dns_servers, managed FROM subnets";

export function subnetJson(s: SubnetRow, vlan: VlanRow | null) {
  return {
    id: s.id,
    name: s.name || s.cidr,
    cidr: s.cidr,
    vlan: vlanJson(vlan),
    space: vlan?.space ?? "undefined",
    gateway_ip: s.gateway_ip,
    dns_servers: JSON.parse(s.dns_servers) as string[],
    rdns_mode: 2,
    allow_dns: true,
    allow_proxy: true,
    active_discovery: false,
    managed: !!s.managed,
    disabled_boot_architectures: [],
    description: "",
    resource_uri: `${API}/subnets/${s.id}/`,
  };
}

export interface IfaceRow {
  id: number;
  machine_id: number;
  name: string;
  mac: string;
  type: string;
  vlan_id: number | null;
  speed_mbps: number;
  link_connected: number;
  is_boot: number;
}

/** A block_devices row as the MAAS shapes read it: the storage repository's, with its machine. */
export interface DiskRow extends Omit<DiskRowFull, "tags"> {
  machine_id: number;
  tags?: string | null;
}

export interface NetCache {
  vlans: Map<number, VlanRow>;
  subnets: Map<number, SubnetRow>;
}

/** How MAAS names a link's mode for each kind of address row bound to an interface. */
const LINK_MODE: Record<string, string> = { auto: "auto", static: "static", sticky: "static", user_reserved: "static", dhcp: "dhcp", link_up: "link_up" };

export function interfaceJson(systemId: string, i: IfaceRow, net: NetCache, allLinks: LinkRow[], kind?: KindInfo) {
  const mine = allLinks.filter((l) => l.interface_id === i.id);
  const subnetOf = (l: LinkRow) => (l.subnet_id !== null ? net.subnets.get(l.subnet_id) : undefined);
  const subnetJsonOf = (s: SubnetRow) => subnetJson(s, s.vlan_id !== null ? (net.vlans.get(s.vlan_id) ?? null) : null);
  const firstSubnet = mine.map(subnetOf).find((s) => s !== undefined);
  const vlanId = i.vlan_id ?? firstSubnet?.vlan_id ?? null;
  const vlan = vlanId !== null ? (net.vlans.get(vlanId) ?? null) : null;
  // Every row bound to the interface is a link, but what the rack only saw on the wire.
  const links = mine
    .filter((l) => l.kind !== "discovered")
    .map((l) => {
      const s = subnetOf(l);
      return { id: l.id, mode: LINK_MODE[l.kind] ?? l.kind, ...(s ? { subnet: subnetJsonOf(s) } : {}), ...(l.ip ? { ip_address: l.ip } : {}) };
    });
  const discovered = mine.flatMap((l) => {
    const s = subnetOf(l);
    return l.kind === "discovered" && l.ip && s ? [{ subnet: subnetJsonOf(s), ip_address: l.ip }] : [];
  });
  return {
    id: i.id,
    name: i.name,
    type: i.type,
    enabled: kind?.enabled ?? true,
    tags: kind?.tags ?? [],
    vlan: vlanId !== null || firstSubnet ? vlanJson(vlan) : null,
    links,
    mac_address: i.mac,
    // MAAS: the own MTU or the VLAN's, never below what is stacked on the interface.
    effective_mtu: Math.max(kind?.mtu ?? vlan?.mtu ?? 1500, kind?.childrenMtu ?? 0),
    parents: kind?.parents ?? [],
    children: kind?.children ?? [],
    // MAAS keeps a set MTU among the params; terraform-provider-maas reads bond_*/bridge_* here.
    params: { ...(kind?.params ?? {}), ...(kind?.mtu != null ? { mtu: kind.mtu } : {}) },
    discovered,
    system_id: systemId,
    link_connected: !!i.link_connected,
    link_speed: i.speed_mbps,
    interface_speed: i.speed_mbps,
    product: null,
    vendor: null,
    firmware_version: null,
    numa_node: 0,
    sriov_max_vf: 0,
    resource_uri: `${API}/nodes/${systemId}/interfaces/${i.id}/`,
  };
}

export function blockDeviceJson(systemId: string, d: DiskRow) {
  return {
    id: d.id,
    name: d.name,
    path: d.path || `/dev/disk/by-dname/${d.name}`,
    id_path: d.path || null,
    model: d.model || null,
    serial: d.serial || null,
    uuid: null,
    type: "physical",
    size: d.size,
    block_size: 512,
    used_size: 0,
    available_size: d.size,
    used_for: "Unused",
    tags: [d.rotational ? "rotary" : "ssd"],
    filesystem: null,
    partitions: [],
    partition_table_type: null,
    storage_pool: null,
    numa_node: 0,
    system_id: systemId,
    resource_uri: `${API}/nodes/${systemId}/blockdevices/${d.id}/`,
  };
}

export const zoneJson = (z: { id: number; name: string; description: string }) => ({
  id: z.id,
  name: z.name,
  description: z.description,
  resource_uri: `${API}/zones/${encodeURIComponent(z.name)}/`,
});
export const poolJson = (p: { id: number; name: string; description: string }) => ({
  id: p.id,
  name: p.name,
  description: p.description,
  resource_uri: `${API}/resourcepool/${p.id}/`,
});

/** Plinth has one DNS domain per machine row but no domains table: "maas" is the one served. */
export const DOMAIN = { id: 0, name: "maas", ttl: null, authoritative: true, is_default: true, resource_record_count: 0, resource_uri: `${API}/domains/0/` };

export interface MachineExtras {
  tags: string[];
  ifaces: IfaceRow[];
  /** The links of `ifaces` (ip_addresses rows bound to them). */
  links: LinkRow[];
  disks: DiskRow[];
  net: NetCache;
  kinds?: Map<number, KindInfo>;
  /** The machine's storage design as MAAS objects (cloud/maas/storage-shape.ts). */
  storage?: StorageJson;
}

function visibleOwnerData(raw: string): Record<string, string> {
  const d = JSON.parse(raw) as Record<string, string>;
  delete d[AGENT_KEY];
  return d;
}

export function agentName(raw: string): string {
  return (JSON.parse(raw) as Record<string, string>)[AGENT_KEY] ?? "";
}

export function machineJson(m: MachineRow, x: MachineExtras) {
  const status = m.status as Status;
  const ifaces = x.ifaces.map((i) => interfaceJson(m.systemId, i, x.net, x.links, x.kinds?.get(i.id)));
  const disks = x.disks.map((d) => blockDeviceJson(m.systemId, d));
  const bootIface = x.ifaces.findIndex((i) => !!i.is_boot);
  const bootDisk = x.disks.findIndex((d) => !!d.is_boot);
  const storage = x.storage
    ? x.storage.machineFields()
    : {
        physicalblockdevice_set: disks,
        blockdevice_set: disks,
        virtualblockdevice_set: [] as unknown[],
        boot_disk: bootDisk >= 0 ? disks[bootDisk] : (disks[0] ?? null),
        volume_groups: [] as unknown[],
        raids: [] as unknown[],
        cache_sets: [] as unknown[],
        bcaches: [] as unknown[],
      };
  // After a deployment, what the installer reported it made shows on the disk it names.
  withDeployedPartitions(m, storage.physicalblockdevice_set as ReturnType<typeof blockDeviceJson>[]);
  const mine = new Set(x.ifaces.map((i) => i.id));
  const ips = x.links.flatMap((l) => (l.ip && l.kind !== "discovered" && mine.has(l.interface_id) ? [l.ip] : []));
  return {
    resource_uri: `${API}/machines/${m.systemId}/`,
    system_id: m.systemId,
    hostname: m.hostname,
    fqdn: `${m.hostname}.${m.domain}`,
    domain: { ...DOMAIN, name: m.domain },
    description: m.description,
    node_type: 0,
    node_type_name: "Machine",
    status,
    status_name: STATUS_NAME[status],
    status_message: m.statusMessage || null,
    status_action: "",
    owner: m.owner,
    owner_data: visibleOwnerData(m.ownerData),
    locked: !!m.locked,
    architecture: m.architecture,
    cpu_count: m.cpuCount,
    cpu_speed: m.cpuSpeed,
    memory: m.memory,
    storage: m.storage || x.disks.reduce((s, d) => s + d.size, 0) / 1e6,
    osystem: m.osystem,
    distro_series: m.distroSeries,
    hwe_kernel: null,
    min_hwe_kernel: "",
    netboot: status !== NODE_STATUS.DEPLOYED,
    power_state: m.powerState,
    power_type: m.powerType,
    zone: zoneJson({ id: m.zoneId, name: m.zone, description: "" }),
    pool: poolJson({ id: m.poolId, name: m.pool, description: "" }),
    tag_names: x.tags,
    hardware_info: {
      system_vendor: "Unknown",
      system_product: "Unknown",
      system_version: "Unknown",
      system_serial: "Unknown",
      cpu_model: m.cpuModel || "Unknown",
      mainboard_vendor: "Unknown",
      mainboard_product: "Unknown",
      mainboard_firmware_version: "Unknown",
      mainboard_firmware_date: "Unknown",
    },
    hardware_uuid: m.hardwareUuid,
    bios_boot_method: m.firmware === "uefi" ? "uefi" : m.firmware === "bios" ? "pxe" : null,
    interface_set: ifaces,
    boot_interface: bootIface >= 0 ? ifaces[bootIface] : (ifaces[0] ?? null),
    ...storage,
    ip_addresses: ips,
    special_filesystems: [],
    swap_size: null,
    address_ttl: null,
    pod: null,
    ephemeral_deploy: false,
    enable_hw_sync: false,
    workload_annotations: {},
    // Plinth records commissioning results but not MAAS's per-script test status.
    commissioning_status: -1,
    commissioning_status_name: "Unknown",
    testing_status: -1,
    testing_status_name: "Unknown",
    site: m.site,
  };
}

/**
 * After a deployment the installer's report shows on the disk it partitioned (single-machine
 * reads carry it): MAAS's partition objects, with the filesystem each holds.
 */
function withDeployedPartitions(m: MachineRow, disks: ReturnType<typeof blockDeviceJson>[]): void {
  const st = deployedStorageOf(m.deployedStorage ?? null);
  if (!st || !disks.length) return;
  const diskName = (st.disk ?? "").replace(/^\/dev\//, "");
  const disk = disks.find((d) => d.name === diskName || d.path === st.disk) ?? disks[0]!;
  const parts = st.partitions.map((p, i) => ({
    id: disk.id * 1000 + i + 1,
    uuid: p.uuid || null,
    path: `/dev/${p.name}`,
    type: "partition",
    size: p.size_bytes,
    bootable: p.mount === "/boot/efi",
    used_for: p.fstype ? `${p.fstype} formatted filesystem${p.mount ? ` mounted at ${p.mount}` : ""}` : "Unused",
    filesystem: p.fstype ? { fstype: p.fstype, label: null, uuid: p.uuid || null, mount_point: p.mount || null, mount_options: null } : null,
    system_id: m.systemId,
    device_id: disk.id,
    resource_uri: `${disk.resource_uri}partition/${disk.id * 1000 + i + 1}`,
  }));
  const used = parts.reduce((n, p) => n + p.size, 0);
  Object.assign(disk, {
    partitions: parts,
    partition_table_type: "GPT",
    used_size: used,
    available_size: Math.max(0, disk.size - used),
    used_for: `GPT partitioned with ${parts.length} partition${parts.length === 1 ? "" : "s"}`,
  });
}
