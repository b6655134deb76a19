// Boot scripts are validated and rendered once per intent content and cached per (platform,
// base URL): the caches must never hand one node another's script, never outlive a changed
// intent, and never cache an invalid one.
import { get as httpGet } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BootIntentInput } from "../../../appliance/http/intent";
import { BootHttpServer } from "../../../appliance/http/server";

const intents = new Map<string, BootIntentInput | null>();
let lookups = 0;
let server: BootHttpServer;
let port: number;

beforeAll(async () => {
  server = new BootHttpServer({
    host: "127.0.0.1",
    port: 0,
    // A fresh object per request, sometimes behind a promise, as a snapshot lookup may do.
    intents: (q) => {
      lookups++;
      const i = intents.has(q.mac) ? intents.get(q.mac)! : { kind: "enlist" as const, kernel: "images/e/k", initrd: "images/e/i" };
      const copy = i === null ? null : { ...i };
      return lookups % 2 === 0 ? Promise.resolve(copy) : copy;
    },
  });
  port = (await server.listen()).port;
});
afterAll(async () => {
  await server?.close();
});

function get(path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    httpGet({ host: "127.0.0.1", port, path, headers: { Host: host } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers["content-type"]) }));
    }).on("error", reject);
  });
}

const deploy = (token: string) => ({ kind: "deploy" as const, kernel: "images/k", initrd: "images/i", cmdline: "console=ttyS0", token });

describe("boot script caching", () => {
  it("gives each node its own token, however often asked", async () => {
    intents.set("52:54:00:00:00:0a", deploy("tokA"));
    intents.set("52:54:00:00:00:0b", deploy("tokB"));
    for (let i = 0; i < 3; i++) {
      const a = await get("/boot/52:54:00:00:00:0a.ipxe?platform=efi");
      const b = await get("/boot/52-54-00-00-00-0B.ipxe?platform=efi");
      expect(a.body).toContain("plinth.token=tokA ");
      expect(b.body).toContain("plinth.token=tokB ");
    }
  });

  it("follows a changed intent at once", async () => {
    intents.set("52:54:00:00:00:0c", deploy("tokC"));
    expect((await get("/boot/52:54:00:00:00:0c.ipxe?platform=pcbios")).body).toContain("plinth.purpose=deploy");
    intents.set("52:54:00:00:00:0c", { kind: "local" });
    expect((await get("/boot/52:54:00:00:00:0c.ipxe?platform=pcbios")).body).toContain("sanboot --no-describe --drive 0x80");
    intents.set("52:54:00:00:00:0c", { kind: "deploy", kernel: "images/k", initrd: "images/i", cmdline: "console=ttyS0" });
    const noToken = await get("/boot/52:54:00:00:00:0c.ipxe?platform=pcbios");
    expect(noToken.body).toContain("plinth.purpose=deploy");
    expect(noToken.body).not.toContain("plinth.token=");
  });

  it("renders per platform and per base URL", async () => {
    intents.set("52:54:00:00:00:0d", { kind: "local" });
    const efi = await get("/boot/52:54:00:00:00:0d.ipxe?platform=efi");
    const bios = await get("/boot/52:54:00:00:00:0d.ipxe?arch=x86_64&platform=pcbios");
    const unknown = await get("/boot/52:54:00:00:00:0d.ipxe?platform=%24%7Bplatform%7D");
    expect(efi.body).toMatch(/\nexit\n$/);
    expect(bios.body).toContain("sanboot");
    expect(unknown.body).toContain(`iseq \${platform} efi`);
    intents.set("52:54:00:00:00:0e", deploy("tokE"));
    const one = await get("/boot/52:54:00:00:00:0e.ipxe", "10.0.0.1:5248");
    const two = await get("/boot/52:54:00:00:00:0e.ipxe", "10.0.0.2:5248");
    expect(one.body).toContain("kernel --name kernel http://10.0.0.1:5248/images/k ");
    expect(two.body).toContain("kernel --name kernel http://10.0.0.2:5248/images/k ");
    expect((await get("/boot.ipxe", "10.0.0.1:5248")).body).toContain("chain --autofree http://10.0.0.1:5248/boot/");
    expect((await get("/boot.ipxe", "10.0.0.2:5248")).body).toContain("chain --autofree http://10.0.0.2:5248/boot/");
  });

  it("never caches an invalid intent: 500 while it is bad, the script once it is fixed", async () => {
    intents.set("52:54:00:00:00:0f", { ...deploy("tok"), cmdline: `x \${net0/ip}` });
    expect((await get("/boot/52:54:00:00:00:0f.ipxe")).status).toBe(500);
    expect((await get("/boot/52:54:00:00:00:0f.ipxe")).status).toBe(500);
    // An empty token is invalid; it must not be read as "no token".
    intents.set("52:54:00:00:00:0f", { kind: "deploy", kernel: "images/k", initrd: "images/i", cmdline: "console=ttyS0", token: "" });
    expect((await get("/boot/52:54:00:00:00:0f.ipxe")).status).toBe(500);
    intents.set("52:54:00:00:00:0f", deploy("tok"));
    expect((await get("/boot/52:54:00:00:00:0f.ipxe")).status).toBe(200);
  });

  it("404s a node that is not ours, 400s a bad MAC or a bad escape, all as JSON", async () => {
    intents.set("52:54:00:00:00:10", null);
    for (const path of ["/boot/52:54:00:00:00:10.ipxe", "/boot/52:54:00:00:00:1g.ipxe", "/boot/%zz.ipxe", "/boot/a/b.ipxe", "/images/./x"]) {
      const r = await get(path);
      expect(r.status, path).toBeGreaterThanOrEqual(400);
      expect(r.status, path).toBeLessThan(500);
      expect(r.type, path).toBe("application/json");
    }
    expect((await get("/boot/52:54:00:00:00:10.ipxe")).status).toBe(404);
    expect((await get("/boot/%35%32:54:00:00:00:0a.ipxe")).body).toContain("plinth.token=tokA ");
  });
});
