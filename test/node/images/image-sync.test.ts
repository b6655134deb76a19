// The region's image sync against a real signed simplestreams mirror: the mirror rig (gpg-signed,
// served over HTTP from a network namespace) and a real region (wrangler dev, workerd, local D1
// and R2, as `npm start` runs it). workerd reaches the namespace's private address through
// miniflare's outbound network, which allows private addresses (its "internet" service allows
// "public" and "private"): no setting was needed. The region's files are read with node:sqlite
// to check what R2 holds.
// The same region also serves a rack restarted mid-download (first, before any sync, so the
// rack pre-syncs only the image that test uploads): the real appliance (`plinth-appliance run
// --dhcp-interface`) in a namespace of its own reaches the region through a veth and a relay
// on the host end that paces the region's bytes (so the download is still running when the
// rack is killed) and notes every image request's Range. The daemon is SIGKILLed by PID
// mid-download, started again, asks for the rest (a Range not starting at 0), and the region
// shows the image downloading, then present.
import type { ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  appendFileSync,
  closeSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { createServer, type Server as TcpServer, type Socket, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { localCall } from "../../../appliance/tunnel/local-api";
import { type Mirror, type MirrorProduct, startMirror } from "./mirror-rig";
import { createNetns, hostUplink, ip, type Netns, requireRoot, stop } from "../rig/netns";
import { api as rigApi, cli, type Region, type RunningAppliance, startAppliance, until as poll } from "../tunnel/rig";

interface RegionLocal {
  ensureDevVars(stateDir: string): { file: string; vars: Record<string, string> };
  startRegion(o: { stateDir: string; port: number; stdio: "ignore" | "inherit" }): Promise<{ child: unknown; url: string }>;
  bootstrapAdmin(url: string, stateDir: string): Promise<{ api_key: string } | null>;
  stopRegion(child: unknown): Promise<void>;
}

const ROOT = resolve(__dirname, "../../..");
const work = mkdtempSync(join(tmpdir(), "plinth-sync-"));
const stateDir = join(work, "state");
const files = join(work, "files");
const BIG = 128 * 1024 * 1024;
let region: RegionLocal;
let child: unknown;
let port = 0;
let url = "";
let key = "";
let mirror: Mirror | undefined;

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? ok(a.port) : fail(new Error("no port"))));
    });
  });
}

