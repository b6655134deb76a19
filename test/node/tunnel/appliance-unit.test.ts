// Appliance pieces on their own: the journal across a torn write and reopen, the ledger's
// at-most-once rule, backoff bounds, and the tunnel client under a hostile region that sends
// thousands of malformed frames (it answers each with an error frame and keeps working).
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { Daemon } from "../../../appliance/daemon";
import { EventJournal } from "../../../appliance/journal/events";
import { CommandLedger } from "../../../appliance/journal/ledger";
import { backoffDelay } from "../../../appliance/tunnel/backoff";
import { Executor } from "../../../appliance/commands/executor";
import { StateDir } from "../../../appliance/state/dir";
import { HEARTBEAT_PING, HEARTBEAT_PONG, StatusFrameSchema } from "../../../shared/tunnel/protocol";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "plinth-unit-"));
  dirs.push(d);
  return d;
};
/** A state directory enrolled as rack abcdefabcdef, and a WebSocket server on loopback to play its region. */
async function enrolledRack(secret: string): Promise<{ dir: string; wss: WebSocketServer; port: number }> {
  const dir = tmp();
  new StateDir(dir).writeCredential({
    region: "http://127.0.0.1:1",
    rackId: "abcdefabcdef",
    credential: `prk_abcdefabcdef_${secret.repeat(40)}`,
    site: "default",
    hostname: "unit",
    enrolledAt: 0,
  });
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => wss.once("listening", r));
  return { dir, wss, port: (wss.address() as { port: number }).port };
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const discover = (i: number) => ({ type: "dhcp.discover" as const, data: { mac: `52:54:00:00:00:${(i % 256).toString(16).padStart(2, "0")}` } });

describe("event journal", () => {
  it("numbers events, keeps unacked ones across reopen, ignores a torn tail, and refuses invalid events", async () => {
    const dir = tmp();
    const j = await EventJournal.open(dir);
    const seqs = await Promise.all(Array.from({ length: 50 }, (_, i) => j.append(discover(i))));
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await j.ack(20);
    await expect(j.append({ type: "dhcp.discover", data: { mac: "nope" } } as never)).rejects.toThrow(/invalid/);
    await j.close();
    appendFileSync(join(dir, "events.log"), '{"k":"e","e":{"seq":51,');
    const again = await EventJournal.open(dir);
    expect(again.id).toBe(j.id);
    expect(again.depth).toBe(30);
    expect(again.after(0, 1000).map((e) => e.seq)[0]).toBe(21);
    expect(await again.append(discover(1))).toBe(51);
    await again.close();
  });
});

describe("command ledger and executor", () => {
  it("never runs a command twice, and reports one interrupted by a crash instead of re-running it", async () => {
    const dir = tmp();
    const ledger = await CommandLedger.open(dir);
    const ex = new Executor(ledger, { log: () => {} });
    const cmd = { t: "command" as const, v: 1 as const, id: "c1", type: "test.echo" as const, params: { x: 1 }, deadline: Date.now() + 60_000 };
    const [a, b] = await Promise.all([ex.handle(cmd), ex.handle(cmd)]);
    expect(a.outcome).toEqual({ ok: true, data: { echo: { x: 1 } } });
    expect(b.replay).toBe(true);
    expect((await ex.handle(cmd)).replay).toBe(true);
    expect(ex.executed).toBe(1);
    await ledger.start("c2", "power.on");
    await ledger.close();
    const reopened = await CommandLedger.open(dir);
    const ex2 = new Executor(reopened, { log: () => {} });
    const r = await ex2.handle({ ...cmd, id: "c2", type: "power.on" });
    expect(r.outcome.error?.code).toBe("interrupted");
    expect(ex2.executed).toBe(0);
    expect((await ex2.handle(cmd)).replay).toBe(true);
    const late = await ex2.handle({ ...cmd, id: "c3", deadline: Date.now() - 1 });
    expect(late.outcome.error?.code).toBe("expired");
    await reopened.close();
  });
});

describe("backoff", () => {
  it("grows exponentially, stays within its bound, and jitters", () => {
    const lo = () => 0;
    const hi = () => 0.999999;
    expect(backoffDelay(0, { baseMs: 500, maxMs: 30_000 }, lo)).toBe(250);
    expect(backoffDelay(3, { baseMs: 500, maxMs: 30_000 }, hi)).toBeLessThanOrEqual(4000);
    for (let a = 0; a < 100; a++) expect(backoffDelay(a)).toBeLessThanOrEqual(30_000);
    expect(new Set(Array.from({ length: 20 }, () => backoffDelay(5))).size).toBeGreaterThan(1);
  });
});

