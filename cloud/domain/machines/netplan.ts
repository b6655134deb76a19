// A deployed machine's network as cloud-init network configuration version 2 (netplan's
// schema), shaped as MAAS's preseed_network renders it for curtin: physical NICs matched by MAC
// and renamed, bonds and bridges carrying a MAC, VLANs as id + link, per-interface addresses,
// gateway and nameservers. Pure: the region builds a MachineNetwork from its tables and the
// installer writes networkConfigYaml() into /etc/cloud/cloud.cfg.d/ of the deployed system.
//
// Debian's cloud-init 22.4 is the consumer that matters: it renders this to ifupdown (ENI) on
// Debian. Its v2 parser rejects `routes: [{to: default}]`, hence gateway4/gateway6 (which its
// ENI renderer writes as a plain `gateway` line, needing no net-tools).

export type BondMode = "balance-rr" | "active-backup" | "balance-xor" | "broadcast" | "802.3ad" | "balance-tlb" | "balance-alb";
export interface NetSubnet {
  cidr: string;
  gateway: string | null;
  dnsServers: string[];
  searchDomains: string[];
}
export type NetLink = { mode: "auto" | "static"; address: string; subnet: NetSubnet } | { mode: "dhcp"; subnet: NetSubnet | null } | { mode: "link_up" };
export interface NetInterface {
  name: string;
  type: "physical" | "bond" | "vlan" | "bridge";
  mac: string;
  mtu: number | null;
  parents: string[]; // interface names
  vid?: number; // vlan only
  bond?: { mode: BondMode; miimon: number; downdelay: number; updelay: number; lacpRate?: "fast" | "slow"; xmitHashPolicy?: string };
  bridge?: { stp: boolean; forwardDelay: number };
  links: NetLink[];
}
export interface MachineNetwork {
  interfaces: NetInterface[];
  /** The interface name that carries the default route, per family (MAAS's gateway_link_ipv4/6). */
  defaultGateway: { v4: string | null; v6: string | null };
  /** Extra resolvers (e.g. the rack's DNS) and search domains, before the subnets'. */
  nameservers: string[];
  searchDomains: string[];
}

export class NetworkConfigError extends Error {
  override name = "NetworkConfigError";
}

/** What every kind of netplan interface may carry beyond its own identity. */
export interface NetplanAddressing {
  mtu?: number;
  addresses?: string[];
  gateway4?: string;
  gateway6?: string;
  nameservers?: { addresses?: string[]; search?: string[] };
  dhcp4?: true;
  dhcp6?: true;
}
export interface NetplanEthernet extends NetplanAddressing {
  match: { macaddress: string };
  "set-name": string;
}
export interface NetplanBondParameters {
  mode: BondMode;
  "mii-monitor-interval": number;
  "down-delay": number;
  "up-delay": number;
  "lacp-rate"?: "fast" | "slow";
  "transmit-hash-policy"?: string;
}
export interface NetplanBond extends NetplanAddressing {
  interfaces: string[];
  macaddress: string;
  parameters: NetplanBondParameters;
}
export interface NetplanVlan extends NetplanAddressing {
  id: number;
  link: string;
}
export interface NetplanBridge extends NetplanAddressing {
  interfaces: string[];
  macaddress: string;
  parameters: { stp: boolean; "forward-delay": number };
}
export interface NetplanV2 {
  version: 2;
  ethernets?: Record<string, NetplanEthernet>;
  bonds?: Record<string, NetplanBond>;
  vlans?: Record<string, NetplanVlan>;
  bridges?: Record<string, NetplanBridge>;
}

const BOND_MODES: readonly string[] = ["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"];
const XMIT_HASH_POLICIES: readonly string[] = ["layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4"];

// ---- IP arithmetic (IPv4 and IPv6; shared/net.ts is IPv4-only) --------------------------------

interface Ip {
  family: 4 | 6;
  value: bigint;
}

