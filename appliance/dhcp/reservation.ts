// Reservation mode: we are the DHCP server of the managed subnets. Static reservations first,
// then dynamic ranges; NAK a REQUEST for a wrong address or subnet, stay silent to a REQUEST
// meant for another server (what Kea and dnsmasq agree on).
import type { BootDecider } from "./boot";
import type { DhcpSnapshot } from "./config";
import type { EmitEvent, Handle, Incoming, Outgoing } from "./handler";
import { inCidr, intToIp, ipToInt } from "./ip";
import type { Leases } from "./leases";
import type { Logger } from "../log";
import { type DhcpPacket, MessageType, macOf } from "./packet";
import { addBootOptions, addSubnetOptions, bootRequestOf, destination, replyTo, withRelayInfo } from "./reply";
import type { Subnet, Topology } from "./topology";

export interface HandlerDeps {
  snapshot(): DhcpSnapshot;
  topology(): Topology;
  boot: BootDecider;
  emit: EmitEvent;
  log: Logger;
}

// One enlistment event per unknown MAC per minute: a PXE ROM retries DISCOVER every few seconds.
const DISCOVER_EVENT_INTERVAL_MS = 60_000;

export function clientKey(p: DhcpPacket): string {
  const id = p.options.clientId;
  return id ? `id:${id.toString("hex")}` : `hw:${macOf(p)}`;
}

/**
 * Why a request carries no usable client hardware address, or null. Without one a reply cannot
 * be aimed at the client and the region would get a discover event with an empty MAC, so such
 * requests are dropped (InfiniBand's hlen 0 with a client id included: machines are known by MAC).
 */
export function noHardwareAddress(p: DhcpPacket): string | null {
  if (p.hlen === 0) return "hardware address length (hlen) is 0";
  if (p.chaddr.subarray(0, Math.min(p.hlen, 16)).every((b) => b === 0)) return "hardware address (chaddr) is all zero";
  return null;
}

// A misbehaving client may send these every second: one log line per interval, with a count.
const NO_ADDRESS_LOG_INTERVAL_MS = 10_000;

/** Drops requests without a hardware address, logging why without flooding the log. */
export class NoAddressDrops {
  private lastLog = -Infinity;
  private unlogged = 0;

  constructor(private readonly deps: Pick<HandlerDeps, "log">) {}

  /** True when the request must be dropped (and was counted or logged). */
  drop(req: Incoming): boolean {
    const why = noHardwareAddress(req.packet);
    if (!why) return false;
    this.unlogged++;
    const now = Date.now();
    if (now - this.lastLog >= NO_ADDRESS_LOG_INTERVAL_MS) {
      const p = req.packet;
      this.deps.log("warn", "request without a hardware address dropped", {
        why,
        htype: p.htype,
        hlen: p.hlen,
        xid: p.xid,
        interface: req.iface.name,
        from: `${req.from.address}:${req.from.port}`,
        count: this.unlogged,
      });
      this.lastLog = now;
      this.unlogged = 0;
    }
    return true;
  }
}

export class DiscoverEvents {
  private readonly last = new Map<string, number>();

  constructor(private readonly deps: Pick<HandlerDeps, "boot" | "emit">) {}

  maybeEmit(req: Incoming, subnet: Subnet | undefined): void {
    const p = req.packet;
    const mac = macOf(p);
    if (this.deps.boot.known(mac)) return;
    const now = Date.now();
    const prev = this.last.get(mac);
    if (prev !== undefined && now - prev < DISCOVER_EVENT_INTERVAL_MS) return;
    if (this.last.size > 100_000) this.last.clear();
    this.last.set(mac, now);
    const o = p.options;
    this.deps.emit({
      type: "dhcp.discover",
      mac,
      interface: req.iface.name,
      subnet: subnet?.config.cidr ?? null,
      relay: p.giaddr === "0.0.0.0" ? null : p.giaddr,
      arch: o.clientArch?.[0] ?? null,
      vendorClass: o.vendorClass ?? null,
      userClass: o.userClass ?? null,
      hostname: o.hostname ?? null,
      at: new Date(now).toISOString(),
    });
  }
}

export class ReservationHandler implements Handle {
  private readonly discoverEvents: DiscoverEvents;
  private readonly noAddress: NoAddressDrops;

  constructor(
    private readonly deps: HandlerDeps,
    private readonly leases: Leases,
  ) {
    this.discoverEvents = new DiscoverEvents(deps);
    this.noAddress = new NoAddressDrops(deps);
  }

  handle(req: Incoming): Promise<Outgoing | null> | Outgoing | null {
    if (req.port !== 67 || req.packet.op !== 1) return null;
    if (this.noAddress.drop(req)) return null;
    switch (req.packet.options.messageType) {
      case MessageType.Discover:
        return this.discover(req);
      case MessageType.Request:
        return this.request(req);
      case MessageType.Decline:
        return this.decline(req);
      case MessageType.Release:
        return this.release(req);
      case MessageType.Inform:
        return this.inform(req);
      default:
        return null;
    }
  }

  private isOurs(req: Incoming, serverId: string): boolean {
    return req.iface.addresses.includes(serverId) || this.deps.snapshot().boot.applianceAddress === serverId;
  }

