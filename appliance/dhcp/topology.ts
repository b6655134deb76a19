// Which configured subnet a packet belongs to: the relay's (giaddr) when relayed, otherwise the
// subnet of the interface it arrived on (the one holding ciaddr when the interface has several).
import type { DhcpSnapshot, SubnetConfig } from "./config";
import type { Incoming, InterfaceInfo } from "./handler";
import { type Cidr, inCidr, ipToInt, parseCidr } from "./ip";

export interface Subnet {
  config: SubnetConfig;
  cidr: Cidr;
}

export class Topology {
  readonly subnets: Subnet[];
  private readonly reservations: Map<string, { ip: string; hostname?: string }>;

  constructor(snap: DhcpSnapshot) {
    this.subnets = snap.subnets.map((config) => ({ config, cidr: parseCidr(config.cidr) }));
    this.reservations = new Map(snap.reservations.map((r) => [r.mac, { ip: r.ip, hostname: r.hostname }]));
  }

  containing(ip: string): Subnet | undefined {
    const n = ipToInt(ip);
    return this.subnets.find((s) => inCidr(s.cidr, n));
  }

  onInterface(iface: InterfaceInfo): Subnet[] {
    const addrs = iface.addresses.map(ipToInt);
    return this.subnets.filter((s) => addrs.some((a) => inCidr(s.cidr, a)));
  }

  select(req: Incoming): Subnet | undefined {
    const p = req.packet;
    if (p.giaddr !== "0.0.0.0") return this.containing(p.giaddr);
    const local = this.onInterface(req.iface);
    if (p.ciaddr !== "0.0.0.0") {
      const n = ipToInt(p.ciaddr);
      return local.find((s) => inCidr(s.cidr, n)) ?? local[0];
    }
    return local[0];
  }

  reservation(mac: string): { ip: string; hostname?: string } | undefined {
    return this.reservations.get(mac);
  }

  /** Our address facing this subnet (option 54, default next-server). */
  serverAddress(iface: InterfaceInfo, subnet: Subnet | undefined): string | undefined {
    if (subnet) {
      const own = iface.addresses.find((a) => inCidr(subnet.cidr, ipToInt(a)));
      if (own) return own;
    }
    return iface.addresses[0];
  }
}
