// The webhook driver: each power action is an HTTP request to a URL the operator
// configured (a PDU, a cloud API, a home-made relay). The state comes from an optional
// query URL, read through a JSON path or a pair of regexes.
import { type BootOptions, type PowerDriver, PowerError, type PowerState } from "./driver";
import { HttpClient, type HttpResponse } from "./redfish/http";

export interface WebhookCall {
  url: string;
  /** POST unless set; POST and PUT carry a JSON body describing the action. */
  method?: "GET" | "POST" | "PUT";
}

export interface WebhookQuery extends WebhookCall {
  /** Dotted path into a JSON response, e.g. "status.power" or "machines.0.state". */
  jsonPath?: string;
  /** Matched against the value at jsonPath, or against the whole body without one. */
  onRegex?: string;
  offRegex?: string;
}

export interface WebhookOptions {
  on: WebhookCall;
  off: WebhookCall;
  softOff?: WebhookCall;
  cycle?: WebhookCall;
  reset?: WebhookCall;
  identify?: WebhookCall;
  boot?: WebhookCall;
  query?: WebhookQuery;
  auth?: { bearer: string } | { user: string; password: string };
  /** Pinned SHA-256 of a self-signed endpoint's certificate. */
  fingerprint?: string;
  timeoutMs?: number;
}

const ON_WORDS = /^(on|true|running|poweredon|powered_on|up|1)$/i;
const OFF_WORDS = /^(off|false|stopped|poweredoff|powered_off|down|shutoff|0)$/i;

export class WebhookDriver implements PowerDriver {
  readonly type = "webhook";
  private readonly http: HttpClient;
  private readonly onRe: RegExp | undefined;
  private readonly offRe: RegExp | undefined;

  constructor(private readonly opts: WebhookOptions) {
    this.http = new HttpClient({ fingerprint: opts.fingerprint, timeoutMs: opts.timeoutMs });
    this.onRe = compile(opts.query?.onRegex, "on");
    this.offRe = compile(opts.query?.offRegex, "off");
  }

  async powerOn(): Promise<void> {
    await this.call(this.opts.on, { action: "on" });
  }

  async powerOff(soft = false): Promise<void> {
    if (soft && this.opts.softOff) await this.call(this.opts.softOff, { action: "soft_off" });
    else await this.call(this.opts.off, { action: "off" });
  }

  async powerCycle(): Promise<void> {
    if (this.opts.cycle) {
      await this.call(this.opts.cycle, { action: "cycle" });
      return;
    }
    await this.powerOff();
    await this.powerOn();
  }

  async powerReset(): Promise<void> {
    if (this.opts.reset) await this.call(this.opts.reset, { action: "reset" });
    else await this.powerCycle();
  }

  async queryPower(): Promise<PowerState> {
    const q = this.opts.query;
    if (!q) return "unknown";
    const res = await this.call({ method: "GET", ...q }, { action: "query" });
    return this.interpret(res.body);
  }

  async identify(opts: { seconds?: number; force?: boolean }): Promise<void> {
    if (!this.opts.identify) throw new PowerError("fatal", "unsupported", "this webhook has no identify URL");
    await this.call(this.opts.identify, { action: "identify", ...opts });
  }

  /** Without a boot URL the machine is expected to network-boot by its own settings, as in MAAS. */
  async setBootDevice(opts: BootOptions): Promise<void> {
    if (this.opts.boot) await this.call(this.opts.boot, { action: "boot", ...opts });
  }

  async close(): Promise<void> {
    this.http.close();
  }

  private interpret(body: string): PowerState {
    const q = this.opts.query;
    let subject = body;
    if (q?.jsonPath) {
      const v = pick(parseJson(body, q.url), q.jsonPath);
      if (v === undefined || v === null) {
        throw new PowerError("fatal", "bad_settings", `the query response has nothing at ${q.jsonPath}`);
      }
      if (typeof v === "boolean") return v ? "on" : "off";
      subject = typeof v === "object" ? JSON.stringify(v) : String(v);
    }
    if (this.onRe || this.offRe) {
      if (this.onRe?.test(subject)) return "on";
      if (this.offRe?.test(subject)) return "off";
      return "unknown";
    }
    const word = subject.trim();
    if (ON_WORDS.test(word)) return "on";
    if (OFF_WORDS.test(word)) return "off";
    return "unknown";
  }

  private async call(c: WebhookCall, payload: Record<string, unknown>): Promise<HttpResponse> {
    const method = c.method ?? "POST";
    const headers: Record<string, string> = { accept: "application/json, text/plain;q=0.9, */*;q=0.5" };
    const auth = this.opts.auth;
    if (auth && "bearer" in auth) headers.authorization = `Bearer ${auth.bearer}`;
    else if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString("base64")}`;
    let body: string | undefined;
    if (method !== "GET") {
      headers["content-type"] = "application/json";
      body = JSON.stringify(payload);
    }
    const res = await this.http.request({ method, url: c.url, headers, body });
    const s = res.status;
    if (s >= 200 && s < 300) return res;
    const what = `${method} ${redact(c.url)} → HTTP ${s}`;
    if (s === 401 || s === 403) throw new PowerError("fatal", "bad_credentials", `the webhook refused our credentials (${what})`);
    if (s >= 500 || s === 408 || s === 429) throw new PowerError("transient", "bmc_error", `webhook failed, will retry (${what})`);
    if (s === 404 || s === 405) throw new PowerError("fatal", "bad_settings", `no such webhook (${what})`);
    throw new PowerError("fatal", "bad_request", `the webhook refused the request (${what})`);
  }
}

function compile(src: string | undefined, which: string): RegExp | undefined {
  if (src === undefined || src === "") return undefined;
  try {
    return new RegExp(src);
  } catch (e) {
    throw new PowerError("fatal", "bad_settings", `power_${which}_regex is not a valid regex: ${(e as Error).message}`);
  }
}

function parseJson(body: string, url: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new PowerError("fatal", "bad_settings", `the query at ${redact(url)} did not return JSON, but a JSON path is set`);
  }
}

function pick(v: unknown, path: string): unknown {
  let cur = v;
  for (const key of path.split(".").filter(Boolean)) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = Array.isArray(cur) ? cur[Number(key)] : (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** URLs may carry credentials or tokens in their userinfo or query: keep them out of messages. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}
