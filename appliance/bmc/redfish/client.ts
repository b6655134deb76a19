// Redfish transport: service-root discovery, session or basic authentication, and the
// mapping of HTTP outcomes onto MAAS's fatal/transient policy.
import type { z } from "zod";
import { PowerError } from "../driver";
import { HttpClient, type HttpResponse } from "./http";
import { Collection, RedfishErrorBody, ServiceRoot, SessionServiceSchema } from "./schemas";

export type RedfishAuth = "auto" | "session" | "basic";

export interface RedfishClientOptions {
  /** https://host[:port] (or http:// when the BMC has no TLS). */
  baseUrl: string;
  user: string;
  password: string;
  fingerprint?: string;
  auth?: RedfishAuth;
  timeoutMs?: number;
}

export const SERVICE_ROOT = "/redfish/v1/";
const DEFAULT_SESSIONS = "/redfish/v1/SessionService/Sessions";

interface Session {
  token: string;
  location?: string;
}

export class RedfishClient {
  private readonly http: HttpClient;
  private session: Session | undefined;
  private loggingIn: Promise<Session | undefined> | undefined;
  private useBasic: boolean;
  private root: z.infer<typeof ServiceRoot> | undefined;

  constructor(private readonly opts: RedfishClientOptions) {
    this.http = new HttpClient({ fingerprint: opts.fingerprint, timeoutMs: opts.timeoutMs });
    this.useBasic = opts.auth === "basic";
  }

  /** The service root is readable without credentials, per the Redfish spec. */
  async serviceRoot(): Promise<z.infer<typeof ServiceRoot>> {
    if (!this.root) {
      const res = await this.send("GET", SERVICE_ROOT, undefined, {});
      this.root = readJson(res, SERVICE_ROOT, ServiceRoot);
    }
    return this.root;
  }

  async get<T extends z.ZodType>(schema: T, path: string): Promise<{ body: z.infer<T>; etag?: string }> {
    const res = await this.authed("GET", path);
    const etag = res.headers.etag;
    return { body: readJson(res, path, schema), etag: typeof etag === "string" ? etag : undefined };
  }

  async post(path: string, body: unknown): Promise<void> {
    await this.authed("POST", path, body);
  }

  async patch(path: string, body: unknown, etag?: string): Promise<void> {
    await this.authed("PATCH", path, body, etag ? { "if-match": etag } : {});
  }

  async collectionMembers(path: string): Promise<string[]> {
    const { body } = await this.get(Collection, path);
    return body.Members.map((m) => m["@odata.id"]);
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    try {
      if (s?.location) await this.send("DELETE", s.location, undefined, { "x-auth-token": s.token });
    } catch {
      // The session times out on the BMC anyway; closing must not fail the action it follows.
    } finally {
      this.http.close();
    }
  }

  private async authed(method: string, path: string, body?: unknown, extra: Record<string, string> = {}) {
    const headers = { ...(await this.authHeaders()), ...extra };
    let res = await this.send(method, path, body, headers);
    if ((res.status === 401 || res.status === 403) && this.session) {
      // Sessions expire on the BMC (SessionTimeout); log in once more before calling it bad credentials.
      this.session = undefined;
      res = await this.send(method, path, body, { ...(await this.authHeaders()), ...extra });
    }
    return check(res, method, path, this.opts.user);
  }

  private async authHeaders(): Promise<Record<string, string>> {
    if (this.useBasic) {
      const b = Buffer.from(`${this.opts.user}:${this.opts.password}`).toString("base64");
      return { authorization: `Basic ${b}` };
    }
    if (!this.session) {
      // Concurrent actions share one login rather than each leaving a session on the BMC.
      this.loggingIn ??= this.login().finally(() => {
        this.loggingIn = undefined;
      });
      this.session = await this.loggingIn;
    }
    if (!this.session) return this.authHeaders();
    return { "x-auth-token": this.session.token };
  }

  /** Returns undefined after switching to basic auth because the BMC has no session service. */
  private async login(): Promise<Session | undefined> {
    const url = await this.sessionsUrl();
    const res = await this.send("POST", url, { UserName: this.opts.user, Password: this.opts.password }, {});
    const token = res.headers["x-auth-token"];
    if (res.status >= 200 && res.status < 300 && typeof token === "string" && token) {
      const loc = res.headers.location;
      // Some BMCs put their own hostname in Location; the session lives where we logged in.
      return { token, location: typeof loc === "string" ? new URL(loc, this.opts.baseUrl).pathname : undefined };
    }
    if (this.opts.auth !== "session" && [404, 405, 501].includes(res.status)) {
      this.useBasic = true;
      return undefined;
    }
    check(res, "POST", url, this.opts.user);
    throw new PowerError("fatal", "invalid_response", `BMC created a session without an X-Auth-Token (${url})`);
  }

