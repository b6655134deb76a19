// IPv4 arithmetic shared by the region (validating subnets and ranges) and the appliance.

export function ipToInt(ip: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export interface Cidr {
  network: number;
  prefix: number;
  /** First and last address (network and broadcast included). */
  first: number;
  last: number;
}

export function parseCidr(cidr: string): Cidr | null {
  const [ip, len] = cidr.split("/");
  const n = ip === undefined ? null : ipToInt(ip);
  const prefix = Number(len);
  if (n === null || !/^\d{1,2}$/.test(len ?? "") || prefix > 32) return null;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (n & mask) >>> 0;
  if (network !== n) return null;
  return { network, prefix, first: network, last: (network | (~mask >>> 0)) >>> 0 };
}

export function inCidr(c: Cidr, ip: number): boolean {
  return ip >= c.first && ip <= c.last;
}
