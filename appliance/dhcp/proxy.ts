// proxyDHCP (PXE 2.1 §2.2.5): another server leases addresses, we only tell PXE clients what
// to boot. On port 67 we answer a DISCOVER with an OFFER carrying no address (yiaddr 0.0.0.0)
// and option 60 "PXEClient"; on port 4011 we answer the client's unicast REQUEST with the boot
// file. We never answer a REQUEST on 67: that one belongs to the site's DHCP server.
import { isBootClient } from "./boot";
import type { Handle, Incoming, Outgoing } from "./handler";
import { MessageType, macOf } from "./packet";
import { addBootOptions, bootRequestOf, destination, replyTo, withRelayInfo } from "./reply";
import { DiscoverEvents, type HandlerDeps, NoAddressDrops } from "./reservation";

export class ProxyHandler implements Handle {
  private readonly discoverEvents: DiscoverEvents;
  private readonly noAddress: NoAddressDrops;

  constructor(private readonly deps: HandlerDeps) {
    this.discoverEvents = new DiscoverEvents(deps);
    this.noAddress = new NoAddressDrops(deps);
  }

  handle(req: Incoming): Outgoing | null {
    const p = req.packet;
    const o = p.options;
    if (p.op !== 1) return null;
    if (this.noAddress.drop(req)) return null;
    const vc = o.vendorClass ?? "";
    // PXE spec: a proxyDHCP server only answers clients that identify as PXE (or UEFI HTTP) clients.
    if (!(vc.startsWith("PXEClient") || vc.startsWith("HTTPClient")) || !isBootClient(bootRequestOf(req, ""))) return null;
    const type = o.messageType;
    const onBootPort = req.port !== 67;
    if (!onBootPort && type !== MessageType.Discover) return null;
    if (onBootPort && type !== MessageType.Request && type !== MessageType.Inform) return null;

    const topology = this.deps.topology();
    const subnet = topology.select(req);
    if (!subnet && topology.subnets.length > 0) return null;
    const server = topology.serverAddress(req.iface, subnet);
    if (!server) return null;
    if (!onBootPort) this.discoverEvents.maybeEmit(req, subnet);
    const spec = this.deps.boot.decide(bootRequestOf(req, server));
    if (!spec) {
      this.deps.log("debug", "no boot file for client", { mac: macOf(p), xid: p.xid, interface: req.iface.name });
      return null;
    }
    const reply = replyTo(p, onBootPort ? MessageType.Ack : MessageType.Offer, server);
    addBootOptions(reply, { ...spec, vendorClass: spec.vendorClass ?? "PXEClient" }, p);
    withRelayInfo(reply, p);
    return { packet: reply, to: destination(req, reply) };
  }
}
