// A FAKE Redfish service for tests: serves DMTF's public-rackmount1 mockup over HTTPS
// (self-signed) or HTTP on 127.0.0.1, with working sessions, basic auth, Reset, PATCH and
// one injectable fault per operation (the shape of rufio's fake BMC). It is not a BMC.
import { createHash, randomBytes } from "node:crypto";
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttps } from "node:https";
import type { AddressInfo } from "node:net";
import { makeSelfSignedCert } from "./cert";
import { canonical, type Json, loadMockup } from "./mockup";
import { applyPatch, applyReset, EmulatorError } from "./system";

export type Operation = "root" | "get" | "login" | "logout" | "reset" | "patch";
export type Fault = { status: number; body?: unknown } | { drop: true } | { hang: true };

export interface EmulatorOptions {
  /** HTTPS with a fresh self-signed certificate (default), or plain HTTP. */
  tls?: boolean;
  users?: Record<string, string>;
  /** false: the SessionService answers 404, as on BMCs that only do basic auth. */
  sessions?: boolean;
  /** Refuse PATCH without a matching If-Match, as some vendors do. */
  requireIfMatch?: boolean;
  mockupDir?: string;
  /** Adjust the ComputerSystem before serving (other reset types, LocationIndicatorActive...). */
  customizeSystem?: (sys: Json) => void;
}

export interface LoggedRequest {
  method: string;
  path: string;
  auth: "none" | "basic" | "session";
  ifMatch?: string;
}

const SYSTEM = "/redfish/v1/Systems/437XR1138R2";
const SESSIONS = "/redfish/v1/SessionService/Sessions";
const PUBLIC = new Set(["/redfish", "/redfish/v1", "/redfish/v1/odata", "/redfish/v1/$metadata"]);

export class RedfishEmulator {
  readonly log: LoggedRequest[] = [];
  /** ResetTypes applied, oldest first. */
  readonly resets: string[] = [];
  readonly sessions = new Map<string, string>();
  private readonly faults = new Map<Operation, Fault>();
  private readonly resources: Map<string, Json>;
  private readonly xml: Map<string, string>;
  private readonly hung = new Set<ServerResponse>();
  private server!: Server;
  private etagSeq = 1;
  url = "";
  port = 0;
  fingerprint256 = "";

  private constructor(private readonly opts: EmulatorOptions) {
    const m = loadMockup(opts.mockupDir);
    this.resources = m.json;
    this.xml = m.xml;
    this.resources.set(SESSIONS, { ...this.resources.get(SESSIONS), Members: [], "Members@odata.count": 0 });
    opts.customizeSystem?.(this.system());
  }

  static async start(opts: EmulatorOptions = {}): Promise<RedfishEmulator> {
    const emu = new RedfishEmulator(opts);
    await emu.listen();
    return emu;
  }

  /** The live ComputerSystem resource. */
  system(): Json {
    const s = this.resources.get(SYSTEM);
    if (!s) throw new Error("mockup has no ComputerSystem 437XR1138R2");
    return s;
  }

  /** Serve one more resource, e.g. an ActionInfo a customized system links to. */
  addResource(path: string, body: Json): void {
    this.resources.set(canonical(path), body);
  }

  /** The next request of this kind fails this way; later ones behave. */
  inject(op: Operation, fault: Fault): void {
    this.faults.set(op, fault);
  }

