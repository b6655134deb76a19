// The appliance daemon: one rack's backbone. It owns the tunnel to the region, the command
// executor and ledger, the outgoing event journal and the last config snapshot. Site services
// plug in through two seams: `emit()` for their events, `config` / `onConfig()` for the state
// they serve from (in process), or the same over the local API socket (other processes).
import { createHash } from "node:crypto";
import type { Server } from "node:http";
import type { ConfigSnapshot } from "../shared/tunnel/config";
import { POWER_POLL_CAPABILITY } from "../shared/tunnel/commands";
import type { EventInput } from "../shared/tunnel/events";
import { type HelloMessage, MAX_EVENTS_PER_FRAME, PROTOCOL_VERSION, type RegionMessage, type ServiceStatus } from "../shared/tunnel/protocol";
import { EventJournal } from "./journal/events";
import { CommandLedger } from "./journal/ledger";
import type { BackoffOptions } from "./tunnel/backoff";
import { TunnelClient } from "./tunnel/client";
import { localInterfaces } from "./tunnel/enrol";
import { Executor } from "./commands/executor";
import { Limiter } from "./commands/limiter";
import { DEFAULT_POLL_CONCURRENCY } from "./commands/power-poll";
import { startLocalApi } from "./tunnel/local-api";
import { StatusReporter } from "./tunnel/status";
import type { Logger } from "./log";
import { StateDir } from "./state/dir";

export const APPLIANCE_VERSION = "0.1.0";
/** Events sent but not yet acknowledged, at most: bounds what a cut socket wastes. */
const EVENT_WINDOW = MAX_EVENTS_PER_FRAME * 10;

export interface DaemonOptions {
  stateDir: string;
  /** Overrides the region URL stored at enrolment (e.g. after a region move). */
  region?: string;
  log: Logger;
  backoff?: BackoffOptions;
  heartbeatMs?: number;
  deadAfterMs?: number;
  /** Least time between two status reports to the region (default 5 s). */
  statusIntervalMs?: number;
  /** Test hook: no real waits between power retries. */
  retrySleep?: (s: number) => Promise<void>;
  localApi?: boolean;
  /** Power-poll queries in flight at once for this appliance (default 8). */
  powerPollConcurrency?: number;
}

export class Daemon {
  private client!: TunnelClient;
  private journal!: EventJournal;
  private ledger!: CommandLedger;
  private executor!: Executor;
  private health!: StatusReporter;
  private snapshot: ConfigSnapshot | null = null;
  private readonly configListeners = new Set<(s: ConfigSnapshot) => void>();
  private sentUpTo = 0;
  private pumpQueued = false;
  private ackBatch: string[] = [];
  private statusTimer: NodeJS.Timeout | null = null;
  private api: Server | null = null;
  private readonly state: StateDir;
  private credential = "";
  private rackId = "";
  private region = "";

  constructor(private readonly o: DaemonOptions) {
    this.state = new StateDir(o.stateDir);
  }

  async start(): Promise<void> {
    const cred = this.state.readCredential();
    if (!cred) throw new Error(`not enrolled: no credential in ${this.o.stateDir} (run plinth-appliance enrol)`);
    this.credential = cred.credential;
    this.rackId = cred.rackId;
    this.region = (this.o.region ?? cred.region).replace(/\/+$/, "");
    this.snapshot = this.state.readConfig();
    this.journal = await EventJournal.open(this.o.stateDir);
    this.ledger = await CommandLedger.open(this.o.stateDir);
    const interrupted = this.ledger.interrupted();
    if (interrupted.length)
      this.o.log("warn", "commands interrupted by the last stop will not be run again", { ids: interrupted.slice(0, 20), count: interrupted.length });
    this.executor = new Executor(this.ledger, {
      log: this.o.log,
      retrySleep: this.o.retrySleep,
      configVersion: () => this.snapshot?.version ?? null,
      pollLimiter: new Limiter(this.o.powerPollConcurrency ?? DEFAULT_POLL_CONCURRENCY),
    });
    this.journal.onAppend(() => {
      this.schedulePump();
      this.health.check();
    });
    this.health = new StatusReporter({
      journalDepth: () => this.journal.depth,
      send: (frame) => this.client.send(frame),
      ...(this.o.statusIntervalMs !== undefined ? { minIntervalMs: this.o.statusIntervalMs } : {}),
    });
    // Power commands are run by this process itself: the service is up as long as it is.
    this.health.set([{ name: "power", state: "ok" }]);
    this.client = new TunnelClient(
      {
        region: this.region,
        rackId: this.rackId,
        credential: () => this.credential,
        backoff: this.o.backoff,
        heartbeatMs: this.o.heartbeatMs,
        deadAfterMs: this.o.deadAfterMs,
      },
      {
        hello: () => this.hello(cred.hostname),
        onOpen: (w) => void this.onOpen(w.lastEventSeq),
        onMessage: (m) => this.onMessage(m),
        onClose: () => {
          this.sentUpTo = 0;
          this.health.disconnected();
        },
        log: this.o.log,
      },
    );
    if (this.o.localApi !== false)
      this.api = await startLocalApi(this.state.path("appliance.sock"), {
        status: () => this.status(),
        config: () => this.snapshot,
        emit: (e) => this.emit(e),
      });
    this.statusTimer = setInterval(() => this.writeStatus(), 2000);
    this.statusTimer.unref();
    this.client.start();
    this.o.log("info", "appliance started", {
      rack: this.rackId,
      region: this.region,
      journal_depth: this.journal.depth,
      config_version: this.snapshot?.version ?? null,
    });
  }

  // ---- seams for site services ----

  /** Journals an event (on disk before this resolves) and sends it when the tunnel allows. */
  emit(e: EventInput): Promise<number> {
    return this.journal.append(e);
  }