function file(name: string, bytes: number): string {
  const path = join(files, name);
  const fd = openSync(path, "w");
  for (let left = bytes; left > 0; left -= 1 << 22) writeSync(fd, randomBytes(Math.min(left, 1 << 22)));
  closeSync(fd);
  return path;
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

/** The local D1 and R2 files wrangler dev keeps under the state directory. */
function sqlite(kind: "d1" | "r2"): DatabaseSync {
  const dir = join(stateDir, "wrangler/v3", kind, kind === "d1" ? "miniflare-D1DatabaseObject" : "miniflare-R2BucketObject");
  const dbs = readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  if (kind === "r2") {
    // One bucket object per bucket: the images bucket is the one holding sha256/ keys (or any, before the first).
    for (const f of dbs) {
      const db = new DatabaseSync(join(dir, f), { readOnly: true });
      const n = db.prepare("SELECT count(*) AS n FROM _mf_objects WHERE key LIKE 'sha256/%'").get() as { n: number };
      if (n.n > 0) return db;
      db.close();
    }
  }
  return new DatabaseSync(join(dir, dbs[0]!), { readOnly: kind === "r2" });
}

function stored(sha256: string): number | null {
  let db: DatabaseSync;
  try {
    db = sqlite("r2");
  } catch {
    return null;
  }
  try {
    const row = db.prepare("SELECT size FROM _mf_objects WHERE key = ?").get(`sha256/${sha256}`) as { size: number } | undefined;
    return row?.size ?? null;
  } catch {
    return null;
  } finally {
    db.close();
  }
}

/** A boot source on the mirror, through the sources API when this checkout has it, else straight into D1. */
async function addSource(m: Mirror, selections: { os: string; release: string; arches: string[] }[]): Promise<void> {
  const r = await api("POST", "/boot-sources", { url: m.url, keyring_data: m.keyring });
  if (r.status === 201 || r.status === 200) {
    for (const s of selections) expect((await api("POST", `/boot-sources/${r.json.id}/selections`, s)).status).toBeLessThan(300);
    return;
  }
  const db = sqlite("d1");
  try {
    const src = db.prepare("INSERT INTO boot_sources (url, keyring_data) VALUES (?, ?) RETURNING id").get(m.url, m.keyring) as { id: number };
    for (const s of selections) {
      db.prepare("INSERT INTO boot_source_selections (source_id, os, release, arches) VALUES (?, ?, ?, ?)").run(
        src.id,
        s.os,
        s.release,
        JSON.stringify(s.arches),
      );
    }
  } finally {
    db.close();
  }
}

async function waitSync(id: number, ms = 60_000): Promise<any> {
  const until = Date.now() + ms;
  for (;;) {
    const s = await api("GET", "/image-sync");
    if (s.status === 200 && s.json.sync?.id === id && !s.json.running) return s.json.sync;
    if (Date.now() > until) throw new Error(`sync ${id} did not finish: ${JSON.stringify(s.json)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function sync(): Promise<any> {
  const r = await api("POST", "/image-sync");
  expect(r.status).toBe(202);
  expect(r.json.started).toBe(true);
  return waitSync(r.json.sync.id);
}

/** Events of the image sync since `after` (an event id), oldest first. */
async function syncEvents(after = 0): Promise<{ id: number; type: string; level: string; description: string }[]> {
  const r = await api("GET", "/events?limit=1000");
  return (r.json.items as { id: number; type: string; level: string; description: string }[])
    .filter((e) => e.type.startsWith("IMAGE_") && e.id > after)
    .sort((a, b) => a.id - b.id);
}

async function lastEventId(): Promise<number> {
  return (await api("GET", "/events?limit=1")).json.items[0]?.id ?? 0;
}

async function images(): Promise<{ osystem: string; series: string; architecture: string; kind: string; sha256: string | null; size: number }[]> {
  return (await api("GET", "/boot-images")).json.items;
}

function d1(f: (db: DatabaseSync) => unknown): void {
  const db = sqlite("d1");
  try {
    f(db);
  } finally {
    db.close();
  }
}

function versions(): { version: string; complete: number }[] {
  const db = sqlite("d1");
  try {
    return db
      .prepare("SELECT v.version, v.complete FROM boot_image_versions v JOIN boot_images i ON i.id = v.image_id WHERE i.series = 'noble' ORDER BY v.version")
      .all() as { version: string; complete: number }[];
  } finally {
    db.close();
  }
}

// Versions of ubuntu/noble amd64 the test publishes, in order; each a kernel, an initrd and a root.
const kernel = () => ({ ftype: "boot-kernel", file: join(files, "kernel") });
const initrd = () => ({ ftype: "boot-initrd", file: join(files, "initrd") });
const noble = (version: string, root: string): MirrorProduct => ({
  os: "ubuntu",
  release: "noble",
  arch: "amd64",
  version,
  files: [kernel(), initrd(), { ftype: "root-tgz", file: root }],
});
// Not selected (another release, another arch), and one selected product without a root item.
const others: MirrorProduct[] = [
  { os: "ubuntu", release: "jammy", arch: "amd64", version: "20261101", files: [kernel(), { ftype: "root-tgz", file: join(files, "jammy") }] },
  { os: "ubuntu", release: "noble", arch: "arm64", version: "20261101", files: [kernel(), { ftype: "root-tgz", file: join(files, "arm") }] },
  { os: "ubuntu", release: "noble", arch: "amd64", subarch: "hwe-24.04", version: "20261101", files: [kernel()] },
];
const sha: Record<string, string> = {};

beforeAll(async () => {
  region = (await import(pathToFileURL(join(ROOT, "scripts/region-local.mjs")).href)) as RegionLocal;
  rmSync(files, { recursive: true, force: true });
  mkdirSync(files, { recursive: true });
  file("kernel", 64 * 1024);
  file("initrd", 256 * 1024);
  for (const n of ["root1", "root2", "root3", "jammy", "arm", "bad"]) file(n, 1024 * 1024 + 17);
  file("big", BIG);
  mirror = await startMirror({ ns: "plsync", products: [noble("20261201", join(files, "root1")), ...others] });
  for (const n of ["root1", "root2", "root3", "bad", "kernel", "initrd"])
    sha[n] = createHash("sha256")
      .update(readFileSync(join(files, n)))
      .digest("hex");
  // No scheduled syncs in this test: it starts each one.
  const { file: vars } = region.ensureDevVars(stateDir);
  appendFileSync(vars, "PLINTH_IMAGE_SYNC_INTERVAL_S=0\n");
  port = await freePort();
  const started = await region.startRegion({ stateDir, port, stdio: "ignore" });
  child = started.child;
  url = started.url;
  key = (await region.bootstrapAdmin(url, stateDir))!.api_key;
  await addSource(mirror, [{ os: "ubuntu", release: "noble", arches: ["amd64"] }]);
}, 180_000);

afterAll(async () => {
  for (const c of apps) await stop(c, "SIGKILL");
  relay?.close();
  for (const s of relayed) s.destroy();
  rackNs?.destroy();
  if (hostIf) {
    try {
      ip("link", "del", hostIf);
    } catch {
      // went with the namespace
    }
  }
  if (child) await region.stopRegion(child);
  await mirror?.stop();
  rmSync(work, { recursive: true, force: true });
});

// The rack restarted mid-download: its own namespace and relay on this file's region.
const octet = 100 + (randomBytes(1)[0]! % 100);
const LINK = `10.${octet}.18`;
const SITE = `10.${octet}.19`;
const MiB = 1 << 20;
const SIZE = 200 * MiB;
/** What the relay lets through from the region per second: a download takes ~8 s. */
const RATE = 25 * MiB;

let rackNs: Netns | undefined;
let hostIf = "";
let relay: TcpServer | undefined;
const relayed = new Set<Socket>();
const rackDir = join(work, "rack");
const ranges: { path: string; range: string | null }[] = [];
const apps: ChildProcess[] = [];

const rig = (): Region => ({ url, stateDir, port, child: child as ChildProcess, admin: key });

/** Relays the namespace's connections to the region, pacing what comes back to RATE. */
async function startRelay(): Promise<number> {
  const server = createServer((c) => {
    const u = tcpConnect(port, "127.0.0.1");
    relayed.add(c).add(u);
    c.on("data", (d: Buffer) => {
      const head = /^GET (\/api\/v1\/racks\/[a-z0-9]+\/images\/[0-9a-f]{64}) HTTP\/1\.1\r\n([\s\S]*?)\r\n\r\n/.exec(d.toString("latin1"));
      if (head) ranges.push({ path: head[1]!, range: /^range: *(.+)$/im.exec(head[2]!)?.[1]?.trim() ?? null });
      u.write(d);
    });
    const t0 = performance.now();
    let sent = 0;
    u.on("data", (d: Buffer) => {
      c.write(d);
      sent += d.length;
      const ahead = (sent / RATE) * 1000 - (performance.now() - t0);
      if (ahead > 20) {
        u.pause();
        setTimeout(() => u.resume(), ahead);
      }
    });
    const end = () => {
      c.destroy();
      u.destroy();
      relayed.delete(c);
      relayed.delete(u);
    };
    c.on("error", end).on("close", end);
    u.on("error", end).on("close", end).on("end", end);
    c.on("end", end);
  });
  relay = server;
  await new Promise<void>((res) => server.listen(0, `${LINK}.1`, res));
  return (server.address() as { port: number }).port;
}

// Before any sync: the rack pre-syncs every image the region lists, and this test counts on
// the one it uploads being the only one. It deletes that image and stops the rack at the end.
it("a rack killed mid-download resumes with a Range and completes; the region shows downloading, then present", async () => {
  requireRoot();
  const r = rig();
  mkdirSync(join(rackDir, "tftp"), { recursive: true });
  rackNs = createNetns("plrimg");
  ({ hostIf } = hostUplink(rackNs, LINK));
  // The served interface: one end of a veth pair whose other end is in the namespace too, so
  // DHCP serves a wire with nobody on it.
  ip("-n", rackNs.name, "link", "add", "site0", "type", "veth", "peer", "name", "site1");
  ip("-n", rackNs.name, "addr", "add", `${SITE}.1/24`, "dev", "site0");
  ip("-n", rackNs.name, "link", "set", "site0", "up");
  ip("-n", rackNs.name, "link", "set", "site1", "up");
  const relayPort = await startRelay();

  const bytes = randomBytes(SIZE);
  const sha = createHash("sha256").update(bytes).digest("hex");
  const img = await rigApi(r, "POST", "/boot-images", { osystem: "custom", series: "resume", format: "raw.zst" });
  expect(img.status, JSON.stringify(img.json)).toBe(201);
  const put = await fetch(`${r.url}/api/v1/boot-images/${img.json.id}/content`, {
    method: "PUT",
    headers: { authorization: `Bearer ${r.admin}`, "x-content-sha256": sha, "content-type": "application/octet-stream" },
    body: bytes,
  });
  expect(put.status, await put.text()).toBe(200);

  const tok = await rigApi(r, "POST", "/racks/enrol-tokens", { site: "default" });
  const enrolled = cli(["enrol", "--state-dir", rackDir, "--hostname", "rack-resume", "--region", r.url, "--token", tok.json.token]);
  expect(enrolled.code, enrolled.out).toBe(0);
  const rackId = JSON.parse(readFileSync(join(rackDir, "credential.json"), "utf8")).rackId as string;
  const rackImages = async () =>
    (await rigApi(r, "GET", `/racks/${rackId}/images`)).json.items as { sha256: string; state: string; bytes: number; total: number }[];
  const part = () => join(rackDir, "images", "tmp", `${sha}.part`);
  const run = async (): Promise<RunningAppliance> => {
    const a = await startAppliance(rackNs!, {
      stateDir: rackDir,
      regionUrl: `http://${LINK}.1:${relayPort}`,
      dhcpInterface: "site0",
      tftpRoot: join(rackDir, "tftp"),
      args: ["--dns-port", "0"],
    });
    apps.push(a.child);
    return a;
  };

  const first = await run();
  const seen = await poll(
    "the region to show the image downloading past 40 MiB",
    async () => (await rackImages()).find((i) => i.sha256 === sha && i.state === "downloading" && i.bytes >= 40 * MiB),
    120,
    100,
  );
  expect(seen.total).toBe(SIZE);
  // The daemon itself (the process `run` re-executed with its DHCP sockets), by its PID.
  const pid = ((await localCall(join(rackDir, "appliance.sock"), "GET", "/status")).json as { pid: number }).pid;
  expect(pid).toBeGreaterThan(0);
  process.kill(pid, "SIGKILL");
  await new Promise<void>((res) => (first.child.exitCode !== null ? res() : first.child.once("exit", () => res())));
  expect(existsSync(join(rackDir, "images", "sha256", sha))).toBe(false);
  const kept = statSync(part()).size;
  expect(kept).toBeGreaterThan(0);
  expect(kept).toBeLessThan(SIZE);
  expect(ranges.filter((x) => x.path.endsWith(sha)).map((x) => x.range)).toEqual([null]);

  const second = await run();
  const done = await poll(
    "the region to show the image present",
    async () => (await rackImages()).find((i) => i.sha256 === sha && i.state === "present"),
    160,
    250,
  );
  expect(done).toMatchObject({ bytes: SIZE, total: SIZE });
  const asked = ranges.filter((x) => x.path.endsWith(sha)).map((x) => x.range);
  expect(asked).toHaveLength(2);
  const from = Number(/^bytes=(\d+)-$/.exec(asked[1] ?? "")?.[1] ?? 0);
  // At least what the part held when the daemon was killed was kept (only what was not yet written back could be lost).
  expect(from).toBeGreaterThan(0);
  expect(from).toBeLessThanOrEqual(kept);
  expect(second.out.output.some((l) => l.includes("image started") && l.includes('"resumed":true'))).toBe(true);
  const storedOnRack = join(rackDir, "images", "sha256", sha);
  expect(statSync(storedOnRack).size).toBe(SIZE);
  expect(createHash("sha256").update(readFileSync(storedOnRack)).digest("hex")).toBe(sha);
  expect(existsSync(part())).toBe(false);
  const rack = await rigApi(r, "GET", `/racks/${rackId}`);
  expect(rack.json.images).toEqual({ present: 1, downloading: 0, failed: 0 });

  // The image sync below lists the region's images and pushes each sync to connected racks.
  await stop(second.child, "SIGTERM");
  expect((await rigApi(r, "DELETE", `/boot-images/${img.json.id}`)).status).toBe(204);
}, 180_000);

