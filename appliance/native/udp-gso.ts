// Loader for the UDP helper (udp_gso.c, built by scripts/build-native.mjs at install): segmentation
// for TFTP, and batched receive and send for the DNS server. It is optional: without it, or on a
// kernel without UDP_SEGMENT, callers send one datagram per packet through node:dgram as before,
// only slower.
import type { Socket } from "node:dgram";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Binding {
  setSegment(fd: number, size: number): number;
  pathMtu(fd: number): number;
  // A DNS server in Node 20 spends most of a cached answer's time in dgram's per-packet work
  // (a recvmsg and a sendmsg syscall, a Buffer, an event and a callback per datagram; Node 20
  // has neither recvmmsg nor reusePort). These move many datagrams per syscall instead; see
  // appliance/dns/udp-worker.ts. Negative returns are -errno.
  /** A bound, blocking UDP socket (IPV6_V6ONLY for family 6): its fd. */
  udpOpen(family: 4 | 6, address: string, port: number): number;
  udpLocalPort(fd: number): number;
  /**
   * Waits up to `timeoutMs` for datagrams, then reads up to `max` (at most 256): datagram i at
   * `buf[i * slot]`, its length in `lens[i]`, its sender in `addrs[i * ADDR_SLOT]`. 0 on timeout.
   */
  recvBatch(fd: number, buf: Buffer, slot: number, lens: Int32Array, addrs: Buffer, max: number, timeoutMs: number): number;
  /** `bufs[i]` to the sender in slot `idx[i]` of `addrs`, for i < n (at most 256): how many were sent. */
  sendBatch(fd: number, bufs: Buffer[], addrs: Buffer, idx: Int32Array, n: number): number;
  /**
   * `lens[i]` bytes at `slab[i * slot]` to the sender in slot `idx[i]` of `addrs`, for i < n (at
   * most 256): how many were sent. sendBatch without a Buffer per datagram.
   */
  sendSlab(fd: number, slab: Buffer, slot: number, lens: Int32Array, addrs: Buffer, idx: Int32Array, n: number): number;
  /** `len` bytes of `buf` as one datagram on a connected socket: bytes sent, else -errno. */
  sendConnected(fd: number, buf: Buffer, len: number): number;
  /** The sender in slot `slot` of `addrs`, spelled as dgram's rinfo.address. */
  addrString(addrs: Buffer, slot: number): string;
  closeFd(fd: number): number;
}

/** Bytes per sender address in recvBatch/sendBatch's `addrs` (a sockaddr_in6). */
export const ADDR_SLOT = 28;

export const GSO_ADDON_PATH = join(dirname(fileURLToPath(import.meta.url)), "build", "udp_gso.node");

let binding: Binding | null | undefined;

/** The compiled helper, or null when it was not built (no C compiler at install). */
export function gsoBinding(): Binding | null {
  if (binding !== undefined) return binding;
  binding = null;
  if (existsSync(GSO_ADDON_PATH)) {
    try {
      binding = createRequire(import.meta.url)(GSO_ADDON_PATH) as Binding;
    } catch {
      binding = null;
    }
  }
  return binding;
}

/**
 * The socket's file descriptor. dgram keeps its libuv handle behind a private symbol; the
 * public `_handle` getter is deprecated (DEP0112) and would print a warning.
 */
export function socketFd(sock: Socket): number | null {
  for (const sym of Object.getOwnPropertySymbols(sock)) {
    const state = (sock as unknown as Record<symbol, unknown>)[sym];
    if (state && typeof state === "object" && "handle" in state) {
      const fd = (state as { handle?: { fd?: unknown } }).handle?.fd;
      return typeof fd === "number" && fd >= 0 ? fd : null;
    }
  }
  return null;
}

/** Largest UDP payload of one send, and the kernel's segment count limit (UDP_MAX_SEGMENTS). */
const MAX_SEND = 65507;
const MAX_SEGMENTS = 64;

/**
 * Turns on segmentation for a connected socket whose datagrams are all `segment` bytes (the
 * last of a send may be shorter). Returns how many datagrams one send may carry, or 0 when
 * segmentation is off: no helper, no kernel support, or datagrams that would not fit the path
 * MTU unfragmented (the kernel refuses to segment those; plain sends let IP fragment them).
 */
export function enableSegmentation(sock: Socket, segment: number): number {
  const b = gsoBinding();
  const fd = b ? socketFd(sock) : null;
  if (!b || fd === null) return 0;
  const perSend = Math.min(MAX_SEGMENTS, Math.floor(MAX_SEND / segment));
  if (perSend < 2) return 0;
  const mtu = b.pathMtu(fd);
  const ipHeader = sock.remoteAddress().family === "IPv6" ? 40 : 20;
  if (mtu <= 0 || segment + 8 + ipHeader > mtu) return 0;
  return b.setSegment(fd, segment) === 0 ? perSend : 0;
}

/** Back to one datagram per send (after the kernel refused a segmented send). */
export function disableSegmentation(sock: Socket): void {
  const b = gsoBinding();
  const fd = b ? socketFd(sock) : null;
  if (b && fd !== null) b.setSegment(fd, 0);
}

/** One datagram written into `pkt`, then sent: the helper's answer (1, or -errno). */
export interface DirectSender {
  readonly pkt: Buffer;
  send(length: number): number;
}

/**
 * Sends datagrams of up to `size` bytes on a connected socket with one synchronous send() from
 * the helper, or null (no helper, or one built before it had sendConnected). In lock-step TFTP
 * every block waits for its ACK, so the send is on the critical path: dgram's send allocates a
 * request object, an array and a callback slot per datagram; this reuses one buffer, which is
 * safe because the kernel has copied it before send() returns.
 */
export function directSender(sock: Socket, size: number): DirectSender | null {
  const b = gsoBinding();
  const fd = b ? socketFd(sock) : null;
  if (!b || fd === null || typeof b.sendConnected !== "function") return null;
  const pkt = Buffer.allocUnsafe(size);
  return { pkt, send: (length) => b.sendConnected(fd, pkt, length) };
}
