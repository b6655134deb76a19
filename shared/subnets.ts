// What GET /subnets answers per subnet, beside its own fields: its IP ranges and how full it is.
// The region builds these; the dashboard and the CLI read them.

export interface IpRangeJson {
  id: number;
  subnet_id: number;
  type: "dynamic" | "reserved";
  start_ip: string;
  end_ip: string;
  comment: string;
}

/** Addresses of the subnet: usable ones, those held (by kind), in ranges, and free. */
export interface SubnetUtilisation {
  total: number;
  usable: number;
  dynamic: number;
  reserved: number;
  used: number;
  used_by_kind: Record<string, number>;
  free: number;
}

/** A subnet as GET /subnets/{id} and the writes answer it. */
export interface SubnetJson {
  id: number;
  cidr: string;
  name: string;
  vlan_id: number | null;
  site_id: number | null;
  site: string | null;
  gateway_ip: string | null;
  dns_servers: string[];
  rack_id: string | null;
  managed: boolean;
  ip_ranges: IpRangeJson[];
}

/** A subnet as GET /subnets lists it: with how full it is (null: no address space known). */
export interface SubnetListed extends SubnetJson {
  utilisation: SubnetUtilisation | null;
}

/** A VLAN as /api/v1 answers it. */
export interface VlanJson {
  id: number;
  fabric: string;
  vid: number;
  name: string;
  mtu: number;
  dhcp_on: boolean;
}

/** An IP range as GET /ip-ranges lists it: with its subnet's CIDR and site. */
export interface IpRangeListed extends IpRangeJson {
  cidr: string;
  site: string | null;
}
