// The appliance end of the tunnel: dials the region, says hello, keeps heartbeats both ways,
// parses every frame, and reconnects with bounded exponential backoff and jitter. What to do
// with frames is the daemon's business (TunnelHandlers).
import WebSocket from "ws";
import {
  CLOSE,
  DEAD_AFTER_MS,
  errorFrame,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_PING,
  type HelloMessage,
  MAX_FRAME_BYTES,
  parseFrame,
  type RegionMessage,
  RegionMessageSchema,
} from "../../shared/tunnel/protocol";
import type { Logger } from "../log";
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from "./backoff";

const WELCOME_TIMEOUT_MS = 15_000;

export type TunnelState = "connecting" | "connected" | "disconnected" | "refused" | "stopped";

export interface TunnelHandlers {
  hello(): HelloMessage;
  /** The region said welcome: the socket is usable. */
  onOpen(welcome: Extract<RegionMessage, { t: "welcome" }>): void;
  onMessage(msg: Exclude<RegionMessage, { t: "welcome" }>): void;
  onClose(code: number, reason: string): void;
  log: Logger;
}

export interface TunnelOptions {
  region: string;
  rackId: string;
  credential: () => string;
  backoff?: BackoffOptions;
  heartbeatMs?: number;
  deadAfterMs?: number;
}

export class TunnelClient {
  state: TunnelState = "disconnected";
  private ws: WebSocket | null = null;
  private welcomed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private beat: NodeJS.Timeout | null = null;
  private lastRx = 0;
  connects = 0;
  lastError: string | null = null;

  constructor(
    private readonly o: TunnelOptions,
    private readonly h: TunnelHandlers,
  ) {}

  get url(): string {
    return `${this.o.region.replace(/^http/, "ws")}/api/v1/racks/${this.o.rackId}/tunnel`;
  }

  start(): void {
    if (this.state === "stopped") return;
    this.connect();
  }

  get open(): boolean {
    return this.welcomed && this.ws?.readyState === WebSocket.OPEN;
  }

  send(frame: string): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(frame);
    return true;
  }

  private connect(): void {
    this.state = "connecting";
    this.welcomed = false;
    const ws = new WebSocket(this.url, { headers: { authorization: `Bearer ${this.o.credential()}` }, maxPayload: MAX_FRAME_BYTES, handshakeTimeout: 15_000 });
    this.ws = ws;
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        if (body.length < 2000) body += d.toString();
      });
      res.on("end", () => {
        this.lastError = `HTTP ${res.statusCode}: ${body.slice(0, 300)}`;
        if (res.statusCode === 401 || res.statusCode === 403) this.state = "refused";
        this.h.log("warn", "tunnel refused", { status: res.statusCode, body: body.slice(0, 300) });
        ws.terminate();
      });
    });
    ws.on("open", () => {
      this.lastRx = Date.now();
      ws.send(JSON.stringify(this.h.hello()));
      this.startHeartbeat(ws);
      // No welcome, no session: dial again rather than wait on a half-set-up socket.
      setTimeout(() => {
        if (this.ws === ws && !this.welcomed && ws.readyState === WebSocket.OPEN) {
          this.h.log("warn", "no welcome from the region; reconnecting");
          ws.terminate();
        }
      }, WELCOME_TIMEOUT_MS).unref();
    });
    ws.on("message", (data, isBinary) => {
      this.lastRx = Date.now();
      this.onFrame(ws, isBinary ? new Uint8Array(data as Buffer) : (data as Buffer).toString("utf8"));
    });
    ws.on("pong", () => {
      this.lastRx = Date.now();
    });
    ws.on("error", (e) => {
      this.lastError = e.message;
      this.h.log("debug", "tunnel socket error", { error: e.message });
    });
    ws.on("close", (code, reason) => this.onClosed(ws, code, reason.toString()));
  }

  private onFrame(ws: WebSocket, raw: string | Uint8Array): void {
    try {
      const parsed = parseFrame(RegionMessageSchema, raw);
      if (!parsed.ok) {
        this.h.log("warn", "bad frame from the region", { code: parsed.code, why: parsed.message.slice(0, 200) });
        ws.send(errorFrame(parsed.code === "too_big" ? "frame_too_big" : "invalid_frame", parsed.message));
        return;
      }
      const msg = parsed.msg;
      if (msg.t === "welcome") {
        this.welcomed = true;
        this.attempt = 0;
        this.connects++;
        this.state = "connected";
        this.lastError = null;
        this.h.log("info", "tunnel connected", { rack: this.o.rackId, last_event_seq: msg.lastEventSeq });
        this.h.onOpen(msg);
        return;
      }
      if (msg.t === "heartbeat") return;
      this.h.onMessage(msg);
    } catch (e) {
      this.h.log("error", "handling a frame failed", { error: e instanceof Error ? e.message : String(e) });
    }
  }

  private startHeartbeat(ws: WebSocket): void {
    this.stopHeartbeat();
    const every = this.o.heartbeatMs ?? HEARTBEAT_INTERVAL_MS;
    const dead = this.o.deadAfterMs ?? DEAD_AFTER_MS;
    this.beat = setInterval(
      () => {
        if (Date.now() - this.lastRx > dead) {
          this.h.log("warn", "tunnel silent: closing it", { silent_ms: Date.now() - this.lastRx });
          ws.terminate();
          return;
        }
        if (ws.readyState === WebSocket.OPEN) ws.send(HEARTBEAT_PING);
      },
      Math.min(every, Math.max(250, dead / 3)),
    );
    this.beat.unref();
  }

  private stopHeartbeat(): void {
    if (this.beat) clearInterval(this.beat);
    this.beat = null;
  }

  private onClosed(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    this.stopHeartbeat();
    const wasOpen = this.welcomed;
    this.welcomed = false;
    this.ws = null;
    if (wasOpen) this.h.onClose(code, reason);
    if (this.state === "stopped") return;
    if (code === CLOSE.revoked) this.state = "refused";
    else if (this.state !== "refused") this.state = "disconnected";
    // A refused credential may be fixed by re-enrolment; keep trying, at the slowest pace.
    const attempt = this.state === "refused" ? 30 : this.attempt++;
    const delay = backoffDelay(attempt, this.o.backoff ?? DEFAULT_BACKOFF);
    this.h.log(wasOpen ? "warn" : "debug", "tunnel closed; reconnecting", { code, reason, delay_ms: delay });
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.state !== "stopped") this.connect();
    }, delay);
  }

  /** Reconnect now (e.g. after the credential changed). */
  reconnect(): void {
    this.ws?.close(CLOSE.normal, "reconnecting");
  }

  async stop(): Promise<void> {
    this.state = "stopped";
    if (this.timer) clearTimeout(this.timer);
    this.stopHeartbeat();
    const ws = this.ws;
    if (!ws) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2000);
      ws.once("close", () => {
        clearTimeout(t);
        resolve();
      });
      ws.close(CLOSE.goingAway, "appliance stopping");
    });
  }
}
