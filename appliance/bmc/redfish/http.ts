// A small JSON-over-HTTP(S) client for BMC-facing drivers (Redfish, webhook). BMCs ship
// self-signed certificates, so trust is per BMC: a pinned SHA-256 fingerprint replaces
// CA verification for that BMC's connections only, and is checked before any request
// bytes (which carry credentials) are written.
import { Agent as HttpAgent, type IncomingHttpHeaders, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, type RequestOptions, request as httpsRequest } from "node:https";
import type { Duplex } from "node:stream";
import { connect as tlsConnect, type PeerCertificate } from "node:tls";
import { PowerError } from "../driver";

export interface HttpClientOptions {
  /** SHA-256 of the BMC's DER certificate, hex with or without colons. Without it the system CAs decide. */
  fingerprint?: string;
  /** Per request, from first byte sent to last byte received. */
  timeoutMs?: number;
}

/** Redfish resources are kilobytes; anything this big is a broken or hostile endpoint. */
const MAX_BODY = 4 << 20;

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

export function normalizeFingerprint(fp: string): string {
  const hex = fp.replace(/[:\s]/g, "").toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new PowerError("fatal", "bad_settings", "TLS fingerprint must be a SHA-256 digest (64 hex digits)");
  }
  return hex;
}

class PinnedAgent extends HttpsAgent {
  constructor(private readonly pin: string) {
    // No TLS session cache: a resumed session would skip the certificate we pin against.
    super({ keepAlive: true, maxSockets: 4, maxCachedSessions: 0 });
  }

  override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const host = options.host ?? options.hostname ?? "127.0.0.1";
    // Chain verification is replaced by the pin, for this agent's sockets only.
    const socket = tlsConnect({
      host,
      port: Number(options.port),
      servername: isIp(host) ? undefined : host,
      rejectUnauthorized: false,
    });
    const fail = (err: Error) => callback?.(err, socket);
    socket.once("error", fail);
    socket.once("secureConnect", () => {
      socket.off("error", fail);
      const cert: PeerCertificate = socket.getPeerCertificate();
      const got = (cert.fingerprint256 ?? "").replace(/:/g, "").toUpperCase();
      if (got !== this.pin) {
        socket.destroy();
        callback?.(new FingerprintMismatch(this.pin, got), socket);
        return;
      }
      callback?.(null, socket);
    });
    return undefined;
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}

class FingerprintMismatch extends Error {
  constructor(
    readonly expected: string,
    readonly got: string,
  ) {
    super(`certificate fingerprint ${got || "(none)"} does not match the pinned ${expected}`);
  }
}

const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "EAI_AGAIN",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
]);

/** Classifies a transport failure with MAAS's policy: the network is transient, trust is not. */
export function classifyTransportError(err: unknown, url: string): PowerError {
  if (err instanceof PowerError) return err;
  if (err instanceof FingerprintMismatch) {
    return new PowerError("fatal", "tls_fingerprint_mismatch", `BMC at ${origin(url)}: ${err.message}`);
  }
  const code = (err as { code?: string }).code ?? "";
  const msg = err instanceof Error ? err.message : String(err);
  if (TRANSIENT_CODES.has(code)) {
    return new PowerError("transient", "connection", `BMC at ${origin(url)} unreachable: ${code || msg}`);
  }
  if (code.startsWith("ERR_TLS") || code.includes("CERT") || code.startsWith("ERR_SSL")) {
    return new PowerError("fatal", "tls", `TLS with BMC at ${origin(url)} failed: ${code} ${msg}`);
  }
  return new PowerError("transient", "connection", `request to BMC at ${origin(url)} failed: ${code || msg}`);
}

function origin(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export class HttpClient {
  private readonly httpsAgent: HttpsAgent;
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 4 });
  private readonly timeoutMs: number;

  constructor(opts: HttpClientOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.httpsAgent =
      opts.fingerprint !== undefined ? new PinnedAgent(normalizeFingerprint(opts.fingerprint)) : new HttpsAgent({ keepAlive: true, maxSockets: 4 });
  }

  request(req: HttpRequest): Promise<HttpResponse> {
    const u = new URL(req.url);
    const tls = u.protocol === "https:";
    if (!tls && u.protocol !== "http:") {
      return Promise.reject(new PowerError("fatal", "bad_settings", `unsupported URL scheme in ${req.url}`));
    }
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined) headers["content-length"] = String(Buffer.byteLength(req.body));
    return new Promise<HttpResponse>((resolve, reject) => {
      const send = tls ? httpsRequest : httpRequest;
      const r = send(u, { method: req.method, headers, agent: tls ? this.httpsAgent : this.httpAgent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size <= MAX_BODY) chunks.push(c);
          else {
            r.destroy();
            reject(new PowerError("fatal", "invalid_response", `${u.host} sent more than ${MAX_BODY} bytes`));
          }
        });
        res.on("error", (e) => reject(classifyTransportError(e, req.url)));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      });
      r.setTimeout(this.timeoutMs, () => {
        r.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: "ETIMEDOUT" }));
      });
      r.on("error", (e) => reject(classifyTransportError(e, req.url)));
      r.end(req.body);
    });
  }

  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }
}
