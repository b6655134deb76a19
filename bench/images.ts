// `npm run bench -- images` (root): image sync throughput against curl over the same path.
//  (a) Region sync: a 1 GiB product published by images/publish.ts into the test mirror
//      (test/node/images/mirror-rig.ts: signed, served by node:http inside a network namespace,
//      reached over a veth), imported by the region in workerd (POST /boot-sources with the
//      mirror's key, a selection, POST /image-sync, GET /image-sync until it stops), versus curl
//      on the host fetching the same item URL into a file. A fresh region per round, so every
//      round downloads everything.
//  (b) Rack sync: the same image from the region to an appliance's cache (ImageCache filled by
//      regionImageSource: GET /api/v1/racks/:id/images/:sha256 with the rack credential, hashed,
//      fsynced, renamed into place), versus curl fetching that same URL with the same credential
//      into a file, and versus curl doing the cache's work too (| tee file | sha256sum; sync).
// Rounds alternate which side goes first; medians are reported. Without the region's sync API
// (before the sync work lands) (a) is skipped and the image reaches the region by upload.
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, createReadStream, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { ImageCache } from "../appliance/images/cache";
import { regionImageSource } from "../appliance/images/region-source";
import { type Mirror, startMirror } from "../test/node/images/mirror-rig";
import { requireRoot } from "../test/node/rig/netns";
import { api, cli, type Region, region, stopRegion } from "../test/node/tunnel/rig";
import { type BenchRow, median, row } from "./report";

const MiB = 1 << 20;
const BYTES = Number(process.env.PLINTH_BENCH_IMAGES_MIB ?? 1024) * MiB;
const ROUNDS = Number(process.env.PLINTH_BENCH_IMAGES_ROUNDS ?? 3);
/** A 1 GiB sync on a busy 2-core machine: bounded, generously. */
const SYNC_MS = 900_000;
const PRODUCT = { os: "plinth", release: "bench", arch: "amd64", version: "20260101" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Incompressible bytes, written in 16 MiB pieces, and their sha256. */
function makeImage(path: string): string {
  const h = createHash("sha256");
  const fd = openSync(path, "w");
  try {
    for (let done = 0; done < BYTES; ) {
      const b = randomBytes(Math.min(16 * MiB, BYTES - done));
      writeSync(fd, b);
      h.update(b);
      done += b.length;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

/** curl into `out`; seconds, wall clock (a 1 GiB transfer dwarfs curl's start-up). */
function curl(url: string, out: string, headers: string[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const args = ["-fsS", "--max-time", "900", "-o", out, ...headers.flatMap((h) => ["-H", h]), url];
    const child = spawn("curl", args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("exit", (code) => {
      const s = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`curl ${url}: exit ${code} ${err}`));
      if (statSync(out).size !== BYTES) return reject(new Error(`curl ${url}: ${statSync(out).size} bytes, expected ${BYTES}`));
      resolve(s);
    });
  });
}

/** The region's sync API answers (the sync work is on this branch), with the source and selection made. */
async function addSource(r: Region, m: Mirror): Promise<boolean> {
  const src = await api(r, "POST", "/boot-sources", { url: `${m.url}streams/v1/index.sjson`, keyring_data: m.keyring });
  if (src.status === 404 || src.status === 405) return false;
  if (src.status !== 201) throw new Error(`boot source: ${src.status} ${JSON.stringify(src.json)}`);
  const sel = await api(r, "POST", `/boot-sources/${src.json.id}/selections`, { os: PRODUCT.os, release: PRODUCT.release, arches: [PRODUCT.arch] });
  if (sel.status !== 201) throw new Error(`selection: ${sel.status} ${JSON.stringify(sel.json)}`);
  return true;
}

/** One import from POST to the status saying it stopped; seconds. Null when the region has no working sync yet. */
async function regionSync(r: Region): Promise<number | null> {
  const t0 = performance.now();
  const start = await api(r, "POST", "/image-sync", {});
  if (start.status === 404 || start.status === 405 || start.status >= 500) {
    console.warn(`images: POST /image-sync answered ${start.status} (${JSON.stringify(start.json)}): the region sync is not there yet`);
    return null;
  }
  if (start.status !== 202) throw new Error(`image sync: ${start.status} ${JSON.stringify(start.json)}`);
  for (;;) {
    const s = (await api(r, "GET", "/image-sync")).json as { running: boolean; sync: { state: string; bytes_done: number; error: string | null } | null };
    if (!s.running) {
      const secs = (performance.now() - t0) / 1000;
      if (s.sync?.state !== "complete") throw new Error(`image sync ended ${s.sync?.state}: ${s.sync?.error}`);
      if (s.sync.bytes_done < BYTES) throw new Error(`image sync moved ${s.sync.bytes_done} bytes, expected at least ${BYTES}`);
      return secs;
    }
    if (performance.now() - t0 > SYNC_MS) throw new Error(`image sync not done within ${SYNC_MS / 1000} s`);
    await sleep(200);
  }
}

/** As `plinth images upload` does: streamed, with its length and sha256. */
async function upload(r: Region, file: string, sha: string): Promise<void> {
  const img = await api(r, "POST", "/boot-images", { osystem: "custom", series: "bench", format: "raw" });
  if (img.status !== 201) throw new Error(`boot image: ${JSON.stringify(img.json)}`);
  const res = await fetch(`${r.url}/api/v1/boot-images/${img.json.id}/content`, {
    method: "PUT",
    headers: { authorization: `Bearer ${r.admin}`, "x-content-sha256": sha, "content-type": "application/octet-stream", "content-length": String(BYTES) },
    body: Readable.toWeb(createReadStream(file)) as ReadableStream,
    duplex: "half",
  } as RequestInit);
  if (res.status !== 200) throw new Error(`image content: ${res.status} ${await res.text()}`);
}

/**
 * curl doing what the rack's cache does besides fetching: hash the bytes as they stream and
 * fsync the file (`curl | tee file | sha256sum; sync file`); seconds. The hash must match.
 */
function curlVerified(url: string, out: string, header: string, sha: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const script = 'curl -fsS --max-time 900 -H "$H" "$U" | tee "$O" | sha256sum && sync "$O"';
    const child = spawn("bash", ["-c", `set -o pipefail; ${script}`], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, H: header, U: url, O: out },
    });
    let text = "";
    child.stdout.on("data", (d: Buffer) => {
      text += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      text += d.toString();
    });
    child.on("exit", (code) => {
      const s = (performance.now() - t0) / 1000;
      if (code !== 0 || !text.startsWith(sha)) return reject(new Error(`curl | sha256sum ${url}: exit ${code} ${text}`));
      resolve(s);
    });
  });
}

