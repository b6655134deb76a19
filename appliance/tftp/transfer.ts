// One read transfer on its own connected socket (its TID). Sends a window of blocks
// (RFC 7440; window 1 is plain RFC 1350), slides it on each ACK, and retransmits only on a
// timeout: a duplicate ACK is ignored, so a delayed packet never doubles the traffic
// (the sorcerer's apprentice bug). Block numbers wrap to 0 after 65535; internally they are
// absolute, so files larger than 65535 blocks work.
import type { Socket } from "node:dgram";
import { type DirectSender, directSender, disableSegmentation, enableSegmentation } from "../native/udp-gso";
import type { TftpFile } from "./files";
import type { Negotiated } from "./options";
import { dataHeader, decode, ErrorCode, encode, errorPacket, Op } from "./packet";
import { Rto, type RtoPolicy } from "./rto";

/** A full send queue (EAGAIN, ENOBUFS) or a signal: dgram queues the datagram instead. */
const RETRY_SEND = new Set([-11, -105, -4]);

/** What a kernel answers to a segmented send it will not do. */
const REFUSED_SEGMENTATION = new Set(["EIO", "EINVAL", "EMSGSIZE", "EOPNOTSUPP", "ENOPROTOOPT"]);

export type TransferEnd =
  /** segments: DATA packets per send when the kernel segmented the windows, else 0. */
  | { ok: true; bytes: number; retransmits: number; segments: number }
  | { ok: false; reason: "client-error"; code: number; message: string; retransmits: number }
  | { ok: false; reason: "timeout" | "socket-error" | "read-error" | "closed"; message: string; retransmits: number };

export class ReadTransfer {
  private readonly rto: Rto;
  /** Waiting for ACK 0 of our OACK before any data. */
  private oackPending: boolean;
  /** Absolute number of the first unacknowledged block. */
  private base = 1;
  /** Highest absolute block sent so far. */
  private sentUpTo = 0;
  /** Absolute number of the final (short) block, once known. */
  private last: number | null;
  private timer: NodeJS.Timeout | null = null;
  /** When the pending timer fires (performance.now() ms), and when the wait really ends. */
  private timerAt = 0;
  private deadline = 0;
  private retries = 0;
  private retransmits = 0;
  private windowSentAt = 0;
  private windowResent = false;
  /** Bumped per window so a read that finishes after a newer window started is dropped. */
  private generation = 0;
  private done = false;
  /** DATA packets one send may carry (UDP segmentation), or 0: one send per packet. */
  private perSend = 0;
  private segmentationTried = false;
  /** Lock-step blocks go out through the native helper when it can (directSender); undefined: not tried yet. */
  private direct: DirectSender | null | undefined;
  readonly finished: Promise<TransferEnd>;
  private resolve!: (end: TransferEnd) => void;

  constructor(
    private readonly sock: Socket,
    private readonly file: TftpFile,
    private readonly neg: Negotiated,
    private readonly policy: RtoPolicy,
  ) {
    this.rto = new Rto(policy, neg.timeout);
    this.oackPending = neg.oack !== null;
    this.last = file.size === null ? null : Math.floor(file.size / neg.blksize) + 1;
    this.finished = new Promise((r) => {
      this.resolve = r;
    });
    sock.on("message", (msg) => this.onMessage(msg));
    // A connected UDP socket reports the client's ICMP port-unreachable here: it has gone.
    sock.on("error", (e) => this.finish({ ok: false, reason: "socket-error", message: e.message, retransmits: this.retransmits }));
  }

  start(): void {
    if (this.oackPending) this.sendOack();
    else this.sendWindow();
  }

  /** Stop now (server shutdown). */
  abort(): void {
    this.finish({ ok: false, reason: "closed", message: "server closing", retransmits: this.retransmits });
  }

  private sendOack(): void {
    this.send(encode({ op: Op.OACK, options: this.neg.oack! }));
    this.windowSentAt = performance.now();
    this.arm();
  }

