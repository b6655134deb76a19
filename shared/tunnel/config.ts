// The configuration snapshot the region pushes to a rack: everything the site needs to keep
// answering DHCP and boot requests while the region is unreachable. The appliance persists
// the last one it received and serves from it.
import { z } from "zod";
import { DnsConfigSchema } from "../dns/zone";
import { LAYOUTS } from "../storage/design";
import { PlanSchema } from "../storage/plan";

const ipv4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, "an IPv4 address");
const mac = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, "a lower-case MAC address");

export const IpRangeSchema = z.strictObject({ type: z.enum(["dynamic", "reserved"]), start: ipv4, end: ipv4 });

export const SubnetSchema = z.strictObject({
  id: z.number().int(),
  cidr: z.string().max(18),
  gateway: ipv4.nullable(),
  dns: z.array(ipv4).max(8),
  managed: z.boolean(),
  ranges: z.array(IpRangeSchema).max(256),
});

export const ReservationSchema = z.strictObject({ mac, ip: ipv4, hostname: z.string().max(255), systemId: z.string().max(32) });

/** What a node booting from this MAC should get (decided by the region, served locally). */
export const BOOT_INTENTS = ["enlist", "commission", "deploy", "local", "rescue", "release", "none"] as const;
const deployToken = z.string().regex(/^[A-Za-z0-9]{16,64}$/);

/**
 * What a deploying node needs, carried in the snapshot so a deployment never waits on the WAN:
 * the image to write (served from the rack's cache by sha256), the disk and layout to make,
 * the kernel options, the network configuration, the cloud-init seed, and the per-deployment secret (the phone-home URL's
 * and, derived from it, the node's OAuth credentials for the MAAS metadata API).
 */
export const DeploySpecSchema = z.strictObject({
  token: deployToken,
  image: z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/), format: z.string().max(16), size: z.number().int().nonnegative() }).nullable(),
  hostname: z.string().max(255),
  /** base64, as the API took it. */
  userData: z
    .string()
    .max(96 * 1024)
    .optional(),
  sshKeys: z.array(z.string().max(16 * 1024)).max(64),
  /**
   * disk: the boot disk; "" = the first disk the installer finds; else a device name ("vda") or
   * "serial:<serial>". plan: the storage design rendered as steps (shared/storage/plan.ts);
   * [] = the layout alone on the boot disk (a machine with no commissioned disks).
   */
  storage: z.strictObject({ layout: z.enum(LAYOUTS), disk: z.string().max(256), plan: PlanSchema.default([]) }).default({ layout: "flat", disk: "", plan: [] }),
  /** The machine's tags' kernel_opts, space-separated, for the deployed system's command line. */
  kernelOpts: z.string().max(4096).default(""),
  /** cloud-init network configuration (v2 YAML under `network:`) the region rendered at deploy; "" = cloud-init's fallback. */
  networkConfig: z
    .string()
    .max(64 * 1024)
    .default(""),
});

export const BootIntentSchema = z.strictObject({
  mac,
  systemId: z.string().max(32),
  intent: z.enum(BOOT_INTENTS),
  osystem: z.string().max(64).optional(),
  series: z.string().max(64).optional(),
  /** With intent "deploy". */
  deploy: DeploySpecSchema.optional(),
  /**
   * With intent "local", while the deployment lives (Deploying once installed, Deployed): its
   * token alone, not the spec (snapshots are bounded), so the rack keeps answering the deployed
   * system's cloud-init and forgets the token when the region does (release, redeploy).
   */
  deployToken: deployToken.optional(),
  /** With intent "release": how the release environment erases disks. */
  erase: z.enum(["quick", "full"]).optional(),
});

export const ImageSchema = z.strictObject({
  osystem: z.string().max(64),
  series: z.string().max(64),
  architecture: z.string().max(64),
  url: z.string().max(2048).nullable(),
  sha256: z.string().max(64).nullable(),
  format: z.string().max(16),
  size: z.number().int().nonnegative(),
});

export const ConfigSnapshotSchema = z.strictObject({
  /** Content hash of everything below: equal versions mean equal snapshots. */
  version: z.string().max(128),
  site: z.string().max(64),
  subnets: z.array(SubnetSchema).max(4096),
  reservations: z.array(ReservationSchema).max(200_000),
  bootIntents: z.array(BootIntentSchema).max(200_000),
  images: z.array(ImageSchema).max(4096),
  /** The zones this rack serves and where it forwards the rest (shared/dns/zone.ts). */
  dns: DnsConfigSchema.default({ zones: [], upstream: [] }),
});

export type ConfigSnapshot = z.infer<typeof ConfigSnapshotSchema>;
export type BootIntent = z.infer<typeof BootIntentSchema>;
export type DeploySpec = z.infer<typeof DeploySpecSchema>;