function parseIpv4(s: string): bigint | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  let v = 0n;
  for (const part of m.slice(1)) {
    const n = Number(part);
    if (n > 255 || (part.length > 1 && part.startsWith("0"))) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseIpv6(s: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === "") return [];
    const out: number[] = [];
    const parts = h.split(":");
    for (const [i, p] of parts.entries()) {
      // An embedded IPv4 address (::ffff:192.0.2.1) is the last two groups.
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = parseIpv4(p);
        if (v4 === null) return null;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(Number.parseInt(p, 16));
      else return null;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  let v = 0n;
  for (const g of [...head, ...new Array<number>(missing).fill(0), ...tail]) v = (v << 16n) | BigInt(g);
  return v;
}

function parseIp(s: string): Ip | null {
  const v4 = parseIpv4(s);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = s.includes(":") ? parseIpv6(s) : null;
  return v6 === null ? null : { family: 6, value: v6 };
}

interface Net {
  family: 4 | 6;
  network: bigint;
  prefix: number;
  bits: number;
}

function parseNet(cidr: string): Net | null {
  const slash = cidr.indexOf("/");
  if (slash < 0) return null;
  const ip = parseIp(cidr.slice(0, slash));
  const len = cidr.slice(slash + 1);
  if (ip === null || !/^\d{1,3}$/.test(len)) return null;
  const bits = ip.family === 4 ? 32 : 128;
  const prefix = Number(len);
  if (prefix > bits) return null;
  const host = (1n << BigInt(bits - prefix)) - 1n;
  if ((ip.value & host) !== 0n) return null;
  return { family: ip.family, network: ip.value, prefix, bits };
}

function contains(net: Net, ip: Ip): boolean {
  return ip.family === net.family && ip.value >> BigInt(net.bits - net.prefix) === net.network >> BigInt(net.bits - net.prefix);
}

/** An IPv4 subnet's network and broadcast addresses, which no host may hold (/31 and /32 have none). */
function reservedV4(net: Net, ip: Ip): boolean {
  if (net.family !== 4 || net.prefix >= 31) return false;
  const host = (1n << BigInt(32 - net.prefix)) - 1n;
  return ip.value === net.network || ip.value === (net.network | host);
}

// ---- Validation --------------------------------------------------------------------------------

function fail(message: string): never {
  throw new NetworkConfigError(message);
}

/** Linux's own rule (dev_valid_name): at most 15 bytes, no '/', ':' or whitespace, not "." or "..". */
function checkName(name: string): void {
  if (!/^[^\s/:]{1,15}$/.test(name) || name === "." || name === "..") fail(`"${name}" is not a valid interface name (1-15 characters, no '/', ':' or spaces)`);
}

/**
 * The MAC written for a NIC, bond or bridge, lower-case. MAAS gives a new bond or bridge its first
 * parent's MAC, so the switch and DHCP server keep seeing a known address: one with none of its
 * own (empty) takes its first parent's here too.
 */
function macOf(iface: NetInterface, ifaces: Map<string, NetInterface>): string {
  if (iface.mac === "" && iface.type !== "physical") return macOf(ifaces.get(iface.parents[0]!)!, ifaces);
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(iface.mac)) fail(`${iface.name}: "${iface.mac}" is not a MAC address`);
  return iface.mac.toLowerCase();
}

interface SubnetInfo {
  net: Net;
  subnet: NetSubnet;
}

function subnetInfo(owner: string, subnet: NetSubnet): SubnetInfo {
  const net = parseNet(subnet.cidr);
  if (net === null) fail(`${owner}: subnet "${subnet.cidr}" is not a network in CIDR notation`);
  return { net: net!, subnet };
}

/** A link with its subnet parsed; what the renderer works from once the input is known good. */
type Checked =
  | { kind: "address"; ip: Ip; address: string; sub: SubnetInfo }
  | { kind: "dhcp"; family: 4 | 6 | null; sub: SubnetInfo | null }
  | { kind: "link_up" };

function checkLinks(iface: NetInterface): Checked[] {
  return iface.links.map((l): Checked => {
    if (l.mode === "link_up") return { kind: "link_up" };
    if (l.mode === "dhcp") {
      if (l.subnet === null) return { kind: "dhcp", family: null, sub: null };
      const sub = subnetInfo(iface.name, l.subnet);
      return { kind: "dhcp", family: sub.net.family, sub };
    }
    if (l.mode !== "auto" && l.mode !== "static") fail(`${iface.name}: unknown link mode "${(l as { mode: string }).mode}"`);
    const sub = subnetInfo(iface.name, l.subnet);
    const ip = parseIp(l.address);
    if (ip === null) fail(`${iface.name}: "${l.address}" is not an IP address`);
    if (!contains(sub.net, ip!)) fail(`${iface.name}: address ${l.address} is outside its subnet ${l.subnet.cidr}`);
    if (reservedV4(sub.net, ip!)) fail(`${iface.name}: address ${l.address} is the network or broadcast address of ${l.subnet.cidr}`);
    return { kind: "address", ip: ip!, address: l.address, sub };
  });
}