it("syncs what the selections want, verified, with progress events in order", async () => {
  const before = await lastEventId();
  const s = await sync();
  expect(s).toMatchObject({ state: "complete", items_total: 3, items_done: 3, error: null });
  expect(s.bytes_done).toBe(s.bytes_total);
  const imgs = await images();
  expect(imgs.map((i) => `${i.osystem}/${i.series} ${i.architecture} ${i.kind}`)).toEqual(["ubuntu/noble amd64/generic synced"]);
  expect(imgs[0]).toMatchObject({ sha256: sha.root1, size: 1024 * 1024 + 17 });
  for (const n of ["root1", "kernel", "initrd"]) expect(stored(sha[n]!)).not.toBeNull();
  const evs = await syncEvents(before);
  const types = evs.map((e) => e.type);
  expect(types[0]).toBe("IMAGE_SYNC_STARTED");
  expect(types.at(-1)).toBe("IMAGE_SYNC_COMPLETE");
  expect(types.filter((t) => t === "IMAGE_ITEM_STORED").length).toBeGreaterThanOrEqual(3);
  expect(types.indexOf("IMAGE_SYNC_PROGRESS")).toBeLessThan(types.indexOf("IMAGE_ITEM_STORED"));
  // The hwe product has no root item: skipped, and the operator is told why.
  expect(evs.find((e) => e.type === "IMAGE_SYNC_SKIPPED")?.description).toMatch(/hwe-24\.04.*no deployable root item/);
});

