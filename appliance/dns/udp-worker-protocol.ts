// What the DNS server's main thread and its UDP workers (./udp-worker.ts) say to each other.
// Apart from the worker so that importing it does not start one.
import type { DnsConfig } from "../../shared/dns/zone";
import type { Fields, Level } from "../log";

export interface UdpWorkerData {
  fd: number;
  axfrAllow: string[];
  forwardTimeoutMs?: number;
  /** Float64Array over it: COUNTER_KEYS, this worker's totals, published after every batch. */
  counters: SharedArrayBuffer;
}

export type ToWorker = { type: "load"; id: number; dns: DnsConfig; siteCidrs: string[] } | { type: "stop" };
export type FromWorker = { type: "ready" } | { type: "loaded"; id: number; error?: string } | { type: "log"; level: Level; msg: string; fields?: Fields };

export const COUNTER_KEYS = [
  "queries",
  "cacheHits",
  "refused",
  "forwarded",
  "dropped",
  "formerr",
  "notimp",
  "nxdomain",
  "axfr",
  "forwarderCacheHits",
  "upstreamQueries",
  "upstreamFailures",
] as const;
