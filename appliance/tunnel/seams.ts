// Adapters from the site services' own event shapes to tunnel events, so DHCP and HTTP boot
// need not know the wire schema. Typed structurally: those services keep their own types.
import type { EventInput } from "../../shared/tunnel/events";
import type { Logger } from "../log";

export interface Emitter {
  emit(e: EventInput): Promise<number>;
}

/** What appliance/dhcp emits (its DhcpEvent), reduced to what the region uses. */
export type DhcpLikeEvent =
  | { type: "dhcp.discover"; mac: string; subnet: string | null; relay: string | null; arch: number | null; vendorClass: string | null }
  | { type: "dhcp.lease"; mac: string; ip: string; hostname: string | null; expires: string };

export function toTunnelEvent(e: DhcpLikeEvent): EventInput {
  if (e.type === "dhcp.discover") {
    return {
      type: "dhcp.discover",
      data: {
        mac: e.mac.toLowerCase(),
        ...(e.arch !== null ? { arch: String(e.arch) } : {}),
        ...(e.vendorClass ? { vendorClass: e.vendorClass.slice(0, 255) } : {}),
        ...(e.subnet ? { subnet: e.subnet } : {}),
        ...(e.relay ? { relay: e.relay } : {}),
      },
    };
  }
  const expiresAt = Date.parse(e.expires);
  return {
    type: "dhcp.lease",
    data: {
      mac: e.mac.toLowerCase(),
      ip: e.ip,
      ...(e.hostname ? { hostname: e.hostname.slice(0, 255) } : {}),
      ...(Number.isFinite(expiresAt) ? { expiresAt } : {}),
    },
  };
}

/**
 * An `emit` callback for the DHCP service: synchronous for the caller (DHCP never waits on the
 * disk or the WAN), journaled in the background; a failure is logged, never thrown into DHCP.
 */
export function dhcpEmitter(daemon: Emitter, log: Logger): (e: DhcpLikeEvent) => void {
  return (e) => {
    daemon.emit(toTunnelEvent(e)).catch((err: unknown) => log("error", "could not journal a DHCP event", { type: e.type, mac: e.mac, error: String(err) }));
  };
}

export interface MetadataResult {
  systemId: string;
  name: string;
  status: "passed" | "failed" | "running" | "timedout";
  exitCode?: number | null;
  output?: string;
}

/**
 * A metadata relay for results posted by booting nodes: the result is journaled (so it
 * survives a region outage) and the node gets 202 once it is on disk. `parse` is the HTTP
 * side's knowledge of its paths; requests it does not recognise get 404.
 */
export function metadataResultRelay<Req>(
  daemon: Emitter,
  parse: (req: Req) => MetadataResult | null,
): (req: Req) => Promise<{ status: number; headers?: Record<string, string>; body?: string }> {
  return async (req) => {
    const r = parse(req);
    if (!r) return { status: 404, headers: { "content-type": "application/json" }, body: '{"error":"unknown metadata path"}' };
    const seq = await daemon.emit({
      type: "metadata.result",
      data: {
        systemId: r.systemId,
        name: r.name,
        status: r.status,
        ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
        ...(r.output !== undefined ? { output: r.output.slice(0, 200_000) } : {}),
      },
    });
    return { status: 202, headers: { "content-type": "application/json" }, body: JSON.stringify({ accepted: true, seq }) };
  };
}