it("re-syncs without downloading anything", async () => {
  const before = await lastEventId();
  const s = await sync();
  expect(s).toMatchObject({ state: "complete", items_total: 0, bytes_total: 0, bytes_done: 0 });
  expect((await syncEvents(before)).filter((e) => e.type === "IMAGE_ITEM_STORED")).toEqual([]);
});

it("keeps the last two versions: a third one published deletes the first, once no machine deploys it", async () => {
  await mirror!.publish([noble("20261201", join(files, "root1")), noble("20261202", join(files, "root2")), ...others]);
  let s = await sync();
  // Kernel and initrd are the same bytes: only the new root is fetched.
  expect(s).toMatchObject({ state: "complete", items_total: 1, bytes_total: 1024 * 1024 + 17 });
  expect((await images())[0]!.sha256).toBe(sha.root2);
  await mirror!.publish([noble("20261201", join(files, "root1")), noble("20261202", join(files, "root2")), noble("20261203", join(files, "root3")), ...others]);
  // A machine deploying the image keeps its old versions until it is done.
  d1((db) =>
    db
      .prepare(
        "INSERT INTO machines (system_id, hostname, status, site_id, zone_id, pool_id, architecture, osystem, distro_series) VALUES ('plsync', 'plsync-deploying', 9, 1, 1, 1, 'amd64/generic', 'ubuntu', 'noble')",
      )
      .run(),
  );
  s = await sync();
  expect(s.state).toBe("complete");
  expect((await images())[0]!.sha256).toBe(sha.root3);
  expect(versions().map((v) => v.version)).toEqual(["20261201", "20261202", "20261203"]);
  expect(stored(sha.root1!)).not.toBeNull();
  d1((db) => db.prepare("UPDATE machines SET status = 6 WHERE system_id = 'plsync'").run());
  s = await sync();
  expect(s).toMatchObject({ state: "complete", items_total: 0 });
  expect(versions()).toEqual([
    { version: "20261202", complete: 1 },
    { version: "20261203", complete: 1 },
  ]);
  expect(stored(sha.root1!)).toBeNull();
  expect(stored(sha.root2!)).not.toBeNull();
  // Shared by every version: still there.
  expect(stored(sha.kernel!)).not.toBeNull();
});

