// The webhook driver against a local node:http(s) server that records what it was sent.
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttps } from "node:https";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { PowerError } from "../../../appliance/bmc/driver";
import { runPowerAction } from "../../../appliance/bmc/retry";
import { WebhookDriver, type WebhookOptions } from "../../../appliance/bmc/webhook";
import { makeSelfSignedCert } from "../../redfish-emulator";

interface Seen {
  method: string;
  path: string;
  authorization?: string;
  body: string;
}

type Reply = { status: number; body?: string };

class Hook {
  readonly seen: Seen[] = [];
  /** Per path: replies served in order, the last one repeating. */
  readonly replies = new Map<string, Reply[]>();
  url = "";
  private server!: Server;

  static async start(tls?: { key: string; cert: string }): Promise<Hook> {
    const h = new Hook();
    const handler = (req: IncomingMessage, res: ServerResponse) => h.handle(req, res);
    h.server = tls ? createHttps(tls, handler) : createHttp(handler);
    await new Promise<void>((r) => h.server.listen(0, "127.0.0.1", () => r()));
    h.url = `${tls ? "https" : "http"}://127.0.0.1:${(h.server.address() as AddressInfo).port}`;
    return h;
  }

  reply(path: string, ...r: Reply[]): void {
    this.replies.set(path, r);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      this.seen.push({
        method: req.method ?? "",
        path,
        authorization: req.headers.authorization,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const queue = this.replies.get(path) ?? [];
      const r = (queue.length > 1 ? queue.shift() : queue[0]) ?? { status: 200, body: "ok" };
      res.writeHead(r.status, { "content-type": "application/json" }).end(r.body ?? "");
    });
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

let hook: Hook | undefined;
let driver: WebhookDriver | undefined;
afterEach(async () => {
  await driver?.close();
  await hook?.stop();
  driver = undefined;
  hook = undefined;
});

async function setup(opts: Partial<WebhookOptions> = {}): Promise<{ hook: Hook; driver: WebhookDriver }> {
  hook = await Hook.start();
  driver = new WebhookDriver({
    on: { url: `${hook.url}/on` },
    off: { url: `${hook.url}/off` },
    query: { url: `${hook.url}/state`, jsonPath: "power.on" },
    ...opts,
  });
  return { hook, driver };
}

async function powerError(p: Promise<unknown>): Promise<PowerError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof PowerError)) throw new Error(`expected a PowerError, got ${String(e)}`);
  return e;
}

