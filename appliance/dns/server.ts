// The rack's DNS server: sockets around ./handler.ts. UDP and TCP on each listen address
// (never a wildcard unless asked), TCP framed by a 2-byte length with several queries per
// connection and an idle timeout. Nothing a client sends may take it down: every message goes
// through the handler inside try/catch, and socket errors are logged, not thrown.
//
// UDP is where the queries are, and node:dgram's per-datagram cost is several times the
// handler's: with the native helper built, each UDP address is a socket of its own read and
// written in batches by a worker thread (./udp-worker.ts) with its own handler, loaded with the
// same zones. Without the helper, or if the worker cannot start, dgram in this thread as before.
//
//   const s = await DnsServer.start({ listen: [{ address: "10.0.0.1", port: 53 }], axfrAllow: ["10.0.0.0/24"], log });
//   await s.load(snapshot.dns, snapshot.subnets.map((n) => n.cidr));   // atomic: served from the next query on
//   s.counters;                                                         // queries, cacheHits, refused, forwarded, ...
//   await s.close();
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, isIPv6, type Server, type Socket } from "node:net";
import { Worker } from "node:worker_threads";
import type { DnsConfig } from "../../shared/dns/zone";
import type { Logger } from "../log";
import { gsoBinding } from "../native/udp-gso";
import { Forwarder } from "./forwarder";
import { type Counters, DnsHandler, LOOPBACK, type Reply } from "./handler";
import { COUNTER_KEYS, type FromWorker, type ToWorker, type UdpWorkerData } from "./udp-worker-protocol";
import type { ZoneIndex } from "./zones";

const WORKER_ENTRY = new URL("./udp-worker.mjs", import.meta.url);

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
  /** false: UDP through node:dgram in this thread even when the native helper is built. */
  nativeUdp?: boolean;
  /**
   * Worker threads per native UDP socket. Default 1: on two cores shared with dnsperf a second
   * one cost 14-32% more CPU per query (both wake for each batch) for throughput that went either
   * way, and a server pinned to one core gains nothing from it.
   */
  udpWorkers?: number;
}

type ServerCounters = Counters & { forwarderCacheHits: number; upstreamQueries: number; upstreamFailures: number };

/** A worker thread serving one native UDP socket. */
interface UdpThread {
  worker: Worker;
  counters: Float64Array;
  exited: boolean;
  loads: Map<number, { resolve: () => void; reject: (e: Error) => void }>;
}

/** One UDP listen address served natively: its fd and the threads reading it. */
interface NativeUdp {
  fd: number;
  address: string;
  port: number;
  threads: UdpThread[];
}

export class DnsServer {
  readonly handler: DnsHandler;
  private readonly forwarder: Forwarder;
  private readonly udp: UdpSocket[] = [];
  private readonly native: NativeUdp[] = [];
  /** In listen order, each address's UDP as served: "native" (batched, in a worker) or "dgram". */
  readonly udpPaths: ("native" | "dgram")[] = [];
  private readonly bound: (() => DnsListen)[] = [];
  private readonly tcp: Server[] = [];
  private readonly conns = new Set<Socket>();
  private lastLoad: { dns: DnsConfig; siteCidrs: string[] } | null = null;
  private loadSeq = 0;
  private closing = false;

  constructor(private readonly o: DnsServerOptions) {
    this.forwarder = new Forwarder({ log: o.log, ...(o.forwardTimeoutMs ? { timeoutMs: o.forwardTimeoutMs } : {}) });
    this.handler = new DnsHandler({ axfrAllow: o.axfrAllow ?? LOOPBACK, log: o.log, forwarder: this.forwarder });
  }

  static async start(o: DnsServerOptions): Promise<DnsServer> {
    const s = new DnsServer(o);
    await s.listen();
    return s;
  }

  /**
   * Serves `dns` from the next query on; recursion is allowed from `siteCidrs` and loopback.
   * This thread's handler (TCP) has it on return; the promise resolves once every UDP worker
   * has it too. A config this thread refuses throws here, and no worker gets it.
   */
  async load(dns: DnsConfig, siteCidrs: string[]): Promise<ZoneIndex> {
    const index = this.handler.load(dns, siteCidrs);
    this.lastLoad = { dns, siteCidrs };
    await Promise.all(this.native.flatMap((n) => n.threads.map((t) => this.loadThread(t, dns, siteCidrs))));
    return index;
  }

  private loadThread(t: UdpThread, dns: DnsConfig, siteCidrs: string[]): Promise<void> {
    const id = ++this.loadSeq;
    return new Promise((resolve, reject) => {
      t.loads.set(id, { resolve, reject });
      t.worker.postMessage({ type: "load", id, dns, siteCidrs } satisfies ToWorker);
    });
  }

  /** This thread's (TCP, and UDP through dgram) plus every UDP worker's, as of its last batch. */
  get counters(): ServerCounters {
    const c: ServerCounters = {
      ...this.handler.counters,
      forwarderCacheHits: this.forwarder.cacheHits,
      upstreamQueries: this.forwarder.upstreamQueries,
      upstreamFailures: this.forwarder.failures,
    };
    for (const n of this.native) {
      for (const t of n.threads) for (const [i, k] of COUNTER_KEYS.entries()) c[k] += t.counters[i]!;
    }
    return c;
  }

  /** What was bound: one entry per listen address, with the real port when 0 was asked for. */
  get addresses(): DnsListen[] {
    return this.bound.map((f) => f());
  }

