// An established RMCP+ session with one BMC (the handshake is handshake.ts): the privilege
// level, then authenticated and encrypted commands with sequence numbers, a replay window,
// retransmission, keep-alive and Close Session. Failures surface as PowerError.
import { PowerError } from "../driver";
import { type CipherSuite, constantTimeEqual, decryptPayload, encryptPayload, integrityCode } from "./cipher";
import { CMD_CLOSE_SESSION, CMD_GET_DEVICE_ID, CMD_SET_SESSION_PRIVILEGE, NETFN_APP, PRIVILEGES, closeSessionRequest } from "./commands/app";
import { IpmiDecodeError } from "./errors";
import { completionError, fatal, toPowerError } from "./failures";
import { type HandshakeOptions, handshake } from "./handshake";
import { type IpmiResponse, decodeResponse, encodeRequest } from "./message";
import type { Exchange } from "./rakp";
import { PAYLOAD_IPMI, decodeV20, encodeV20, isV20 } from "./session-v20";
import { type Retry, UdpTransport } from "./transport";

export interface SessionOptions extends HandshakeOptions {
  host: string;
  port?: number;
  /** Per-attempt timeout. Default 1000 ms. */
  timeoutMs?: number;
  /** Retransmissions after the first attempt. Default 2. */
  retries?: number;
}

const REPLAY_WINDOW = 16;

export class IpmiSession {
  readonly suite: CipherSuite;
  private seqOut = 0;
  private rqSeq = 0;
  private highestIn = 0;
  private seenIn = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private keepAlive: NodeJS.Timeout | undefined;
  private lastUsed = Date.now();
  private dead = false;

  /** Use IpmiSession.open(); this takes the keys of a finished handshake. */
  constructor(
    private transport: UdpTransport,
    private retry: Retry,
    private x: Exchange,
    private k1: Buffer,
    private k2: Buffer,
  ) {
    this.suite = x.suite;
  }

  get alive(): boolean {
    return !this.dead;
  }

  get bmcSessionId(): number {
    return this.x.bmcSessionId;
  }

  static async open(opts: SessionOptions): Promise<IpmiSession> {
    const transport = new UdpTransport(opts.host, opts.port ?? 623);
    const retry = { timeoutMs: opts.timeoutMs ?? 1000, retries: opts.retries ?? 2 };
    try {
      const { x, k1, k2 } = await handshake(transport, retry, opts);
      const session = new IpmiSession(transport, retry, x, k1, k2);
      await session.setPrivilege(opts);
      return session;
    } catch (e) {
      transport.close();
      throw toPowerError(e, transport.where());
    }
  }

  /** The session's first command: the BMC runs it at the asked privilege or refuses it. */
  private async setPrivilege(opts: SessionOptions): Promise<void> {
    const priv = await this.command(NETFN_APP, CMD_SET_SESSION_PRIVILEGE, Buffer.from([PRIVILEGES[opts.privilege ?? "admin"]]));
    if (priv.completionCode === 0) return;
    await this.close();
    const where = this.transport.where();
    if ([0x80, 0x81, 0xd4].includes(priv.completionCode)) {
      throw fatal("insufficient_privilege", `${where}: user "${opts.user}" may not run at ${opts.privilege ?? "admin"} privilege`);
    }
    throw completionError(priv.completionCode, "Set Session Privilege Level", where);
  }

