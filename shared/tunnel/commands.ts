// Work the region asks of a rack. Commands carry a deadline: past it, nobody is waiting for
// the result any more and the region records `expired`.
import { z } from "zod";

export const COMMAND_TYPES = ["power.on", "power.off", "power.cycle", "power.query", "bmc.identify", "boot.set", "config.sync", "image.sync", "test.echo"] as const;
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

/** Default deadlines: long enough for MAAS's whole power retry schedule (35 s) plus slack. */
export const DEFAULT_DEADLINE_MS: Record<CommandType, number> = {
  "power.on": 120_000,
  "power.off": 120_000,
  "power.cycle": 120_000,
  "power.query": 60_000,
  "bmc.identify": 60_000,
  "boot.set": 60_000,
  "config.sync": 60_000,
  "image.sync": 3_600_000,
  "test.echo": 60_000,
};