  private sendWindow(): void {
    const gen = ++this.generation;
    const { blksize, windowsize } = this.neg;
    const first = this.base;
    let end = first + windowsize - 1;
    if (this.last !== null) end = Math.min(end, this.last);
    const offset = (first - 1) * blksize;
    const length = (end - first + 1) * blksize;
    // Buffered bytes go out in this same turn of the event loop; only a miss waits for a read.
    const data = this.file.peek?.(offset, length) ?? null;
    if (data !== null) this.transmit(data, first, end, length, gen);
    else void this.readThenTransmit(offset, first, end, length, gen);
  }

  private async readThenTransmit(offset: number, first: number, end: number, length: number, gen: number): Promise<void> {
    let data: Uint8Array;
    try {
      data = await this.file.read(offset, length);
    } catch (e) {
      this.sendError("read error");
      this.finish({ ok: false, reason: "read-error", message: (e as Error).message, retransmits: this.retransmits });
      return;
    }
    if (gen !== this.generation || this.done) return;
    this.transmit(data, first, end, length, gen);
  }

  private transmit(data: Uint8Array, first: number, end: number, length: number, gen: number): void {
    const { blksize, windowsize } = this.neg;
    // Fewer bytes than the window asked for: the file ends in it, with a short (maybe empty) block.
    if (data.length < length) {
      end = first + Math.floor(data.length / blksize);
      this.last = end;
    }
    // Windows go out k packets per syscall when the kernel segments for us (native/udp-gso.ts).
    // Only from the first DATA on: a segmenting socket would cut an OACK longer than a block.
    if (!this.segmentationTried) {
      this.segmentationTried = true;
      if (windowsize > 1) this.perSend = enableSegmentation(this.sock, blksize + 4);
      else this.direct = directSender(this.sock, blksize + 4);
    }
    if (this.perSend > 0) this.sendSegmented(data, first, end, gen);
    else if (this.direct && first === end) this.sendDirect(this.direct, first, data);
    else {
      for (let n = first; n <= end; n++) {
        const off = (n - first) * blksize;
        this.sock.send([dataHeader(n), data.subarray(off, off + blksize)]);
      }
    }
    if (end > this.sentUpTo) {
      this.sentUpTo = end;
    }
    this.windowSentAt = performance.now();
    this.arm();
  }

  /** One block of a lock-step transfer: header and data laid into the sender's buffer, one syscall. */
  private sendDirect(direct: DirectSender, n: number, data: Uint8Array): void {
    const pkt = direct.pkt;
    pkt[0] = 0;
    pkt[1] = Op.DATA;
    pkt[2] = (n >> 8) & 0xff;
    pkt[3] = n & 0xff;
    pkt.set(data, 4);
    const r = direct.send(4 + data.length);
    if (r >= 0) return;
    if (RETRY_SEND.has(r)) this.sock.send([dataHeader(n), data]);
    // The client's ICMP port-unreachable (ECONNREFUSED) reaches this send instead of dgram's error event.
    else this.finish({ ok: false, reason: "socket-error", message: `send failed (errno ${-r})`, retransmits: this.retransmits });
  }

  /**
   * Lays the window's packets end to end, header then block, and sends `perSend` of them per
   * syscall; the kernel cuts each send into datagrams of blksize + 4 bytes. A fresh buffer per
   * window: a send the kernel could not take at once still holds it. If the kernel refuses a
   * segmented send (an old kernel, an IPsec route), this transfer goes back to one packet per
   * send and resends the window at once instead of waiting for the timeout.
   */
  private sendSegmented(data: Uint8Array, first: number, end: number, gen: number): void {
    const { blksize } = this.neg;
    const seg = blksize + 4;
    const count = end - first + 1;
    const buf = Buffer.allocUnsafe(count * seg - (count * blksize - data.length));
    for (let i = 0; i < count; i++) {
      const n = first + i;
      const at = i * seg;
      buf[at] = 0;
      buf[at + 1] = Op.DATA;
      buf[at + 2] = (n >> 8) & 0xff;
      buf[at + 3] = n & 0xff;
      buf.set(data.subarray(i * blksize, (i + 1) * blksize), at + 4);
    }
    const onSent = (err: Error | null) => {
      // Other errors (a client gone: ECONNREFUSED) end the transfer through the socket's error event.
      if (!err || !REFUSED_SEGMENTATION.has((err as NodeJS.ErrnoException).code ?? "") || this.perSend === 0 || this.done) return;
      this.perSend = 0;
      disableSegmentation(this.sock);
      if (gen === this.generation) this.sendWindow();
    };
    for (let at = 0; at < buf.length; at += this.perSend * seg) {
      this.sock.send(buf.subarray(at, Math.min(buf.length, at + this.perSend * seg)), onSent);
    }
  }

