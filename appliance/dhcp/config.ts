// The DHCP side of the appliance's config snapshot (the region pushes it over the tunnel; for
// now it may also come from a file). Parsed with zod here, at the trust boundary, so the rest
// of appliance/dhcp works with checked, normalised values. Self-contained on purpose: it is
// meant to move to shared/ with the tunnel protocol.
import { z } from "zod";
import { inCidr, ipToInt, isIpv4, MAC_RE, normalizeMac, parseCidr } from "./ip";

const ipv4 = z.string().refine(isIpv4, "not an IPv4 address");
const mac = z
  .string()
  .transform(normalizeMac)
  .refine((m) => MAC_RE.test(m), "not a MAC address (aa:bb:cc:dd:ee:ff)");
const cidr = z.string().refine((s) => {
  try {
    parseCidr(s);
    return /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(s);
  } catch {
    return false;
  }
}, "not an IPv4 CIDR (a.b.c.d/len)");

const range = z.object({ start: ipv4, end: ipv4 }).refine((r) => ipToInt(r.start) <= ipToInt(r.end), "range start is after its end");

// Bitmaps per dynamic range cost one bit per address: a million addresses is 128 KiB.
const MAX_RANGE = 1 << 20;

export const SubnetSchema = z
  .object({
    cidr,
    gateway: ipv4.optional(),
    dns: z.array(ipv4).default([]),
    domain: z.string().min(1).max(253).optional(),
    dynamicRanges: z.array(range).default([]),
    /** Never handed out dynamically (infrastructure, BMCs, static hosts). */
    reservedRanges: z.array(range).default([]),
    leaseSeconds: z.number().int().min(60).max(31_536_000).default(3600),
  })
  .superRefine((s, ctx) => {
    const c = parseCidr(s.cidr);
    for (const r of [...s.dynamicRanges, ...s.reservedRanges]) {
      if (!inCidr(c, ipToInt(r.start)) || !inCidr(c, ipToInt(r.end)))
        ctx.addIssue({ code: "custom", message: `range ${r.start}-${r.end} is outside ${s.cidr}` });
      if (ipToInt(r.end) - ipToInt(r.start) + 1 > MAX_RANGE)
        ctx.addIssue({ code: "custom", message: `range ${r.start}-${r.end} is larger than ${MAX_RANGE} addresses` });
    }
    if (s.gateway && !inCidr(c, ipToInt(s.gateway))) ctx.addIssue({ code: "custom", message: `gateway ${s.gateway} is outside ${s.cidr}` });
  });

export const ReservationSchema = z.object({ mac, ip: ipv4, hostname: z.string().min(1).max(63).optional() });

export const BootIntent = z.enum(["enlist", "commission", "deploy", "local", "rescue"]);

export const DhcpSnapshotSchema = z
  .object({
    version: z.number().int().nonnegative().default(0),
    /** reservation: we are the site's DHCP server. proxy: another server leases, we only add boot info. */
    mode: z.enum(["reservation", "proxy"]).default("reservation"),
    subnets: z.array(SubnetSchema).default([]),
    reservations: z.array(ReservationSchema).default([]),
    /** Machines the region knows; a MAC with an intent is not "unknown" (no dhcp.discover). */
    bootIntents: z.array(z.object({ mac, intent: BootIntent })).default([]),
    boot: z
      .object({
        /** Where nodes reach TFTP and HTTP; default: our address on the receiving interface. */
        applianceAddress: ipv4.optional(),
        httpPort: z.number().int().min(1).max(65535).default(5248),
        /** UEFI x64 over TFTP: iPXE with its own NIC drivers, or on the firmware's SNP. */
        efiFile: z.enum(["ipxe.efi", "snponly.efi"]).default("ipxe.efi"),
        biosFile: z.string().min(1).max(127).default("undionly.kpxe"),
        /** Boot unknown MACs into enlistment (MAAS behaviour); false leaves them without boot info. */
        enlistUnknown: z.boolean().default(true),
      })
      .prefault({}),
    leases: z
      .object({
        offerSeconds: z.number().int().min(1).max(3600).default(60),
        declineSeconds: z.number().int().min(1).max(604_800).default(3600),
      })
      .prefault({}),
  })
  .superRefine((s, ctx) => {
    const cidrs = s.subnets.map((x) => parseCidr(x.cidr));
    const seen = new Set<string>();
    for (const r of s.reservations) {
      if (!cidrs.some((c) => inCidr(c, ipToInt(r.ip)))) ctx.addIssue({ code: "custom", message: `reservation ${r.mac} → ${r.ip} is on no configured subnet` });
      if (seen.has(r.ip)) ctx.addIssue({ code: "custom", message: `reservation address ${r.ip} is used twice` });
      seen.add(r.ip);
    }
  });

export type DhcpSnapshot = z.output<typeof DhcpSnapshotSchema>;
export type SubnetConfig = z.output<typeof SubnetSchema>;
export type BootIntentName = z.output<typeof BootIntent>;

export function parseSnapshot(input: unknown): DhcpSnapshot {
  return DhcpSnapshotSchema.parse(input);
}
