// The MAAS metadata API a deployed node's stock cloud-init reads (its MAAS datasource):
// /MAAS/metadata/{2012-03-01,latest}/meta-data/... and .../user-data, OAuth-signed with the
// node's credentials. Answered from the rack's snapshot alone, so a node boots and configures
// itself while the region is unreachable. The token key in the request names the deployment.
import { MAAS_METADATA_PREFIX, type MetadataRelay, type MetadataRequest, type MetadataResponse } from "../http/metadata";
import type { NodeDeployment } from "./node-keys";
import { parseAuthorization, verifySignature } from "./oauth";

const VERSIONS = new Set(["2012-03-01", "latest"]);
const META_DATA = ["instance-id", "local-hostname", "public-keys", "vendor-data"] as const;
type MetaDataKey = (typeof META_DATA)[number];

type Route = { kind: "meta-data-index" } | { kind: "meta-data"; key: MetaDataKey } | { kind: "user-data" };

function route(path: string): Route | null {
  const parts = path.split("/");
  // "", version, ...rest; a trailing slash leaves an empty last part.
  if (parts[0] !== "" || !VERSIONS.has(parts[1] ?? "")) return null;
  const rest = parts.slice(2).join("/");
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

export interface MaasMetadataOptions {
  /** The deployment a token key belongs to (node-keys.ts), from the snapshot. */
  find(tokenKey: string): Promise<NodeDeployment | null>;
}

export function maasMetadataApi(o: MaasMetadataOptions): MetadataRelay {
  return async (req) => {
    const r = route(req.path);
    if (!r) return text(404, "Not found\n");
    if (req.method !== "GET" && req.method !== "HEAD") return text(405, "Method not allowed\n", { allow: "GET, HEAD" });
    const node = await authenticate(req, o);
    if (!node) return unauthorized();
    return answer(r, node);
  };
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
  const v = verifySignature({ method: req.method, url, params }, { consumerSecret: "", tokenSecret: node.credentials.tokenSecret });
  return v.ok ? node : null;
}

function answer(r: Route, node: NodeDeployment): MetadataResponse {
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