function checkMtu(iface: NetInterface): void {
  if (iface.mtu !== null && !(Number.isInteger(iface.mtu) && iface.mtu >= 68 && iface.mtu <= 65535))
    fail(`${iface.name}: MTU ${iface.mtu} is not between 68 and 65535`);
}

function checkStructure(ifaces: Map<string, NetInterface>): void {
  for (const i of ifaces.values()) {
    for (const p of i.parents) if (!ifaces.has(p)) fail(`${i.name}: unknown parent interface "${p}"`);
    if (new Set(i.parents).size !== i.parents.length) fail(`${i.name}: a parent is listed twice`);
    if (i.type === "physical" && i.parents.length > 0) fail(`${i.name}: a physical interface has no parents`);
    if (i.type === "bond" && i.parents.length === 0) fail(`${i.name}: a bond needs at least one member`);
    if ((i.type === "vlan" || i.type === "bridge") && i.parents.length !== 1) fail(`${i.name}: a ${i.type} has exactly one parent, not ${i.parents.length}`);
  }
  // Cycles first: every later rule walks parents and assumes they end.
  const done = new Set<string>();
  const walk = (name: string, path: string[]): void => {
    if (done.has(name)) return;
    if (path.includes(name)) fail(`interfaces form a cycle: ${[...path.slice(path.indexOf(name)), name].join(" -> ")}`);
    for (const p of ifaces.get(name)!.parents) walk(p, [...path, name]);
    done.add(name);
  };
  for (const name of ifaces.keys()) walk(name, []);

  const bondOf = new Map<string, string>();
  const bridgeOf = new Map<string, string>();
  for (const i of ifaces.values()) {
    if (i.type === "vlan") {
      const parent = ifaces.get(i.parents[0]!)!;
      if (parent.type === "vlan") fail(`${i.name}: a VLAN cannot be on a VLAN (${parent.name})`);
      if (i.vid === undefined || !Number.isInteger(i.vid) || i.vid < 1 || i.vid > 4094) fail(`${i.name}: VLAN id ${i.vid} is not between 1 and 4094`);
    }
    if (i.type === "bond") {
      for (const m of i.parents) {
        const member = ifaces.get(m)!;
        if (member.type !== "physical") fail(`${i.name}: only physical interfaces can be bonded, ${m} is a ${member.type}`);
        const other = bondOf.get(m);
        if (other !== undefined) fail(`${m} is a member of two bonds (${other} and ${i.name})`);
        bondOf.set(m, i.name);
      }
    }
    if (i.type === "bridge") {
      const port = i.parents[0]!;
      const other = bridgeOf.get(port);
      if (other !== undefined) fail(`${port} is a port of two bridges (${other} and ${i.name})`);
      bridgeOf.set(port, i.name);
    }
  }
  for (const i of ifaces.values()) {
    for (const p of i.parents) {
      const bond = bondOf.get(p);
      if (bond !== undefined && bond !== i.name) fail(`${p} is a member of ${bond} and cannot also be a parent of ${i.name}`);
    }
    const master = bondOf.get(i.name) ?? bridgeOf.get(i.name);
    // The kernel moves an enslaved interface's traffic to its master: addresses on it go nowhere.
    if (master !== undefined && i.links.some((l) => l.mode !== "link_up"))
      fail(`${i.name} is ${bondOf.has(i.name) ? "a member of the bond" : "a port of the bridge"} ${master} and cannot have links of its own`);
  }
  for (const i of ifaces.values()) {
    for (const p of i.parents) {
      const parent = ifaces.get(p)!;
      if (i.mtu !== null && parent.mtu !== null && i.mtu > parent.mtu) fail(`${i.name}: MTU ${i.mtu} is above its parent ${p}'s MTU ${parent.mtu}`);
    }
  }
}

