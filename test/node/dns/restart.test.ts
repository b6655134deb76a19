// A rack restarted with the region away still answers: the daemon starts from its state dir
// (credential and the last config snapshot, as the tunnel persisted them), the region's
// address refuses connections, and the site's DNS server serves the snapshot's zones.
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import dnsPacket from "dns-packet";
import { afterAll, describe, expect, it } from "vitest";
import { Daemon } from "../../../appliance/daemon";
import { startSiteDns } from "../../../appliance/dns/service";
import { StateDir } from "../../../appliance/state/dir";
import type { ConfigSnapshot } from "../../../shared/tunnel/config";
import { siteDns } from "./fixture";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function ask(port: number, name: string): Promise<dnsPacket.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const c = createSocket("udp4");
    const t = setTimeout(() => {
      c.close();
      reject(new Error("no answer"));
    }, 3000);
    c.on("message", (m) => {
      clearTimeout(t);
      c.close();
      resolve(dnsPacket.decode(m));
    });
    c.send(dnsPacket.encode({ type: "query", id: 99, questions: [{ name, type: "A" }] }), port, "127.0.0.1");
  });
}

describe("restart with the region down", () => {
  it("serves the persisted snapshot's zones", async () => {
    const dir = mkdtempSync(join(tmpdir(), "plinth-dns-restart-"));
    dirs.push(dir);
    const state = new StateDir(dir);
    state.writeCredential({
      region: "http://127.0.0.1:1",
      rackId: "abcdefabcdef",
      credential: `prk_abcdefabcdef_${"a".repeat(40)}`,
      site: "default",
      hostname: "unit",
      enrolledAt: 0,
    });
    const snapshot: ConfigSnapshot = { version: "v9", site: "default", subnets: [], reservations: [], bootIntents: [], images: [], dns: siteDns() };
    state.writeConfig(snapshot);
    // Port 1 on loopback: nothing listens, every dial is refused at once.
    const daemon = new Daemon({ stateDir: dir, region: "http://127.0.0.1:1", log: () => {}, localApi: false, backoff: { baseMs: 50, maxMs: 200 } });
    await daemon.start();
    const dns = await startSiteDns(daemon, { addresses: ["127.0.0.1"], port: 0, log: () => {} });
    try {
      expect(daemon.online()).toBe(false);
      const r = await ask(dns.server.addresses[0]!.port, "node-4.maas");
      expect(r).toMatchObject({ rcode: "NOERROR", flag_aa: true });
      expect(r.answers?.[0]).toMatchObject({ name: "node-4.maas", type: "A", data: "10.77.0.6" });
    } finally {
      await dns.close();
      await daemon.stop();
    }
  });
});