  /** Sends one command in the session; resolves with the response, whatever its completion code. */
  command(netFn: number, cmd: number, data: Buffer = Buffer.alloc(0)): Promise<IpmiResponse> {
    const run = this.queue.then(() => this.send(netFn, cmd, data));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Like command(), but a non-zero completion code becomes a PowerError. */
  async call(netFn: number, cmd: number, data: Buffer, what: string): Promise<Buffer> {
    const r = await this.command(netFn, cmd, data);
    if (r.completionCode !== 0) throw completionError(r.completionCode, what, this.transport.where());
    return r.data;
  }

  private async send(netFn: number, cmd: number, data: Buffer): Promise<IpmiResponse> {
    if (this.dead) throw new PowerError("transient", "session_closed", `${this.transport.where()}: session is closed`);
    this.rqSeq = (this.rqSeq + 1) & 0x3f;
    const rqSeq = this.rqSeq;
    const message = encodeRequest({ netFn, cmd, seq: rqSeq, data });
    try {
      const r = await this.transport.exchange(
        () => this.wrap(message),
        (msg) => this.unwrap(msg, netFn, cmd, rqSeq),
        this.retry,
      );
      this.lastUsed = Date.now();
      return r;
    } catch (e) {
      // A session that stopped answering is not trusted again: the driver opens a new one.
      this.dead = true;
      throw toPowerError(e, this.transport.where());
    }
  }

  private wrap(message: Buffer): Buffer {
    // Sequence numbers start at 1 and skip 0 on wrap (0 means "outside a session").
    this.seqOut = (this.seqOut + 1) >>> 0 || 1;
    return encodeV20(
      {
        payloadType: PAYLOAD_IPMI,
        encrypted: true,
        authenticated: true,
        sessionId: this.x.bmcSessionId,
        seq: this.seqOut,
        payload: encryptPayload(this.k2, message),
      },
      (signed) => integrityCode(this.suite, this.k1, signed),
    );
  }

  private unwrap(msg: Buffer, netFn: number, cmd: number, rqSeq: number): IpmiResponse | undefined {
    if (!isV20(msg)) return undefined;
    const p = decodeV20(msg);
    if (p.sessionId !== this.x.consoleSessionId || p.payloadType !== PAYLOAD_IPMI) return undefined;
    if (!p.authenticated || !p.encrypted) throw new IpmiDecodeError("BMC reply lacks integrity or confidentiality");
    if (!constantTimeEqual(integrityCode(this.suite, this.k1, p.signed), p.authCode)) {
      throw new IpmiDecodeError("integrity check failed");
    }
    if (!this.acceptSeq(p.seq)) return undefined;
    const r = decodeResponse(decryptPayload(this.k2, p.payload));
    if (r.netFn !== netFn + 1 || r.cmd !== cmd || r.seq !== rqSeq) return undefined;
    return r;
  }

  /** Sliding replay window over the BMC's sequence numbers: newer, or recent and unseen. */
  private acceptSeq(seq: number): boolean {
    if (seq === 0) return false;
    if (seq > this.highestIn) {
      const shift = seq - this.highestIn;
      this.seenIn = shift >= 32 ? 1 : ((this.seenIn << shift) | 1) >>> 0;
      this.highestIn = seq;
      return true;
    }
    const back = this.highestIn - seq;
    if (back >= REPLAY_WINDOW) return false;
    const bit = 1 << back;
    if (this.seenIn & bit) return false;
    this.seenIn = (this.seenIn | bit) >>> 0;
    return true;
  }

  /** Keeps an idle session from timing out on the BMC: Get Device ID when nothing else was sent. */
  startKeepAlive(intervalMs: number): void {
    this.stopKeepAlive();
    if (intervalMs <= 0) return;
    this.keepAlive = setInterval(() => {
      if (this.dead || Date.now() - this.lastUsed < intervalMs) return;
      this.command(NETFN_APP, CMD_GET_DEVICE_ID).catch(() => undefined);
    }, intervalMs);
    this.keepAlive.unref();
  }

  private stopKeepAlive(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  /** Close Session, best effort: a BMC that is gone will drop the session on its own timeout. */
  async close(): Promise<void> {
    this.stopKeepAlive();
    if (!this.dead) {
      const saved = this.retry;
      this.retry = { timeoutMs: Math.min(saved.timeoutMs, 500), retries: 0 };
      await this.command(NETFN_APP, CMD_CLOSE_SESSION, closeSessionRequest(this.x.bmcSessionId)).catch(() => undefined);
      this.retry = saved;
    }
    this.dead = true;
    this.transport.close();
  }
}
