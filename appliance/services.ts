// Boot services inside `plinth-appliance run`: DHCP, TFTP and HTTP served from the daemon's
// config snapshot, their events journaled through the daemon's seams. The snapshot is the
// region's shape (shared/tunnel/config.ts); DHCP has its own (appliance/dhcp/config.ts), so
// this file is the one translation between them.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import type { ConfigSnapshot } from "../shared/tunnel/config";
import type { EventInput } from "../shared/tunnel/events";
import type { ServiceStatus } from "../shared/tunnel/protocol";
import type { DhcpSnapshot } from "./dhcp/config";
import { parseSnapshot } from "./dhcp/config";
import { NeighbourReporter, readNeighbours } from "./discovery/neighbours";
import { type SiteDns, startSiteDns } from "./dns/service";
import type { BoundSocket } from "./dhcp/server";
import { type DhcpService, startDhcp } from "./dhcp/service";
import type { BootIntentInput, BootQuery } from "./http/intent";
import type { MetadataRelay, MetadataRequest } from "./http/metadata";
import { BootHttpServer } from "./http/server";
import { type ImageFetcher, ImageCache } from "./images/cache";
import { ImageStateReporter } from "./images/reporter";
import { deployDocument, phoneHomeFields } from "./metadata/deploy";
import { InstalledDeployments } from "./metadata/installed";
import { maasMetadataApi } from "./metadata/maas";
import { NodeKeys } from "./metadata/node-keys";
import { gsoBinding } from "./native/udp-gso";
import { rootProvider } from "./tftp/files";
import { TftpServer } from "./tftp/server";
import { dhcpEmitter, type MetadataResult, metadataResultRelay } from "./tunnel/seams";
import type { Logger } from "./log";

/** What services need from the daemon (the Daemon class satisfies it; tests may fake it). */
export interface ServiceHost {
  emit(e: EventInput): Promise<number>;
  readonly config: ConfigSnapshot | null;
  onConfig(fn: (s: ConfigSnapshot) => void): () => void;
  /** Is the region connected now? Absent: assumed so. */
  online?(): boolean;
  /** Told which services run, for the rack's status report. */
  setServices?(states: ServiceStatus[]): void;
}

export interface BootServicesOptions {
  /** The one interface DHCP, TFTP and HTTP serve; never "all interfaces". */
  iface: string;
  /** Device-bound DHCP sockets (bind-device.pl or systemd opened them: node cannot). */
  sockets: BoundSocket[];
  stateDir: string;
  tftpRoot: string;
  httpPort?: number;
  tftpPort?: number;
  /** The image cache: filled from `fetch` (the region's store), bounded by `maxBytes`. */
  images?: { fetch?: ImageFetcher; maxBytes?: number };
  /** The HTTP server's in-memory copy of hot images (default: 512 MiB or a quarter of RAM). */
  httpMemoryBytes?: number;
  /** How often the served interface's neighbour table is read (default 60 s; 0: never). */
  neighbourScanMs?: number;
  /**
   * The site's DNS server on the served interface's address (and `listen`), port 53 unless
   * said; port 0: no DNS server (then DHCP hands out only the subnets' own DNS servers).
   */
  dns?: { port?: number; listen?: string[]; axfrAllow?: string[] };
  log: Logger;
}

export interface BootServices {
  dhcp: DhcpService;
  tftp: TftpServer;
  http: BootHttpServer;
  neighbours: NeighbourReporter;
  imageStates: ImageStateReporter;
  dns: SiteDns | null;
  address: string;
  close(): Promise<void>;
}

/** A failed pre-sync is tried again after this long (or with the next snapshot). */
const PRESYNC_RETRY_MS = 60_000;

const DHCP_INTENT = { enlist: "enlist", commission: "commission", deploy: "deploy", local: "local", rescue: "rescue", release: "commission" } as const;

/**
 * The DHCP view of a region snapshot: managed subnets only (unmanaged ones have another DHCP
 * server). `dnsServer`: the rack's own address when it serves DNS, handed out on subnets that
 * list no DNS servers of their own.
 */