  /** Forget all sessions, as a BMC does after SessionTimeout or a reboot. */
  expireSessions(): void {
    this.sessions.clear();
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async listen(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((e) => send(res, 500, errorBody("Base.1.8.InternalError", String(e))));
    };
    if (this.opts.tls === false) this.server = createHttp(handler);
    else {
      const c = makeSelfSignedCert();
      this.fingerprint256 = c.fingerprint256;
      this.server = createHttps({ key: c.key, cert: c.cert }, handler);
    }
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `${this.opts.tls === false ? "http" : "https"}://127.0.0.1:${this.port}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const path = canonical(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    const raw = await readBody(req);
    const auth = this.authOf(req);
    const ifMatch = req.headers["if-match"];
    this.log.push({ method, path, auth: auth ?? "none", ...(typeof ifMatch === "string" ? { ifMatch } : {}) });
    const op = operationOf(method, path);
    if (this.fault(op, res)) return;

    if (method === "POST" && path === SESSIONS) return this.login(raw, res);
    if (!PUBLIC.has(path) && !auth) {
      res.setHeader("www-authenticate", 'Basic realm="redfish"');
      return send(res, 401, errorBody("Base.1.8.NoValidSession", "Authentication is required."));
    }
    if (method === "GET") return this.get(path, res);
    if (method === "DELETE" && path.startsWith(`${SESSIONS}/`)) {
      const id = path.slice(SESSIONS.length + 1);
      if (!this.sessions.has(id)) return send(res, 404, errorBody("Base.1.8.ResourceMissingAtURI", path));
      this.sessions.delete(id);
      res.writeHead(204).end();
      return;
    }
    try {
      const body = raw ? (JSON.parse(raw) as unknown) : undefined;
      if (method === "POST" && path === `${SYSTEM}/Actions/ComputerSystem.Reset`) {
        this.resets.push(applyReset(this.system(), body));
        res.writeHead(204).end();
        return;
      }
      if (method === "PATCH" && path === SYSTEM) {
        const match = req.headers["if-match"];
        if (match !== undefined && match !== this.etag()) {
          return send(res, 412, errorBody("Base.1.8.PreconditionFailed", "ETag does not match."));
        }
        if (match === undefined && this.opts.requireIfMatch) {
          return send(res, 428, errorBody("Base.1.8.PreconditionRequired", "If-Match is required."));
        }
        applyPatch(this.system(), body);
        this.etagSeq++;
        res.writeHead(204).end();
        return;
      }
    } catch (e) {
      if (e instanceof EmulatorError) return send(res, e.status, errorBody(e.messageId, e.message));
      if (e instanceof SyntaxError) return send(res, 400, errorBody("Base.1.8.MalformedJSON", e.message));
      throw e;
    }
    send(res, this.resources.has(path) ? 405 : 404, errorBody("Base.1.8.ActionNotSupported", `${method} ${path}`));
  }

  private get(path: string, res: ServerResponse) {
    if (path === "/redfish") return send(res, 200, { v1: "/redfish/v1/" });
    const xml = this.xml.get(path);
    if (xml) {
      res.writeHead(200, { "content-type": "application/xml" }).end(xml);
      return;
    }
    if (path === SESSIONS) {
      const members = [...this.sessions.keys()].map((id) => ({ "@odata.id": `${SESSIONS}/${id}` }));
      return send(res, 200, { ...this.resources.get(SESSIONS), Members: members, "Members@odata.count": members.length });
    }
    if (path.startsWith(`${SESSIONS}/`)) {
      const id = path.slice(SESSIONS.length + 1);
      const user = this.sessions.get(id);
      if (!user) return send(res, 404, errorBody("Base.1.8.ResourceMissingAtURI", path));
      return send(res, 200, sessionResource(id, user));
    }
    const r = this.resources.get(path);
    if (!r) return send(res, 404, errorBody("Base.1.8.ResourceMissingAtURI", path));
    if (path === SYSTEM) res.setHeader("etag", this.etag());
    send(res, 200, r);
  }

  private login(raw: string, res: ServerResponse) {
    if (this.opts.sessions === false) return send(res, 404, errorBody("Base.1.8.ResourceMissingAtURI", SESSIONS));
    let creds: Json;
    try {
      creds = JSON.parse(raw) as Json;
    } catch {
      return send(res, 400, errorBody("Base.1.8.MalformedJSON", "bad JSON"));
    }
    const user = creds.UserName;
    if (typeof user !== "string" || this.users()[user] === undefined || this.users()[user] !== creds.Password) {
      return send(res, 401, errorBody("Base.1.8.ResourceAtUriUnauthorized", "Invalid username or password."));
    }
    const id = randomBytes(8).toString("hex").toUpperCase();
    this.sessions.set(id, user);
    res.setHeader("x-auth-token", tokenFor(id));
    res.setHeader("location", `${SESSIONS}/${id}`);
    send(res, 201, sessionResource(id, user));
  }

  private authOf(req: IncomingMessage): "basic" | "session" | undefined {
    const token = req.headers["x-auth-token"];
    if (typeof token === "string") {
      for (const id of this.sessions.keys()) if (tokenFor(id) === token) return "session";
      return undefined;
    }
    const h = req.headers.authorization;
    if (h?.startsWith("Basic ")) {
      const [u, ...p] = Buffer.from(h.slice(6), "base64").toString("utf8").split(":");
      if (u !== undefined && this.users()[u] !== undefined && this.users()[u] === p.join(":")) return "basic";
    }
    return undefined;
  }

  private users(): Record<string, string> {
    return this.opts.users ?? { admin: "password" };
  }

  private etag(): string {
    return `W/"${this.etagSeq}"`;
  }

  private fault(op: Operation, res: ServerResponse): boolean {
    const f = this.faults.get(op);
    if (!f) return false;
    this.faults.delete(op);
    if ("drop" in f) res.socket?.destroy();
    else if ("hang" in f) this.hung.add(res);
    else send(res, f.status, f.body ?? errorBody("Base.1.8.InternalError", `injected ${f.status}`));
    return true;
  }
}

function operationOf(method: string, path: string): Operation {
  if (method === "POST" && path === SESSIONS) return "login";
  if (method === "DELETE") return "logout";
  if (method === "POST") return "reset";
  if (method === "PATCH") return "patch";
  return PUBLIC.has(path) ? "root" : "get";
}

function tokenFor(id: string): string {
  return createHash("sha256").update(`emulator-session:${id}`).digest("hex");
}

function sessionResource(id: string, user: string): Json {
  return {
    "@odata.type": "#Session.v1_3_0.Session",
    "@odata.id": `${SESSIONS}/${id}`,
    Id: id,
    Name: "User Session",
    UserName: user,
  };
}

function errorBody(messageId: string, message: string): Json {
  return {
    error: {
      code: messageId,
      message,
      "@Message.ExtendedInfo": [{ "@odata.type": "#Message.v1_1_1.Message", MessageId: messageId, Message: message }],
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json", "odata-version": "4.0" }).end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > 1 << 20) req.destroy(new Error("request body too large"));
      else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
