// The tunnel's wire protocol, version 1: JSON text frames, each with `t` (type) and `v`.
// Both sides parse every frame with these schemas; anything else gets an `error` frame back.
//
// appliance → region: hello, heartbeat, ack (commands received), result, event (batch), status, config.ack, credential.ack, error
// region → appliance: welcome, heartbeat, command, ack (events stored), config, credential, error
import { z } from "zod";
import { COMMAND_TYPES, CommandErrorSchema } from "./commands";
import { ConfigSnapshotSchema } from "./config";
import { RackEventSchema } from "./events";

export const PROTOCOL_VERSION = 1 as const;
/** Frames larger than this are refused unread (a config snapshot is the largest legal frame). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Events per `event` frame: bounds one D1 batch on the region. */
export const MAX_EVENTS_PER_FRAME = 200;
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** Silence after which either side declares the socket dead (detection within 30 s). */
export const DEAD_AFTER_MS = 20_000;

/**
 * Heartbeats are fixed strings so the region can answer them with a Durable Object
 * auto-response, without waking from hibernation.
 */
export const HEARTBEAT_PING = '{"t":"heartbeat","v":1}' as const;
export const HEARTBEAT_PONG = '{"t":"heartbeat","v":1,"pong":true}' as const;

/** Close codes the appliance acts on. */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocol: 1002,
  tooBig: 1009,
  /** The credential was revoked: do not hurry back. */
  revoked: 4401,
  /** Another connection of the same rack replaced this one. */
  replaced: 4409,
  dead: 4408,
} as const;

const v = z.literal(PROTOCOL_VERSION);
const id = z.string().min(1).max(64);

export const InterfaceSchema = z.strictObject({
  name: z.string().max(64),
  mac: z.string().max(17).optional(),
  addresses: z.array(z.string().max(64)).max(64).default([]),
});

export const HelloSchema = z.strictObject({
  t: z.literal("hello"),
  v,
  rackId: id,
  version: z.string().max(64),
  hostname: z.string().max(255),
  interfaces: z.array(InterfaceSchema).max(256),
  capabilities: z.array(z.string().max(64)).max(64),
  /** The journal's identity: sequence numbers restart when a journal is recreated. */
  journal: z.string().max(64),
  configVersion: z.string().max(128).nullable(),
});

export const HeartbeatSchema = z.strictObject({ t: z.literal("heartbeat"), v, pong: z.boolean().optional() });
export const CommandAckSchema = z.strictObject({ t: z.literal("ack"), v, commands: z.array(id).max(1000) });
export const ResultSchema = z.strictObject({
  t: z.literal("result"),
  v,
  id,
  ok: z.boolean(),
  data: z.record(z.string(), z.unknown()).optional(),
  error: CommandErrorSchema.optional(),
  /** The appliance answered from its memory of an earlier run: the command was not run again. */
  replay: z.boolean().optional(),
});
export const EventFrameSchema = z.strictObject({ t: z.literal("event"), v, events: z.array(RackEventSchema).min(1).max(MAX_EVENTS_PER_FRAME) });
/** The rack's services, as its status report names them. */
export const RACK_SERVICES = ["dhcp", "tftp", "http", "dns", "metadata", "power"] as const;
export type RackServiceName = (typeof RACK_SERVICES)[number];
export const SERVICE_STATES = ["ok", "failed", "disabled"] as const;
export const ServiceStatusSchema = z.strictObject({
  name: z.enum(RACK_SERVICES),
  state: z.enum(SERVICE_STATES),
  error: z.string().max(200).optional(),
});
export type ServiceStatus = z.infer<typeof ServiceStatusSchema>;
/**
 * The rack's health: its services and how many events wait for the region's ack. Not
 * journaled: sent after each welcome and on change (at most every few seconds); the latest wins.
 */
export const StatusFrameSchema = z.strictObject({
  t: z.literal("status"),
  v,
  services: z.array(ServiceStatusSchema).max(RACK_SERVICES.length),
  journalDepth: z.number().int().nonnegative(),
});
export type StatusMessage = z.infer<typeof StatusFrameSchema>;
export const ConfigAckSchema = z.strictObject({ t: z.literal("config.ack"), v, version: z.string().max(128) });
export const CredentialAckSchema = z.strictObject({ t: z.literal("credential.ack"), v, fingerprint: z.string().max(128) });
export const ErrorFrameSchema = z.strictObject({
  t: z.literal("error"),
  v,
  code: z.string().max(64),
  message: z.string().max(4096),
  ref: z.string().max(64).optional(),
});

export const ApplianceMessageSchema = z.discriminatedUnion("t", [
  HelloSchema,
  HeartbeatSchema,
  CommandAckSchema,
  ResultSchema,
  EventFrameSchema,
  StatusFrameSchema,
  ConfigAckSchema,
  CredentialAckSchema,
  ErrorFrameSchema,
]);
export type ApplianceMessage = z.infer<typeof ApplianceMessageSchema>;

export const WelcomeSchema = z.strictObject({
  t: z.literal("welcome"),
  v,
  rackId: id,
  serverTime: z.number().int(),
  heartbeatMs: z.number().int().positive(),
  lastEventSeq: z.number().int().nonnegative(),
});
export const CommandSchema = z.strictObject({
  t: z.literal("command"),
  v,
  id,
  type: z.enum(COMMAND_TYPES),
  params: z.record(z.string(), z.unknown()),
  /** ms since epoch; past it the appliance does not start the command. */
  deadline: z.number().int(),
});
export const EventAckSchema = z.strictObject({ t: z.literal("ack"), v, upTo: z.number().int().nonnegative() });
export const ConfigFrameSchema = z.strictObject({ t: z.literal("config"), v, snapshot: ConfigSnapshotSchema });
export const CredentialFrameSchema = z.strictObject({ t: z.literal("credential"), v, credential: z.string().min(20).max(256) });

export const RegionMessageSchema = z.discriminatedUnion("t", [
  WelcomeSchema,
  HeartbeatSchema,
  CommandSchema,
  EventAckSchema,
  ConfigFrameSchema,
  CredentialFrameSchema,
  ErrorFrameSchema,
]);
export type RegionMessage = z.infer<typeof RegionMessageSchema>;
export type CommandMessage = z.infer<typeof CommandSchema>;
export type ResultMessage = z.infer<typeof ResultSchema>;
export type HelloMessage = z.infer<typeof HelloSchema>;

export type ParseResult<T> = { ok: true; msg: T } | { ok: false; code: "too_big" | "not_json" | "invalid"; message: string };

/** Parses one frame of either direction; never throws. */
export function parseFrame<T>(schema: z.ZodType<T>, raw: string | ArrayBuffer | Uint8Array): ParseResult<T> {
  if (typeof raw !== "string") return { ok: false, code: "invalid", message: "binary frames are not part of the protocol" };
  if (raw.length > MAX_FRAME_BYTES) return { ok: false, code: "too_big", message: `frame over ${MAX_FRAME_BYTES} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, code: "not_json", message: "the frame is not JSON" };
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const why = r.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join(".") || "(frame)"}: ${i.message}`)
      .join("; ");
    return { ok: false, code: "invalid", message: why.slice(0, 1000) };
  }
  return { ok: true, msg: r.data };
}

export function errorFrame(code: string, message: string, ref?: string): string {
  return JSON.stringify({ t: "error", v: PROTOCOL_VERSION, code, message: message.slice(0, 4096), ...(ref ? { ref } : {}) } satisfies z.infer<
    typeof ErrorFrameSchema
  >);
}
