// The MAAS metadata API a deployed node's stock cloud-init reads (its MAAS datasource):
// /MAAS/metadata/{2012-03-01,latest}/meta-data/... and .../user-data, OAuth-signed with the
// node's credentials; and what the node posts: cloud-init's webhook events to
// /MAAS/metadata/status/{system_id} and MAAS's ?op=signal. Answered from the rack's snapshot
// alone, so a node boots and configures itself while the region is unreachable; posts are
// journaled (then relayed to the region) before the node is answered. The token key in the
// request names the deployment.
import { z } from "zod";
import { MAAS_METADATA_PREFIX, type MetadataRelay, type MetadataRequest, type MetadataResponse } from "../http/metadata";
import type { NodeDeployment } from "./node-keys";
import { parseAuthorization, verifySignature } from "./oauth";

const VERSIONS = new Set(["2012-03-01", "latest"]);
const META_DATA = ["instance-id", "local-hostname", "public-keys", "vendor-data"] as const;
type MetaDataKey = (typeof META_DATA)[number];

type Route =
  | { kind: "meta-data-index" }
  | { kind: "meta-data"; key: MetaDataKey }
  | { kind: "user-data" }
  | { kind: "status"; systemId: string }
  | { kind: "version" };

function route(path: string): Route | null {
  const status = /^\/status\/([a-z0-9]{1,32})\/?$/.exec(path);
  if (status) return { kind: "status", systemId: status[1]! };
  const parts = path.split("/");
  // "", version, ...rest; a trailing slash leaves an empty last part.
  if (parts[0] !== "" || !VERSIONS.has(parts[1] ?? "")) return null;
  const rest = parts.slice(2).join("/");
  if (rest === "") return { kind: "version" };
  if (rest === "meta-data" || rest === "meta-data/") return { kind: "meta-data-index" };
  if (rest === "user-data") return { kind: "user-data" };
  const key = /^meta-data\/([a-z-]+)\/?$/.exec(rest)?.[1];
  return key !== undefined && (META_DATA as readonly string[]).includes(key) ? { kind: "meta-data", key: key as MetaDataKey } : null;
}

const HOST_RE = /^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

function text(status: number, body: string | Uint8Array, extra: Record<string, string> = {}): MetadataResponse {
  return { status, headers: { "content-type": "text/plain; charset=utf-8", ...extra }, body };
}

// Short bodies, no detail on which part was wrong: the caller is either the node or a guesser.
// The WWW-Authenticate header is what MAAS (piston) sends.
function unauthorized(): MetadataResponse {
  return text(401, "Authorization required\n", { "www-authenticate": 'OAuth realm="OAuth"' });
}

/** What a node posted, as the region's rack events carry it (metadata.result). */
export interface NodeReport {
  systemId: string;
  name: string;
  status: "passed" | "failed" | "running";
  output: string;
}

export interface MaasMetadataOptions {
  /** The deployment a token key belongs to (node-keys.ts), from the snapshot. */
  find(tokenKey: string): Promise<NodeDeployment | null>;
  /** Journals a node's report for the region; resolves once it is on disk. */
  report?(r: NodeReport): Promise<unknown>;
}

/** Bad node credentials allowed per client address per window, as the region counts bad tokens. */
export const MAX_BAD_CREDENTIALS = 100;
export const BAD_CREDENTIALS_WINDOW_MS = 15 * 60_000;
/** Addresses remembered at most: the oldest are forgotten first (a site has far fewer nodes). */
const MAX_ADDRESSES = 10_000;

/** Bad credentials per address in a sliding window, in memory: a restart forgets them. */
class BadCredentials {
  private readonly by = new Map<string, number[]>();

  /** Counts one from `address`: seconds until it may try again once over the limit, else 0. */
  record(address: string, now = Date.now()): number {
    const recent = (this.by.get(address) ?? []).filter((t) => t > now - BAD_CREDENTIALS_WINDOW_MS);
    if (recent.length >= MAX_BAD_CREDENTIALS) return Math.max(1, Math.ceil((recent[0]! + BAD_CREDENTIALS_WINDOW_MS - now) / 1000));
    recent.push(now);
    this.by.delete(address);
    this.by.set(address, recent);
    if (this.by.size > MAX_ADDRESSES) this.by.delete(this.by.keys().next().value!);
    return 0;
  }
}