export function dhcpSnapshot(s: ConfigSnapshot | null, httpPort: number, dnsServer?: string): DhcpSnapshot {
  const subnets = (s?.subnets ?? []).filter((n) => n.managed);
  const inSubnet = (ip: string) => subnets.some((n) => sameNet(n.cidr, ip));
  return parseSnapshot({
    version: 0,
    mode: "reservation",
    subnets: subnets.map((n) => ({
      cidr: n.cidr,
      ...(n.gateway ? { gateway: n.gateway } : {}),
      dns: n.dns.length || !dnsServer ? n.dns : [dnsServer],
      dynamicRanges: n.ranges.filter((r) => r.type === "dynamic").map(({ start, end }) => ({ start, end })),
      reservedRanges: n.ranges.filter((r) => r.type === "reserved").map(({ start, end }) => ({ start, end })),
    })),
    // A reservation outside every managed subnet would make the whole snapshot invalid.
    reservations: (s?.reservations ?? [])
      .filter((r) => inSubnet(r.ip))
      .map((r) => ({ mac: r.mac, ip: r.ip, ...(validHostname(r.hostname) ? { hostname: r.hostname } : {}) })),
    // "none" still marks the MAC as known: no enlistment event for machines the region has.
    bootIntents: (s?.bootIntents ?? []).map((b) => ({ mac: b.mac, intent: b.intent === "none" ? "local" : DHCP_INTENT[b.intent] })),
    boot: { httpPort },
  });
}

function validHostname(h: string): boolean {
  return h.length > 0 && h.length <= 63;
}

function sameNet(cidr: string, ip: string): boolean {
  const [base, len] = cidr.split("/");
  const n = Number(len);
  if (!base || !Number.isInteger(n)) return false;
  const toInt = (a: string) => a.split(".").reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
  const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  return (toInt(base) & mask) >>> 0 === (toInt(ip) & mask) >>> 0;
}

/**
 * The boot intent for the HTTP side: kernel and initrd from /files/ (the TFTP root). A deploy
 * whose image this rack already saw installed boots the disk, whatever the region has heard.
 */
export function httpIntent(s: ConfigSnapshot | null, q: BootQuery, installed?: { has(token: string): boolean }): BootIntentInput | null {
  const b = s?.bootIntents.find((x) => x.mac === q.mac);
  const kind = b ? b.intent : "enlist";
  if (kind === "none") return null;
  if (kind === "local") return { kind: "local" };
  if (kind === "deploy" && b?.deploy && installed?.has(b.deploy.token)) return { kind: "local" };
  // release boots the ephemeral environment like commissioning; the mode travels in cmdline.
  const netKind = kind === "release" ? "commission" : kind;
  const erase = kind === "release" && b?.erase ? ` plinth.erase=${b.erase}` : "";
  return { kind: netKind, kernel: "files/vmlinuz", initrd: "files/initrd.img", cmdline: `console=ttyS0 plinth.mode=${kind}${erase}` };
}

// What the ephemeral environment posts (docs/boot-environment.md); checked here, at the node's door.
const StatusBody = z
  .object({ mode: z.string().max(32), status: z.string().max(32), error: z.string().max(4096).optional(), message: z.string().max(4096).optional() })
  .passthrough();
const RESULT_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

/**
 * Maps a node's POST to a result. The node is identified by the lease its address holds
 * (remote IP → MAC → systemId in the snapshot): the snapshot carries no per-node tokens yet.
 */
export function parseMetadata(
  req: MetadataRequest,
  systemIdOf: (remote: string) => string | null,
  deployOf?: (token: string) => string | null,
): MetadataResult | null {
  if (req.method !== "POST") return null;
  // The deployed OS phones home from wherever it got its address: the secret says who it is.
  const home = /^\/phone-home\/([A-Za-z0-9]{16,64})\/?$/.exec(req.path);
  if (home) {
    const token = home[1]!;
    const owner = deployOf?.(token) ?? null;
    if (!owner) return null;
    return { systemId: owner, name: "phone_home", status: "passed", output: JSON.stringify({ token, ...phoneHomeFields(req.body) }) };
  }
  const systemId = systemIdOf(req.remote.replace(/^::ffff:/, ""));
  if (!systemId) return null;
  const output = Buffer.from(req.body).toString("utf8");
  const path = req.path.replace(/\/+$/, "");
  const commissioning = /^\/commissioning\/([^/]+)$/.exec(path);
  if (commissioning && RESULT_NAME.test(commissioning[1]!)) {
    try {
      JSON.parse(output);
    } catch {
      return { systemId, name: commissioning[1]!, status: "failed", output: output.slice(0, 4096) };
    }
    return { systemId, name: commissioning[1]!, status: "passed", output };
  }
  if (path === "/status") {
    let parsed: z.infer<typeof StatusBody>;
    try {
      parsed = StatusBody.parse(JSON.parse(output));
    } catch {
      return null;
    }
    const status = parsed.status === "failed" ? "failed" : parsed.status === "done" || parsed.status === "installed" ? "passed" : "running";
    return { systemId, name: "status", status, output };
  }
  return null;
}

