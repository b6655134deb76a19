// The I/O edge: DhcpServer(sockets, handler). Decodes, asks the handler, encodes, sends on the
// socket the request came in on (so replies leave from port 67 or 4011 and from the right
// device). A packet that does not decode, or a handler that throws, is logged with mac, xid
// and interface and dropped; nothing here stops the process.
import type dgram from "node:dgram";
import type { Handle, Incoming, InterfaceInfo, Outgoing } from "./handler";
import type { Logger } from "../log";
import { DhcpDecodeError, decode, encode, macOf } from "./packet";

export interface BoundSocket {
  socket: dgram.Socket;
  iface: string;
  port: number;
}

export interface ServerStats {
  received: number;
  sent: number;
  dropped: number;
}

// A flood of garbage must not turn into a flood of log lines.
const BAD_LOGS_PER_SECOND = 20;

export class DhcpServer {
  readonly stats: ServerStats = { received: 0, sent: 0, dropped: 0 };
  private badWindow = 0;
  private badInWindow = 0;

  constructor(
    private readonly sockets: BoundSocket[],
    private handler: Handle,
    private readonly opts: { log: Logger; iface(name: string): InterfaceInfo },
  ) {
    for (const b of sockets) {
      b.socket.on("message", (msg, rinfo) => this.onMessage(b, msg, rinfo));
      b.socket.on("error", (e) => opts.log("error", "socket error", { interface: b.iface, port: b.port, error: String(e) }));
    }
  }

  setHandler(h: Handle): void {
    this.handler = h;
  }

  private drop(why: string, f: Record<string, unknown>): void {
    this.stats.dropped++;
    const now = Date.now();
    if (now - this.badWindow >= 1000) {
      if (this.badInWindow > BAD_LOGS_PER_SECOND) this.opts.log("warn", "more packets dropped", { count: this.badInWindow - BAD_LOGS_PER_SECOND });
      this.badWindow = now;
      this.badInWindow = 0;
    }
    if (++this.badInWindow <= BAD_LOGS_PER_SECOND) this.opts.log("warn", why, f);
  }

  private onMessage(b: BoundSocket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.stats.received++;
    const where = { interface: b.iface, port: b.port, from: `${rinfo.address}:${rinfo.port}` };
    let req: Incoming;
    try {
      const packet = decode(msg);
      if (packet.op !== 1) return;
      req = { packet, from: { address: rinfo.address, port: rinfo.port }, iface: this.opts.iface(b.iface), port: b.port };
    } catch (e) {
      const partial = e instanceof DhcpDecodeError ? e.partial : {};
      this.drop("bad packet dropped", { ...where, mac: partial.mac, xid: partial.xid, error: String(e) });
      return;
    }
    const fail = (e: unknown) => this.drop("request failed", { ...where, mac: macOf(req.packet), xid: req.packet.xid, error: String(e) });
    try {
      const out = this.handler.handle(req);
      if (out instanceof Promise) out.then((o) => this.send(b, o, req), fail);
      else this.send(b, out, req);
    } catch (e) {
      fail(e);
    }
  }

  private send(b: BoundSocket, out: Outgoing | null, req: Incoming): void {
    if (!out) return;
    let buf: Buffer;
    try {
      buf = encode(out.packet);
    } catch (e) {
      this.drop("reply not encodable", { interface: b.iface, mac: macOf(req.packet), xid: req.packet.xid, error: String(e) });
      return;
    }
    b.socket.send(buf, out.to.port, out.to.address, (err) => {
      if (err) this.drop("send failed", { interface: b.iface, to: out.to, xid: req.packet.xid, error: String(err) });
      else this.stats.sent++;
    });
  }

  close(): Promise<void> {
    return Promise.all(this.sockets.map((b) => new Promise<void>((r) => b.socket.close(() => r())))).then(() => {});
  }
}
