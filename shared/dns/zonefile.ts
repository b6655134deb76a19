// A zone as an RFC 1035 master file: what the region exports (GET /api/v1/dns/zones/{name}/zonefile)
// and what the tests and the bench load into Knot and bind9 to compare answers with the rack's.
import type { DnsRecord, DnsZone } from "./zone";

const fq = (name: string) => `${name}.`;

/** UTF-8 bytes by hand: shared/ runs in Workers and Node and has no TextEncoder type. */
function utf8(text: string): number[] {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return out;
}

/** TXT text as quoted 255-byte strings, the way the wire splits it. */
function txtData(text: string): string {
  const bytes = utf8(text);
  const parts: string[] = [];
  for (let i = 0; i < bytes.length || parts.length === 0; i += 255) {
    let s = "";
    for (const b of bytes.slice(i, i + 255))
      s += b === 0x22 || b === 0x5c ? `\\${String.fromCharCode(b)}` : b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : `\\${String(b).padStart(3, "0")}`;
    parts.push(`"${s}"`);
  }
  return parts.join(" ");
}

/** RDATA in master-file form: names get their trailing dot. */
export function rdataText(r: DnsRecord): string {
  const f = r.data.trim().split(/\s+/);
  switch (r.type) {
    case "A":
    case "AAAA":
      return r.data;
    case "CNAME":
    case "NS":
    case "PTR":
      return fq(r.data);
    case "MX":
      return `${f[0]} ${fq(f[1] ?? "")}`;
    case "SRV":
      return `${f[0]} ${f[1]} ${f[2]} ${fq(f[3] ?? "")}`;
    case "SOA":
      return `${fq(f[0] ?? "")} ${fq(f[1] ?? "")} ${f.slice(2).join(" ")}`;
    case "TXT":
      return txtData(r.data);
  }
}

export function zoneFile(z: DnsZone): string {
  const lines = [`$ORIGIN ${fq(z.name)}`];
  for (const r of z.records) lines.push(`${fq(r.name)}\t${r.ttl}\tIN\t${r.type}\t${rdataText(r)}`);
  return `${lines.join("\n")}\n`;
}