  private onMessage(msg: Buffer): void {
    if (this.done || msg.length < 4 || msg[0] !== 0) return;
    // ACKs are nearly all the traffic: read the block number without a general decode.
    if (msg[1] === Op.ACK) this.onAck((msg[2]! << 8) | msg[3]!);
    else if (msg[1] === Op.ERROR) {
      let p: ReturnType<typeof decode>;
      try {
        p = decode(msg);
      } catch {
        return;
      }
      if (p.op === Op.ERROR) {
        this.finish({ ok: false, reason: "client-error", code: p.code, message: p.message, retransmits: this.retransmits });
      }
    }
  }

  private onAck(block: number): void {
    if (this.oackPending) {
      if (block !== 0) return;
      this.oackPending = false;
      this.progress();
      this.sendWindow();
      return;
    }
    // Map the 16-bit number onto [base-1, sentUpTo]; anything else is stale or stray.
    const acked = this.base - 1 + ((block - (this.base - 1)) & 0xffff);
    if (acked > this.sentUpTo) return;
    if (acked === this.base - 1) return; // duplicate: the timer, not the ACK, drives resends
    this.progress();
    if (this.last !== null && acked >= this.last) {
      this.finish({ ok: true, bytes: this.file.size ?? 0, retransmits: this.retransmits, segments: this.perSend });
      return;
    }
    this.base = acked + 1;
    this.sendWindow();
  }

  private progress(): void {
    if (!this.windowResent) this.rto.sample(performance.now() - this.windowSentAt);
    this.windowResent = false;
    this.retries = 0;
    this.rto.reset();
  }

  /**
   * Every window moves the deadline, but only a deadline earlier than the pending timer's
   * touches the timer: in lock-step that is one block every few tens of microseconds, and a
   * timer reset per block is work on the critical path. The timer, when it fires, waits out
   * whatever is left of the deadline.
   */
  private arm(): void {
    if (this.done) return;
    this.deadline = this.windowSentAt + this.rto.value;
    if (this.timer && this.timerAt <= this.deadline) return;
    if (this.timer) clearTimeout(this.timer);
    this.schedule(this.windowSentAt);
  }

  private schedule(now: number): void {
    this.timerAt = this.deadline;
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(this.deadline - now)));
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    if (this.done) return;
    const now = performance.now();
    if (now < this.deadline) this.schedule(now);
    else this.onTimeout();
  };

  private onTimeout(): void {
    if (this.done) return;
    if (++this.retries > this.policy.maxRetries) {
      this.sendError("timed out");
      this.finish({ ok: false, reason: "timeout", message: "no ACK from client", retransmits: this.retransmits });
      return;
    }
    this.retransmits++;
    this.windowResent = true;
    this.rto.timedOut();
    if (this.oackPending) this.sendOack();
    else this.sendWindow();
  }

  private send(buf: Buffer): void {
    this.sock.send(buf);
  }

  private sendError(message: string): void {
    // An error packet can be longer than a small block: it must leave as one datagram.
    if (this.perSend > 0) {
      this.perSend = 0;
      disableSegmentation(this.sock);
    }
    this.sock.send(errorPacket(ErrorCode.NOT_DEFINED, message));
  }

  private finish(end: TransferEnd): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.file.close().catch(() => {});
    try {
      this.sock.close();
    } catch {
      // already closed
    }
    this.resolve(end);
  }
}
