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
