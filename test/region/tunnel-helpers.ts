// Rack-side helpers for the region's tunnel tests: enrol through the API and talk to the
// Durable Object over a real WebSocket (SELF.fetch with an Upgrade header).
import { SELF } from "cloudflare:test";
import { BASE, call, siteId } from "./helpers";

export async function enrolRack(admin: string, site: string, hostname: string): Promise<{ rackId: string; credential: string }> {
  await siteId(site);
  const tok = await call(admin, "POST", "/racks/enrol-tokens", { site, uses: 5 });
  if (tok.status !== 201) throw new Error(`token: ${tok.status} ${tok.text}`);
  const r = await call(null, "POST", "/racks/enrol", { token: tok.json.token, hostname, version: "test-1" });
  if (r.status !== 201 && r.status !== 200) throw new Error(`enrol: ${r.status} ${r.text}`);
  return { rackId: r.json.rack_id, credential: r.json.credential };
}

/** Frames received on a socket, read in order; `next` waits for one that matches. */
export class Inbox {
  readonly frames: any[] = [];
  private cursor = 0;
  private wake: (() => void) | null = null;
  closed: { code: number; reason: string } | null = null;

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (ev) => {
      this.frames.push(JSON.parse(String(ev.data)));
      this.wake?.();
    });
    ws.addEventListener("close", (ev) => {
      this.closed = { code: ev.code, reason: ev.reason };
      this.wake?.();
    });
  }

  async next(pred: (m: any) => boolean = () => true): Promise<any> {
    for (;;) {
      while (this.cursor < this.frames.length) {
        const m = this.frames[this.cursor++];
        if (pred(m)) return m;
      }
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting`);
      await new Promise<void>((r) => {
        this.wake = r;
      });
    }
  }

  async closedWith(): Promise<{ code: number; reason: string }> {
    while (!this.closed) {
      await new Promise<void>((r) => {
        this.wake = r;
      });
    }
    return this.closed;
  }

  /**
   * Waits until the Durable Object has handled every frame sent before: heartbeats are
   * auto-answered by the runtime out of band, but an invalid frame is answered in order.
   */
  async barrier(): Promise<void> {
    const tag = `barrier-${this.frames.length}-${Math.random()}`;
    this.send({ t: tag });
    await this.next((m) => m.t === "error" && String(m.message).includes("t:"));
  }

  send(m: unknown): void {
    this.ws.send(typeof m === "string" ? m : JSON.stringify(m));
  }
}

export async function openTunnel(rackId: string, credential: string): Promise<Response> {
  return SELF.fetch(`${BASE}/racks/${rackId}/tunnel`, { headers: { upgrade: "websocket", authorization: `Bearer ${credential}` } });
}

export async function connect(rackId: string, credential: string, hello: Partial<Record<string, unknown>> = {}): Promise<Inbox> {
  const r = await openTunnel(rackId, credential);
  if (r.status !== 101 || !r.webSocket) throw new Error(`tunnel: ${r.status} ${await r.text()}`);
  r.webSocket.accept();
  const inbox = new Inbox(r.webSocket);
  inbox.send({
    t: "hello",
    v: 1,
    rackId,
    version: "test-1",
    hostname: "h",
    interfaces: [],
    capabilities: ["power"],
    journal: "j1",
    configVersion: null,
    ...hello,
  });
  await inbox.next((m) => m.t === "welcome");
  return inbox;
}
