// A failure as the region reads it (CommandError): a PowerError keeps its code and class,
// anything else is "internal". Cut to the schema's bounds, so a long BMC message cannot make
// the whole result invalid.
import type { CommandError } from "../../shared/tunnel/commands";
import { PowerError } from "../bmc/driver";

export function commandError(e: unknown, maxMessage = 4000): CommandError {
  if (e instanceof PowerError) return { code: e.code.slice(0, 64), message: e.message.slice(0, maxMessage), kind: e.kind };
  return { code: "internal", message: (e instanceof Error ? e.message : String(e)).slice(0, maxMessage) };
}
