import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";

/** One per rack appliance: holds its WebSocket tunnel (built out by the tunnel issue). */
export class RackTunnel extends DurableObject<Env> {
  override async fetch(_request: Request): Promise<Response> {
    return new Response(JSON.stringify({ error: { code: "not_implemented", message: "rack tunnel not built yet" } }), {
      status: 501,
      headers: { "content-type": "application/json" },
    });
  }
}
