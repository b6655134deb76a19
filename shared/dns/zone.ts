// The DNS the region hands a rack in its config snapshot: whole zones, every record in
// presentation form, SOA and NS included, so the rack is a plain authoritative server over them
// (appliance/dns/) and the same zones load into Knot or bind9 as master files (./zonefile.ts).
import { z } from "zod";

/** Record types an operator may create; SOA and PTR are the region's own. */
export const OPERATOR_RR_TYPES = ["A", "AAAA", "CNAME", "MX", "SRV", "TXT", "NS"] as const;
export const RR_TYPES = [...OPERATOR_RR_TYPES, "PTR", "SOA"] as const;
export type RrType = (typeof RR_TYPES)[number];

/** A fully qualified name in lower case, without the trailing dot ("" is the root). */
export const DnsNameSchema = z
  .string()
  .max(253)
  .regex(/^([a-z0-9_*]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/, "a lower-case domain name without the trailing dot");

/**
 * One resource record. `data` is the RDATA in master-file form, names fully qualified without
 * the trailing dot: A "10.0.0.5"; AAAA "fd00::5"; CNAME, NS, PTR "host.maas"; MX "10 mail.maas";
 * SRV "0 5 5060 sip.maas"; TXT the text itself, unquoted (split into 255-byte strings on the
 * wire); SOA "mname rname serial refresh retry expire minimum".
 */
export const DnsRecordSchema = z.strictObject({
  name: DnsNameSchema,
  type: z.enum(RR_TYPES),
  ttl: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1),
  data: z.string().max(4096),
});

/** A zone: its apex, its serial (increases with every change) and all its records, apex SOA and NS first. */
export const DnsZoneSchema = z.strictObject({
  name: DnsNameSchema,
  serial: z
    .number()
    .int()
    .min(1)
    .max(2 ** 32 - 1),
  records: z.array(DnsRecordSchema).max(500_000),
});

export const DnsConfigSchema = z.strictObject({
  zones: z.array(DnsZoneSchema).max(4096),
  /** Resolvers the rack forwards other names to (the `upstream_dns` setting); [] = no recursion. */
  upstream: z.array(z.string().max(64)).max(8),
});

export type DnsRecord = z.infer<typeof DnsRecordSchema>;
export type DnsZone = z.infer<typeof DnsZoneSchema>;
export type DnsConfig = z.infer<typeof DnsConfigSchema>;
