// The zones every DNS test serves: a forward zone with machines and operator records of each
// type, a delegation, a wildcard, a reverse zone, and a sub-zone served beside its parent.
import type { DnsConfig, DnsRecord, DnsZone } from "../../../shared/dns/zone";

const r = (name: string, type: DnsRecord["type"], data: string, ttl = 300): DnsRecord => ({ name, type, ttl, data });
const apex = (z: string, serial: number): DnsRecord[] => [r(z, "SOA", `ns1.${z} admin.${z} ${serial} 600 300 86400 60`, 3600), r(z, "NS", `ns1.${z}`)];

export const MACHINES = 40;
export const machineIp = (i: number) => `10.77.${Math.floor(i / 250)}.${(i % 250) + 2}`;

export function siteZones(rackIp = "10.77.0.1"): DnsZone[] {
  const maas: DnsRecord[] = [
    ...apex("maas", 7),
    r("ns1.maas", "A", rackIp),
    ...Array.from({ length: MACHINES }, (_, i) => r(`node-${i}.maas`, "A", machineIp(i))),
    r("node-0.maas", "AAAA", "fd00:77::2"),
    r("www.maas", "CNAME", "node-1.maas"),
    r("alias.maas", "CNAME", "www.maas"),
    r("dangling.maas", "CNAME", "missing.maas"),
    r("maas", "MX", "10 mail.maas"),
    r("mail.maas", "A", "10.77.0.25"),
    r("_sip._udp.maas", "SRV", "0 5 5060 node-2.maas"),
    r("note.maas", "TXT", 'hello "world" from plinth'),
    r("big.maas", "TXT", "x".repeat(2000)),
    ...Array.from({ length: 120 }, (_, i) => r("many.maas", "A", `10.78.0.${i + 1}`)),
    r("deep.ent.maas", "A", "10.77.0.30"),
    r("lab.maas", "NS", "ns.lab.maas"),
    r("ns.lab.maas", "A", "10.77.0.40"),
    r("*.wild.maas", "A", "10.77.0.50"),
    r("host.wild.maas", "TXT", "not the wildcard"),
  ];
  const rev: DnsRecord[] = [
    ...apex("77.10.in-addr.arpa", 3),
    ...Array.from({ length: MACHINES }, (_, i) => r(machineIp(i).split(".").reverse().join(".") + ".in-addr.arpa", "PTR", `node-${i}.maas`)),
  ];
  const sub: DnsRecord[] = [...apex("sub.maas", 2), r("ns1.sub.maas", "A", rackIp), r("x.sub.maas", "A", "10.77.0.60")];
  return [
    { name: "maas", serial: 7, records: maas },
    { name: "77.10.in-addr.arpa", serial: 3, records: rev },
    { name: "sub.maas", serial: 2, records: sub },
  ];
}

export function siteDns(upstream: string[] = [], rackIp?: string): DnsConfig {
  return { zones: siteZones(rackIp), upstream };
}
