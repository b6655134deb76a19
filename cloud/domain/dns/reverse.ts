// Reverse zones for subnets and PTR owners for addresses. Delegation in in-addr.arpa is by octet
// and in ip6.arpa by nibble, so a prefix between boundaries is served as every zone at the next
// boundary below it that it covers (a /22 as four /24 zones), one narrower than a /24 (a /124) as
// the /24 (/124) that holds it (RFC 2317's classless delegation is for a parent's zone, which the
// site's rack is not).
import { type Addr, formatIp, parseIp, parseNet } from "../addresses";

/** The reverse zone names that cover a CIDR, at most 128 (a /1 would be 128 /8 zones). */
export function reverseZones(cidr: string): string[] {
  const net = parseNet(cidr);
  if (!net) return [];
  const step = net.family === 4 ? 8 : 4;
  const bits = net.family === 4 ? 32 : 128;
  // Past a /24 (a /124) zones would hold a handful of addresses each: the prefix's covering zone serves it.
  const deepest = net.family === 4 ? 24 : 124;
  // A /0 would be the whole arpa tree: serve nothing rather than claim it.
  if (net.prefix === 0) return [];
  const boundary = Math.min(deepest, Math.ceil(net.prefix / step) * step);
  const count = boundary > net.prefix ? 1n << BigInt(boundary - net.prefix) : 1n;
  const size = 1n << BigInt(bits - boundary);
  const start = (net.first / size) * size;
  const out: string[] = [];
  for (let i = 0n; i < count && i < 128n; i++) out.push(reverseName({ family: net.family, n: start + i * size }, boundary));
  return out;
}

/** The reverse name of the first `prefix` bits of an address (a whole address: its PTR owner). */
export function reverseName(a: Addr, prefix: number): string {
  if (a.family === 4) {
    const octets = formatIp(a)
      .split(".")
      .slice(0, prefix / 8);
    return [...octets.reverse(), "in-addr", "arpa"].join(".");
  }
  const hex = a.n
    .toString(16)
    .padStart(32, "0")
    .slice(0, prefix / 4);
  return [...hex.split("").reverse(), "ip6", "arpa"].join(".");
}

/** The PTR owner of an address, or null when it is none. */
export function ptrOwner(ip: string): string | null {
  const a = parseIp(ip);
  return a ? reverseName(a, a.family === 4 ? 32 : 128) : null;
}
