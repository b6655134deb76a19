// One UDP socket per BMC, connected, with one exchange in flight at a time: IPMI BMCs handle
// a handful of outstanding requests at best, and a connected socket turns ICMP "port
// unreachable" into an immediate error instead of a silent wait.
import { type Socket, createSocket } from "node:dgram";
import { isIP } from "node:net";
import { IpmiDecodeError } from "./errors";

export class NoResponseError extends Error {
  constructor(
    readonly reason: "timeout" | "refused" | "socket",
    message: string,
  ) {
    super(message);
    this.name = "NoResponseError";
  }
}

export interface Retry {
  /** Per attempt. */
  timeoutMs: number;
  /** Attempts after the first. */
  retries: number;
}

type Waiter = {
  accept: (msg: Buffer) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
};

export class UdpTransport {
  private socket: Socket;
  private ready: Promise<void>;
  private waiter: Waiter | undefined;
  private closed = false;

  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    this.socket = createSocket(isIP(host) === 6 ? "udp6" : "udp4");
    this.ready = new Promise((resolve, reject) => {
      this.socket.once("error", reject);
      this.socket.connect(port, host, () => {
        this.socket.off("error", reject);
        resolve();
      });
    });
    this.socket.on("message", (msg) => this.onMessage(msg));
    this.socket.on("error", (err: NodeJS.ErrnoException) => {
      const w = this.waiter;
      if (!w) return;
      this.waiter = undefined;
      w.reject(new NoResponseError(err.code === "ECONNREFUSED" ? "refused" : "socket", `${this.where()}: ${err.message}`));
    });
    // The socket must not keep the appliance process alive on its own.
    this.socket.unref();
  }

  where(): string {
    return `BMC ${this.host}:${this.port}`;
  }

  private onMessage(msg: Buffer): void {
    const w = this.waiter;
    if (!w) return;
    let v: unknown;
    try {
      v = w.accept(msg);
    } catch (e) {
      // A malformed or foreign datagram (a late reply to an earlier attempt, a stray) is dropped.
      if (e instanceof IpmiDecodeError) return;
      this.waiter = undefined;
      w.reject(e as Error);
      return;
    }
    if (v === undefined) return;
    this.waiter = undefined;
    w.resolve(v);
  }

  /**
   * Sends `build()` and waits for a datagram `accept` turns into a value; retransmits with a
   * fresh `build()` (new session sequence number) on each timeout. `accept` returns undefined
   * to ignore a datagram, or throws to fail the exchange.
   */
  async exchange<T>(build: () => Buffer, accept: (msg: Buffer) => T | undefined, retry: Retry): Promise<T> {
    if (this.closed) throw new NoResponseError("socket", `${this.where()}: transport closed`);
    await this.ready;
    if (this.waiter) throw new Error("one IPMI exchange at a time per transport");
    for (let attempt = 0; attempt <= retry.retries; attempt++) {
      let timer: NodeJS.Timeout | undefined;
      const got = new Promise<T | typeof TIMEOUT>((resolve, reject) => {
        this.waiter = { accept, resolve: resolve as (v: unknown) => void, reject };
        timer = setTimeout(() => {
          this.waiter = undefined;
          resolve(TIMEOUT);
        }, retry.timeoutMs);
      });
      this.socket.send(build());
      try {
        const v = await got;
        if (v !== TIMEOUT) return v;
      } finally {
        clearTimeout(timer);
        this.waiter = undefined;
      }
    }
    throw new NoResponseError("timeout", `${this.where()}: no answer after ${retry.retries + 1} attempts of ${retry.timeoutMs} ms`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(new NoResponseError("socket", `${this.where()}: transport closed`));
    this.socket.close();
  }
}

const TIMEOUT = Symbol("timeout");
