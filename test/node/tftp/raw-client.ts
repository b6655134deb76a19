// A scripted TFTP client for loopback tests: sends exactly the packets a test names and
// queues everything the server sends, so tests can misbehave on purpose (drop, duplicate,
// abort) where real clients would not.
import { createSocket, type Socket } from "node:dgram";
import { decode, encode, type Packet } from "../../../appliance/tftp/packet";

export class RawClient {
  readonly sock: Socket;
  private readonly queue: { p: Packet; port: number }[] = [];
  private waiter: (() => void) | null = null;
  /** The server's transfer port (TID), learnt from its first answer. */
  tid = 0;
  received = 0;

  constructor(
    private readonly serverPort: number,
    private readonly host = "127.0.0.1",
  ) {
    this.sock = createSocket("udp4");
    this.sock.on("message", (msg, rinfo) => {
      this.received++;
      if (!this.tid) this.tid = rinfo.port;
      this.queue.push({ p: decode(msg), port: rinfo.port });
      this.waiter?.();
    });
  }

  async open(): Promise<this> {
    await new Promise<void>((r) => this.sock.bind(0, this.host, () => r()));
    return this;
  }

  request(p: Packet): void {
    this.sock.send(encode(p), this.serverPort, this.host);
  }

  /** Send to the transfer's port. */
  send(p: Packet): void {
    this.sock.send(encode(p), this.tid, this.host);
  }

  async next(): Promise<Packet> {
    while (this.queue.length === 0) {
      await new Promise<void>((r) => {
        this.waiter = r;
      });
      this.waiter = null;
    }
    return this.queue.shift()!.p;
  }

  /** Whatever has arrived so far, without waiting. */
  drain(): Packet[] {
    return this.queue.splice(0).map((q) => q.p);
  }

  close(): void {
    this.sock.close();
  }
}