describe("tunnel client against a hostile region", () => {
  it("answers 10,000 malformed frames with error frames and still runs the next real command", async () => {
    const { dir, wss, port } = await enrolledRack("a");
    const got: any[] = [];
    let wake: () => void = () => {};
    wss.on("connection", (ws) => {
      ws.on("message", (d) => {
        const text = d.toString();
        if (text === HEARTBEAT_PING) return ws.send(HEARTBEAT_PONG);
        const m = JSON.parse(text);
        got.push(m);
        wake();
        if (m.t === "hello") {
          ws.send(JSON.stringify({ t: "welcome", v: 1, rackId: "abcdefabcdef", serverTime: Date.now(), heartbeatMs: 10_000, lastEventSeq: 0 }));
          const junk = ["x", "{}", '{"t":"command","v":1}', '{"t":"ack","v":1,"upTo":-1}', '{"t":"config","v":1,"snapshot":{}}', "[1,2]"];
          for (let i = 0; i < 10_000; i++) ws.send(junk[i % junk.length]!);
          ws.send(JSON.stringify({ t: "command", v: 1, id: "real-1", type: "test.echo", params: { ok: true }, deadline: Date.now() + 60_000 }));
        }
      });
    });
    const daemon = new Daemon({ stateDir: dir, region: `http://127.0.0.1:${port}`, log: () => {}, localApi: false });
    await daemon.start();
    try {
      for (let i = 0; i < 10_000 && !got.some((m) => m.t === "result"); i++) await new Promise<void>((r) => (wake = r));
      expect(got.filter((m) => m.t === "error")).toHaveLength(10_000);
      expect(got.find((m) => m.t === "result")).toMatchObject({ id: "real-1", ok: true, data: { echo: { ok: true } } });
    } finally {
      await daemon.stop();
      wss.close();
    }
  });
});

describe("status report", () => {
  it("reports services and journal depth after each welcome and on change, at most once per interval", async () => {
    const { dir, wss, port } = await enrolledRack("c");
    const reports: { at: number; conn: number; msg: any }[] = [];
    const sockets: import("ws").WebSocket[] = [];
    let wake: () => void = () => {};
    wss.on("connection", (ws) => {
      sockets.push(ws);
      const conn = sockets.length;
      ws.on("message", (d) => {
        const text = d.toString();
        if (text === HEARTBEAT_PING) return ws.send(HEARTBEAT_PONG);
        const m = JSON.parse(text);
        if (m.t === "hello")
          ws.send(JSON.stringify({ t: "welcome", v: 1, rackId: "abcdefabcdef", serverTime: Date.now(), heartbeatMs: 10_000, lastEventSeq: 0 }));
        if (m.t === "status") {
          reports.push({ at: Date.now(), conn, msg: StatusFrameSchema.parse(m) });
          wake();
        }
      });
    });
    const until = async (ok: () => boolean) => {
      for (let i = 0; i < 200 && !ok(); i++)
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 50);
        });
      expect(ok()).toBe(true);
    };
    const state = (m: any, name: string) => m.services.find((s: { name: string }) => s.name === name);
    const daemon = new Daemon({
      stateDir: dir,
      region: `http://127.0.0.1:${port}`,
      log: () => {},
      localApi: false,
      statusIntervalMs: 300,
      backoff: { baseMs: 20, maxMs: 100 },
    });
    await daemon.start();
    try {
      await until(() => reports.length >= 1);
      expect(reports[0]!.msg.journalDepth).toBe(0);
      expect(state(reports[0]!.msg, "power")).toEqual({ name: "power", state: "ok" });
      expect(state(reports[0]!.msg, "dhcp")).toEqual({ name: "dhcp", state: "disabled" });
      // A burst of events (never acked by this region) and a failed service: one more report, not one per change.
      for (let i = 0; i < 30; i++) await daemon.emit(discover(i));
      daemon.setServices([{ name: "dhcp", state: "failed", error: "no such device" }]);
      await until(() => reports.some((r) => r.msg.journalDepth === 30 && state(r.msg, "dhcp")?.state === "failed"));
      expect(reports.length).toBeLessThanOrEqual(3);
      for (let i = 1; i < reports.length; i++) expect(reports[i]!.at - reports[i - 1]!.at).toBeGreaterThanOrEqual(250);
      expect(state(reports.at(-1)!.msg, "dhcp")).toEqual({ name: "dhcp", state: "failed", error: "no such device" });
      // Nothing changed: nothing more is sent. A new connection hears the state at once.
      const before = reports.length;
      await new Promise((r) => setTimeout(r, 400));
      expect(reports.length).toBe(before);
      sockets[0]!.close(1000);
      await until(() => reports.some((r) => r.conn === 2));
      expect(reports.find((r) => r.conn === 2)!.msg.journalDepth).toBe(30);
    } finally {
      await daemon.stop();
      await new Promise((r) => wss.close(r));
    }
  });
});