describe("webhook driver", () => {
  it("POSTs the action as JSON with a bearer token", async () => {
    const { hook, driver } = await setup({ auth: { bearer: "s3cret" } });
    await driver.powerOn();
    await driver.powerOff();
    expect(hook.seen.map((s) => [s.method, s.path, s.authorization, JSON.parse(s.body)])).toEqual([
      ["POST", "/on", "Bearer s3cret", { action: "on" }],
      ["POST", "/off", "Bearer s3cret", { action: "off" }],
    ]);
  });

  it("sends basic auth and honours a per-action method", async () => {
    hook = await Hook.start();
    driver = new WebhookDriver({
      on: { url: `${hook.url}/on?x=1`, method: "GET" },
      off: { url: `${hook.url}/off`, method: "PUT" },
      auth: { user: "u", password: "p:w" },
    });
    await driver.powerOn();
    await driver.powerOff();
    const basic = `Basic ${Buffer.from("u:p:w").toString("base64")}`;
    expect(hook.seen.map((s) => [s.method, s.path, s.authorization, s.body])).toEqual([
      ["GET", "/on?x=1", basic, ""],
      ["PUT", "/off", basic, '{"action":"off"}'],
    ]);
  });

  it("cycles with its own URL, or as off then on without one", async () => {
    const { hook, driver } = await setup();
    await driver.powerCycle();
    const d = new WebhookDriver({ on: { url: `${hook.url}/on` }, off: { url: `${hook.url}/off` }, cycle: { url: `${hook.url}/cycle` } });
    try {
      await d.powerCycle();
      await d.powerReset();
    } finally {
      await d.close();
    }
    expect(hook.seen.map((s) => s.path)).toEqual(["/off", "/on", "/cycle", "/cycle"]);
  });

  it("reads the state at a JSON path (boolean or word)", async () => {
    const { hook, driver } = await setup();
    hook.reply("/state", { status: 200, body: '{"power":{"on":true}}' }, { status: 200, body: '{"power":{"on":"Off"}}' });
    expect(await driver.queryPower()).toBe("on");
    expect(await driver.queryPower()).toBe("off");
    expect(hook.seen[0]?.method).toBe("GET");
  });

  it("reads the state with MAAS-style regexes over the body", async () => {
    hook = await Hook.start();
    const d = new WebhookDriver({
      on: { url: `${hook.url}/on` },
      off: { url: `${hook.url}/off` },
      query: { url: `${hook.url}/state`, onRegex: "status.*:.*running", offRegex: "status.*:.*stopped" },
    });
    driver = d;
    hook.reply(
      "/state",
      { status: 200, body: '{"status": "running"}' },
      { status: 200, body: '{"status": "stopped"}' },
      { status: 200, body: '{"status": "rebooting"}' },
    );
    expect([await d.queryPower(), await d.queryPower(), await d.queryPower()]).toEqual(["on", "off", "unknown"]);
  });

  it("without a query URL the state is unknown", async () => {
    const { driver } = await setup({ query: undefined });
    expect(await driver.queryPower()).toBe("unknown");
  });

  it("a missing JSON path is a bad setting", async () => {
    const { hook, driver } = await setup();
    hook.reply("/state", { status: 200, body: '{"other":1}' });
    const e = await powerError(driver.queryPower());
    expect([e.kind, e.code]).toEqual(["fatal", "bad_settings"]);
  });

  it("classifies HTTP failures: 401 fatal, 404 fatal, 5xx transient, refused transient", async () => {
    const { hook, driver } = await setup();
    hook.reply("/on", { status: 401 }, { status: 404 }, { status: 502 });
    expect(await powerError(driver.powerOn())).toMatchObject({ kind: "fatal", code: "bad_credentials" });
    expect(await powerError(driver.powerOn())).toMatchObject({ kind: "fatal", code: "bad_settings" });
    expect(await powerError(driver.powerOn())).toMatchObject({ kind: "transient", code: "bmc_error" });
    await hook.stop();
    expect(await powerError(driver.powerOff())).toMatchObject({ kind: "transient", code: "connection" });
  });

  it("keeps credentials in the URL out of error messages", async () => {
    hook = await Hook.start();
    driver = new WebhookDriver({
      on: { url: `${hook.url.replace("//", "//user:pw@")}/on?token=abc` },
      off: { url: `${hook.url}/off` },
    });
    hook.reply("/on?token=abc", { status: 500 });
    const e = await powerError(driver.powerOn());
    expect(e.message).toContain("/on");
    expect(e.message).not.toMatch(/pw|abc/);
  });

  it("identify without a URL is unsupported; boot without one is a no-op", async () => {
    const { hook, driver } = await setup();
    expect(await powerError(driver.identify({}))).toMatchObject({ kind: "fatal", code: "unsupported" });
    await driver.setBootDevice({ device: "pxe", persistent: false, efi: true });
    expect(hook.seen).toEqual([]);
  });

  it("sends identify and boot options where configured", async () => {
    hook = await Hook.start();
    driver = new WebhookDriver({
      on: { url: `${hook.url}/on` },
      off: { url: `${hook.url}/off` },
      identify: { url: `${hook.url}/id` },
      boot: { url: `${hook.url}/boot` },
    });
    await driver.identify({ seconds: 30 });
    await driver.setBootDevice({ device: "disk", persistent: true, efi: false });
    expect(hook.seen.map((s) => JSON.parse(s.body))).toEqual([
      { action: "identify", seconds: 30 },
      { action: "boot", device: "disk", persistent: true, efi: false },
    ]);
  });

  it("an invalid regex is refused up front", () => {
    expect(
      () => new WebhookDriver({ on: { url: "http://127.0.0.1:1/" }, off: { url: "http://127.0.0.1:1/" }, query: { url: "http://127.0.0.1:1/", onRegex: "(" } }),
    ).toThrow(PowerError);
  });

  it("retries a failing webhook and confirms with the query", async () => {
    const { hook, driver } = await setup();
    hook.reply("/on", { status: 503 }, { status: 200 });
    hook.reply("/state", { status: 200, body: '{"power":{"on":false}}' }, { status: 200, body: '{"power":{"on":true}}' });
    const slept: number[] = [];
    const out = await runPowerAction(driver, { kind: "on" }, { sleep: async (s) => void slept.push(s) });
    expect(out).toEqual({ state: "on", attempts: 2 });
    expect(slept).toEqual([1]);
    expect(hook.seen.map((s) => s.path)).toEqual(["/on", "/state", "/on", "/state"]);
  });

  it("talks HTTPS to a self-signed endpoint only with the right pin", async () => {
    const cert = makeSelfSignedCert();
    hook = await Hook.start(cert);
    driver = new WebhookDriver({ on: { url: `${hook.url}/on` }, off: { url: `${hook.url}/off` }, fingerprint: cert.fingerprint256 });
    await driver.powerOn();
    const wrong = new WebhookDriver({ on: { url: `${hook.url}/on` }, off: { url: `${hook.url}/off` }, fingerprint: "00".repeat(32) });
    try {
      expect(await powerError(wrong.powerOn())).toMatchObject({ kind: "fatal", code: "tls_fingerprint_mismatch" });
    } finally {
      await wrong.close();
    }
    expect(hook.seen).toHaveLength(1);
  });
});
