// Client packets for the scripted probe, built with our own encoder.
import { type DhcpOptions, type DhcpPacket, emptyOptions, encode, type MessageType } from "../../../appliance/dhcp/packet";

export function clientPacket(mac: string, type: MessageType, opts: Partial<DhcpOptions> = {}, over: Partial<DhcpPacket> = {}): string {
  const p: DhcpPacket = {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: Math.floor(Math.random() * 0xffffffff),
    secs: 0,
    flags: 0x8000,
    ciaddr: "0.0.0.0",
    yiaddr: "0.0.0.0",
    siaddr: "0.0.0.0",
    giaddr: "0.0.0.0",
    chaddr: Buffer.concat([Buffer.from(mac.replace(/:/g, ""), "hex"), Buffer.alloc(10)]),
    sname: "",
    file: "",
    options: { ...emptyOptions(), ...opts, messageType: type },
    ...over,
  };
  return encode(p).toString("hex");
}