describe("daemon liveness and offline config", () => {
  it("drops a silent tunnel and redials; persists the config snapshot and serves it while the region is away", async () => {
    const { dir, wss, port } = await enrolledRack("b");
    let connections = 0;
    let acked: string | null = null;
    let wake: () => void = () => {};
    const snapshot = {
      version: "v-1",
      site: "default",
      subnets: [
        { id: 1, cidr: "10.0.0.0/24", gateway: "10.0.0.1", dns: [], managed: true, ranges: [{ type: "dynamic", start: "10.0.0.100", end: "10.0.0.200" }] },
      ],
      reservations: [],
      bootIntents: [{ mac: "52:54:00:00:00:01", systemId: "abc123", intent: "commission" }],
      images: [],
      dns: { zones: [], upstream: [] },
    };
    wss.on("connection", (ws) => {
      connections++;
      wake();
      // This region never answers heartbeats: the appliance must give up on the socket.
      ws.on("message", (d) => {
        const m = JSON.parse(d.toString());
        if (m.t === "hello") {
          ws.send(JSON.stringify({ t: "welcome", v: 1, rackId: "abcdefabcdef", serverTime: Date.now(), heartbeatMs: 100, lastEventSeq: 0 }));
          if (connections === 1) ws.send(JSON.stringify({ t: "config", v: 1, snapshot }));
        }
        if (m.t === "config.ack") {
          acked = m.version;
          wake();
        }
      });
    });
    const seen: string[] = [];
    const daemon = new Daemon({
      stateDir: dir,
      region: `http://127.0.0.1:${port}`,
      log: () => {},
      localApi: false,
      heartbeatMs: 100,
      deadAfterMs: 400,
      backoff: { baseMs: 20, maxMs: 100 },
    });
    daemon.onConfig((s) => seen.push(s.version));
    await daemon.start();
    try {
      for (let i = 0; i < 1000 && (connections < 2 || acked === null); i++) await new Promise<void>((r) => (wake = r));
      expect(connections).toBeGreaterThanOrEqual(2);
      expect(acked).toBe("v-1");
      expect(seen).toEqual(["v-1"]);
    } finally {
      await daemon.stop();
      await new Promise((r) => wss.close(r));
    }
    const offline = new Daemon({ stateDir: dir, region: `http://127.0.0.1:${port}`, log: () => {}, localApi: false });
    await offline.start();
    try {
      expect(offline.config?.bootIntents[0]).toMatchObject({ mac: "52:54:00:00:00:01", intent: "commission" });
    } finally {
      await offline.stop();
    }
  });
});

describe("seams for DHCP and HTTP boot", () => {
  it("turns DHCP events and posted metadata results into journaled tunnel events", async () => {
    const { dhcpEmitter, metadataResultRelay } = await import("../../../appliance/tunnel/seams");
    const j = await EventJournal.open(tmp());
    const errors: string[] = [];
    const emit = dhcpEmitter({ emit: (e) => j.append(e) }, (_l, msg) => errors.push(msg));
    emit({ type: "dhcp.discover", mac: "52:54:00:AA:BB:CC", subnet: "10.0.0.0/24", relay: null, arch: 7, vendorClass: "PXEClient:Arch:00007" });
    emit({ type: "dhcp.lease", mac: "52:54:00:aa:bb:cc", ip: "10.0.0.9", hostname: null, expires: "2030-01-01T00:00:00Z" });
    emit({ type: "dhcp.lease", mac: "bad", ip: "10.0.0.9", hostname: null, expires: "x" });
    const relay = metadataResultRelay({ emit: (e) => j.append(e) }, (p: string) =>
      p === "/abc123/lshw" ? { systemId: "abc123", name: "lshw", status: "passed", exitCode: 0, output: "<xml/>" } : null,
    );
    expect((await relay("/abc123/lshw")).status).toBe(202);
    expect((await relay("/nope")).status).toBe(404);
    // The DHCP emitter journals in the background: wait (bounded) for it to settle.
    for (let i = 0; i < 500 && (j.depth < 3 || errors.length < 1); i++) await new Promise((r) => setTimeout(r, 10));
    const types = j.after(0, 10).map((e) => e.type);
    expect(types.sort()).toEqual(["dhcp.discover", "dhcp.lease", "metadata.result"]);
    expect(j.after(0, 10).find((e) => e.type === "dhcp.discover")?.data).toMatchObject({ mac: "52:54:00:aa:bb:cc", arch: "7" });
    expect(errors).toEqual(["could not journal a DHCP event"]);
    await j.close();
  });
});
