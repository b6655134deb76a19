// One Durable Object per rack appliance: it holds the rack's WebSocket with the hibernation
// API, keeps commands in its storage until their result or deadline, dedupes the rack's
// numbered events, and pushes config snapshots. Nothing needed after a wake-up lives only in
// memory: identity is in the socket attachment, the queue and sequence numbers in storage.
// It is transport only: what a frame means for the region (a result, an event, an ack) is the
// domain layer's (cloud/domain/racks/), and this file writes D1 only through it.
import { DurableObject } from "cloudflare:workers";
import {
  type ApplianceMessage,
  ApplianceMessageSchema,
  CLOSE,
  DEAD_AFTER_MS,
  errorFrame,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_PING,
  HEARTBEAT_PONG,
  type HelloMessage,
  PROTOCOL_VERSION,
  parseFrame,
  type RegionMessage,
  ResultSchema,
} from "../../shared/tunnel/protocol";
import type { Env } from "../env";
import { isBenignTransportError, safeClose, safeSend } from "./close-codes";
import { buildSnapshot } from "./config";
import { credentialFingerprint, retireOldCredential } from "../domain/racks/credentials";
import type { CommandOutcome, EnqueueResult, RackTunnelRpc, StoredCommand } from "../domain/racks/delivery";
import { type Landing, landResults } from "../domain/racks/inbound";
import { landEvents } from "../domain/racks/landing";
import { applyRackEvents } from "../domain/racks/rack-events";
import { markConnected, recordConfigAck, recordRackStatus, touchRack } from "../domain/racks/racks";
import { CommandQueue } from "./queue";

interface Attachment {
  rackId: string;
  connectedAt: number;
  hello: boolean;
  journal: string | null;
}

interface JournalState {
  id: string;
  lastSeq: number;
}

const send = (ws: WebSocket, msg: RegionMessage) => safeSend(ws, JSON.stringify(msg));

