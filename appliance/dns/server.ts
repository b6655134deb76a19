// The rack's DNS server: sockets around ./handler.ts. UDP and TCP on each listen address
// (never a wildcard unless asked), TCP framed by a 2-byte length with several queries per
// connection and an idle timeout. Nothing a client sends may take it down: every message goes
// through the handler inside try/catch, and socket errors are logged, not thrown.
//
//   const s = await DnsServer.start({ listen: [{ address: "10.0.0.1", port: 53 }], axfrAllow: ["10.0.0.0/24"], log });
//   s.load(snapshot.dns, snapshot.subnets.map((n) => n.cidr));   // atomic: served from the next query on
//   s.counters;                                                   // queries, cacheHits, refused, forwarded, ...
//   await s.close();
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, isIPv6, type Server, type Socket } from "node:net";
import type { DnsConfig } from "../../shared/dns/zone";
import type { Logger } from "../log";
import { Forwarder } from "./forwarder";
import { type Counters, DnsHandler, LOOPBACK, type Reply } from "./handler";
import type { ZoneIndex } from "./zones";

export interface DnsListen {
  address: string;
  /** 0: any free port (tests); see `DnsServer.addresses` for the one bound. */
  port: number;
}

export interface DnsServerOptions {
  /** Where to serve, UDP and TCP on each. */
  listen: DnsListen[];
  /** CIDRs allowed to transfer zones (AXFR, over TCP). Default: loopback only. */
  axfrAllow?: string[];
  log: Logger;
  /** A TCP connection with no query for this long is closed (default 10 s). */
  tcpIdleMs?: number;
  /** TCP connections at once, beyond which new ones are closed at once (default 512). */
  tcpMaxConnections?: number;
  /** Per upstream attempt (default 1500 ms). */
  forwardTimeoutMs?: number;
}

export class DnsServer {
  readonly handler: DnsHandler;
  private readonly forwarder: Forwarder;
  private readonly udp: UdpSocket[] = [];
  private readonly tcp: Server[] = [];
  private readonly conns = new Set<Socket>();

  constructor(private readonly o: DnsServerOptions) {
    this.forwarder = new Forwarder({ log: o.log, ...(o.forwardTimeoutMs ? { timeoutMs: o.forwardTimeoutMs } : {}) });
    this.handler = new DnsHandler({ axfrAllow: o.axfrAllow ?? LOOPBACK, log: o.log, forwarder: this.forwarder });
  }

  static async start(o: DnsServerOptions): Promise<DnsServer> {
    const s = new DnsServer(o);
    await s.listen();
    return s;
  }

  /** Serves `dns` from the next query on; recursion is allowed from `siteCidrs` and loopback. */
  load(dns: DnsConfig, siteCidrs: string[]): ZoneIndex {
    return this.handler.load(dns, siteCidrs);
  }

  get counters(): Counters & { forwarderCacheHits: number; upstreamQueries: number; upstreamFailures: number } {
    return {
      ...this.handler.counters,
      forwarderCacheHits: this.forwarder.cacheHits,
      upstreamQueries: this.forwarder.upstreamQueries,
      upstreamFailures: this.forwarder.failures,
    };
  }

  /** What was bound: one entry per listen address, with the real port when 0 was asked for. */
  get addresses(): DnsListen[] {
    return this.udp.map((u) => {
      const a = u.address();
      return { address: a.address, port: a.port };
    });
  }

  async listen(): Promise<void> {
    try {
      for (const l of this.o.listen) {
        const u = await this.bindUdp(l);
        // TCP on the same port as UDP, also when UDP's was chosen by the kernel.
        await this.bindTcp({ address: l.address, port: u.address().port });
      }
    } catch (e) {
      await this.close();
      throw e;
    }
    this.o.log("info", "dns: serving", { listen: this.addresses.map((a) => `${a.address}:${a.port}`) });
  }

  private bindUdp(l: DnsListen): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type: isIPv6(l.address) ? "udp6" : "udp4", ...(isIPv6(l.address) ? { ipv6Only: true } : {}) });
      s.once("error", reject);
      s.on("message", (msg, rinfo) => {
        const reply = this.safe(msg, rinfo.address, false);
        if (reply === null) return;
        const send = (b: Buffer | null) => {
          if (b) s.send(b, rinfo.port, rinfo.address, (err) => err && this.o.log("debug", "dns: udp send failed", { error: String(err) }));
        };
        if (Buffer.isBuffer(reply)) send(reply);
        else if (Array.isArray(reply)) send(reply[0] ?? null);
        else reply.then(send, () => {});
      });
      s.bind(l.port, l.address, () => {
        s.off("error", reject);
        s.on("error", (e) => this.o.log("warn", "dns: udp socket error", { error: String(e) }));
        this.udp.push(s);
        resolve(s);
      });
    });
  }

  private bindTcp(l: DnsListen): Promise<void> {
    return new Promise((resolve, reject) => {
      const srv = createServer((c) => this.connection(c));
      srv.maxConnections = this.o.tcpMaxConnections ?? 512;
      srv.once("error", reject);
      srv.listen({ host: l.address, port: l.port, ipv6Only: isIPv6(l.address) }, () => {
        srv.off("error", reject);
        srv.on("error", (e) => this.o.log("warn", "dns: tcp server error", { error: String(e) }));
        this.tcp.push(srv);
        resolve();
      });
    });
  }

  private connection(c: Socket): void {
    this.conns.add(c);
    c.setNoDelay(true);
    c.setTimeout(this.o.tcpIdleMs ?? 10_000, () => c.destroy());
    c.on("close", () => this.conns.delete(c));
    c.on("error", () => c.destroy());
    let buf: Buffer = Buffer.alloc(0);
    const address = c.remoteAddress ?? "";
    const write = (m: Buffer | null) => {
      if (!m || c.destroyed) return;
      const len = Buffer.allocUnsafe(2);
      len.writeUInt16BE(m.length);
      c.write(Buffer.concat([len, m]));
    };
    c.on("data", (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) break;
        const msg = buf.subarray(2, 2 + n);
        buf = buf.subarray(2 + n);
        const reply = this.safe(msg, address, true);
        if (reply === null) continue;
        if (Buffer.isBuffer(reply)) write(reply);
        else if (Array.isArray(reply)) for (const m of reply) write(m);
        else reply.then(write, () => {});
      }
      // A length prefix promising more than a message can hold is never completed: cut it off.
      if (buf.length > 65537) c.destroy();
    });
  }

  private safe(msg: Buffer, address: string, tcp: boolean): Reply {
    try {
      return this.handler.handle(msg, { address, tcp });
    } catch (e) {
      this.o.log("debug", "dns: message dropped", { from: address, error: String(e), bytes: msg.length });
      return null;
    }
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await Promise.all([
      ...this.udp.map((u) => new Promise<void>((r) => u.close(() => r()))),
      ...this.tcp.map((t) => new Promise<void>((r) => t.close(() => r()))),
    ]);
    this.udp.length = 0;
    this.tcp.length = 0;
    this.forwarder.close();
  }
}

export function startDnsServer(o: DnsServerOptions): Promise<DnsServer> {
  return DnsServer.start(o);
}
