// IPv4 addresses as unsigned 32-bit numbers: allocation and subnet tests are arithmetic, and
// strings only appear at the edges (config, logs, packet fields).

export function ipToInt(ip: string): number {
  const p = ip.split(".");
  if (p.length !== 4) throw new Error(`bad IPv4 address "${ip}"`);
  let n = 0;
  for (const s of p) {
    if (!/^\d{1,3}$/.test(s)) throw new Error(`bad IPv4 address "${ip}"`);
    const b = Number(s);
    if (b > 255) throw new Error(`bad IPv4 address "${ip}"`);
    n = n * 256 + b;
  }
  return n >>> 0;
}

export function intToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function isIpv4(s: string): boolean {
  try {
    ipToInt(s);
    return true;
  } catch {
    return false;
  }
}

export interface Cidr {
  network: number;
  prefix: number;
  mask: number;
  broadcast: number;
}

export function parseCidr(cidr: string): Cidr {
  const [addr, len] = cidr.split("/");
  const prefix = Number(len);
  if (addr === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`bad CIDR "${cidr}"`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (ipToInt(addr) & mask) >>> 0;
  return { network, prefix, mask, broadcast: (network | ~mask) >>> 0 };
}

export function inCidr(c: Cidr, ip: number): boolean {
  return (ip & c.mask) >>> 0 === c.network;
}

export const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function normalizeMac(mac: string): string {
  return mac.trim().toLowerCase().replace(/-/g, ":");
}