  private async sessionsUrl(): Promise<string> {
    const root = await this.serviceRoot();
    const direct = root.Links?.Sessions?.["@odata.id"];
    if (direct) return direct;
    const svc = root.SessionService?.["@odata.id"];
    if (svc) {
      const res = await this.send("GET", svc, undefined, {});
      if (res.status === 200) {
        const s = readJson(res, svc, SessionServiceSchema).Sessions?.["@odata.id"];
        if (s) return s;
      }
    }
    return DEFAULT_SESSIONS;
  }

  private async send(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<HttpResponse> {
    const url = new URL(path, this.opts.baseUrl);
    if (url.origin !== new URL(this.opts.baseUrl).origin) {
      // A BMC link must not send our credentials elsewhere.
      throw new PowerError("fatal", "invalid_response", `BMC linked outside itself: ${path}`);
    }
    const h: Record<string, string> = { accept: "application/json", "odata-version": "4.0", ...headers };
    if (body !== undefined) h["content-type"] = "application/json";
    return this.http.request({
      method,
      url: url.href,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
}

function check(res: HttpResponse, method: string, path: string, user: string): HttpResponse {
  const s = res.status;
  if (s >= 200 && s < 300) return res;
  const detail = errorDetail(res.body);
  const what = `${method} ${path} → HTTP ${s}${detail.message ? `: ${detail.message}` : ""}`;
  if (s === 401 || s === 403) {
    throw new PowerError("fatal", "bad_credentials", `BMC rejected the credentials for user "${user}" (${what})`);
  }
  if (s >= 500 && s !== 501) throw new PowerError("transient", "bmc_error", `BMC error, will retry (${what})`);
  if (s === 409 || s === 429) throw new PowerError("transient", "bmc_busy", `BMC busy, will retry (${what})`);
  if (s === 400 && detail.unsupported) throw new PowerError("fatal", "unsupported", `BMC does not support this (${what})`);
  if (s === 404 || s === 405 || s === 501) throw new PowerError("fatal", "unsupported", `BMC does not support this (${what})`);
  throw new PowerError("fatal", "bad_request", `BMC refused the request (${what})`);
}

const UNSUPPORTED_IDS = /NotInList|NotSupported|ValueTypeError|PropertyUnknown|ValueError/;

function errorDetail(body: string): { message?: string; unsupported: boolean } {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return { unsupported: false };
  }
  const parsed = RedfishErrorBody.safeParse(raw);
  if (!parsed.success) return { unsupported: false };
  const info = parsed.data.error["@Message.ExtendedInfo"] ?? [];
  const ids = [parsed.data.error.code ?? "", ...info.map((i) => i.MessageId ?? "")].join(" ");
  const message = info.find((i) => i.Message)?.Message ?? parsed.data.error.message;
  return { message, unsupported: UNSUPPORTED_IDS.test(ids) };
}

/**
 * A BMC's answer to a GET, checked against the fields we use: the parsed value, or a
 * PowerError saying what was wrong (HTTP status, not JSON, unexpected shape). Pure, so the
 * fuzzer drives exactly what the driver runs on every response.
 */
export function readJson<T extends z.ZodType>(res: HttpResponse, path: string, schema: T): z.infer<T> {
  return parse(schema, json(res, path), path);
}

function json(res: HttpResponse, path: string): unknown {
  if (res.status !== 200) check(res, "GET", path, "");
  try {
    return JSON.parse(res.body);
  } catch {
    throw new PowerError("fatal", "invalid_response", `BMC sent something other than JSON for ${path}`);
  }
}

function parse<T extends z.ZodType>(schema: T, data: unknown, path: string): z.infer<T> {
  const r = schema.safeParse(data);
  if (!r.success) {
    const first = r.error.issues[0];
    const where = first ? `${first.path.join(".")}: ${first.message}` : "unknown";
    throw new PowerError("fatal", "invalid_response", `BMC sent an unexpected ${path} (${where})`);
  }
  return r.data;
}