it("refuses an item whose bytes do not match its sha256, storing nothing of it", async () => {
  const current = [noble("20261202", join(files, "root2")), noble("20261203", join(files, "root3")), ...others];
  const bad: MirrorProduct = {
    os: "ubuntu",
    release: "oracular",
    arch: "amd64",
    version: "20261201",
    files: [kernel(), { ftype: "root-tgz", file: join(files, "bad") }],
  };
  await mirror!.publish([...current, bad]);
  // Same size, other bytes: only the sha256 can tell.
  const served = join(mirror!.dir, "ubuntu/oracular/amd64/20261201/generic/stable/root-tgz");
  rmSync(served);
  writeFileSync(served, randomBytes(1024 * 1024 + 17));
  const db = sqlite("d1");
  try {
    db.prepare("INSERT INTO boot_source_selections (source_id, os, release, arches) SELECT id, 'ubuntu', 'oracular', '[\"amd64\"]' FROM boot_sources").run();
  } finally {
    db.close();
  }
  const s = await sync();
  expect(s.state).toBe("failed");
  expect(s.error).toMatch(/oracular.*root-tgz refused: sha256 mismatch/);
  expect(stored(sha.bad!)).toBeNull();
  expect((await images()).map((i) => i.series)).toEqual(["noble"]);
  await mirror!.publish(current);
});