  private finish(req: Incoming, reply: DhcpPacket, subnet: Subnet, server: string, withLease: boolean): Outgoing {
    addSubnetOptions(reply, subnet, withLease);
    const spec = this.deps.boot.decide(bootRequestOf(req, server));
    if (spec) addBootOptions(reply, spec, req.packet);
    withRelayInfo(reply, req.packet);
    return { packet: reply, to: destination(req, reply) };
  }

  private discover(req: Incoming): Outgoing | null {
    const p = req.packet;
    const { topology, log } = { topology: this.deps.topology(), log: this.deps.log };
    const subnet = topology.select(req);
    if (!subnet) return null;
    this.discoverEvents.maybeEmit(req, subnet);
    const server = topology.serverAddress(req.iface, subnet);
    if (!server) return null;
    const mac = macOf(p);
    const res = topology.reservation(mac);
    let ip: string;
    if (res && inCidr(subnet.cidr, ipToInt(res.ip))) ip = res.ip;
    else {
      const hold = this.deps.snapshot().leases.offerSeconds;
      const n = this.leases.offer(clientKey(p), mac, subnet.cidr, p.options.requestedIp, hold);
      if (n === null) {
        log("warn", "no free address", { mac, xid: p.xid, interface: req.iface.name, subnet: subnet.config.cidr });
        return null;
      }
      ip = intToIp(n);
    }
    const reply = replyTo(p, MessageType.Offer, server);
    reply.yiaddr = ip;
    if (res?.hostname) reply.options.hostname = res.hostname;
    return this.finish(req, reply, subnet, server, true);
  }

  private nak(req: Incoming, server: string, why: string): Outgoing {
    const p = req.packet;
    this.deps.log("info", "nak", { mac: macOf(p), xid: p.xid, interface: req.iface.name, why });
    const reply = replyTo(p, MessageType.Nak, server);
    reply.options.message = why;
    withRelayInfo(reply, p);
    return { packet: reply, to: destination(req, reply) };
  }

  private async request(req: Incoming): Promise<Outgoing | null> {
    const p = req.packet;
    const o = p.options;
    const key = clientKey(p);
    if (o.serverId !== undefined && !this.isOurs(req, o.serverId)) {
      this.leases.dropOffer(key);
      return null;
    }
    const target = o.requestedIp ?? (p.ciaddr !== "0.0.0.0" ? p.ciaddr : undefined);
    if (!target) return null;
    const topology = this.deps.topology();
    const subnet = topology.select(req);
    if (!subnet) return null;
    const server = topology.serverAddress(req.iface, subnet);
    if (!server) return null;
    if (!inCidr(subnet.cidr, ipToInt(target))) return this.nak(req, server, `${target} is not on ${subnet.config.cidr}`);
    const mac = macOf(p);
    const res = topology.reservation(mac);
    const mine = !!res && res.ip === target;
    if (res && !mine && inCidr(subnet.cidr, ipToInt(res.ip))) return this.nak(req, server, `${mac} is reserved ${res.ip}`);
    const verdict = this.leases.check(key, target, mine, mac);
    if (verdict !== "ok") return this.nak(req, server, `${target} ${verdict}`);
    const { leaseSeconds } = subnet.config;
    try {
      await this.leases.bind(key, mac, target, leaseSeconds, res?.hostname);
    } catch (e) {
      // Not durable means not leased: no ACK, the client retries.
      this.deps.log("error", "lease journal write failed", { mac, xid: p.xid, error: String(e) });
      return null;
    }
    this.deps.emit({
      type: "dhcp.lease",
      mac,
      ip: target,
      hostname: res?.hostname ?? o.hostname ?? null,
      expires: new Date(Date.now() + leaseSeconds * 1000).toISOString(),
      at: new Date().toISOString(),
    });
    const reply = replyTo(p, MessageType.Ack, server);
    reply.yiaddr = target;
    if (res?.hostname) reply.options.hostname = res.hostname;
    return this.finish(req, reply, subnet, server, true);
  }

  private async decline(req: Incoming): Promise<null> {
    const p = req.packet;
    const o = p.options;
    if (!o.serverId || !this.isOurs(req, o.serverId) || !o.requestedIp) return null;
    const hold = this.deps.snapshot().leases.declineSeconds;
    const done = this.leases.decline(clientKey(p), o.requestedIp, hold);
    this.deps.log("warn", "address declined by client", {
      mac: macOf(p),
      xid: p.xid,
      interface: req.iface.name,
      ip: o.requestedIp,
      held: !!done,
    });
    await done;
    return null;
  }

  private async release(req: Incoming): Promise<null> {
    const p = req.packet;
    if (p.options.serverId && !this.isOurs(req, p.options.serverId)) return null;
    const done = this.leases.release(clientKey(p), p.ciaddr);
    this.deps.log("info", done ? "released" : "release for an address the client does not hold", {
      mac: macOf(p),
      xid: p.xid,
      interface: req.iface.name,
      ip: p.ciaddr,
    });
    await done;
    return null;
  }

  private inform(req: Incoming): Outgoing | null {
    const p = req.packet;
    if (p.ciaddr === "0.0.0.0") return null;
    const topology = this.deps.topology();
    const subnet = topology.select(req);
    if (!subnet) return null;
    const server = topology.serverAddress(req.iface, subnet);
    if (!server) return null;
    const reply = replyTo(p, MessageType.Ack, server);
    const out = this.finish(req, reply, subnet, server, false);
    // RFC 2131 §4.3.5: straight to the client's own address, relayed or not.
    return { packet: out.packet, to: { address: p.ciaddr, port: 68 } };
  }
}
