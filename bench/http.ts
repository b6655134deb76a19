// `npm run bench -- http`: the boot HTTP server against nginx on loopback, alternating, with
// wrk as the client. Image fetches: 100 connections pulling a 64 MiB image over and over.
// Boot scripts: 64 connections asking for a per-MAC script vs nginx serving a static file
// of the same size. Everything binds 127.0.0.1 and stops at the end.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BootHttpServer } from "../appliance/http/server";
import { ImageCache } from "../appliance/images/cache";
import { stop } from "../test/node/rig/netns";
import { type BenchRow, median, row } from "./report";

const ROUNDS = 3;
const IMAGE_BYTES = 64 << 20;
const MAC = "52:54:00:00:00:01";

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

interface WrkResult {
  rps: number;
  mibps: number;
}

function wrk(url: string, connections: number, seconds: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    execFile("wrk", ["-t2", `-c${connections}`, `-d${seconds}s`, "--timeout", "30s", url], (err, stdout) => {
      if (err) return reject(err);
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
      const tps = /Transfer\/sec:\s+([\d.]+)([KMGT]?B)/.exec(stdout);
      const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: .*/.exec(stdout);
      if (!rps || !tps) return reject(new Error(`cannot read wrk output:\n${stdout}`));
      if (errors?.[1]) return reject(new Error(`wrk saw errors:\n${stdout}`));
      const unit = { B: 1 / (1 << 20), KB: 1 / 1024, MB: 1, GB: 1024, TB: 1 << 20 }[tps[2]!] ?? 1;
      resolve({ rps: Number(rps[1]), mibps: Number(tps[1]) * unit });
    });
  });
}

async function startNginx(dir: string, www: string, port: number): Promise<ChildProcess> {
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    [
      "worker_processes 1;",
      `pid ${join(dir, "nginx.pid")};`,
      `error_log ${join(dir, "nginx-error.log")};`,
      "events { worker_connections 4096; }",
      "http {",
      "  access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;",
      "  default_type application/octet-stream;",
      `  server { listen 127.0.0.1:${port}; root ${www}; }`,
      "}",
      "",
    ].join("\n"),
  );
  const child = spawn("/usr/sbin/nginx", ["-c", conf, "-g", "daemon off;"], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 500));
  if (child.exitCode !== null) throw new Error("nginx did not start");
  return child;
}

export async function run(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "plinth-bench-http-"));
  chmodSync(dir, 0o755);
  const www = join(dir, "www");
  mkdirSync(join(www, "images"), { recursive: true });
  mkdirSync(join(www, "boot"), { recursive: true });
  const image = randomBytes(IMAGE_BYTES);
  const sha = createHash("sha256").update(image).digest("hex");
  writeFileSync(join(www, "images", sha), image);

  const cache = new ImageCache({ dir: join(dir, "cache") });
  await cache.init();
  await cache.put(sha, [image]);
  const ours = new BootHttpServer({
    host: "127.0.0.1",
    port: 0,
    images: cache,
    baseUrl: "http://10.0.0.2:5248",
    intents: () => ({ kind: "deploy", kernel: `images/${sha}/vmlinuz`, initrd: `images/${sha}/initrd`, cmdline: "console=ttyS0,115200", token: "tok" }),
  });
  const ourPort = (await ours.listen()).port;
  // nginx serves the exact bytes of our script, so both answer the same size.
  const script = await (await fetch(`http://127.0.0.1:${ourPort}/boot/${MAC}.ipxe`)).text();
  writeFileSync(join(www, "boot", `${MAC}.ipxe`), script);
  const nginxPort = await freePort();
  let nginx: ChildProcess | null = null;
  try {
    nginx = await startNginx(dir, www, nginxPort);
    const img: Record<"ours" | "nginx", number[]> = { ours: [], nginx: [] };
    const scr: Record<"ours" | "nginx", number[]> = { ours: [], nginx: [] };
    const url = (who: "ours" | "nginx", path: string) => `http://127.0.0.1:${who === "ours" ? ourPort : nginxPort}${path}`;
    await wrk(url("ours", `/images/${sha}`), 10, 1);
    await wrk(url("nginx", `/images/${sha}`), 10, 1);
    for (let i = 0; i < ROUNDS; i++) {
      for (const who of ["ours", "nginx"] as const) {
        img[who].push((await wrk(url(who, `/images/${sha}`), 100, 5)).mibps);
        scr[who].push((await wrk(url(who, `/boot/${MAC}.ipxe`), 64, 5)).rps);
      }
    }
    const r = (x: number) => Math.round(x);
    return [
      row({
        metric: "http.image_64mib_100conns_mib_per_s",
        unit: "MiB/s",
        better: "higher",
        ours: r(median(img.ours)),
        reference: { name: "nginx 1.22 (1 worker, sendfile)", value: r(median(img.nginx)) },
        target: 1.0,
        note: `wrk -t2 -c100 -d5s on a 64 MiB image by sha256, loopback, median of ${ROUNDS} alternating runs; wrk shares the 2 cores`,
      }),
      row({
        metric: "http.boot_script_64conns_req_per_s",
        unit: "1/s",
        better: "higher",
        ours: r(median(scr.ours)),
        reference: { name: "nginx 1.22 static file, same size", value: r(median(scr.nginx)) },
        target: 0.5,
        note: `wrk -t2 -c64 -d5s on /boot/<mac>.ipxe (${script.length} bytes, intent lookup + render per request), loopback, median of ${ROUNDS}`,
      }),
    ];
  } finally {
    if (nginx) await stop(nginx, "SIGQUIT");
    await ours.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