export function maasMetadataApi(o: MaasMetadataOptions): MetadataRelay {
  const bad = new BadCredentials();
  /** A credential that was sent and is wrong counts; a node that sent none (cloud-init's first try) does not. */
  const refuse = (req: MetadataRequest): MetadataResponse => {
    if (!req.headers["authorization"]) return unauthorized();
    const wait = bad.record(req.remote);
    if (wait === 0) return unauthorized();
    return text(429, `Too many failed authentications from this address: try again in ${Math.ceil(wait / 60)} minute(s).\n`, { "retry-after": String(wait) });
  };
  return async (req) => {
    const r = route(req.path);
    if (!r) return text(404, "Not found\n");
    const post = r.kind === "status" || (r.kind === "version" && req.method === "POST");
    if (post ? req.method !== "POST" : req.method !== "GET" && req.method !== "HEAD")
      return text(405, "Method not allowed\n", { allow: post ? "POST" : "GET, HEAD" });
    // A valid credential is checked first, so it is never refused by the limit.
    const node = await authenticate(req, o);
    if (!node) return refuse(req);
    if (r.kind === "status") {
      // A node reports for itself only.
      if (r.systemId !== node.systemId) return refuse(req);
      return webhook(req, node, o);
    }
    if (r.kind === "version") return req.method === "POST" ? signal(req, node, o) : text(200, "meta-data\nuser-data\n");
    return answer(r, node);
  };
}

/** cloud-init's reporting event (cloudinit/reporting/events.py as_dict), bounded. */
const Bounded = (n: number) =>
  z
    .string()
    .max(64 * 1024)
    .transform((s) => s.slice(0, n));
export const WebhookEventSchema = z.object({
  name: z.string().min(1).max(256),
  description: Bounded(4096).default(""),
  event_type: z.enum(["start", "finish"]),
  origin: z.string().max(64).default("cloudinit"),
  timestamp: z.number().finite().optional(),
  result: z.enum(["SUCCESS", "FAIL", "WARN"]).optional(),
  // Posted files (logs) are named, not relayed: the region keeps events, not log archives.
  files: z
    .array(z.object({ path: z.string().max(4096), content: z.string().optional(), encoding: z.string().max(32).optional() }).passthrough())
    .max(64)
    .optional(),
});
/** A webhook body larger than this is refused (cloud-init's events are a few hundred bytes; logs ride in files). */
export const WEBHOOK_MAX_BODY = 4 << 20;

async function webhook(req: MetadataRequest, node: NodeDeployment, o: MaasMetadataOptions): Promise<MetadataResponse> {
  if (req.body.length > WEBHOOK_MAX_BODY) return text(413, "Event too large\n");
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(req.body).toString("utf8"));
  } catch {
    return text(400, "The event is not JSON\n");
  }
  const e = WebhookEventSchema.safeParse(raw);
  if (!e.success) return text(400, `Invalid event: ${e.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}\n`.slice(0, 1024));
  const ev = e.data;
  const status = ev.event_type === "start" ? "running" : ev.result === "FAIL" ? "failed" : "passed";
  const output = JSON.stringify({
    name: ev.name,
    description: ev.description,
    event_type: ev.event_type,
    origin: ev.origin,
    ...(ev.timestamp !== undefined ? { timestamp: ev.timestamp } : {}),
    ...(ev.result ? { result: ev.result } : {}),
    ...(ev.files?.length ? { files: ev.files.map((f) => ({ path: f.path, size: f.content?.length ?? 0 })) } : {}),
  });
  if (!o.report) return text(503, "Reporting is not available\n");
  await o.report({ systemId: node.systemId, name: "cloudinit", status, output });
  return text(200, "OK");
}

// MAAS's signal statuses; the installer's own protocol (Plinth's /status) is what ours use, so
// this adapter lands a MAAS-style signal where the installer's posts land: FAILED ends the
// deployment with its error, the rest are progress (MAAS, too, moves nothing on them while deploying).
const SIGNAL_STATUSES = new Set(["OK", "WORKING", "FAILED", "FAILURE", "TIMEDOUT", "INSTALLING", "APPLYING_NETCONF", "COMMISSIONING", "TESTING"]);