  get config(): ConfigSnapshot | null {
    return this.snapshot;
  }

  /** The tunnel is up and welcomed: what is emitted now goes out now. */
  online(): boolean {
    return this.client?.open ?? false;
  }

  /** Site services say how they are (ok, failed with a short error, or disabled). */
  setServices(states: ServiceStatus[]): void {
    this.health.set(states);
  }

  onConfig(fn: (s: ConfigSnapshot) => void): () => void {
    this.configListeners.add(fn);
    return () => this.configListeners.delete(fn);
  }

  // ---- tunnel ----

  private hello(hostname: string): HelloMessage {
    return {
      t: "hello",
      v: PROTOCOL_VERSION,
      rackId: this.rackId,
      version: APPLIANCE_VERSION,
      hostname,
      interfaces: localInterfaces(),
      capabilities: ["power", "events", "config", POWER_POLL_CAPABILITY],
      journal: this.journal.id,
      configVersion: this.snapshot?.version ?? null,
    };
  }

  private async onOpen(regionHas: number): Promise<void> {
    // The region stored everything up to regionHas: those are done even if their ack was lost.
    await this.journal.ack(Math.min(regionHas, this.journal.lastSeq));
    this.sentUpTo = Math.max(regionHas, this.journal.ackedUpTo);
    this.health.connected();
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.client.open && this.sentUpTo - this.journal.ackedUpTo < EVENT_WINDOW) {
      const batch = this.journal.after(this.sentUpTo, MAX_EVENTS_PER_FRAME);
      if (!batch.length) return;
      if (!this.client.send(JSON.stringify({ t: "event", v: PROTOCOL_VERSION, events: batch }))) return;
      this.sentUpTo = batch.at(-1)!.seq;
    }
  }

  private onMessage(m: Exclude<RegionMessage, { t: "welcome" }>): void {
    switch (m.t) {
      case "command":
        this.queueAck(m.id);
        this.executor.handle(m).then(
          (r) =>
            this.client.send(
              JSON.stringify({
                t: "result",
                v: PROTOCOL_VERSION,
                id: r.id,
                ok: r.outcome.ok,
                ...(r.outcome.data ? { data: r.outcome.data } : {}),
                ...(r.outcome.error ? { error: r.outcome.error } : {}),
                ...(r.replay ? { replay: true } : {}),
              }),
            ),
          (e: unknown) => this.o.log("error", "command failed to run", { id: m.id, error: String(e) }),
        );
        return;
      case "ack":
        this.journal.ack(m.upTo).then(
          () => {
            this.schedulePump();
            this.health.check();
          },
          (e: unknown) => this.o.log("error", "journal ack failed", { error: String(e) }),
        );
        return;
      case "config":
        this.applyConfig(m.snapshot);
        return;
      case "credential":
        this.applyCredential(m.credential);
        return;
      case "error":
        this.o.log("warn", "the region reported an error", { code: m.code, message: m.message });
        return;
      case "heartbeat":
        return;
    }
  }

  private queueAck(id: string): void {
    this.ackBatch.push(id);
    if (this.ackBatch.length > 1) return;
    // Acks of one burst of commands travel together.
    setImmediate(() => {
      const ids = this.ackBatch;
      this.ackBatch = [];
      for (let i = 0; i < ids.length; i += 1000) this.client.send(JSON.stringify({ t: "ack", v: PROTOCOL_VERSION, commands: ids.slice(i, i + 1000) }));
    });
  }

  private applyConfig(s: ConfigSnapshot): void {
    try {
      this.state.writeConfig(s);
      this.snapshot = s;
      this.client.send(JSON.stringify({ t: "config.ack", v: PROTOCOL_VERSION, version: s.version }));
      this.o.log("info", "config snapshot applied", { version: s.version, subnets: s.subnets.length, boot_intents: s.bootIntents.length });
      for (const l of this.configListeners) l(s);
    } catch (e) {
      this.o.log("error", "could not persist the config snapshot", { error: String(e) });
    }
  }

  private applyCredential(credential: string): void {
    const cred = this.state.readCredential();
    if (!cred) return;
    // On disk first: if we die right after acking, the next start already has the new one.
    this.state.writeCredential({ ...cred, credential });
    this.credential = credential;
    const fingerprint = createHash("sha256").update(`fp:${credential}`).digest("hex").slice(0, 16);
    this.client.send(JSON.stringify({ t: "credential.ack", v: PROTOCOL_VERSION, fingerprint }));
    this.o.log("info", "rack credential rotated");
  }

  // ---- status and shutdown ----

  status() {
    return {
      pid: process.pid,
      rack_id: this.rackId,
      region: this.region,
      tunnel: this.client?.state ?? "stopped",
      connects: this.client?.connects ?? 0,
      last_error: this.client?.lastError ?? null,
      pending_commands: this.executor?.inFlight ?? 0,
      commands_executed: this.executor?.executed ?? 0,
      journal: { depth: this.journal?.depth ?? 0, last_seq: this.journal?.lastSeq ?? 0, acked_up_to: this.journal?.ackedUpTo ?? 0 },
      config_version: this.snapshot?.version ?? null,
      services: this.health?.report().services ?? [],
      updated_at: new Date().toISOString(),
    };
  }

  private writeStatus(): void {
    try {
      this.state.writeStatus(this.status());
    } catch (e) {
      this.o.log("warn", "could not write status.json", { error: String(e) });
    }
  }

  async stop(): Promise<void> {
    this.o.log("info", "appliance stopping");
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.health?.stop();
    await this.executor?.drain(10_000);
    await this.client?.stop();
    await new Promise<void>((r) => (this.api ? this.api.close(() => r()) : r()));
    this.writeStatus();
    await this.journal?.close();
    await this.ledger?.close();
  }
}
