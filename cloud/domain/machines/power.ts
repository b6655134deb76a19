// A person's power request (on, off, cycle, query, identify) for one machine, from either API:
// the command rows and the request's event are one batch, and the manual driver records that
// someone on site must act instead of sending anything.
import type { Env } from "../../env";
import { eventStatement, recordEvent } from "../events";
import type { MachineOnSite } from "./types";
import { type Dispatched, dispatchRackCommand, type RackCommandType } from "../racks/commands";

export interface PowerRequest {
  command: RackCommandType;
  /** The API action's name (power_on, power_off, …): the event is `power.<action>`. */
  action: string;
  verb: string;
  params?: Record<string, unknown>;
  /** Wait this long for the rack's answer (queries). */
  waitMs?: number;
}

export interface PowerMachine extends MachineOnSite {
  powerType: string;
  /** When the caller read it with the machine (getMachine), the command needs no second read. */
  powerParamsEnc?: string | null | undefined;
}

/** Returns the dispatched command, or null for the manual driver. Throws 503 no_rack when no rack can carry it. */
export async function requestPower(env: Env, actor: string, m: PowerMachine, req: PowerRequest): Promise<Dispatched | null> {
  const base = {
    machineId: m.id,
    systemId: m.systemId,
    hostname: m.hostname,
    siteId: m.siteId,
    actor,
    fromStatus: m.status,
    toStatus: m.status,
    type: `power.${req.action}`,
  };
  if (m.powerType === "manual") {
    await recordEvent(env.DB, { ...base, level: "WARNING", description: `${req.verb} requested: the power driver is manual, someone on site must do it` });
    return null;
  }
  return dispatchRackCommand(env, m, req.command, req.params ?? {}, {
    actor,
    waitMs: req.waitMs ?? 0,
    ...(m.powerParamsEnc !== undefined ? { power: { type: m.powerType, enc: m.powerParamsEnc } } : {}),
    also: (sent) => [eventStatement(env.DB, { ...base, description: `${req.verb} sent to rack ${sent.rackId} as command ${sent.commandIds[0]}` })],
  });
}