function checkBond(i: NetInterface): NetplanBondParameters {
  const b = i.bond ?? fail(`${i.name}: a bond needs its parameters`);
  if (!BOND_MODES.includes(b.mode)) fail(`${i.name}: unknown bond mode "${b.mode}"`);
  for (const [k, v] of [
    ["miimon", b.miimon],
    ["downdelay", b.downdelay],
    ["updelay", b.updelay],
  ] as const)
    if (!Number.isInteger(v) || v < 0) fail(`${i.name}: bond ${k} ${v} is not a non-negative integer`);
  if (b.lacpRate !== undefined && b.lacpRate !== "fast" && b.lacpRate !== "slow") fail(`${i.name}: bond lacp_rate "${b.lacpRate}" is neither fast nor slow`);
  if (b.xmitHashPolicy !== undefined && !XMIT_HASH_POLICIES.includes(b.xmitHashPolicy)) fail(`${i.name}: unknown bond xmit_hash_policy "${b.xmitHashPolicy}"`);
  const params: NetplanBondParameters = { mode: b.mode, "mii-monitor-interval": b.miimon, "down-delay": b.downdelay, "up-delay": b.updelay };
  // As MAAS (LP: #1730626): the LACP rate means something only to 802.3ad, and other modes'
  // bonding drivers refuse it.
  if (b.lacpRate !== undefined && b.mode === "802.3ad") params["lacp-rate"] = b.lacpRate;
  if (b.xmitHashPolicy !== undefined) params["transmit-hash-policy"] = b.xmitHashPolicy;
  return params;
}

function checkBridge(i: NetInterface): NetplanBridge["parameters"] {
  const b = i.bridge ?? fail(`${i.name}: a bridge needs its parameters`);
  if (typeof b.stp !== "boolean") fail(`${i.name}: bridge STP must be true or false`);
  if (!Number.isInteger(b.forwardDelay) || b.forwardDelay < 0) fail(`${i.name}: bridge forward delay ${b.forwardDelay} is not a non-negative integer`);
  return { stp: b.stp, "forward-delay": b.forwardDelay };
}

// ---- Rendering ---------------------------------------------------------------------------------

/** Names in natural order (eth2 before eth10), so the output does not depend on row order. */
function byName(a: string, b: string): number {
  const split = (s: string) => s.split(/(\d+)/);
  const [x, y] = [split(a), split(b)];
  for (let k = 0; k < Math.min(x.length, y.length); k++) {
    const [p, q] = [x[k]!, y[k]!];
    if (p === q) continue;
    if (k % 2 === 1) return Number(p) - Number(q) || (p < q ? -1 : 1);
    return p < q ? -1 : 1;
  }
  return x.length - y.length;
}

const unique = (xs: string[]) => [...new Set(xs)];

/** The gateway for `family` if this interface carries the default route of that family. */
function gatewayFor(iface: NetInterface, links: Checked[], family: 4 | 6): string | undefined {
  const label = family === 4 ? "IPv4" : "IPv6";
  const addressed = links.filter((l): l is Extract<Checked, { kind: "address" }> => l.kind === "address" && l.ip.family === family);
  if (addressed.length === 0) {
    // A DHCP link learns its router from the DHCP server: nothing to write.
    if (links.some((l) => l.kind === "dhcp" && (l.family === family || (l.family === null && family === 4)))) return undefined;
    return fail(`${iface.name} is the ${label} default gateway interface but has no ${label} address`);
  }
  const withGateway = addressed.find((l) => l.sub.subnet.gateway !== null);
  if (withGateway === undefined) return fail(`${iface.name} is the ${label} default gateway interface but none of its ${label} subnets has a gateway`);
  const gw = withGateway.sub.subnet.gateway!;
  const ip = parseIp(gw);
  if (ip === null || !contains(withGateway.sub.net, ip)) fail(`${iface.name}: gateway ${gw} is not an address of its subnet ${withGateway.sub.subnet.cidr}`);
  return gw;
}

