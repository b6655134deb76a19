// One UDP listen address's queries, answered off the main thread on a socket opened by the
// native helper (appliance/native/udp_gso.c). dgram costs a syscall, a Buffer, an event and a
// callback per datagram, several times the ~2 µs the handler needs for a cached answer; here one
// poll and one recvmmsg take a batch, the handler answers each, and one sendmmsg sends them.
// The thread blocks in poll for up to IDLE_MS when nothing is in flight, so messages from the
// main thread (load, stop) wait at most that long; while forwarded queries are pending it polls
// for BUSY_MS only, so their upstream answers (this thread's own event loop) are not held up.
import { parentPort, workerData } from "node:worker_threads";
import type { Logger } from "../log";
import { ADDR_SLOT, gsoBinding } from "../native/udp-gso";
import { Forwarder } from "./forwarder";
import { DnsHandler, type Transport } from "./handler";
import type { FromWorker, ToWorker, UdpWorkerData } from "./udp-worker-protocol";

/** A query may be as large as a UDP payload: a smaller slot would truncate what dgram passed whole. */
const SLOT = 65536;
/** A UDP reply's slot in the send slab: replies stop at MAX_UDP; a larger one goes by sendBatch. */
const OUT_SLOT = 2048;
const MAX = 64;
const IDLE_MS = 100;
const BUSY_MS = 1;
const TURN_MS = 2;

