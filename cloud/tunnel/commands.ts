// How region code asks a site's rack appliance to do something (power, boot intents, ...).
// The rack tunnel (a Durable Object per rack) carries the command; until a rack serves the
// machine's site, work that needs one is answered 503 with Retry-After.
import type { Env } from "../env";
import { ApiError } from "../http/errors";

export type RackCommandType = "power.on" | "power.off" | "power.cycle" | "power.query" | "bmc.identify" | "boot.set";

export interface RackCommandTarget {
  systemId: string;
  rackId: string | null;
  siteId: number;
}

export interface Dispatched {
  commandId: string;
  rackId: string;
}

export async function dispatchRackCommand(env: Env, target: RackCommandTarget, type: RackCommandType, _params: Record<string, unknown>): Promise<Dispatched> {
  const rack = target.rackId
    ? target.rackId
    : ((await env.DB.prepare("SELECT id FROM racks WHERE site_id = ? AND revoked_at IS NULL AND connected = 1 ORDER BY last_seen_at DESC LIMIT 1").bind(target.siteId).first<{ id: string }>())?.id ?? null);
  if (!rack) {
    throw new ApiError(503, "no_rack", `no rack appliance is connected for this machine's site: ${type} cannot be sent`, { command: type }, { "retry-after": "30" });
  }
  throw new ApiError(503, "tunnel_unavailable", "the rack tunnel does not carry commands yet", { command: type, rack_id: rack }, { "retry-after": "30" });
}