function addressing(iface: NetInterface, links: Checked[], n: MachineNetwork, gateways: Map<string, Partial<Record<4 | 6, string>>>): NetplanAddressing {
  const out: NetplanAddressing = {};
  if (iface.mtu !== null) out.mtu = iface.mtu;
  const addressed = links.filter((l): l is Extract<Checked, { kind: "address" }> => l.kind === "address");
  if (addressed.length > 0) out.addresses = addressed.map((l) => `${l.address}/${l.sub.net.prefix}`);
  const gw = gateways.get(iface.name);
  if (gw?.[4] !== undefined) out.gateway4 = gw[4];
  if (gw?.[6] !== undefined) out.gateway6 = gw[6];
  if (addressed.length > 0) {
    // As MAAS: the site's resolvers first, then each linked subnet's, once each; DHCP-only
    // interfaces get theirs from the DHCP server.
    const addresses = unique([...n.nameservers, ...addressed.flatMap((l) => l.sub.subnet.dnsServers)]);
    const search = unique([...n.searchDomains, ...addressed.flatMap((l) => l.sub.subnet.searchDomains)]);
    // Search domains ride with resolvers only: there is nothing to search without one, and
    // Debian's cloud-init 22.4 refuses `nameservers` without `addresses` (a logged traceback,
    // the global DNS entry dropped).
    if (addresses.length > 0) out.nameservers = { addresses, ...(search.length > 0 ? { search } : {}) };
  }
  // A DHCP link without a subnet is DHCPv4: the contract's choice (MAAS would ask for both).
  if (links.some((l) => l.kind === "dhcp" && l.family !== 6)) out.dhcp4 = true;
  if (links.some((l) => l.kind === "dhcp" && l.family === 6)) out.dhcp6 = true;
  return out;
}

/**
 * The machine's network as a cloud-init v2 document (without the top `network:` key). Keys come
 * in a fixed order: sections ethernets, bonds, vlans, bridges; interfaces by name; each
 * interface's identity, then parameters, MTU, addresses, gateway, nameservers, DHCP.
 */
export function renderNetworkConfig(n: MachineNetwork): NetplanV2 {
  const ifaces = new Map<string, NetInterface>();
  for (const i of n.interfaces) {
    checkName(i.name);
    if (ifaces.has(i.name)) fail(`duplicate interface name "${i.name}"`);
    if (!["physical", "bond", "vlan", "bridge"].includes(i.type)) fail(`${i.name}: unknown interface type "${i.type}"`);
    checkMtu(i);
    ifaces.set(i.name, i);
  }
  checkStructure(ifaces);

  const links = new Map<string, Checked[]>();
  const holder = new Map<string, string>();
  for (const i of ifaces.values()) {
    const checked = checkLinks(i);
    for (const l of checked) {
      if (l.kind !== "address") continue;
      const key = `${l.ip.family}/${l.ip.value}`;
      const other = holder.get(key);
      if (other !== undefined) fail(`address ${l.address} is on both ${other} and ${i.name}`);
      holder.set(key, i.name);
    }
    links.set(i.name, checked);
  }
  for (const ns of n.nameservers) if (parseIp(ns) === null) fail(`nameserver "${ns}" is not an IP address`);
  // ifupdown takes search domains as one space-separated line.
  const checkDomain = (owner: string, d: string) => {
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(d)) fail(`${owner}: search domain "${d}" is not a domain name`);
  };
  for (const d of n.searchDomains) checkDomain("site", d);
  for (const i of ifaces.values())
    for (const l of links.get(i.name)!) {
      if (l.kind === "link_up" || l.sub === null) continue;
      for (const ns of l.sub.subnet.dnsServers) if (parseIp(ns) === null) fail(`subnet ${l.sub.subnet.cidr}: DNS server "${ns}" is not an IP address`);
      for (const d of l.sub.subnet.searchDomains) checkDomain(`subnet ${l.sub.subnet.cidr}`, d);
    }

  const gateways = new Map<string, Partial<Record<4 | 6, string>>>();
  for (const family of [4, 6] as const) {
    const name = family === 4 ? n.defaultGateway.v4 : n.defaultGateway.v6;
    if (name === null) continue;
    const iface = ifaces.get(name) ?? fail(`the IPv${family} default gateway names an unknown interface "${name}"`);
    const gw = gatewayFor(iface, links.get(name)!, family);
    if (gw !== undefined) gateways.set(name, { ...gateways.get(name), [family]: gw });
  }

  const out: NetplanV2 = { version: 2 };
  const ethernets: Record<string, NetplanEthernet> = {};
  const bonds: Record<string, NetplanBond> = {};
  const vlans: Record<string, NetplanVlan> = {};
  const bridges: Record<string, NetplanBridge> = {};
  for (const name of [...ifaces.keys()].sort(byName)) {
    const i = ifaces.get(name)!;
    const addr = addressing(i, links.get(name)!, n, gateways);
    if (i.type === "physical") ethernets[name] = { match: { macaddress: macOf(i, ifaces) }, "set-name": name, ...addr };
    else if (i.type === "vlan") vlans[name] = { id: i.vid!, link: i.parents[0]!, ...addr };
    else if (i.type === "bond") bonds[name] = { interfaces: [...i.parents].sort(byName), macaddress: macOf(i, ifaces), parameters: checkBond(i), ...addr };
    else bridges[name] = { interfaces: [...i.parents].sort(byName), macaddress: macOf(i, ifaces), parameters: checkBridge(i), ...addr };
  }
  if (Object.keys(ethernets).length > 0) out.ethernets = ethernets;
  if (Object.keys(bonds).length > 0) out.bonds = bonds;
  if (Object.keys(vlans).length > 0) out.vlans = vlans;
  if (Object.keys(bridges).length > 0) out.bridges = bridges;
  return out;
}