export class RackTunnel extends DurableObject<Env> implements RackTunnelRpc {
  private readonly queue: CommandQueue;
  /** API calls waiting briefly for a result (only while that call keeps us awake). */
  private readonly waiters = new Map<string, (o: CommandOutcome) => void>();
  /** Results parsed on arrival (or expired by the alarm), waiting for the next batch write. */
  private readonly results: { id: string; outcome: CommandOutcome }[] = [];
  /** Messages are handled one at a time: event numbering and acks depend on order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.queue = new CommandQueue(ctx.storage);
    // Heartbeats are answered by the runtime without waking us; the alarm reads their timestamps.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(HEARTBEAT_PING, HEARTBEAT_PONG));
  }

  override async fetch(request: Request): Promise<Response> {
    const rackId = request.headers.get("x-plinth-rack");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !rackId) {
      return new Response(JSON.stringify({ error: { code: "upgrade_required", message: "open the tunnel as a WebSocket" } }), {
        status: 426,
        headers: { "content-type": "application/json" },
      });
    }
    await this.ctx.storage.put("rackId", rackId);
    // One live connection per rack: a reconnect replaces a socket the region still thinks is open.
    for (const old of this.ctx.getWebSockets()) safeClose(old, CLOSE.replaced, "replaced by a new connection");
    const pair = new WebSocketPair();
    const server = pair[1];
    this.ctx.acceptWebSocket(server, [rackId]);
    server.serializeAttachment({ rackId, connectedAt: Date.now(), hello: false, journal: null } satisfies Attachment);
    await this.armBy(Date.now() + HEARTBEAT_INTERVAL_MS);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Results are parsed on arrival and land in batches: all that came in while the previous
    // batch was being written go to D1 in one transaction.
    const result = typeof message === "string" && message.startsWith('{"t":"result"') ? parseFrame(ResultSchema, message) : null;
    if (result?.ok && (ws.deserializeAttachment() as Attachment | null)?.hello) this.results.push({ id: result.msg.id, outcome: outcomeOf(result.msg) });
    const run = this.chain.then(() =>
      result?.ok && (ws.deserializeAttachment() as Attachment | null)?.hello ? this.drainResults() : this.handle(ws, message),
    );
    this.chain = run.catch(() => {});
    return run;
  }

  private async drainResults(): Promise<void> {
    const batch = this.results.splice(0, 100);
    if (!batch.length) return;
    try {
      const found: Landing[] = [];
      const seen = new Set<string>();
      for (const r of batch) {
        if (seen.has(r.id)) continue;
        seen.add(r.id);
        const cmd = await this.queue.get(r.id);
        // Unknown: already answered, expired, or never ours. Repeats are expected after a cut.
        if (cmd) found.push({ cmd, outcome: r.outcome });
      }
      const { configChanged } = await landResults(this.env.DB, found);
      await this.queue.removeMany(found.map((f) => f.cmd.id));
      for (const f of found) this.waiters.get(f.cmd.id)?.(f.outcome);
      if (configChanged) await this.configChanged();
    } catch (e) {
      // Not removed from the queue: the command is replayed and its result comes again.
      console.error("rack tunnel: landing results failed", e);
    }
    if (this.results.length) await this.drainResults();
  }

  private async handle(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    try {
      const parsed = parseFrame(ApplianceMessageSchema, raw);
      if (!parsed.ok) {
        console.warn(JSON.stringify({ msg: "rack tunnel: bad frame", code: parsed.code, why: parsed.message.slice(0, 200) }));
        safeSend(ws, errorFrame(parsed.code === "too_big" ? "frame_too_big" : "invalid_frame", parsed.message));
        return;
      }
      const att = ws.deserializeAttachment() as Attachment;
      const msg = parsed.msg;
      if (msg.t !== "hello" && msg.t !== "heartbeat" && msg.t !== "error" && !att.hello) {
        safeSend(ws, errorFrame("hello_first", "send hello before anything else"));
        return;
      }
      await this.dispatch(ws, att, msg);
    } catch (e) {
      console.error("rack tunnel: handler failed", e);
      safeSend(ws, errorFrame("internal", "the region could not handle this frame; it will be handled on replay"));
      // A session whose hello failed would sit without a welcome: make the rack dial again.
      const att = ws.deserializeAttachment() as Attachment | null;
      if (att && !att.hello) safeClose(ws, 1011, "hello failed");
    }
  }

  private async dispatch(ws: WebSocket, att: Attachment, msg: ApplianceMessage): Promise<void> {
    switch (msg.t) {
      case "hello":
        return this.onHello(ws, att, msg);
      case "heartbeat":
        safeSend(ws, HEARTBEAT_PONG);
        return;
      case "ack":
        // Receipt only: a command stays queued until its result, so a cut never loses one.
        return;
      case "result":
        // A result frame the fast path did not recognise (other key order) lands the same way.
        this.results.push({ id: msg.id, outcome: outcomeOf(msg) });
        return this.drainResults();
      case "event":
        return this.onEvents(ws, att, msg.events);
      case "status":
        await recordRackStatus(this.env.DB, att.rackId, msg);
        return;
      case "config.ack":
        await recordConfigAck(this.env.DB, att.rackId, msg.version);
        await this.ctx.storage.put("configAcked", msg.version);
        return;
      case "credential.ack":
        return this.onCredentialAck(ws, att, msg.fingerprint);
      case "error":
        console.warn(JSON.stringify({ msg: "rack tunnel: the appliance reported an error", rack: att.rackId, code: msg.code, message: msg.message }));
        return;
    }
  }

  private async onHello(ws: WebSocket, att: Attachment, hello: HelloMessage): Promise<void> {
    if (hello.rackId !== att.rackId) {
      safeSend(ws, errorFrame("wrong_rack", "hello names another rack than the credential"));
      safeClose(ws, CLOSE.protocol, "wrong rack");
      return;
    }
    const journal = await this.journalFor(hello.journal);
    ws.serializeAttachment({ ...att, hello: true, journal: hello.journal } satisfies Attachment);
    await markConnected(this.env.DB, att.rackId, hello, true);
    send(ws, {
      t: "welcome",
      v: PROTOCOL_VERSION,
      rackId: att.rackId,
      serverTime: Date.now(),
      heartbeatMs: HEARTBEAT_INTERVAL_MS,
      lastEventSeq: journal.lastSeq,
    });
    const now = Date.now();
    for (const cmd of await this.queue.all()) {
      if (cmd.deadline > now) send(ws, toFrame(cmd));
    }
    await this.pushConfig(ws, att.rackId, hello.configVersion);
  }

  private async journalFor(id: string): Promise<JournalState> {
    const j = await this.ctx.storage.get<JournalState>("journal");
    if (j && j.id === id) return j;
    // A new journal (re-enrolled or wiped appliance): its numbering starts again.
    const fresh = { id, lastSeq: 0 };
    await this.ctx.storage.put("journal", fresh);
    return fresh;
  }

  private async onEvents(ws: WebSocket, att: Attachment, events: Extract<ApplianceMessage, { t: "event" }>["events"]): Promise<void> {
    const journal = await this.journalFor(att.journal ?? "");
    const fresh = events.filter((e) => e.seq > journal.lastSeq).sort((a, b) => a.seq - b.seq);
    if (fresh.length) {
      await landEvents(this.env.DB, att.rackId, journal.id, fresh);
      journal.lastSeq = fresh.at(-1)!.seq;
      await this.ctx.storage.put("journal", journal);
    }
    send(ws, { t: "ack", v: PROTOCOL_VERSION, upTo: journal.lastSeq });
    if (fresh.length) await this.applyEvents(att.rackId, fresh);
  }

  /**
   * After the ack: the events are stored either way, and a failure here (logged) must not make
   * the appliance resend them. A change to what the site boots is pushed to this rack at once.
   */
  private async applyEvents(rackId: string, events: Extract<ApplianceMessage, { t: "event" }>["events"]): Promise<void> {
    try {
      const r = await applyRackEvents(this.env.DB, rackId, events);
      if (r.configChanged) await this.configChanged();
    } catch (e) {
      console.error("rack tunnel: applying events failed", e);
    }
  }

