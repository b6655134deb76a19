// The deployed system's network, read from the region's tables into netplan.ts's MachineNetwork
// and rendered once, when the deployment starts (after its AUTO addresses are allocated). The
// YAML is kept on the machine row (deploy_network) and travels in the rack's snapshot to the
// installer, which writes it for the deployed system's stock cloud-init to apply.
import { ApiError } from "../../http/errors";
import { formatIp, parseNet, rackAddresses } from "../addresses";
import { linksOf } from "./interfaces";
import { machineInterfaces } from "./interface-kinds";
import { type BondMode, type MachineNetwork, type NetInterface, type NetLink, NetworkConfigError, type NetSubnet, networkConfigYaml } from "./netplan";

interface SubnetRow {
  id: number;
  cidr: string;
  gateway_ip: string | null;
  dns_servers: string;
}

const strings = (raw: string): string[] => {
  try {
    const v = JSON.parse(raw) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
};

const int = (v: unknown, fallback: number) => (typeof v === "number" && Number.isInteger(v) ? v : fallback);

/**
 * The machine's enabled interfaces with their links, as the renderer takes them. A disabled
 * interface is left out with everything built on it (MAAS renders enabled interfaces only).
 * The default gateway per family is the link the operator marked; without one, as MAAS does,
 * the first addressed link on a subnet with a gateway, the boot NIC's stack first.
 */
export async function machineNetwork(db: D1Database, machineId: number): Promise<MachineNetwork> {
  const views = await machineInterfaces(db, machineId);
  const [links, machine] = await Promise.all([
    linksOf(
      db,
      views.map((v) => v.id),
    ),
    db.prepare("SELECT domain FROM machines WHERE id = ?").bind(machineId).first<{ domain: string }>(),
  ]);
  const subnetIds = [...new Set(links.flatMap((l) => (l.subnet_id === null ? [] : [l.subnet_id])))];
  const vlanIds = [...new Set(views.flatMap((v) => (v.type === "vlan" && v.vlan_id !== null ? [v.vlan_id] : [])))];
  const [subnets, vlans, racks] = await db.batch([
    db.prepare("SELECT id, cidr, gateway_ip, dns_servers FROM subnets WHERE id IN (SELECT value FROM json_each(?))").bind(JSON.stringify(subnetIds)),
    db.prepare("SELECT id, vid FROM vlans WHERE id IN (SELECT value FROM json_each(?))").bind(JSON.stringify(vlanIds)),
    db
      .prepare(
        `SELECT s.id AS subnet_id, r.interfaces FROM subnets s JOIN racks r ON (r.site_id = s.site_id OR r.id = s.rack_id) AND r.revoked_at IS NULL
         WHERE s.id IN (SELECT value FROM json_each(?)) ORDER BY r.id`,
      )
      .bind(JSON.stringify(subnetIds)),
  ]);
  const subnetById = new Map(((subnets!.results ?? []) as SubnetRow[]).map((s) => [s.id, s]));
  const rackRows = (racks!.results ?? []) as { subnet_id: number; interfaces: string }[];
  /** The serving racks' own addresses on a subnet: they answer DNS there (appliance/dns/). */
  const rackResolvers = (s: SubnetRow): string[] => {
    const net = parseNet(s.cidr);
    if (!net) return [];
    const ips = rackRows
      .filter((r) => r.subnet_id === s.id)
      .flatMap((r) => rackAddresses(r.interfaces))
      .filter((a) => a.family === net.family && a.n >= net.first && a.n <= net.last)
      .map(formatIp);
    return [...new Set(ips)];
  };
  const vidById = new Map(((vlans!.results ?? []) as { id: number; vid: number }[]).map((v) => [v.id, v.vid]));
  const netSubnet = (id: number): NetSubnet => {
    const s = subnetById.get(id)!;
    // A subnet that names no resolvers of its own gets the rack's, as MAAS gives its rack controllers.
    const own = strings(s.dns_servers);
    return { cidr: s.cidr, gateway: s.gateway_ip, dnsServers: own.length ? own : rackResolvers(s), searchDomains: [] };
  };

  const byName = new Map(views.map((v) => [v.name, v]));
  const kept = new Set<string>();
  const keep = (name: string, depth = 0): boolean => {
    const v = byName.get(name);
    if (!v?.enabled || depth > 8) return false;
    return v.parents.every((p) => keep(p, depth + 1));
  };
  for (const v of views) if (keep(v.name)) kept.add(v.name);

  const interfaces: NetInterface[] = [];
  for (const v of views) {
    if (!kept.has(v.name)) continue;
    const own = links.filter((l) => l.interface_id === v.id && l.kind !== "discovered");
    const netLinks: NetLink[] = own.flatMap((l): NetLink[] => {
      if (l.kind === "link_up" || l.subnet_id === null || !subnetById.has(l.subnet_id)) return l.kind === "dhcp" ? [{ mode: "dhcp", subnet: null }] : [];
      // A sticky address is a DHCP link whose lease the rack reserves: the system still asks DHCP.
      if (l.kind === "dhcp" || l.kind === "sticky") return [{ mode: "dhcp", subnet: netSubnet(l.subnet_id) }];
      if (l.kind === "auto" || l.kind === "static") {
        if (!l.ip) throw new ApiError(409, "network_not_renderable", `${v.name}: its ${l.kind.toUpperCase()} link has no address yet`);
        return [{ mode: l.kind === "auto" ? "auto" : "static", address: l.ip, subnet: netSubnet(l.subnet_id) }];
      }
      return [];
    });
    const iface: NetInterface = { name: v.name, type: v.type, mac: v.mac ?? "", mtu: v.mtu, parents: v.parents, links: netLinks };
    if (v.type === "vlan") {
      const vid = v.vlan_id === null ? undefined : vidById.get(v.vlan_id);
      if (vid === undefined) throw new ApiError(409, "network_not_renderable", `${v.name}: the VLAN interface is on no VLAN`);
      iface.vid = vid;
    }
    if (v.type === "bond") {
      const p = v.params;
      iface.bond = {
        mode: (typeof p["bond_mode"] === "string" ? p["bond_mode"] : "active-backup") as BondMode,
        miimon: int(p["bond_miimon"], 100),
        downdelay: int(p["bond_downdelay"], 0),
        updelay: int(p["bond_updelay"], 0),
        ...(typeof p["bond_lacp_rate"] === "string" ? { lacpRate: p["bond_lacp_rate"] as "fast" | "slow" } : {}),
        ...(typeof p["bond_xmit_hash_policy"] === "string" ? { xmitHashPolicy: p["bond_xmit_hash_policy"] } : {}),
      };
    }
    if (v.type === "bridge") {
      const p = v.params;
      if (p["bridge_type"] === "ovs")
        throw new ApiError(409, "network_not_renderable", `${v.name}: Open vSwitch bridges are not rendered yet; make it a standard bridge`);
      iface.bridge = { stp: p["bridge_stp"] === true, forwardDelay: int(p["bridge_fd"], 15) };
    }
    interfaces.push(iface);
  }

  // Interfaces stacked on the boot NIC come first when the gateway is picked for the operator.
  const boot = views.find((v) => v.is_boot)?.name;
  const onBoot = (name: string, depth = 0): boolean => name === boot || (depth < 8 && (byName.get(name)?.parents ?? []).some((p) => onBoot(p, depth + 1)));
  const family = (cidr: string): 4 | 6 => (cidr.includes(":") ? 6 : 4);
  const candidates = links
    .filter((l) => l.subnet_id !== null && subnetById.has(l.subnet_id) && l.ip && (l.kind === "auto" || l.kind === "static"))
    .map((l) => ({ l, name: views.find((v) => v.id === l.interface_id)!.name, s: subnetById.get(l.subnet_id!)! }))
    .filter((c) => kept.has(c.name));
  const gatewayOf = (f: 4 | 6): string | null => {
    const ofFamily = candidates.filter((c) => family(c.s.cidr) === f);
    const marked = ofFamily.find((c) => c.l.default_gateway === 1);
    if (marked) return marked.name;
    const withGw = ofFamily.filter((c) => c.s.gateway_ip);
    return (withGw.find((c) => onBoot(c.name)) ?? withGw[0])?.name ?? null;
  };
  const domain = machine?.domain ?? "";
  return { interfaces, defaultGateway: { v4: gatewayOf(4), v6: gatewayOf(6) }, nameservers: [], searchDomains: domain ? [domain] : [] };
}

/**
 * The YAML a deployment carries, or 409 network_not_renderable with the renderer's reason. A
 * machine with no address or DHCP link anywhere (one added by MAC through the API and never
 * linked) gets none (""): cloud-init's own fallback, DHCP on the first NIC, rather than a
 * configuration that brings nothing up.
 */
export async function deployNetworkConfig(db: D1Database, machineId: number): Promise<string> {
  const n = await machineNetwork(db, machineId);
  if (n.interfaces.every((i) => i.links.every((l) => l.mode === "link_up"))) return "";
  try {
    return networkConfigYaml(n);
  } catch (e) {
    if (e instanceof NetworkConfigError) throw new ApiError(409, "network_not_renderable", `the machine's network cannot be rendered: ${e.message}`);
    throw e;
  }
}