// ---- YAML --------------------------------------------------------------------------------------

type YamlValue = string | number | boolean | YamlValue[] | { [key: string]: YamlValue | undefined };

// YAML 1.1 (PyYAML, which cloud-init uses) reads these plain words as booleans or null, and
// digit-led words as numbers (a MAC address as a base-60 integer): such strings are quoted.
const YAML11_WORDS = /^(y|yes|n|no|true|false|on|off|null|~)$/i;

function scalar(v: string | number | boolean): string {
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new TypeError(`cannot write ${v} as YAML`);
    return String(v);
  }
  if (/^[A-Za-z_][A-Za-z0-9_.+/-]*$/.test(v) && !YAML11_WORDS.test(v)) return v;
  // JSON's string escapes are a subset of YAML's double-quoted ones.
  return JSON.stringify(v);
}

function isCollection(v: YamlValue): v is YamlValue[] | { [key: string]: YamlValue | undefined } {
  return typeof v === "object";
}

function entries(v: { [key: string]: YamlValue | undefined }): [string, YamlValue][] {
  return Object.entries(v).filter((e): e is [string, YamlValue] => e[1] !== undefined);
}

function emptyCollection(v: YamlValue): string | null {
  if (Array.isArray(v)) return v.length === 0 ? "[]" : null;
  if (isCollection(v)) return entries(v).length === 0 ? "{}" : null;
  return null;
}

/** Block-style lines for `v` under a parent at `indent` (a map's keys or a list's dashes). */
function block(v: YamlValue, indent: string): string[] {
  const lines: string[] = [];
  if (Array.isArray(v)) {
    for (const item of v) {
      const empty = emptyCollection(item);
      if (!isCollection(item) || empty !== null) lines.push(`${indent}- ${empty ?? scalar(item as string | number | boolean)}`);
      else {
        // The item's first line goes after its dash, the rest line up under it.
        const inner = block(item, `${indent}  `);
        lines.push(`${indent}- ${inner[0]!.slice(indent.length + 2)}`, ...inner.slice(1));
      }
    }
    return lines;
  }
  if (!isCollection(v)) throw new TypeError("a YAML block is a map or a list");
  for (const [key, value] of entries(v)) {
    const empty = emptyCollection(value);
    if (!isCollection(value) || empty !== null) lines.push(`${indent}${scalar(key)}: ${empty ?? scalar(value as string | number | boolean)}`);
    else lines.push(`${indent}${scalar(key)}:`, ...block(value, `${indent}  `));
  }
  return lines;
}

/** The document for /etc/cloud/cloud.cfg.d/: `network:` with the rendered configuration under it. */
export function networkConfigYaml(n: MachineNetwork): string {
  const config = renderNetworkConfig(n) as unknown as YamlValue;
  return `${block({ network: config }, "").join("\n")}\n`;
}
