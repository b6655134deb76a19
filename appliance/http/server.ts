// The boot HTTP server on :5248: iPXE scripts from the boot-intent snapshot, images from the
// content-addressed cache, static boot files, and the metadata seams (relay, MAAS API). node:http with a
// small router: every request path is validated (intents with zod, once per intent; the hot
// routes' MAC, query and hash with plain regular expressions); bad input is a 4xx with a JSON body.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { totalmem } from "node:os";
import { type ImageCache, ImageHashMismatch, SHA256_RE } from "../images/cache";
import { sendFile } from "./files";
import { BootIntent, type BootIntentInput, type BootIntentLookup, type Platform } from "./intent";
import { bootScript, nodeScript } from "./ipxe";
import { MemoryImageCache } from "./memory";
import { MAAS_METADATA_PREFIX, METADATA_MAX_BODY, type MetadataRelay } from "./metadata";
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
  /** The MAAS metadata API under /MAAS/metadata (appliance/metadata/maas.ts). */
  maas?: MetadataRelay;
  /** Default 0.0.0.0:5248. */
  host?: string;
  port?: number;
  /** How nodes reach us, e.g. "http://10.0.0.2:5248"; default: from the request's Host header. */
  baseUrl?: string;
  /**
   * Bytes of hot images to hold in memory (memory.ts). Default: 512 MiB, at most a quarter
   * of the machine's RAM; 0 serves every image from disk.
   */
  memoryBytes?: number;
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

// The hot routes (boot scripts, images) check their input with these directly rather than
// through zod: same rules, a fraction of the cost per request (see handle()).
const MAC_RE = /^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/;
const MAC_HINT = ["expected a MAC address like 52:54:00:12:34:56"];
const ARCH_RE = /^[a-z0-9_]{1,16}$/;
const SHA_HINT = ["expected a lower-case hex sha256"];
const HOST_RE = /^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;
const HOST_HINT = ["expected a host name or address with an optional port"];
/** A request target that WHATWG URL parsing would rewrite (dot segments, backslashes, fragments). */
const NEEDS_URL = /\/\.|%2e|\\|#/i;

function decodeQueryPart(s: string): string {
  if (!s.includes("%") && !s.includes("+")) return s;
  const plus = s.replaceAll("+", " ");
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

/** iPXE's ${platform} and ${buildarch} from the query; the last value wins, as with URLSearchParams. */
function scriptQuery(search: string): { platform: Platform; arch: string | null } {
  let platform: string | undefined;
  let arch: string | undefined;
  if (search !== "") {
    for (const pair of search.split("&")) {
      const eq = pair.indexOf("=");
      const name = decodeQueryPart(eq < 0 ? pair : pair.slice(0, eq));
      if (name === "platform") platform = decodeQueryPart(eq < 0 ? "" : pair.slice(eq + 1));
      else if (name === "arch") arch = decodeQueryPart(eq < 0 ? "" : pair.slice(eq + 1));
    }
  }
  // iPXE sends the literal text when a variable is unset; treat anything unknown as unknown.
  return {
    platform: platform === "efi" || platform === "pcbios" ? platform : null,
    arch: arch !== undefined && ARCH_RE.test(arch) ? arch : null,
  };
}

/** A rendered script with its response headers, built once and sent as is. */
interface Rendered {
  body: Buffer;
  headers: string[];
}

function rendered(body: string): Rendered {
  const b = Buffer.from(body);
  return { body: b, headers: ["Content-Type", "text/plain; charset=utf-8", "Content-Length", String(b.length), "Cache-Control", "no-store"] };
}

/**
 * A key for an intent's content, when every field is a string (or absent): lookups such as
 * services.ts's build a fresh object per request, so object identity alone would never hit.
 * Optional fields carry a presence mark, so an absent token and an empty one differ.
 */
function contentKey(raw: BootIntentInput): string | null {
  const r = raw as Record<string, unknown>;
  if (r["kind"] === "local") return "local";
  const { kind, kernel, initrd, cmdline, token } = r;
  if (typeof kind !== "string" || typeof kernel !== "string" || typeof initrd !== "string") return null;
  if ((cmdline !== undefined && typeof cmdline !== "string") || (token !== undefined && typeof token !== "string")) return null;
  return `${kind}\n${kernel}\n${initrd}\n${cmdline === undefined ? "-" : `+${cmdline}`}\n${token === undefined ? "-" : `+${token}`}`;
}

/** Caps on the render caches: a fleet's worth of intents, a few base URLs each. */
const MAX_INTENTS = 16_384;
const MAX_BASES = 16;

function isThenable<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";
}

