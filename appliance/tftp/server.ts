// TftpServer(socket on port 69, FileProvider): read-only. Each accepted request gets its own
// ephemeral socket (its TID, RFC 1350 §4) connected to the client, so transfers never share
// state and the kernel drops packets from any other peer.
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { type FileProvider, type TftpFile, TftpRefusal } from "./files";
import { netasciiFile } from "./netascii";
import { DEFAULT_LIMITS, type Limits, negotiate } from "./options";
import { decode, ErrorCode, errorPacket, Op, type RequestPacket, TftpDecodeError } from "./packet";
import { DEFAULT_RTO, type RtoPolicy } from "./rto";
import { ReadTransfer, type TransferEnd } from "./transfer";

export type TftpEvent =
  | { type: "listening"; address: string; port: number }
  | { type: "start"; client: string; file: string; blksize: number; windowsize: number; size: number | null }
  | { type: "end"; client: string; file: string; result: TransferEnd; ms: number }
  | { type: "refused"; client: string; file: string; code: number; message: string }
  | { type: "bad-packet"; client: string; message: string };

export interface TftpServerOptions {
  provider: FileProvider;
  /** Bind address; the ephemeral transfer sockets bind to the same one. Default 0.0.0.0. */
  address?: string;
  /** Default 69. */
  port?: number;
  limits?: Limits;
  rto?: RtoPolicy;
  /** Structured events (log them, count them). Must not throw. */
  onEvent?: (e: TftpEvent) => void;
}

export class TftpServer {
  private socket: Socket | null = null;
  private readonly active = new Map<string, ReadTransfer>();
  private readonly address: string;
  private readonly emit: (e: TftpEvent) => void;

  constructor(private readonly opts: TftpServerOptions) {
    this.address = opts.address ?? "0.0.0.0";
    this.emit = opts.onEvent ?? (() => {});
  }

  async listen(): Promise<{ address: string; port: number }> {
    const sock = createSocket({ type: isIPv6(this.address) ? "udp6" : "udp4" });
    this.socket = sock;
    sock.on("message", (msg, rinfo) => {
      void this.onRequest(msg, rinfo.address, rinfo.port);
    });
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(this.opts.port ?? 69, this.address, () => {
        sock.off("error", reject);
        resolve();
      });
    });
    // A bad datagram must never take the server down.
    sock.on("error", () => {});
    const a = sock.address();
    this.emit({ type: "listening", address: a.address, port: a.port });
    return { address: a.address, port: a.port };
  }

  async close(): Promise<void> {
    for (const t of this.active.values()) t.abort();
    this.active.clear();
    const s = this.socket;
    this.socket = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  /** Transfers in progress (for metrics and tests). */
  get activeTransfers(): number {
    return this.active.size;
  }

  private async onRequest(msg: Buffer, host: string, port: number): Promise<void> {
    const client = `${host}:${port}`;
    let req: RequestPacket;
    try {
      const p = decode(msg);
      if (p.op !== Op.RRQ && p.op !== Op.WRQ) return; // not a request: not ours on port 69
      req = p;
    } catch (e) {
      const message = e instanceof TftpDecodeError ? e.message : String(e);
      this.emit({ type: "bad-packet", client, message });
      const op = msg.length >= 2 ? msg.readUInt16BE(0) : 0;
      if (op === Op.RRQ || op === Op.WRQ) await this.reject(host, port, ErrorCode.ILLEGAL_OPERATION, message);
      // RFC 1350: an opcode outside 1..5 (6, OACK, is RFC 2347's) is "Illegal TFTP operation".
      else if (msg.length >= 2 && !Object.values(Op).includes(op as never)) {
        await this.reject(host, port, ErrorCode.ILLEGAL_OPERATION, "Illegal TFTP operation");
      }
      return;
    }
    // The client resends its RRQ when our first answer is slow; the running transfer answers it.
    if (this.active.has(client)) return;
    if (req.op === Op.WRQ) {
      this.emit({ type: "refused", client, file: req.filename, code: ErrorCode.ACCESS_VIOLATION, message: "read-only" });
      await this.reject(host, port, ErrorCode.ACCESS_VIOLATION, "read-only server");
      return;
    }
    let file: TftpFile | null;
    try {
      file = await this.opts.provider.open(req.filename);
      if (file && req.mode === "netascii") file = await netasciiFile(file);
    } catch (e) {
      const code = e instanceof TftpRefusal ? e.code : ErrorCode.NOT_DEFINED;
      const message = e instanceof TftpRefusal ? e.message : "cannot read file";
      this.emit({ type: "refused", client, file: req.filename, code, message });
      await this.reject(host, port, code, message);
      return;
    }
    if (!file) {
      this.emit({ type: "refused", client, file: req.filename, code: ErrorCode.FILE_NOT_FOUND, message: "not found" });
      await this.reject(host, port, ErrorCode.FILE_NOT_FOUND, "file not found");
      return;
    }
    if (!this.socket) {
      await file.close();
      return;
    }
    const neg = negotiate(req.options, file.size, this.opts.limits ?? DEFAULT_LIMITS);
    let sock: Socket;
    try {
      sock = await this.transferSocket(host, port);
    } catch {
      await file.close();
      return;
    }
    const t = new ReadTransfer(sock, file, neg, this.opts.rto ?? DEFAULT_RTO);
    this.active.set(client, t);
    const started = performance.now();
    this.emit({ type: "start", client, file: req.filename, blksize: neg.blksize, windowsize: neg.windowsize, size: file.size });
    t.start();
    const result = await t.finished;
    this.active.delete(client);
    this.emit({ type: "end", client, file: req.filename, result, ms: performance.now() - started });
  }

  private async transferSocket(host: string, port: number): Promise<Socket> {
    const sock = createSocket({ type: isIPv6(host) ? "udp6" : "udp4" });
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(0, this.address, () => {
        sock.connect(port, host, () => {
          sock.off("error", reject);
          resolve();
        });
      });
    });
    return sock;
  }

  private async reject(host: string, port: number, code: number, message: string): Promise<void> {
    try {
      const sock = await this.transferSocket(host, port);
      sock.on("error", () => sock.close());
      sock.send(errorPacket(code, message), () => sock.close());
    } catch {
      // the client is gone; nothing to tell it
    }
  }
}
