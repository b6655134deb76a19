// What the appliance reports to the region, one payload schema per event type. Each event is
// journaled on the appliance before it is sent and numbered: the region dedupes by number.
import { z } from "zod";

const mac = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, "a lower-case MAC address");
const ipv4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, "an IPv4 address");
const systemId = z.string().max(32);
/** Either family, as `ip -j neigh` prints it; the region checks it properly. */
const anyIp = z.string().regex(/^[0-9a-fA-F:.]{2,45}$/, "an IP address");
/** Neighbours per `net.neighbours` event: bounds one event's D1 batch on the region. */
export const MAX_NEIGHBOURS_PER_EVENT = 256;
/** Images per `images.state` event (a full report lists at most this many): bounds the frame. */
export const MAX_IMAGES_PER_EVENT = 1024;
export const IMAGE_STATES = ["present", "downloading", "failed", "evicted"] as const;
export type RackImageState = (typeof IMAGE_STATES)[number];
const byteCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
export const RackImageReportSchema = z.strictObject({
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "a lower-case hex sha256"),
  state: z.enum(IMAGE_STATES),
  bytes: byteCount,
  /** 0: not known yet. */
  total: byteCount,
  error: z.string().max(200).optional(),
});
export type RackImageReport = z.infer<typeof RackImageReportSchema>;

export const EventPayloads = {
  "dhcp.discover": z.strictObject({
    mac,
    arch: z.string().max(64).optional(),
    vendorClass: z.string().max(255).optional(),
    subnet: z.string().max(18).optional(),
    relay: ipv4.optional(),
  }),
  "dhcp.lease": z.strictObject({ mac, ip: ipv4, hostname: z.string().max(255).optional(), expiresAt: z.number().int().optional() }),
  "boot.request": z.strictObject({ mac, file: z.string().max(1024), protocol: z.enum(["tftp", "http"]), intent: z.string().max(32).optional() }),
  "metadata.result": z.strictObject({
    systemId,
    name: z.string().max(255),
    status: z.enum(["passed", "failed", "running", "timedout"]),
    exitCode: z.number().int().nullable().optional(),
    output: z.string().max(200_000).optional(),
  }),
  "power.state": z.strictObject({ systemId, state: z.enum(["on", "off", "unknown", "error"]) }),
  /**
   * MAC/IP pairs in the kernel's neighbour table of the served interface that are new to the
   * rack (or not reported for hours): the region keeps them as discovered addresses.
   */
  "net.neighbours": z.strictObject({
    iface: z.string().min(1).max(64),
    neighbours: z
      .array(z.strictObject({ ip: anyIp, mac, seenAt: z.number().int().nonnegative() }))
      .min(1)
      .max(MAX_NEIGHBOURS_PER_EVENT),
  }),
  /**
   * The rack's image cache: changes as they happen (a download started, its progress, stored,
   * failed, evicted), and after each (re)connection a full report, which replaces what the
   * region knew of this rack's images.
   */
  "images.state": z.strictObject({ full: z.boolean(), images: z.array(RackImageReportSchema).max(MAX_IMAGES_PER_EVENT) }),
} as const;

export type EventType = keyof typeof EventPayloads;
export const EVENT_TYPES = Object.keys(EventPayloads) as EventType[];

const eventOf = <T extends EventType>(type: T) =>
  z.strictObject({ seq: z.number().int().positive(), at: z.number().int().nonnegative(), type: z.literal(type), data: EventPayloads[type] });

export const RackEventSchema = z.discriminatedUnion("type", [
  eventOf("dhcp.discover"),
  eventOf("dhcp.lease"),
  eventOf("boot.request"),
  eventOf("metadata.result"),
  eventOf("power.state"),
  eventOf("net.neighbours"),
  eventOf("images.state"),
]);

export type RackEvent = z.infer<typeof RackEventSchema>;
/** An event as the DHCP/HTTP code hands it to the daemon: the journal adds seq and at. */
export type EventInput = { [K in EventType]: { type: K; data: z.infer<(typeof EventPayloads)[K]> } }[EventType];
