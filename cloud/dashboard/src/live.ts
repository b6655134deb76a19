// One EventSource per page on /api/v1/stream. The browser reconnects by itself with
// Last-Event-ID after a normal end; after an error that closes it (the region down, the session
// ended) we reopen with bounded exponential backoff and jitter, and tell views to reload
// whatever they show, since events may have been missed.
import { useEffect, useRef, useState, useSyncExternalStore } from "react";
import type { RegionEvent } from "./types";

export type LiveState = "connecting" | "live" | "reconnecting";
type Listener = { onEvent?: (e: RegionEvent) => void; onRacks?: () => void; onResync?: () => void };

let state: LiveState = "connecting";
const stateListeners = new Set<() => void>();
const listeners = new Set<Listener>();
let source: EventSource | null = null;
let attempt = 0;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let lastId: number | null = null;
let stopped = true;

function setState(s: LiveState) {
  if (s === state) return;
  state = s;
  for (const f of stateListeners) f();
}

function open() {
  if (stopped) return;
  const es = new EventSource(`/api/v1/stream${lastId === null ? "" : `?after=${lastId}`}`);
  source = es;
  es.addEventListener("hello", (m) => {
    const hello = JSON.parse((m as MessageEvent).data) as { after: number; reset: boolean };
    const wasDown = attempt > 0 || state === "reconnecting";
    attempt = 0;
    setState("live");
    // After a drop, or when the region says the gap was too long, views reload their data.
    if (wasDown || hello.reset) for (const l of listeners) l.onResync?.();
  });
  es.addEventListener("event", (m) => {
    const msg = m as MessageEvent;
    const e = JSON.parse(msg.data) as RegionEvent;
    lastId = e.id;
    for (const l of listeners) l.onEvent?.(e);
  });
  es.addEventListener("racks", () => {
    for (const l of listeners) l.onRacks?.();
  });
  es.onerror = () => {
    if (es.readyState === EventSource.CONNECTING) {
      setState("reconnecting");
      return;
    }
    es.close();
    setState("reconnecting");
    const delay = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2);
    attempt++;
    retryTimer = setTimeout(open, delay);
  };
}

export function startLive() {
  if (!stopped) return;
  stopped = false;
  open();
}

export function stopLive() {
  stopped = true;
  clearTimeout(retryTimer);
  source?.close();
  source = null;
  setState("connecting");
}

export function useLiveState(): LiveState {
  return useSyncExternalStore(
    (f) => {
      stateListeners.add(f);
      return () => stateListeners.delete(f);
    },
    () => state,
  );
}

/** Subscribes a view to live events while it is mounted; the latest callbacks are always used. */
export function useLive(l: Listener) {
  const latest = useRef(l);
  latest.current = l;
  useEffect(() => {
    const proxy: Listener = {
      onEvent: (e) => latest.current.onEvent?.(e),
      onRacks: () => latest.current.onRacks?.(),
      onResync: () => latest.current.onResync?.(),
    };
    listeners.add(proxy);
    return () => {
      listeners.delete(proxy);
    };
  }, []);
}

/** Re-renders every `ms` so relative times ("3 min ago") stay true. */
export function useTick(ms: number) {
  const [, set] = useState(0);
  useEffect(() => {
    const t = setInterval(() => set((n) => n + 1), ms);
    return () => clearInterval(t);
  }, [ms]);
}