async function main(): Promise<void> {
  const port = parentPort;
  const native = gsoBinding();
  if (!port || !native) throw new Error("udp-worker: not in a worker thread, or the native helper is missing");
  const b = native;
  const d = workerData as UdpWorkerData;
  const post = (m: FromWorker) => port.postMessage(m);
  // load() logs each record not served; the main thread's handler has already said it.
  let quiet = false;
  const log: Logger = (level, msg, fields) => {
    if (!quiet) post({ type: "log", level, msg, ...(fields ? { fields } : {}) });
  };
  const forwarder = new Forwarder({ log, ...(d.forwardTimeoutMs ? { timeoutMs: d.forwardTimeoutMs } : {}) });
  const handler = new DnsHandler({ axfrAllow: d.axfrAllow, log, forwarder });
  const shared = new Float64Array(d.counters);
  // A replacement for a worker that died carries on from its totals.
  const base = Array.from(shared);
  const publish = () => {
    const h = handler.counters;
    shared[0] = base[0]! + h.queries;
    shared[1] = base[1]! + h.cacheHits;
    shared[2] = base[2]! + h.refused;
    shared[3] = base[3]! + h.forwarded;
    shared[4] = base[4]! + h.dropped;
    shared[5] = base[5]! + h.formerr;
    shared[6] = base[6]! + h.notimp;
    shared[7] = base[7]! + h.nxdomain;
    shared[8] = base[8]! + h.axfr;
    shared[9] = base[9]! + forwarder.cacheHits;
    shared[10] = base[10]! + forwarder.upstreamQueries;
    shared[11] = base[11]! + forwarder.failures;
  };

  let stopping = false;
  port.on("message", (m: ToWorker) => {
    if (m.type === "stop") stopping = true;
    else if (m.type === "load") {
      quiet = true;
      try {
        handler.load(m.dns, m.siteCidrs);
        post({ type: "loaded", id: m.id });
      } catch (e) {
        post({ type: "loaded", id: m.id, error: String(e) });
      } finally {
        quiet = false;
      }
    }
  });

  const buf = Buffer.allocUnsafe(SLOT * MAX);
  const lens = new Int32Array(MAX);
  const addrs = Buffer.alloc(ADDR_SLOT * MAX);
  const out: Buffer[] = [];
  const idx = new Int32Array(MAX);
  // Replies laid out for sendSlab: reply j at slab[j * OUT_SLOT], lens[j] bytes, to slot sidx[j].
  const slab = Buffer.allocUnsafe(OUT_SLOT * MAX);
  const slens = new Int32Array(MAX);
  const sidx = new Int32Array(MAX);
  const one = new Int32Array(1);
  let pending = 0;

  // The sender's address as a string only when the handler asks (recursion and transfer ACLs):
  // a cached answer never needs it.
  class Peer implements Transport {
    readonly tcp = false;
    private a: string | null = null;
    constructor(private readonly slot: number) {}
    get address(): string {
      if (this.a === null) this.a = b.addrString(addrs, this.slot);
      return this.a;
    }
  }

  const sendLater = (reply: Promise<Buffer | null>, slot: number) => {
    const to = Buffer.from(addrs.subarray(slot * ADDR_SLOT, (slot + 1) * ADDR_SLOT));
    pending++;
    reply.then(
      (m) => {
        pending--;
        if (!m || stopping) return;
        publish();
        const r = b.sendBatch(d.fd, [m], to, one, 1);
        if (r < 0) log("debug", "dns: udp send failed", { errno: -r });
      },
      () => {
        pending--;
      },
    );
  };

  post({ type: "ready" });
  let lastTurn = performance.now();
  while (!stopping) {
    const n = b.recvBatch(d.fd, buf, SLOT, lens, addrs, MAX, pending > 0 ? BUSY_MS : IDLE_MS);
    if (n < 0) {
      log("warn", "dns: udp socket error", { errno: -n });
      await new Promise((r) => setTimeout(r, IDLE_MS));
      continue;
    }
    let k = 0;
    let j = 0;
    for (let i = 0; i < n; i++) {
      // Most queries are cache hits, answered straight from the receive buffer into the slab.
      const hit = handler.answerCachedInto(buf, i * SLOT, i * SLOT + lens[i]!, slab, j * OUT_SLOT);
      if (hit >= 0) {
        slens[j] = hit;
        sidx[j++] = i;
        continue;
      }
      // A copy: the batch buffer is reused, and a forwarded query keeps its message until answered.
      const msg = Buffer.from(buf.subarray(i * SLOT, i * SLOT + lens[i]!));
      let reply: ReturnType<DnsHandler["handle"]>;
      const from = new Peer(i);
      try {
        reply = handler.handle(msg, from);
      } catch (e) {
        log("debug", "dns: message dropped", { from: from.address, error: String(e), bytes: msg.length });
        continue;
      }
      if (reply === null) continue;
      let m: Buffer | undefined;
      if (Buffer.isBuffer(reply)) m = reply;
      else if (Array.isArray(reply)) m = reply[0];
      else {
        sendLater(reply, i);
        continue;
      }
      if (!m) continue;
      // One sendmmsg for the whole batch when every reply fits the slab, as they all do over UDP.
      if (m.length <= OUT_SLOT) {
        m.copy(slab, j * OUT_SLOT);
        slens[j] = m.length;
        sidx[j++] = i;
      } else {
        out.push(m);
        idx[k++] = i;
      }
    }
    publish();
    if (j > 0) {
      const r = b.sendSlab(d.fd, slab, OUT_SLOT, slens, addrs, sidx, j);
      if (r < 0) log("debug", "dns: udp send failed", { errno: -r });
    }
    if (k > 0) {
      const r = b.sendBatch(d.fd, out, addrs, idx, k);
      if (r < 0) log("debug", "dns: udp send failed", { errno: -r });
      out.length = 0;
    }
    // The thread's event loop (messages from the main thread, upstream answers) runs between
    // batches, but under load not after every one: a turn of it is an epoll_wait syscall, as
    // much as the batch's own recvmmsg. Forwarded queries waiting, or an idle socket, go at once.
    if (pending > 0 || n === 0 || performance.now() - lastTurn >= TURN_MS) {
      await new Promise((r) => setImmediate(r));
      lastTurn = performance.now();
    }
  }
  forwarder.close();
  publish();
  port.close();
}

await main();
