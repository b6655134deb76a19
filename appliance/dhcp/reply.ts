// Building replies: header fields copied from the request as RFC 2131 table 3 says, boot
// options, and where the reply goes (§4.1).
import { archFromVendorClass, type BootRequest, type BootSpec } from "./boot";
import type { Incoming, Outgoing } from "./handler";
import { intToIp } from "./ip";
import { BROADCAST_FLAG, type DhcpPacket, emptyOptions, MessageType, macOf } from "./packet";
import type { Subnet } from "./topology";

const ZERO = "0.0.0.0";
// PXE 2.1 vendor option 6 (discovery control) = 8: "use the boot file in this reply, skip
// boot-server discovery and menus".
const PXE_VENDOR_OPTIONS = Buffer.from([6, 1, 8, 255]);
// iPXE option 175 carrying 176 (no-pxedhcp) = 1.
const IPXE_NO_PROXYDHCP = Buffer.from([176, 1, 1]);

export function replyTo(req: DhcpPacket, type: MessageType, serverId: string): DhcpPacket {
  const options = emptyOptions();
  options.messageType = type;
  options.serverId = serverId;
  return {
    op: 2,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    flags: req.flags,
    ciaddr: type === MessageType.Nak ? ZERO : req.ciaddr,
    yiaddr: ZERO,
    siaddr: ZERO,
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    sname: "",
    file: "",
    options,
  };
}

export function addSubnetOptions(reply: DhcpPacket, subnet: Subnet, withLease: boolean): void {
  const o = reply.options;
  const c = subnet.config;
  o.subnetMask = intToIp(subnet.cidr.mask);
  o.broadcastAddress = intToIp(subnet.cidr.broadcast);
  if (c.gateway) o.routers = [c.gateway];
  if (c.dns.length) o.dnsServers = c.dns;
  if (c.domain) o.domainName = c.domain;
  if (withLease) {
    o.leaseTime = c.leaseSeconds;
    o.renewalTime = Math.floor(c.leaseSeconds / 2);
    o.rebindingTime = Math.floor((c.leaseSeconds * 7) / 8);
  }
}

export function bootRequestOf(req: Incoming, serverAddress: string): BootRequest {
  const o = req.packet.options;
  return {
    mac: macOf(req.packet),
    arch: o.clientArch?.[0] ?? archFromVendorClass(o.vendorClass),
    vendorClass: o.vendorClass,
    userClass: o.userClass,
    serverAddress,
  };
}

export function addBootOptions(reply: DhcpPacket, spec: BootSpec, req: DhcpPacket): void {
  const o = reply.options;
  reply.siaddr = spec.nextServer;
  reply.file = spec.filename;
  o.tftpServer = spec.nextServer;
  o.bootfileName = spec.filename;
  if (spec.vendorClass) o.vendorClass = spec.vendorClass;
  if (spec.vendorClass === "PXEClient") o.vendorSpecific = PXE_VENDOR_OPTIONS;
  if (spec.ipxe) o.ipxe = IPXE_NO_PROXYDHCP;
  // PXE spec: echo the client's UUID so it can match the reply to itself.
  if (req.options.clientMachineId) o.clientMachineId = req.options.clientMachineId;
}

/** RFC 2131 §4.1: relay first, then a configured client, else broadcast (we cannot ARP-less unicast from userspace). */
export function destination(req: Incoming, reply: DhcpPacket): Outgoing["to"] {
  const p = req.packet;
  if (req.port !== 67) return { address: req.from.address, port: req.from.port };
  if (p.giaddr !== ZERO) {
    if (reply.options.messageType === MessageType.Nak) reply.flags |= BROADCAST_FLAG;
    return { address: p.giaddr, port: 67 };
  }
  if (reply.options.messageType !== MessageType.Nak && p.ciaddr !== ZERO) return { address: p.ciaddr, port: 68 };
  return { address: "255.255.255.255", port: 68 };
}

export function withRelayInfo(reply: DhcpPacket, req: DhcpPacket): DhcpPacket {
  if (req.options.relayAgentInfo) reply.options.relayAgentInfo = req.options.relayAgentInfo;
  return reply;
}
