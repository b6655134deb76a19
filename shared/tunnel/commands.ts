// Work the region asks of a rack. Commands carry a deadline: past it, nobody is waiting for
// the result any more and the region records `expired`.
import { z } from "zod";

export const COMMAND_TYPES = [
  "power.on",
  "power.off",
  "power.cycle",
  "power.query",
  "power.poll",
  "bmc.identify",
  "boot.set",
  "config.sync",
  "image.sync",
  "test.echo",
] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

/** Power commands name the driver and its parameters (secrets included: only over the tunnel). */
export const PowerCommandParams = z.object({
  power_type: z.string().max(32),
  power_parameters: z.record(z.string(), z.unknown()),
  system_id: z.string().max(32),
  soft: z.boolean().optional(),
  seconds: z.number().int().min(0).max(255).optional(),
  force: z.boolean().optional(),
  device: z.enum(["pxe", "disk", "http"]).optional(),
  persistent: z.boolean().optional(),
  efi: z.boolean().optional(),
});
export type PowerCommandParams = z.infer<typeof PowerCommandParams>;

export const CommandErrorSchema = z.strictObject({ code: z.string().max(64), message: z.string().max(4096), kind: z.enum(["fatal", "transient"]).optional() });
export type CommandError = z.infer<typeof CommandErrorSchema>;

/** The hello capability of an appliance that runs `power.poll` (the region sends it to no other). */
export const POWER_POLL_CAPABILITY = "power.poll";
/** Machines per `power.poll` command: bounds the frame and the Durable Object's stored value. */
export const MAX_POLL_BATCH = 200;

/**
 * The periodic power poll: one command carries many machines' BMCs; the appliance queries each
 * once (no retry schedule: the next poll is the retry) with its own cap on queries in flight.
 */
export const PowerPollParams = z.object({
  machines: z
    .array(z.object({ system_id: z.string().max(32), power_type: z.string().max(32), power_parameters: z.record(z.string(), z.unknown()) }))
    .max(MAX_POLL_BATCH),
});
export type PowerPollParams = z.infer<typeof PowerPollParams>;

/** The poll's answer, one entry per machine asked about, in `data.states`. */
export const PowerPollState = z.union([
  z.strictObject({ system_id: z.string().max(32), state: z.enum(["on", "off", "unknown"]) }),
  z.strictObject({ system_id: z.string().max(32), error: CommandErrorSchema }),
]);
export type PowerPollState = z.infer<typeof PowerPollState>;
export const PowerPollResult = z.object({ states: z.array(PowerPollState).max(MAX_POLL_BATCH) });

/** Default deadlines: long enough for MAAS's whole power retry schedule (35 s) plus slack. */
export const DEFAULT_DEADLINE_MS: Record<CommandType, number> = {
  "power.on": 120_000,
  "power.off": 120_000,
  "power.cycle": 120_000,
  "power.query": 60_000,
  // A batch of up to MAX_POLL_BATCH queries behind a cap of a few in flight.
  "power.poll": 240_000,
  "bmc.identify": 60_000,
  "boot.set": 60_000,
  "config.sync": 60_000,
  "image.sync": 3_600_000,
  "test.echo": 60_000,
};