function defaultMemoryBytes(): number {
  return Math.min(512 << 20, Math.floor(totalmem() / 4));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
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
  /** Hot images in memory; exposed for tests and operators' introspection. */
  readonly memory: MemoryImageCache;
  private readonly emit: (e: HttpEvent) => void;
  private readonly fixedBase: string | null;

  constructor(private readonly opts: BootHttpOptions) {
    this.emit = opts.onEvent ?? (() => {});
    this.fixedBase = opts.baseUrl ? opts.baseUrl.replace(/\/+$/, "") : null;
    this.memory = new MemoryImageCache({ maxBytes: opts.memoryBytes ?? defaultMemoryBytes() });
    this.server = createServer((req, res) => {
      // Why no listener without onEvent: a 'finish' closure per request costs a measurable
      // share of a 420-byte boot script's budget.
      if (opts.onEvent) {
        const started = performance.now();
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
      // Why not async: most answers (cached scripts, images in memory) need no await, and a
      // promise per request is measurable at tens of thousands of requests a second.
      try {
        const pending = this.handle(req, res);
        if (pending) pending.catch((e: unknown) => this.fail(req, res, e));
      } catch (e) {
        this.fail(req, res, e);
      }
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
    if (this.fixedBase !== null) return this.fixedBase;
    const host = req.headers.host;
    if (host === undefined || !HOST_RE.test(host)) throw new HttpError(400, "bad Host header", HOST_HINT);
    return `http://${host}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void | Promise<void> {
    const target = req.url ?? "/";
    const method = req.method ?? "GET";
    // Why not `new URL` every time: it is the largest single cost of a boot-script request.
    // A plain origin-form target is split at "?"; anything URL parsing would rewrite (dot
    // segments, backslashes, a fragment, an absolute-form target) still goes through it.
    let path: string;
    let search = "";
    if (target.charCodeAt(0) === 47 && !NEEDS_URL.test(target)) {
      const q = target.indexOf("?");
      path = q < 0 ? target : target.slice(0, q);
      if (q >= 0) search = target.slice(q + 1);
    } else {
      const url = new URL(target, "http://x");
      path = url.pathname;
      search = url.search.slice(1);
    }
    if (path.startsWith("/metadata/") || path === "/metadata") return this.relay(req, res, this.opts.metadata, "/metadata");
    if (path.startsWith(`${MAAS_METADATA_PREFIX}/`)) return this.relay(req, res, this.opts.maas, MAAS_METADATA_PREFIX);
    if (method !== "GET" && method !== "HEAD") throw new HttpError(405, "method not allowed");

    if (path === "/boot.ipxe") return this.send(res, this.entryScript(this.baseUrl(req)));

    if (path.startsWith("/boot/") && path.endsWith(".ipxe") && path.indexOf("/", 6) < 0) {
      let mac = path.slice(6, -5);
      if (mac.includes("%")) {
        try {
          mac = decodeURIComponent(mac);
        } catch {
          throw new HttpError(400, "bad MAC address", MAC_HINT);
        }
      }
      if (!MAC_RE.test(mac)) throw new HttpError(400, "bad MAC address", MAC_HINT);
      mac = mac.toLowerCase().replaceAll("-", ":");
      const q = scriptQuery(search);
      const base = this.baseUrl(req);
      const raw = this.opts.intents({ mac, platform: q.platform, arch: q.arch, remote: req.socket.remoteAddress ?? "" });
      if (isThenable(raw)) return Promise.resolve(raw).then((r) => this.send(res, this.nodeScript(r, mac, q.platform, base)));
      return this.send(res, this.nodeScript(raw, mac, q.platform, base));
    }

    const image = /^\/images\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (image) {
      if (!SHA256_RE.test(image[1]!)) throw new HttpError(400, "bad image id", SHA_HINT);
      return this.image(req, res, image[1]!);
    }

    if (path.startsWith("/files/") && this.opts.filesDir) return this.staticFile(req, res, path.slice("/files/".length));
    throw new HttpError(404, "not found");
  }

  private send(res: ServerResponse, r: Rendered): void {
    res.writeHead(200, r.headers);
    res.end(r.body);
  }

  private readonly entryScripts = new Map<string, Rendered>();

  private entryScript(base: string): Rendered {
    let r = this.entryScripts.get(base);
    if (!r) {
      if (this.entryScripts.size >= MAX_BASES) this.entryScripts.clear();
      r = rendered(bootScript(base));
      this.entryScripts.set(base, r);
    }
    return r;
  }

  /**
   * Why two caches: validating an intent with zod and rendering its script cost more than the
   * rest of the request. Intents are validated once per content (snapshot lookups such as
   * services.ts's build a fresh object per request, so object identity would never hit, and a
   * WeakMap entry per fresh object costs more than it saves); each validated intent keeps its
   * rendered scripts per (platform, base URL), since the same intent always renders the same
   * text (ipxe.ts is pure). Invalid intents are never cached.
   */
  private readonly byContent = new Map<string, BootIntent>();
  private readonly scripts = new WeakMap<BootIntent, Map<string, Rendered>>();

  private nodeScript(raw: BootIntentInput | null, mac: string, platform: Platform, base: string): Rendered {
    if (raw === null) throw new HttpError(404, "no boot intent for this machine", { mac });
    const intent = this.validIntent(raw, mac);
    let byCtx = this.scripts.get(intent);
    if (!byCtx) {
      byCtx = new Map();
      this.scripts.set(intent, byCtx);
    }
    const ctx = `${platform}\n${base}`;
    let r = byCtx.get(ctx);
    if (!r) {
      if (byCtx.size >= MAX_BASES) byCtx.clear();
      r = rendered(nodeScript(intent, { baseUrl: base, platform }));
      byCtx.set(ctx, r);
    }
    return r;
  }

  private validIntent(raw: BootIntentInput, mac: string): BootIntent {
    const key = contentKey(raw);
    const known = key === null ? undefined : this.byContent.get(key);
    if (known) return known;
    const intent = BootIntent.safeParse(raw);
    if (!intent.success) throw new Error(`invalid boot intent for ${mac}: ${intent.error.message}`);
    if (key !== null) {
      if (this.byContent.size >= MAX_INTENTS) this.byContent.clear();
      this.byContent.set(key, intent.data);
    }
    return intent.data;
  }

  private image(req: IncomingMessage, res: ServerResponse, sha: string): void | Promise<void> {
    const cache = this.opts.images;
    if (!cache) throw new HttpError(404, "no image cache here");
    const held = this.memory.get(sha);
    if (held) {
      // Served from memory only while the disk cache still holds it (not evicted since).
      if (cache.has(sha))
        return sendFile(req, res, { path: "", size: held.length, etag: sha, contentType: "application/octet-stream", bytes: held, done: cache.pin(sha) });
      this.memory.delete(sha);
    }
    return this.imageFromDisk(req, res, cache, sha);
  }

  private async imageFromDisk(req: IncomingMessage, res: ServerResponse, cache: ImageCache, sha: string): Promise<void> {
    let img: Awaited<ReturnType<ImageCache["get"]>>;
    try {
      img = await cache.get(sha);
    } catch (e) {
      if (e instanceof ImageHashMismatch) throw new HttpError(502, "the image source sent bytes that do not match the hash");
      throw new HttpError(502, "the image could not be fetched");
    }
    if (!img) throw new HttpError(404, "image not found", { sha256: sha });
    sendFile(req, res, { path: img.path, size: img.size, etag: sha, contentType: "application/octet-stream", done: cache.pin(sha) });
    // The next request for it is served from memory, if it fits the budget.
    void this.memory.load(sha, img.path, img.size);
  }

  private async staticFile(req: IncomingMessage, res: ServerResponse, rel: string): Promise<void> {
    const f = await openStatic(this.opts.filesDir!, rel);
    if (!f.ok) throw new HttpError(f.status, f.message);
    sendFile(req, res, { ...f.file, contentType: "application/octet-stream" });
  }

  private async relay(req: IncomingMessage, res: ServerResponse, relay: MetadataRelay | undefined, prefix: string): Promise<void> {
    if (!relay) throw new HttpError(503, "metadata relay not configured");
    const url = new URL(req.url ?? "/", "http://x");
    const body = await readBody(req, METADATA_MAX_BODY);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
    const out = await relay({
      method: req.method ?? "GET",
      path: url.pathname.slice(prefix.length) || "/",
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
