// The one narrow interface between the server's I/O and DHCP policy. Two implementations:
// ReservationHandler (we lease addresses) and ProxyHandler (another server leases, we only
// add boot information, on ports 67 and 4011). The server does not know which one it runs.
import type { DhcpPacket } from "./packet";

export interface InterfaceInfo {
  name: string;
  /** IPv4 addresses configured on the interface, read at start and on reload. */
  addresses: string[];
}

export interface Incoming {
  packet: DhcpPacket;
  from: { address: string; port: number };
  iface: InterfaceInfo;
  /** Local port the packet arrived on: 67, or 4011 for PXE boot-server requests. */
  port: number;
}

export interface Outgoing {
  packet: DhcpPacket;
  to: { address: string; port: number };
}

export interface Handle {
  /** Null means stay silent (not for us, or nothing to say). Throwing is a bug, logged and dropped. */
  handle(req: Incoming): Promise<Outgoing | null> | Outgoing | null;
}

/** Events for the region (the tunnel client journals and forwards them). */
export type DhcpEvent =
  | {
      type: "dhcp.discover";
      mac: string;
      interface: string;
      subnet: string | null;
      relay: string | null;
      arch: number | null;
      vendorClass: string | null;
      userClass: string | null;
      hostname: string | null;
      at: string;
    }
  | { type: "dhcp.lease"; mac: string; ip: string; hostname: string | null; expires: string; at: string };

export type EmitEvent = (e: DhcpEvent) => void;