  async listen(): Promise<void> {
    try {
      for (const l of this.o.listen) {
        const port = await this.bindUdp(l);
        // TCP on the same port as UDP, also when UDP's was chosen by the kernel.
        await this.bindTcp({ address: l.address, port });
      }
    } catch (e) {
      await this.close();
      throw e;
    }
    this.o.log("info", "dns: serving", { listen: this.addresses.map((a) => `${a.address}:${a.port}`), udp: this.udpPaths });
  }

  /** The bound port; natively when the helper is there and the worker starts, else through dgram. */
  private async bindUdp(l: DnsListen): Promise<number> {
    const b = this.o.nativeUdp === false ? null : gsoBinding();
    // An address dgram accepts but inet_pton does not ("fe80::1%eth0") falls back too.
    const fd = b ? b.udpOpen(isIPv6(l.address) ? 6 : 4, l.address, l.port) : -1;
    if (b && fd >= 0) {
      const n: NativeUdp = { fd, address: l.address, port: b.udpLocalPort(fd), threads: [] };
      try {
        for (let i = 0; i < Math.max(1, this.o.udpWorkers ?? 1); i++) n.threads.push(await this.startThread(n));
        this.native.push(n);
        this.bound.push(() => ({ address: n.address, port: n.port }));
        this.udpPaths.push("native");
        return n.port;
      } catch (e) {
        this.o.log("warn", "dns: udp worker did not start, serving udp from the main thread", { error: String(e) });
        await Promise.all(n.threads.map((t) => this.stopThread(t)));
        b.closeFd(fd);
      }
    }
    const u = await this.bindDgram(l);
    this.bound.push(() => {
      const a = u.address();
      return { address: a.address, port: a.port };
    });
    this.udpPaths.push("dgram");
    return u.address().port;
  }

  /** A worker on `n`'s socket, loaded with the current zones; resolves once it reads the socket. */
  private startThread(n: NativeUdp): Promise<UdpThread> {
    const data: UdpWorkerData = {
      fd: n.fd,
      axfrAllow: this.o.axfrAllow ?? LOOPBACK,
      ...(this.o.forwardTimeoutMs ? { forwardTimeoutMs: this.o.forwardTimeoutMs } : {}),
      counters: new SharedArrayBuffer(8 * COUNTER_KEYS.length),
    };
    return this.spawnThread(n, data);
  }

  private spawnThread(n: NativeUdp, data: UdpWorkerData): Promise<UdpThread> {
    const worker = new Worker(WORKER_ENTRY, { workerData: data });
    const t: UdpThread = { worker, counters: new Float64Array(data.counters), exited: false, loads: new Map() };
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on("message", (m: FromWorker) => {
        if (m.type === "log") this.o.log(m.level, m.msg, m.fields);
        else if (m.type === "loaded") {
          const p = t.loads.get(m.id);
          t.loads.delete(m.id);
          if (m.error) p?.reject(new Error(m.error));
          else p?.resolve();
        } else if (m.type === "ready") {
          ready = true;
          resolve(t);
        }
      });
      worker.on("error", (e) => {
        if (!ready) reject(e);
        else this.o.log("error", "dns: udp worker failed", { error: String(e) });
      });
      worker.on("exit", (code) => {
        t.exited = true;
        if (!ready) reject(new Error(`udp worker exited with ${code} before serving`));
        // Its loads are the replacement's to apply (the last one is replayed), or moot when closing.
        for (const p of t.loads.values()) p.resolve();
        t.loads.clear();
        if (!ready || this.closing) return;
        this.o.log("error", "dns: udp worker exited, starting another", { code, address: n.address });
        const i = n.threads.indexOf(t);
        void this.spawnThread(n, data).then(
          (next) => {
            if (this.closing) return void this.stopThread(next);
            if (i >= 0) n.threads[i] = next;
            if (this.lastLoad) void this.loadThread(next, this.lastLoad.dns, this.lastLoad.siteCidrs);
          },
          (e) => this.o.log("error", "dns: udp worker could not be restarted", { error: String(e), address: n.address }),
        );
      });
      // Loads before ready queue in the worker's port; this one brings it up to date.
      if (this.lastLoad) void this.loadThread(t, this.lastLoad.dns, this.lastLoad.siteCidrs).catch(() => {});
    });
  }

  /** Asks the thread to stop after its current batch (at most the idle poll), terminating it if it does not. */
  private stopThread(t: UdpThread): Promise<void> {
    return new Promise((resolve) => {
      if (t.exited) return resolve();
      const timer = setTimeout(() => void t.worker.terminate(), 2000);
      t.worker.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      t.worker.postMessage({ type: "stop" } satisfies ToWorker);
    });
  }

  private bindDgram(l: DnsListen): Promise<UdpSocket> {
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
    this.closing = true;
    for (const c of this.conns) c.destroy();
    await Promise.all([
      ...this.udp.map((u) => new Promise<void>((r) => u.close(() => r()))),
      ...this.tcp.map((t) => new Promise<void>((r) => t.close(() => r()))),
      // The fd is closed only once no thread can be reading it: a number reused by another open would be read instead.
      ...this.native.map(async (n) => {
        await Promise.all(n.threads.map((t) => this.stopThread(t)));
        gsoBinding()?.closeFd(n.fd);
      }),
    ]);
    this.udp.length = 0;
    this.native.length = 0;
    this.tcp.length = 0;
    this.forwarder.close();
  }
}

export function startDnsServer(o: DnsServerOptions): Promise<DnsServer> {
  return DnsServer.start(o);
}