function ipv4Of(iface: string): string {
  const a = (networkInterfaces()[iface] ?? []).find((x) => x.family === "IPv4");
  if (a) return a.address;
  // libuv lists only interfaces with carrier: a bridge whose ports are all down (no VM yet, a
  // cable out) has its address but is missing there. iproute2 shows it regardless.
  let out = "";
  try {
    out = execFileSync("ip", ["-4", "-o", "addr", "show", "dev", iface], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    out = "";
  }
  const m = /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(out);
  if (!m) throw new Error(`interface ${iface} has no IPv4 address (or does not exist)`);
  return m[1]!;
}

export async function startBootServices(host: ServiceHost, o: BootServicesOptions): Promise<BootServices> {
  const httpPort = o.httpPort ?? 5248;
  const address = ipv4Of(o.iface);
  const dir = join(o.stateDir, "dhcp");
  mkdirSync(dir, { recursive: true });
  const log = o.log;
  const leasesPath = join(dir, "leases.jsonl");
  const neighbours = new NeighbourReporter({
    iface: o.iface,
    read: () => readNeighbours(o.iface),
    emit: (e) => host.emit(e),
    online: () => host.online?.() ?? true,
    log,
    ...(o.neighbourScanMs ? { intervalMs: o.neighbourScanMs } : {}),
  });
  const dhcpEmit = dhcpEmitter(host, log);
  const dnsPort = o.dns?.port ?? 53;
  // Started before DHCP hands out its address as a resolver.
  const dns =
    dnsPort === 0
      ? null
      : await startSiteDns(host, {
          addresses: [address, ...(o.dns?.listen ?? [])],
          port: dnsPort,
          ...(o.dns?.axfrAllow ? { axfrAllow: o.dns.axfrAllow } : {}),
          log,
        });
  // Machines on the wire reach the resolver on port 53 only: elsewhere it is not handed out.
  const dnsServer = dns && dnsPort === 53 ? address : undefined;
  const dhcp = await startDhcp({
    snapshot: dhcpSnapshot(host.config, httpPort, dnsServer),
    sockets: o.sockets,
    leasesPath,
    log,
    emit: (e) => {
      dhcpEmit(e);
      // The lease event itself tells the region: the neighbour entry that follows need not.
      if (e.type === "dhcp.lease") neighbours.note({ ip: e.ip, mac: e.mac.toLowerCase() });
    },
  }).catch(async (e: unknown) => {
    await dns?.close();
    throw e;
  });

  const unsubscribe = host.onConfig((s) => {
    try {
      dhcp.update(dhcpSnapshot(s, httpPort, dnsServer));
    } catch (e) {
      // A snapshot DHCP cannot use must not take the old, working one away.
      log("error", "config snapshot refused by DHCP, keeping the previous one", { error: String(e) });
    }
    presync(s);
  });
  // Pre-sync: every image the snapshot lists is fetched ahead of the first node asking for it,
  // one at a time (a site's WAN link is shared); a failure is logged and tried again with the
  // next snapshot or a minute later, whichever comes first (a cut download resumes).
  let syncing: Promise<void> = Promise.resolve();
  let closed = false;
  let retry: NodeJS.Timeout | null = null;
  const presync = (s: ConfigSnapshot | null) => {
    if (!o.images?.fetch) return;
    if (retry) clearTimeout(retry);
    retry = null;
    for (const img of s?.images ?? []) {
      const sha = img.sha256;
      if (!sha) continue;
      syncing = syncing.then(() =>
        images.get(sha).then(
          (got) => (got ? undefined : log("warn", "image listed by the region is not in its store", { sha256: sha })),
          (e: unknown) => {
            log("error", "image pre-sync failed", { sha256: sha, error: String(e) });
            if (retry || closed) return;
            retry = setTimeout(() => {
              retry = null;
              presync(host.config);
            }, PRESYNC_RETRY_MS);
            retry.unref();
          },
        ),
      );
    }
  };
  const intentOf = (remote: string) => {
    const lease = dhcp.leases.lookup(remote.replace(/^::ffff:/, ""));
    if (!lease) return null;
    return host.config?.bootIntents.find((b) => b.mac === lease.mac) ?? null;
  };
  const systemIdOf = (remote: string): string | null => intentOf(remote)?.systemId ?? null;
  const installed = new InstalledDeployments(join(o.stateDir, "installed.json"));
  const deployOf = (token: string) => installed.systemIdOf(token) ?? host.config?.bootIntents.find((b) => b.deploy?.token === token)?.systemId ?? null;
  const results = metadataResultRelay(host, (req: MetadataRequest) => parseMetadata(req, systemIdOf, deployOf));
  // The MAAS metadata API answers from the snapshot and the specs this rack served: a node
  // configures itself with the region away.
  const nodeKeys = new NodeKeys(() => host.config, installed);
  const metadata: MetadataRelay = async (req) => {
    const path = req.path.replace(/\/+$/, "");
    if (req.method === "GET" && path === "/deploy") {
      const b = intentOf(req.remote);
      if (b?.intent !== "deploy" || !b.deploy) return jsonReply(404, { error: "no deployment for this node" });
      const hostHeader = req.headers["host"] ?? "";
      const base = `http://${/^[A-Za-z0-9.:[\]-]{1,300}$/.test(hostHeader) ? hostHeader : `${address}:${httpPort}`}`;
      const d = deployDocument(b.deploy, b.systemId, base, await nodeKeys.credentialsOf(b.deploy.token));
      // Kept before answering: the deployed system reads the metadata API with this spec after
      // the region has dropped it from the snapshot, maybe while the region is away.
      if (d.ok) installed.served(b.deploy.token, b.systemId, b.deploy);
      return d.ok ? jsonReply(200, d.doc) : jsonReply(d.status, { error: d.error });
    }
    if (req.method === "POST" && path === "/status") {
      // Remember "installed" before answering: the node reboots next, maybe before the region hears.
      const b = intentOf(req.remote);
      if (b?.deploy && isInstalled(req.body)) installed.add(b.deploy.token, b.systemId, Date.now(), b.deploy);
    }
    return results(req);
  };
  const maas = maasMetadataApi({
    find: (tokenKey) => nodeKeys.find(tokenKey),
    // Journaled like every node result: on disk before the node hears 200, relayed to the region.
    report: (r) => host.emit({ type: "metadata.result", data: { systemId: r.systemId, name: r.name, status: r.status, output: r.output.slice(0, 200_000) } }),
  });
  const imageStates = new ImageStateReporter({
    emit: (e) => host.emit(e),
    online: () => host.online?.() ?? true,
    cached: () => images.list(),
    partials: () => images.partials(),
    log,
  });
  const images = new ImageCache({
    dir: join(o.stateDir, "images"),
    ...(o.images?.fetch ? { fetch: o.images.fetch } : {}),
    ...(o.images?.maxBytes ? { maxBytes: o.images.maxBytes } : {}),
    onEvent: (e) => {
      log(e.type === "rejected" || e.type === "failed" ? "error" : e.type === "progress" ? "debug" : "info", `image ${e.type}`, e);
      imageStates.note(e);
    },
  });
  await images.init();
  // TFTP and HTTP bind to the served interface's address only, like DHCP to its device.
  const tftp = new TftpServer({
    provider: rootProvider(o.tftpRoot),
    address,
    port: o.tftpPort ?? 69,
    onEvent: (e) => (e.type === "end" || e.type === "refused" ? log("debug", `tftp ${e.type}`, e) : undefined),
  });
  const http = new BootHttpServer({
    intents: (q) => httpIntent(host.config, q, installed),
    filesDir: o.tftpRoot,
    images,
    metadata,
    maas,
    host: address,
    port: httpPort,
    ...(o.httpMemoryBytes !== undefined ? { memoryBytes: o.httpMemoryBytes } : {}),
    onEvent: (e) => log("debug", `http ${e.type}`, e),
  });
  try {
    await tftp.listen();
    await http.listen();
  } catch (e) {
    unsubscribe();
    await tftp.close().catch(() => {});
    await dhcp.close();
    await dns?.close();
    throw e;
  }
  imageStates.start();
  // The metadata API is served by the HTTP server: it is up when that is.
  host.setServices?.([
    { name: "dhcp", state: "ok" },
    { name: "tftp", state: "ok" },
    { name: "http", state: "ok" },
    { name: "metadata", state: "ok" },
    { name: "dns", state: dns ? "ok" : "disabled" },
  ]);
  presync(host.config);
  if (o.neighbourScanMs !== 0) neighbours.start();
  log("info", "boot services started", {
    interface: o.iface,
    address,
    http_port: httpPort,
    tftp_root: o.tftpRoot,
    // false: built without a C compiler (scripts/build-native.mjs); TFTP windows then cost a syscall per packet.
    tftp_udp_segmentation: gsoBinding() !== null,
    http_memory_bytes: o.httpMemoryBytes ?? "default",
    dns: dns ? dns.server.addresses.map((a) => `${a.address}:${a.port}`) : "off",
    sockets: o.sockets.map((s) => `${s.iface}:${s.port}`),
  });
  return {
    dhcp,
    tftp,
    http,
    neighbours,
    imageStates,
    dns,
    address,
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      unsubscribe();
      imageStates.stop();
      await Promise.allSettled([http.close(), tftp.close(), dhcp.close(), neighbours.stop(), dns?.close()]);
    },
  };
}

function jsonReply(status: number, body: unknown): { status: number; headers: Record<string, string>; body: string } {
  return { status, headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}

function isInstalled(body: Uint8Array): boolean {
  try {
    const j = JSON.parse(Buffer.from(body).toString("utf8")) as { mode?: unknown; status?: unknown };
    return j.mode === "deploy" && j.status === "installed";
  } catch {
    return false;
  }
}
