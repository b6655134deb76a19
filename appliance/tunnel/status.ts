// The rack's status report to the region: which services run and how many journaled events
// wait for the region's ack. Not journaled (the latest report is all the region keeps): sent
// after every welcome, then whenever it changes, at most once per interval so a busy journal
// does not turn into a frame per event.
import { PROTOCOL_VERSION, RACK_SERVICES, type RackServiceName, type ServiceStatus, type StatusMessage } from "../../shared/tunnel/protocol";

/** Least time between two reports of a connected rack (the first after a welcome is immediate). */
export const REPORT_MIN_INTERVAL_MS = 5_000;

export interface StatusReporterOptions {
  journalDepth(): number;
  /** Sends one frame; false when the tunnel is not open (the report then waits for the next welcome). */
  send(frame: string): boolean;
  minIntervalMs?: number;
  now?: () => number;
}

export class StatusReporter {
  private readonly services = new Map<RackServiceName, ServiceStatus>();
  private open = false;
  private lastSent: string | null = null;
  private lastAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: StatusReporterOptions) {
    // Until told otherwise a service is not configured on this rack.
    for (const name of RACK_SERVICES) this.services.set(name, { name, state: "disabled" });
  }

  /** Sets some services' states (others keep theirs) and reports if that changed anything. */
  set(states: ServiceStatus[]): void {
    for (const s of states) this.services.set(s.name, { name: s.name, state: s.state, ...(s.error ? { error: s.error.slice(0, 200) } : {}) });
    this.check();
  }

  report(): StatusMessage {
    return { t: "status", v: PROTOCOL_VERSION, services: [...this.services.values()], journalDepth: this.o.journalDepth() };
  }

  /** The region welcomed us: it hears the current state now, whatever it heard before. */
  connected(): void {
    this.open = true;
    this.lastSent = null;
    this.lastAt = Number.NEGATIVE_INFINITY;
    this.check();
  }

  disconnected(): void {
    this.open = false;
    this.clearTimer();
  }

  /** Sends the report if it changed since the last one sent, now or when the interval allows. */
  check(): void {
    if (!this.open || this.timer) return;
    const frame = JSON.stringify(this.report());
    if (frame === this.lastSent) return;
    const now = (this.o.now ?? Date.now)();
    const wait = this.lastAt + (this.o.minIntervalMs ?? REPORT_MIN_INTERVAL_MS) - now;
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.check();
      }, wait);
      this.timer.unref();
      return;
    }
    if (!this.o.send(frame)) return;
    this.lastSent = frame;
    this.lastAt = now;
  }

  stop(): void {
    this.open = false;
    this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
