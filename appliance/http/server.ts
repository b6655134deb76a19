// The boot HTTP server on :5248: iPXE scripts from the boot-intent snapshot, images from the
// content-addressed cache, static boot files, and the metadata relay seam. node:http with a
// small router: every request path is validated with zod; bad input is a 4xx with a JSON body.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { type ImageCache, ImageHashMismatch, SHA256_RE } from "../images/cache";
import { sendFile } from "./files";
import { BootIntent, type BootIntentInput, type BootIntentLookup } from "./intent";
import { bootScript, nodeScript } from "./ipxe";
import { METADATA_MAX_BODY, type MetadataRelay } from "./metadata";
import { openStatic } from "./static";

export type HttpEvent =
  | { type: "request"; method: string; path: string; status: number; remote: string; ms: number }
  | { type: "error"; path: string; message: string };

export interface BootHttpOptions {
  intents: BootIntentLookup;
  images?: ImageCache;
  /** Static boot files (iPXE binaries for UEFI HTTP boot), served under /files/. */
  filesDir?: string;
  metadata?: MetadataRelay;
  /** Default 0.0.0.0:5248. */
  host?: string;
  port?: number;
  /** How nodes reach us, e.g. "http://10.0.0.2:5248"; default: from the request's Host header. */
  baseUrl?: string;
  onEvent?: (e: HttpEvent) => void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

const Mac = z
  .string()
  .regex(/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/, "expected a MAC address like 52:54:00:12:34:56")
  .transform((m) => m.toLowerCase().replaceAll("-", ":"));
const ScriptQuery = z.object({
  // iPXE sends the literal text when a variable is unset; treat anything unknown as unknown.
  platform: z
    .string()
    .optional()
    .transform((p) => (p === "efi" || p === "pcbios" ? p : null)),
  arch: z
    .string()
    .regex(/^[a-z0-9_]{1,16}$/)
    .optional()
    .catch(undefined)
    .transform((a) => a ?? null),
});
const Sha = z.string().regex(SHA256_RE, "expected a lower-case hex sha256");
const HostHeader = z.string().regex(/^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/);

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, `bad ${what}`, r.error.issues.map((i) => i.message));
  return r.data;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function text(res: ServerResponse, body: string, contentType = "text/plain; charset=utf-8"): void {
  res.writeHead(200, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store" });
  res.end(body);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) throw new HttpError(413, "body too large");
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > limit) throw new HttpError(413, "body too large");
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

export class BootHttpServer {
  readonly server: Server;
  private readonly emit: (e: HttpEvent) => void;

  constructor(private readonly opts: BootHttpOptions) {
    this.emit = opts.onEvent ?? (() => {});
    this.server = createServer((req, res) => {
      const started = performance.now();
      if (opts.onEvent) {
        res.on("finish", () => {
          this.emit({
            type: "request",
            method: req.method ?? "",
            path: req.url ?? "",
            status: res.statusCode,
            remote: req.socket.remoteAddress ?? "",
            ms: performance.now() - started,
          });
        });
      }
      this.handle(req, res).catch((e: unknown) => this.fail(req, res, e));
    });
    // Boot scripts are tiny and many nodes keep connections open across chain steps.
    this.server.keepAliveTimeout = 30_000;
  }

  async listen(): Promise<{ address: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.opts.port ?? 5248, this.opts.host ?? "0.0.0.0", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const a = this.server.address() as AddressInfo;
    return { address: a.address, port: a.port };
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private fail(req: IncomingMessage, res: ServerResponse, e: unknown): void {
    if (e instanceof HttpError) {
      if (!res.headersSent) json(res, e.status, { error: e.message, ...(e.detail ? { detail: e.detail } : {}) });
      else res.destroy();
      return;
    }
    this.emit({ type: "error", path: req.url ?? "", message: e instanceof Error ? e.message : String(e) });
    if (!res.headersSent) json(res, 500, { error: "internal error" });
    else res.destroy();
  }

  private baseUrl(req: IncomingMessage): string {
    if (this.opts.baseUrl) return this.opts.baseUrl.replace(/\/+$/, "");
    return `http://${parse(HostHeader, req.headers.host, "Host header")}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    const method = req.method ?? "GET";
    if (path.startsWith("/metadata/") || path === "/metadata") return this.relay(req, res, url);
    if (method !== "GET" && method !== "HEAD") throw new HttpError(405, "method not allowed");

    if (path === "/boot.ipxe") return text(res, bootScript(this.baseUrl(req)));

    const script = /^\/boot\/([^/]+)\.ipxe$/.exec(path);
    if (script) {
      const mac = parse(Mac, decodeURIComponent(script[1]!), "MAC address");
      const q = parse(ScriptQuery, Object.fromEntries(url.searchParams), "query");
      const raw = await this.opts.intents({ mac, platform: q.platform, arch: q.arch, remote: req.socket.remoteAddress ?? "" });
      if (raw === null) throw new HttpError(404, "no boot intent for this machine", { mac });
      return text(res, nodeScript(this.validIntent(raw, mac), { baseUrl: this.baseUrl(req), platform: q.platform }));
    }

    const image = /^\/images\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (image) return this.image(req, res, parse(Sha, image[1], "image id"));

    if (path.startsWith("/files/") && this.opts.filesDir) {
      const f = await openStatic(this.opts.filesDir, path.slice("/files/".length));
      if (!f.ok) throw new HttpError(f.status, f.message);
      return sendFile(req, res, { ...f.file, contentType: "application/octet-stream" });
    }
    throw new HttpError(404, "not found");
  }

  /** Snapshot intents are long-lived objects: validate each once, not on every boot request. */
  private readonly validated = new WeakMap<object, BootIntent>();

  private validIntent(raw: BootIntentInput, mac: string): BootIntent {
    const seen = this.validated.get(raw);
    if (seen) return seen;
    const intent = BootIntent.safeParse(raw);
    if (!intent.success) throw new Error(`invalid boot intent for ${mac}: ${intent.error.message}`);
    this.validated.set(raw, intent.data);
    return intent.data;
  }

  private async image(req: IncomingMessage, res: ServerResponse, sha: string): Promise<void> {
    const cache = this.opts.images;
    if (!cache) throw new HttpError(404, "no image cache here");
    let img: Awaited<ReturnType<ImageCache["get"]>>;
    try {
      img = await cache.get(sha);
    } catch (e) {
      if (e instanceof ImageHashMismatch) throw new HttpError(502, "the image source sent bytes that do not match the hash");
      throw new HttpError(502, "the image could not be fetched");
    }
    if (!img) throw new HttpError(404, "image not found", { sha256: sha });
    sendFile(req, res, { path: img.path, size: img.size, etag: sha, contentType: "application/octet-stream", done: cache.pin(sha) });
  }

  private async relay(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const relay = this.opts.metadata;
    if (!relay) throw new HttpError(503, "metadata relay not configured");
    const body = await readBody(req, METADATA_MAX_BODY);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
    const out = await relay({
      method: req.method ?? "GET",
      path: url.pathname.slice("/metadata".length) || "/",
      query: url.search.replace(/^\?/, ""),
      headers,
      body,
      remote: req.socket.remoteAddress ?? "",
    });
    const payload = out.body === undefined ? Buffer.alloc(0) : Buffer.from(out.body);
    res.writeHead(out.status, { ...out.headers, "Content-Length": payload.length });
    res.end(payload);
  }
}
