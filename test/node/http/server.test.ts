// The boot HTTP server on loopback (port 0): scripts, images by sha256 with Range, static
// files, the metadata relay seam, and JSON 4xx for bad input.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BootIntentInput, BootQuery } from "../../../appliance/http/intent";
import type { MetadataRequest } from "../../../appliance/http/metadata";
import { BootHttpServer } from "../../../appliance/http/server";
import { ImageCache } from "../../../appliance/images/cache";

const dir = mkdtempSync(join(tmpdir(), "plinth-http-"));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const kernel = randomBytes(3_000_001);
const remoteImage = randomBytes(500_000);
const liar = randomBytes(1000);
const liarSha = sha(Buffer.from("not the liar's bytes"));
const queries: BootQuery[] = [];
const relayed: MetadataRequest[] = [];
let server: BootHttpServer;
let base: string;

const intents: Record<string, BootIntentInput> = {
  "52:54:00:00:00:01": { kind: "commission", kernel: `images/${sha(kernel)}/vmlinuz`, initrd: "images/ab/initrd", cmdline: "console=ttyS0", token: "tok1" },
  "52:54:00:00:00:02": { kind: "local" },
};

beforeAll(async () => {
  const files = join(dir, "files");
  mkdirSync(files);
  writeFileSync(join(files, "ipxe.efi"), "EFI-BINARY");
  writeFileSync(join(dir, "secret"), "TOP SECRET");
  symlinkSync("../secret", join(files, "escape"));
  const images = new ImageCache({
    dir: join(dir, "cache"),
    fetch: async (h) => {
      if (h === sha(remoteImage)) return [remoteImage];
      if (h === liarSha) return [liar];
      return null;
    },
  });
  await images.init();
  await images.put(sha(kernel), [kernel]);
  server = new BootHttpServer({
    host: "127.0.0.1",
    port: 0,
    images,
    filesDir: files,
    intents: (q) => {
      queries.push(q);
      return intents[q.mac] ?? { kind: "enlist", kernel: "images/e/k", initrd: "images/e/i" };
    },
    metadata: async (req) => {
      relayed.push(req);
      return { status: 200, headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ok: true, path: req.path }) };
    },
  });
  const { port } = await server.listen();
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function get(path: string, init?: RequestInit) {
  const r = await fetch(base + path, init);
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

describe("boot scripts", () => {
  it("serves boot.ipxe pointing back at us", async () => {
    const r = await get("/boot.ipxe");
    expect(r.status).toBe(200);
    expect(r.body.toString()).toContain(`chain --autofree ${base}/boot/`);
  });
  it("serves a per-MAC script from the node's intent, MAC in either notation", async () => {
    const r = await get("/boot/52-54-00-00-00-01.ipxe?platform=efi&arch=x86_64");
    expect(r.status).toBe(200);
    const s = r.body.toString();
    expect(s).toContain(`kernel --name kernel ${base}/images/${sha(kernel)}/vmlinuz initrd=initrd console=ttyS0 BOOTIF=01-`);
    expect(s).toContain(`plinth.url=${base}/metadata/ plinth.token=tok1 plinth.purpose=commission`);
    expect(queries.at(-1)).toMatchObject({ mac: "52:54:00:00:00:01", platform: "efi", arch: "x86_64" });
  });
  it("local boot: sanboot on BIOS, exit on UEFI", async () => {
    expect((await get("/boot/52:54:00:00:00:02.ipxe?platform=pcbios")).body.toString()).toContain("sanboot --no-describe --drive 0x80");
    expect((await get("/boot/52:54:00:00:00:02.ipxe?platform=efi")).body.toString()).toMatch(/\nexit\n$/);
  });
  it("unknown MACs enlist; an unexpanded iPXE variable is read as unknown platform", async () => {
    const r = await get("/boot/aa:bb:cc:dd:ee:ff.ipxe?platform=%24%7Bplatform%7D");
    expect(r.body.toString()).toContain("plinth.purpose=enlist");
    expect(queries.at(-1)?.platform).toBeNull();
  });
  it.each(["/boot/zz:bb:cc:dd:ee:ff.ipxe", "/boot/aabbccddeeff.ipxe", "/boot/..%2f..%2fetc%2fpasswd.ipxe", "/images/NOTAHASH", "/images/../secret"])(
    "bad input %s is a 4xx with a JSON body",
    async (path) => {
      const r = await get(path);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(r.headers.get("content-type")).toBe("application/json");
      expect(JSON.parse(r.body.toString())).toHaveProperty("error");
    },
  );
  it("rejects a hostile Host header instead of echoing it into a script", async () => {
    const http = await import("node:http");
    const status = await new Promise<number>((resolve) => {
      http.get(`${base}/boot.ipxe`, { headers: { Host: "evil$(x)" } }, (res) => resolve(res.statusCode ?? 0)).on("error", () => resolve(400));
    });
    expect(status).toBe(400);
  });
});

describe("images", () => {
  it("serves a kernel with the right length and validators", async () => {
    const r = await get(`/images/${sha(kernel)}/vmlinuz`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-length")).toBe(String(kernel.length));
    expect(r.headers.get("accept-ranges")).toBe("bytes");
    expect(r.headers.get("etag")).toBe(`"${sha(kernel)}"`);
    expect(sha(r.body)).toBe(sha(kernel));
  });
  it("serves ranges: explicit, open-ended, suffix, and 416 past the end", async () => {
    const a = await get(`/images/${sha(kernel)}`, { headers: { Range: "bytes=100-1099" } });
    expect(a.status).toBe(206);
    expect(a.headers.get("content-range")).toBe(`bytes 100-1099/${kernel.length}`);
    expect(a.headers.get("content-length")).toBe("1000");
    expect(a.body.equals(kernel.subarray(100, 1100))).toBe(true);
    const b = await get(`/images/${sha(kernel)}`, { headers: { Range: `bytes=${kernel.length - 10}-` } });
    expect(b.body.equals(kernel.subarray(kernel.length - 10))).toBe(true);
    const c = await get(`/images/${sha(kernel)}`, { headers: { Range: "bytes=-7" } });
    expect(c.body.equals(kernel.subarray(kernel.length - 7))).toBe(true);
    const d = await get(`/images/${sha(kernel)}`, { headers: { Range: `bytes=${kernel.length}-` } });
    expect(d.status).toBe(416);
    expect(d.headers.get("content-range")).toBe(`bytes */${kernel.length}`);
  });
  it("resumes a download in pieces that add up to the sha256", async () => {
    const parts: Buffer[] = [];
    for (let at = 0; at < kernel.length; at += 1 << 20) {
      parts.push((await get(`/images/${sha(kernel)}`, { headers: { Range: `bytes=${at}-${at + (1 << 20) - 1}` } })).body);
    }
    expect(sha(Buffer.concat(parts))).toBe(sha(kernel));
  });
  it("answers HEAD with the length and no body", async () => {
    const r = await get(`/images/${sha(kernel)}`, { method: "HEAD" });
    expect(r.headers.get("content-length")).toBe(String(kernel.length));
    expect(r.body.length).toBe(0);
  });
  it("pulls an image through from the region on a miss, verified", async () => {
    const r = await get(`/images/${sha(remoteImage)}`);
    expect(r.status).toBe(200);
    expect(sha(r.body)).toBe(sha(remoteImage));
  });
  it("refuses to serve bytes that do not match their hash", async () => {
    const r = await get(`/images/${liarSha}`);
    expect(r.status).toBe(502);
    expect((await get(`/images/${liarSha}`)).status).toBe(502);
  });
  it("404s an image nobody has", async () => {
    expect((await get(`/images/${sha(Buffer.from("none"))}`)).status).toBe(404);
  });
  it("serves many parallel clients", async () => {
    const all = await Promise.all(Array.from({ length: 32 }, () => get(`/images/${sha(kernel)}`)));
    expect(all.every((r) => r.status === 200 && sha(r.body) === sha(kernel))).toBe(true);
  });
});

describe("static boot files", () => {
  it("serves a file and refuses a symlink out of the directory", async () => {
    const ok = await get("/files/ipxe.efi");
    expect(ok.body.toString()).toBe("EFI-BINARY");
    const esc = await get("/files/escape");
    expect(esc.status).toBe(403);
    expect(esc.body.toString()).not.toContain("TOP SECRET");
    expect((await get("/files/..%2fsecret")).status).toBe(400);
  });
});

describe("metadata relay", () => {
  it("forwards method, path, query and body through the callback", async () => {
    const r = await get("/metadata/2012-03-01/meta-data/instance-id?x=1", {
      method: "POST",
      body: "results",
      headers: { Authorization: "OAuth tok1" },
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ ok: true, path: "/2012-03-01/meta-data/instance-id" });
    const last = relayed.at(-1)!;
    expect(last).toMatchObject({ method: "POST", path: "/2012-03-01/meta-data/instance-id", query: "x=1" });
    expect(Buffer.from(last.body).toString()).toBe("results");
    expect(last.headers["authorization"]).toBe("OAuth tok1");
  });
  it("refuses an oversized body with 413", async () => {
    const r = await get("/metadata/big", { method: "POST", body: Buffer.alloc((16 << 20) + 1) });
    expect(r.status).toBe(413);
  });
});