const mibps = (s: number) => Math.round(BYTES / MiB / s);

/**
 * Seconds of each side, `rounds` times: the sides run in the order given on even rounds and in
 * reverse on odd ones, so no side always runs first on a cold (or warm) machine. `setup` readies
 * each round. null when a round's setup or a side answers that it cannot run here.
 */
async function alternate<K extends string>(
  rounds: number,
  sides: Record<K, () => Promise<number | null>>,
  setup?: () => Promise<boolean>,
): Promise<Record<K, number[]> | null> {
  const names = Object.keys(sides) as K[];
  const out = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let i = 0; i < rounds; i++) {
    if (setup && !(await setup())) return null;
    for (const who of i % 2 === 0 ? names : [...names].reverse()) {
      const s = await sides[who]();
      if (s === null) return null;
      out[who].push(s);
    }
  }
  return out;
}

export async function run(): Promise<BenchRow[]> {
  requireRoot();
  const load = loadavg()[0]!.toFixed(1);
  const dir = mkdtempSync(join(tmpdir(), "plinth-bench-images-"));
  const file = join(dir, "image.raw");
  const sha = makeImage(file);
  let m: Mirror | null = null;
  // Typed by cast: the round setup below replaces it inside a closure, which narrowing cannot see.
  let r = null as Region | null;
  try {
    m = await startMirror({ ns: "plmirb", products: [{ ...PRODUCT, files: [{ ftype: "root-dd", file }] }] });
    const item = `${m.url}${PRODUCT.os}/${PRODUCT.release}/${PRODUCT.arch}/${PRODUCT.version}/generic/stable/root-dd`;
    const curlOut = join(dir, "curl.out");
    const sync = await alternate(
      ROUNDS,
      {
        ours: () => regionSync(r!),
        curl: async () => {
          const s = await curl(item, curlOut);
          rmSync(curlOut);
          return s;
        },
      },
      async () => {
        if (r) await stopRegion(r.child);
        r = await region(mkdtempSync(join(dir, "region-")));
        return addSource(r, m!);
      },
    );
    const syncWorks = sync !== null;
    if (!syncWorks) {
      if (r) await stopRegion(r.child);
      r = await region(mkdtempSync(join(dir, "region-")));
      await upload(r, file, sha);
    }
    const region_ = r!;

    // (b) the rack side, from whichever region holds the image now.
    const state = join(dir, "rack");
    const tok = await api(region_, "POST", "/racks/enrol-tokens", { site: "default", uses: 1 });
    const e = cli(["enrol", "--state-dir", state, "--hostname", "bench-images", "--region", region_.url, "--token", tok.json.token]);
    if (e.code !== 0) throw new Error(`enrol failed: ${e.out}`);
    const cred = JSON.parse(readFileSync(join(state, "credential.json"), "utf8")) as { rackId: string; credential: string };
    const url = `${region_.url}/api/v1/racks/${cred.rackId}/images/${sha}`;
    // One untimed pass each: the region's store into the page cache, connections warm.
    const auth = `authorization: Bearer ${cred.credential}`;
    await curl(url, join(dir, "warm.out"), [auth]);
    rmSync(join(dir, "warm.out"));
    const rackOut = join(dir, "rack-curl.out");
    const rack = (await alternate(ROUNDS, {
      ours: async () => {
        const cacheDir = join(dir, "cache");
        mkdirSync(cacheDir, { recursive: true });
        const cache = new ImageCache({ dir: cacheDir, fetch: regionImageSource({ stateDir: state }) });
        await cache.init();
        const t0 = performance.now();
        const got = await cache.get(sha);
        const s = (performance.now() - t0) / 1000;
        if (!got || got.size !== BYTES) throw new Error(`the rack cache got ${got?.size ?? "nothing"}`);
        rmSync(cacheDir, { recursive: true, force: true });
        return s;
      },
      curl: async () => {
        const s = await curl(url, rackOut, [auth]);
        rmSync(rackOut);
        return s;
      },
      verified: async () => {
        const s = await curlVerified(url, rackOut, auth, sha);
        rmSync(rackOut);
        return s;
      },
    }))!;
    const curlName = `curl ${execFileSync("curl", ["--version"], { encoding: "utf8" }).split(" ")[1]} to a file`;
    const size = `${Math.round(BYTES / MiB)} MiB`;
    const rows: BenchRow[] = [];
    if (sync?.ours.length) {
      rows.push(
        row({
          metric: "images.region_sync_1gib_mib_per_s",
          unit: "MiB/s",
          better: "higher",
          ours: mibps(median(sync.ours)),
          reference: { name: `${curlName}, same URL from the host`, value: mibps(median(sync.curl)) },
          target: 0.9,
          note:
            `a ${size} product from a signed simplestreams mirror (node:http in a network namespace, over a veth) into the region's R2 ` +
            `(workerd, local), POST /image-sync until GET /image-sync stops running (index and signature checked, sha256 verified as it lands), ` +
            `a fresh region per round, median of ${ROUNDS} alternating rounds; 1-minute load average at the start: ${load}`,
        }),
      );
    }
    rows.push(
      row({
        metric: "images.rack_sync_1gib_mib_per_s",
        unit: "MiB/s",
        better: "higher",
        ours: mibps(median(rack.ours)),
        reference: { name: `${curlName}, same URL and rack credential`, value: mibps(median(rack.curl)) },
        target: 0.9,
        note:
          `the same ${size} image from the region (workerd on loopback, ${syncWorks ? "synced from the mirror" : "uploaded"}) into an appliance's image cache ` +
          `(GET /api/v1/racks/:id/images/:sha256 with the rack credential, hashed as it streams, fsynced, renamed into place), median of ${ROUNDS} alternating rounds; ` +
          "curl writes the same bytes to a file and neither hashes nor fsyncs",
      }),
    );
    rows.push(
      row({
        metric: "images.rack_sync_1gib_verified_mib_per_s",
        unit: "MiB/s",
        better: "higher",
        ours: mibps(median(rack.ours)),
        reference: { name: `${curlName} through tee into sha256sum, then sync`, value: mibps(median(rack.verified)) },
        note: `the rack cache's figure beside curl doing the same work (hashing as it streams, the file fsynced), same URL and credential, median of ${ROUNDS} alternating rounds`,
      }),
    );
    return rows;
  } finally {
    if (r) await stopRegion(r.child);
    await m?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
