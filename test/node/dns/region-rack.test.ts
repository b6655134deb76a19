// The region's DNS reaching a real rack: the region in workerd (wrangler dev) and a real
// appliance process over the tunnel, its DNS server on loopback. A record made through the API
// is answered by the rack as soon as the snapshot lands (the delay is printed: speed is the
// bench's business, not an assertion here); with the region stopped, a restarted rack still
// answers from the snapshot it kept on disk.
import { spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as packet from "dns-packet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Appliance, api, cliAsync as cli, freePort, type Region, region, stopRegion, until } from "../tunnel/rig";

let r: Region;
let app: Appliance;
let rackId = "";
let dnsPort = 0;
const dir = mkdtempSync(join(tmpdir(), "plinth-dns-rack-"));

/** One UDP question to the rack: the A records' addresses, or null when none came back. */
function ask(name: string, type: "A" | "SOA" = "A"): Promise<{ rcode: string; data: string[] } | null> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    const done = (v: { rcode: string; data: string[] } | null) => {
      clearTimeout(t);
      s.close();
      resolve(v);
    };
    const t = setTimeout(() => done(null), 500);
    s.on("message", (m) => {
      try {
        const p = packet.decode(m);
        done({ rcode: (p as { rcode?: string }).rcode ?? "", data: (p.answers ?? []).map((a) => String((a as { data?: unknown }).data)) });
      } catch {
        done(null);
      }
    });
    s.send(packet.encode({ type: "query", id: 1, flags: packet.RECURSION_DESIRED, questions: [{ type, name }] }), dnsPort, "127.0.0.1");
  });
}

function dig(name: string): string {
  const d = spawnSync("dig", ["+short", "+tries=1", "+time=2", "@127.0.0.1", "-p", String(dnsPort), name, "A"], { encoding: "utf8" });
  if (d.error) throw new Error(`dig: ${String(d.error)} (apt-get install bind9-dnsutils)`);
  return d.stdout.trim();
}

beforeAll(async () => {
  r = await region();
  dnsPort = await freePort();
  const tok = await api(r, "POST", "/racks/enrol-tokens", { site: "default" });
  const enrolled = await cli(["enrol", "--state-dir", dir, "--hostname", "rack-dns", "--region", r.url, "--token", tok.json.token]);
  expect(enrolled.code, enrolled.out).toBe(0);
  rackId = (await api(r, "GET", "/racks")).json.items.find((x: { hostname: string }) => x.hostname === "rack-dns").id;
  app = new Appliance(dir, r.url, ["--dns-listen", "127.0.0.1", "--dns-port", String(dnsPort)]);
  app.start();
  await until("the rack to connect", async () => (await api(r, "GET", `/racks/${rackId}`)).json.connected);
  // The first snapshot carries the default domain's zone.
  await until("the rack to serve the maas zone", async () => (await ask("maas", "SOA"))?.rcode === "NOERROR", 240, 250);
}, 180_000);

afterAll(async () => {
  await app?.kill("SIGTERM");
  if (r) await stopRegion(r.child);
});

describe("the region's zones on a real rack", () => {
  it("answers a record made through the API as soon as the snapshot lands, and its change too", async () => {
    expect((await ask("probe.maas"))?.rcode).toBe("NXDOMAIN");
    const t0 = performance.now();
    const made = await api(r, "POST", "/dns/records", { name: "probe", domain: "maas", type: "A", data: "192.0.2.7" });
    expect(made.status, JSON.stringify(made.json)).toBe(201);
    await until("the rack to answer probe.maas", async () => (await ask("probe.maas"))?.data.includes("192.0.2.7"), 1000, 10);
    console.log(`dns: a record created through the API answered by the rack after ${Math.round(performance.now() - t0)} ms`);
    expect(dig("probe.maas")).toBe("192.0.2.7");
    const t1 = performance.now();
    const changed = await api(r, "PATCH", `/dns/records/${made.json.id}`, { data: "192.0.2.8" });
    expect(changed.status, JSON.stringify(changed.json)).toBe(200);
    await until("the rack to answer the new address", async () => (await ask("probe.maas"))?.data.includes("192.0.2.8"), 1000, 10);
    console.log(`dns: a record changed through the API answered by the rack after ${Math.round(performance.now() - t1)} ms`);
    // The zone the rack serves is the one the region exports.
    const file = await fetch(`${r.url}/api/v1/dns/zones/maas/zonefile`, { headers: { authorization: `Bearer ${r.admin}` } });
    expect(await file.text()).toMatch(/^probe\.maas\.\s+\d+\s+IN\s+A\s+192\.0\.2\.8$/m);
  });

  it("restarted with the region stopped, still answers from the zones it kept", async () => {
    await stopRegion(r.child);
    expect(await app.kill("SIGTERM")).toBe(0);
    app.start();
    await until("the restarted rack to answer probe.maas", async () => (await ask("probe.maas"))?.data.includes("192.0.2.8"), 240, 250);
    expect(dig("probe.maas")).toBe("192.0.2.8");
    expect((await ask("nothing-here.maas"))?.rcode).toBe("NXDOMAIN");
  });
});