it("refuses a source whose signed index was tampered with", async () => {
  await mirror!.tamperIndex();
  const before = await images();
  const s = await sync();
  expect(s.state).toBe("failed");
  expect(s.error).toMatch(/index\.sjson: bad signature/);
  expect(await images()).toEqual(before);
});

let bigSha = "";
let nsIf = "";

/** Starts a sync and waits until the big item is mid-download; returns the sync's id. */
async function syncUntilMidBig(): Promise<number> {
  const r = await api("POST", "/image-sync");
  expect(r.json.started).toBe(true);
  for (const until = Date.now() + 30_000; ; ) {
    const st = (await api("GET", "/image-sync")).json;
    const item = st.items.find((i: { ftype: string; version: string }) => i.version === "20261204" && i.ftype === "root-tgz");
    if (item && item.bytes_done > 0) {
      expect(item.bytes_done).toBeLessThan(BIG);
      return r.json.sync.id;
    }
    if (!st.running || Date.now() > until) throw new Error(`never caught the big item mid-download: ${JSON.stringify(st)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

it("stops a sync mid-item when asked, storing nothing of that item", async () => {
  await mirror!.publish([noble("20261203", join(files, "root3")), noble("20261204", join(files, "big"))]);
  bigSha = await new Promise<string>((ok, fail) => {
    const h = createHash("sha256");
    createReadStream(join(files, "big"))
      .on("data", (d) => h.update(d))
      .on("end", () => ok(h.digest("hex")))
      .on("error", fail);
  });
  // The mirror serves at 250 Mbit/s (about 4 s for the big item) so a stop or a restart lands mid-item.
  nsIf = /^\d+: (un[0-9a-f]+)@/m.exec(ip("-n", mirror!.ns, "-o", "link"))![1]!;
  ip("netns", "exec", mirror!.ns, "tc", "qdisc", "add", "dev", nsIf, "root", "tbf", "rate", "250mbit", "burst", "256kb", "latency", "50ms");
  const id = await syncUntilMidBig();
  const before = await lastEventId();
  expect((await api("DELETE", "/image-sync")).json).toEqual({ stopped: true });
  const s = await waitSync(id, 5_000);
  expect(s.state).toBe("stopped");
  // The object notices at the next chunk: the item in flight is dropped, and the version it
  // belonged to with it.
  for (const until = Date.now() + 5_000; versions().length > 2 && Date.now() < until; ) await new Promise((res) => setTimeout(res, 100));
  expect(versions()).toEqual([
    { version: "20261202", complete: 1 },
    { version: "20261203", complete: 1 },
  ]);
  expect(stored(bigSha)).toBeNull();
  expect((await images())[0]!.sha256).toBe(sha.root3);
  expect((await syncEvents(before)).map((e) => e.type)).toContain("IMAGE_SYNC_STOPPED");
});

it("resumes a sync interrupted by a region restart mid-download, and completes it", async () => {
  const id = await syncUntilMidBig();
  await region.stopRegion(child);
  ip("netns", "exec", mirror!.ns, "tc", "qdisc", "del", "dev", nsIf, "root");
  child = (await region.startRegion({ stateDir, port, stdio: "ignore" })).child;
  const t0 = Date.now();
  const s = await waitSync(id, 60_000);
  console.log(`resumed sync finished ${Date.now() - t0} ms after the region answered`);
  expect(s).toMatchObject({ state: "complete", error: null });
  expect(s.bytes_done).toBe(s.bytes_total);
  expect(s.bytes_total).toBeGreaterThanOrEqual(BIG);
  expect((await images())[0]!.sha256).toBe(bigSha);
  expect(stored(bigSha)).toBe(BIG);
  expect(versions().map((v) => v.version)).toEqual(["20261203", "20261204"]);
}, 120_000);