async function signal(req: MetadataRequest, node: NodeDeployment, o: MaasMetadataOptions): Promise<MetadataResponse> {
  const q = new URLSearchParams(req.query);
  if (q.get("op") !== "signal") return text(400, "Unknown operation\n");
  const form = formOf(req);
  const status = form.get("status") ?? q.get("status");
  if (!status) return text(400, "No provided status!\n");
  if (!SIGNAL_STATUSES.has(status)) return text(400, `Unknown status: '${status.slice(0, 64)}'\n`);
  const error = (form.get("error") ?? "").slice(0, 4096);
  const failed = status === "FAILED" || status === "FAILURE" || status === "TIMEDOUT";
  const doc = failed
    ? { mode: "deploy", status: "failed", error: error || `the node signalled ${status}` }
    : { mode: "deploy", status: "progress", step: "signal", message: error ? `${status}: ${error}` : status };
  if (!o.report) return text(503, "Reporting is not available\n");
  await o.report({ systemId: node.systemId, name: "status", status: failed ? "failed" : "running", output: JSON.stringify(doc) });
  return text(200, "OK");
}

/** A urlencoded or multipart form's text fields (MAAS clients send either). */
function formOf(req: MetadataRequest): URLSearchParams {
  const type = (req.headers["content-type"] ?? "").toLowerCase();
  const body = Buffer.from(req.body).toString("utf8");
  if (type.startsWith("multipart/form-data")) {
    const out = new URLSearchParams();
    const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
    if (!boundary) return out;
    for (const part of body.split(`--${boundary}`)) {
      const m = /^\r?\n([\s\S]*?)\r?\n\r?\n([\s\S]*?)\r?\n$/.exec(part);
      const name = m ? /name="([^"]+)"/i.exec(m[1]!)?.[1] : undefined;
      if (m && name && !/filename=/i.test(m[1]!)) out.append(name, m[2]!);
    }
    return out;
  }
  return new URLSearchParams(body.slice(0, 1 << 20));
}

async function authenticate(req: MetadataRequest, o: MaasMetadataOptions): Promise<NodeDeployment | null> {
  const params = parseAuthorization(req.headers["authorization"]);
  const tokenKey = params?.["oauth_token"];
  const host = req.headers["host"];
  if (!params || tokenKey === undefined || host === undefined || !HOST_RE.test(host)) return null;
  const node = await o.find(tokenKey);
  if (!node || params["oauth_consumer_key"] !== node.credentials.consumerKey) return null;
  // The URL as the node addressed it: the provisioning network is plain HTTP.
  const url = `http://${host}${MAAS_METADATA_PREFIX}${req.path}${req.query === "" ? "" : `?${req.query}`}`;
  // MAAS's node consumers have an empty secret; the token secret is the node's own.
  const form = (req.headers["content-type"] ?? "").toLowerCase().startsWith("application/x-www-form-urlencoded")
    ? [
        ...new URLSearchParams(
          Buffer.from(req.body)
            .toString("utf8")
            .slice(0, 1 << 20),
        ),
      ]
    : undefined;
  const v = verifySignature(
    { method: req.method, url, params, ...(form ? { formParams: form } : {}) },
    { consumerSecret: "", tokenSecret: node.credentials.tokenSecret },
  );
  return v.ok ? node : null;
}

function answer(r: Exclude<Route, { kind: "status" | "version" }>, node: NodeDeployment): MetadataResponse {
  switch (r.kind) {
    case "meta-data-index":
      return text(200, `${META_DATA.join("\n")}\n`);
    case "user-data":
      // The snapshot's schema does not check the base64 (the region's API did, on the way in).
      if (!node.deploy.userData) return text(404, "No user data\n");
      return { status: 200, headers: { "content-type": "application/octet-stream" }, body: Buffer.from(node.deploy.userData, "base64") };
    case "meta-data":
      switch (r.key) {
        case "instance-id":
          return text(200, node.systemId);
        case "local-hostname":
          return text(200, node.deploy.hostname);
        case "public-keys":
          return text(200, node.deploy.sshKeys.join("\n"));
        case "vendor-data":
          // MAAS's shape (a YAML mapping whose "cloud-init" is a cloud-config; JSON is YAML).
          // Nothing of ours goes in yet: the rack adds no configuration to what the user asked for.
          return text(200, `${JSON.stringify({ "cloud-init": "#cloud-config\n" })}\n`);
      }
  }
}