  private async onCredentialAck(ws: WebSocket, att: Attachment, fingerprint: string): Promise<void> {
    const pending = await this.ctx.storage.get<{ fingerprint: string; hash: string }>("rotation");
    if (!pending || pending.fingerprint !== fingerprint) {
      safeSend(ws, errorFrame("unknown_credential", "no rotation with this fingerprint is pending"));
      return;
    }
    await retireOldCredential(this.env.DB, att.rackId, pending.hash);
    await this.ctx.storage.delete("rotation");
  }

  private async pushConfig(ws: WebSocket | null, rackId: string, known: string | null): Promise<void> {
    const snap = await buildSnapshot(this.env.DB, rackId);
    if (!snap || snap.version === known) return;
    const sockets = ws ? [ws] : this.helloSockets();
    for (const s of sockets) send(s, { t: "config", v: PROTOCOL_VERSION, snapshot: snap });
    await this.ctx.storage.put("configSent", snap.version);
  }

  private helloSockets(): WebSocket[] {
    // A socket we just closed is still listed until its close completes: only open ones count.
    return this.ctx.getWebSockets().filter((s) => s.readyState === WebSocket.OPEN && (s.deserializeAttachment() as Attachment | null)?.hello);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      safeClose(ws, code, reason || "closed");
    } finally {
      await this.afterSocketGone(ws);
    }
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    try {
      if (!isBenignTransportError(error)) console.warn("rack tunnel: socket error", error);
      safeClose(ws, 1011, "socket error");
    } finally {
      await this.afterSocketGone(ws);
    }
  }

  private async afterSocketGone(ws: WebSocket): Promise<void> {
    try {
      const att = ws.deserializeAttachment() as Attachment | null;
      const others = this.ctx.getWebSockets().filter((s) => s !== ws && s.readyState === WebSocket.OPEN);
      if (att && others.length === 0) await markConnected(this.env.DB, att.rackId, null, false);
    } catch (e) {
      console.error("rack tunnel: marking the rack disconnected failed", e);
    }
  }

  // ---- RPC from the Worker ----

  /** Queues a command; with waitMs, waits that long for its outcome (for queries). */
  async enqueue(cmd: StoredCommand, waitMs = 0): Promise<EnqueueResult> {
    await this.queue.put(cmd);
    const sockets = this.helloSockets();
    for (const ws of sockets) send(ws, toFrame(cmd));
    await this.armBy(sockets.length ? Math.min(cmd.deadline, Date.now() + HEARTBEAT_INTERVAL_MS) : cmd.deadline);
    if (waitMs <= 0) return { state: "pending" };
    const outcome = await new Promise<CommandOutcome | null>((resolve) => {
      const t = setTimeout(() => resolve(null), waitMs);
      this.waiters.set(cmd.id, (o) => {
        clearTimeout(t);
        resolve(o);
      });
    });
    this.waiters.delete(cmd.id);
    return outcome ? { state: outcome.state, result: outcome } : { state: "pending" };
  }

  /** Closes the rack's sockets: its credential was revoked. */
  async revoke(): Promise<number> {
    const sockets = this.ctx.getWebSockets();
    for (const ws of sockets) safeClose(ws, CLOSE.revoked, "credential revoked");
    const rackId = await this.ctx.storage.get<string>("rackId");
    if (rackId) await markConnected(this.env.DB, rackId, null, false);
    return sockets.length;
  }

  /** Sends a new credential to the connected appliance; the old one retires on its ack. */
  async rotate(credential: string, hash: string): Promise<boolean> {
    const sockets = this.helloSockets();
    if (!sockets.length) return false;
    await this.ctx.storage.put("rotation", { fingerprint: await credentialFingerprint(credential), hash });
    for (const ws of sockets) send(ws, { t: "credential", v: PROTOCOL_VERSION, credential });
    return true;
  }

  /** Pushes a new config snapshot now if it changed (region code calls this after edits). */
  async configChanged(): Promise<void> {
    const rackId = await this.ctx.storage.get<string>("rackId");
    if (rackId) await this.pushConfig(null, rackId, (await this.ctx.storage.get<string>("configSent")) ?? null);
  }

  async status(): Promise<{ connected: boolean; pending: number }> {
    return { connected: this.helloSockets().length > 0, pending: (await this.queue.all()).length };
  }

  // ---- Alarm: deadlines, dead sockets, last-seen, config changes ----

  override async alarm(): Promise<void> {
    const now = Date.now();
    for (const cmd of await this.queue.all()) {
      if (cmd.deadline <= now) this.results.push({ id: cmd.id, outcome: { state: "expired" } });
    }
    // In the message chain: an expiry and a late result for one command never land side by side.
    const expiring = this.chain.then(() => this.drainResults());
    this.chain = expiring.catch(() => {});
    await expiring;
    for (const ws of this.ctx.getWebSockets()) {
      const att = ws.deserializeAttachment() as Attachment | null;
      const last = Math.max(this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0, att?.connectedAt ?? 0);
      if (now - last > DEAD_AFTER_MS) {
        safeClose(ws, CLOSE.dead, "no heartbeat");
        await this.afterSocketGone(ws);
      }
    }
    const rackId = await this.ctx.storage.get<string>("rackId");
    if (rackId && this.helloSockets().length) {
      try {
        await touchRack(this.env.DB, rackId, now);
        await this.pushConfig(null, rackId, (await this.ctx.storage.get<string>("configSent")) ?? null);
      } catch (e) {
        console.error("rack tunnel: periodic update failed", e);
      }
    }
    await this.scheduleAlarm();
  }

  /** Full recomputation (alarm only): enqueue and connect just pull the alarm earlier. */
  private async scheduleAlarm(): Promise<void> {
    let next = Number.POSITIVE_INFINITY;
    for (const c of await this.queue.all()) next = Math.min(next, c.deadline);
    if (this.ctx.getWebSockets().length) next = Math.min(next, Date.now() + HEARTBEAT_INTERVAL_MS);
    if (Number.isFinite(next)) await this.ctx.storage.setAlarm(Math.max(next, Date.now() + 10));
  }

  private async armBy(t: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > t) await this.ctx.storage.setAlarm(Math.max(t, Date.now() + 10));
  }
}

function outcomeOf(m: { ok: boolean; data?: Record<string, unknown> | undefined; error?: { code: string; message: string } | undefined }): CommandOutcome {
  return m.ok ? { state: "done", data: m.data ?? {} } : { state: "failed", error: m.error ?? { code: "unknown", message: "no error given" } };
}

function toFrame(cmd: StoredCommand): RegionMessage {
  return {
    t: "command",
    v: PROTOCOL_VERSION,
    id: cmd.id,
    type: cmd.type as Extract<RegionMessage, { t: "command" }>["type"],
    params: cmd.params,
    deadline: cmd.deadline,
  };
}
