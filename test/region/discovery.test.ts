// Discovery: what a rack saw on its networks (DHCP leases, neighbours) becomes `discovered`
// rows the allocator steps over and the subnet lists, through the real tunnel and real D1;
// links and reservations are never touched, other sites' subnets never written, bad input
// dropped without harm.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import type { RackEvent } from "../../shared/tunnel/events";
import { allocateAutoLink, reserveAddress, subnetSpace } from "../../cloud/domain/addresses";
import { recordDiscoveries } from "../../cloud/domain/discovery";
import { linkSubnet } from "../../cloud/domain/machines/interfaces";
import { applyRackEvents } from "../../cloud/domain/racks/rack-events";
import { call, makeMachine, makeUser, siteId } from "./helpers";
import { maas, maasKey } from "./maas-helpers";
import { connect, enrolRack } from "./tunnel-helpers";

let admin = "";
let rackId = "";
let credential = "";
let subnetId = 0;
let otherSite = 0;

beforeAll(async () => {
  admin = await makeUser("disc-admin", [["admin", null]]);
  ({ rackId, credential } = await enrolRack(admin, "disc-site", "disc-rack"));
  const s = await call(admin, "POST", "/subnets", { cidr: "10.61.0.0/24", site: "disc-site", gateway_ip: "10.61.0.1" });
  expect(s.status, s.text).toBe(201);
  subnetId = s.json.id;
  const d = await call(admin, "POST", "/ip-ranges", { subnet_id: subnetId, type: "dynamic", start_ip: "10.61.0.200", end_ip: "10.61.0.250" });
  expect(d.status, d.text).toBe(201);
  await siteId("disc-other");
  const o = await call(admin, "POST", "/subnets", { cidr: "10.62.0.0/24", site: "disc-other" });
  expect(o.status, o.text).toBe(201);
  otherSite = o.json.id;
});

const rows = async (ip: string) =>
  (
    await env.DB.prepare("SELECT id, subnet_id, ip, kind, mac, interface_id, machine_id, comment, created_at FROM ip_addresses WHERE ip = ?").bind(ip).all<{
      id: number;
      subnet_id: number;
      ip: string;
      kind: string;
      mac: string | null;
      interface_id: number | null;
      machine_id: number | null;
      comment: string;
      created_at: number;
    }>()
  ).results;

let seq = 0;
const neighbours = (list: { ip: string; mac: string }[], at = 1_700_000_000_000): RackEvent => ({
  seq: ++seq,
  at,
  type: "net.neighbours",
  data: { iface: "eth0", neighbours: list.map((n) => ({ ...n, seenAt: at })) },
});
const lease = (mac: string, ip: string, at = 1_700_000_000_000): RackEvent => ({ seq: ++seq, at, type: "dhcp.lease", data: { mac, ip } });

async function until<T>(what: string, f: () => Promise<T | null | undefined | false>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The machine row linkSubnet takes and its first interface. */
async function machineAndEth0(sid: string) {
  const m = (await env.DB.prepare("SELECT id, system_id AS systemId, hostname, site_id AS siteId, status FROM machines WHERE system_id = ?")
    .bind(sid)
    .first<{ id: number; systemId: string; hostname: string; siteId: number; status: number }>())!;
  const eth0 = (await env.DB.prepare("SELECT id, name FROM interfaces WHERE machine_id = ? ORDER BY id LIMIT 1")
    .bind(m.id)
    .first<{ id: number; name: string }>())!;
  return { m, eth0 };
}

describe("discovered addresses", () => {
  it("a neighbour the rack reports over the tunnel becomes a discovered row with its MAC and the time it was seen", async () => {
    const rack = await connect(rackId, credential, { journal: "disc-j1" });
    const at = Date.now() - 5000;
    rack.send({ t: "event", v: 1, events: [{ ...neighbours([{ ip: "10.61.0.20", mac: "52:54:00:d1:00:20" }], at), seq: 1 }] });
    expect((await rack.next((m) => m.t === "ack")).upTo).toBe(1);
    const [r] = await until("the discovered row", async () => (await rows("10.61.0.20"))[0] && rows("10.61.0.20"));
    expect(r).toMatchObject({ subnet_id: subnetId, kind: "discovered", mac: "52:54:00:d1:00:20", interface_id: null, machine_id: null, created_at: at });
    expect(r!.comment).toContain(rackId);
    rack.ws.close(1000);
  });

  it("reported again, it stays one row; a new MAC for the address replaces the old", async () => {
    await applyRackEvents(env.DB, rackId, [neighbours([{ ip: "10.61.0.21", mac: "52:54:00:d1:00:21" }])]);
    await applyRackEvents(env.DB, rackId, [neighbours([{ ip: "10.61.0.21", mac: "52:54:00:d1:00:21" }])]);
    expect(await rows("10.61.0.21")).toHaveLength(1);
    await applyRackEvents(env.DB, rackId, [neighbours([{ ip: "10.61.0.21", mac: "52:54:00:d1:00:99" }], 1_700_000_100_000)]);
    const r = await rows("10.61.0.21");
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ kind: "discovered", mac: "52:54:00:d1:00:99", created_at: 1_700_000_100_000 });
  });

  it("never touches a link or a reservation holding the address", async () => {
    const sid = await makeMachine({ status: S.READY, site: "disc-site", mac: "52:54:00:d1:01:01" });
    const { m, eth0 } = await machineAndEth0(sid);
    await linkSubnet(env.DB, "test", m, eth0, { mode: "static", subnetId, ip: "10.61.0.30" });
    const auto = await linkSubnet(env.DB, "test", m, eth0, { mode: "auto", subnetId });
    const autoIp = await allocateAutoLink(env.DB, { id: auto, subnetId, what: "test" });
    const user = (await env.DB.prepare("SELECT id FROM users WHERE username = 'disc-admin'").first<{ id: number }>())!.id;
    await reserveAddress(env.DB, { username: "disc-admin", userId: user }, (await subnetSpace(env.DB, subnetId))!, { ip: "10.61.0.31", comment: "printer" });
    const before = await Promise.all(["10.61.0.30", autoIp, "10.61.0.31"].map(rows));
    // The machine's own addresses seen with its MAC, and someone else's MAC on them: nothing changes.
    await applyRackEvents(env.DB, rackId, [
      neighbours([
        { ip: "10.61.0.30", mac: "52:54:00:d1:01:01" },
        { ip: autoIp, mac: "52:54:00:d1:01:01" },
        { ip: "10.61.0.31", mac: "52:54:00:d1:ee:ee" },
      ]),
      lease("52:54:00:d1:ee:ef", "10.61.0.30"),
    ]);
    const after = await Promise.all(["10.61.0.30", autoIp, "10.61.0.31"].map(rows));
    expect(after).toEqual(before);
    expect(after.map((r) => r[0]!.kind)).toEqual(["static", "auto", "user_reserved"]);
  });

  it("ignores addresses outside every subnet of the rack's site, the gateway and another site's subnet", async () => {
    const n = await env.DB.prepare("SELECT count(*) AS n FROM ip_addresses").first<{ n: number }>();
    const out = await recordDiscoveries(env.DB, rackId, [
      { ip: "192.168.99.5", mac: "52:54:00:d1:02:01", seenAt: 1, source: "arp" },
      { ip: "10.62.0.5", mac: "52:54:00:d1:02:02", seenAt: 1, source: "arp" },
      { ip: "10.61.0.1", mac: "52:54:00:d1:02:03", seenAt: 1, source: "arp" },
    ]);
    expect(out).toEqual({ recorded: 0, ignored: 3, refused: 0 });
    expect((await env.DB.prepare("SELECT count(*) AS n FROM ip_addresses").first<{ n: number }>())!.n).toBe(n!.n);
    expect(otherSite).toBeGreaterThan(0);
  });

  it("a DHCP lease is discovered too, and a new lease moves the MAC's discovered address", async () => {
    await applyRackEvents(env.DB, rackId, [lease("52:54:00:d1:03:01", "10.61.0.210")]);
    expect((await rows("10.61.0.210"))[0]).toMatchObject({ kind: "discovered", mac: "52:54:00:d1:03:01" });
    await applyRackEvents(env.DB, rackId, [lease("52:54:00:d1:03:01", "10.61.0.211")]);
    expect(await rows("10.61.0.210")).toEqual([]);
    expect((await rows("10.61.0.211"))[0]).toMatchObject({ kind: "discovered", mac: "52:54:00:d1:03:01" });
  });

  it("the allocator steps over a discovered address", async () => {
    const s = await call(admin, "POST", "/subnets", { cidr: "10.63.0.0/29", site: "disc-site" });
    expect(s.status, s.text).toBe(201);
    await applyRackEvents(env.DB, rackId, [neighbours([{ ip: "10.63.0.1", mac: "52:54:00:d1:04:01" }])]);
    const sid = await makeMachine({ status: S.READY, site: "disc-site", mac: "52:54:00:d1:04:02" });
    const { m, eth0 } = await machineAndEth0(sid);
    const link = await linkSubnet(env.DB, "test", m, eth0, { mode: "auto", subnetId: s.json.id });
    expect(await allocateAutoLink(env.DB, { id: link, subnetId: s.json.id, what: "test" })).toBe("10.63.0.2");
    const u = await call(admin, "GET", `/subnets/${s.json.id}/utilisation`);
    expect(u.status, u.text).toBe(200);
    expect(JSON.stringify(u.json)).toMatch(/"discovered":1/);
  });

  it("shows on the subnet: /api/v1 and MAAS's op=ip_addresses, with the MAC", async () => {
    const v1 = await call(admin, "GET", `/ip-addresses?subnet=${subnetId}&kind=discovered`);
    expect(v1.status, v1.text).toBe(200);
    expect(v1.json.items).toEqual(
      expect.arrayContaining([expect.objectContaining({ ip: "10.61.0.20", kind: "discovered", mac: "52:54:00:d1:00:20", machine: null })]),
    );
    const key = await maasKey(admin);
    const r = await maas(key, "GET", `subnets/${subnetId}/?op=ip_addresses`);
    expect(r.status, r.text).toBe(200);
    const hit = (r.json as { ip: string; alloc_type: number; alloc_type_name: string; mac_address?: string }[]).find((x) => x.ip === "10.61.0.20");
    expect(hit).toMatchObject({ alloc_type: 6, alloc_type_name: "Observed", mac_address: "52:54:00:d1:00:20" });
  });

  it("a full event (256 pairs) lands in one batch; reported again it writes nothing", async () => {
    const s = await call(admin, "POST", "/subnets", { cidr: "10.64.0.0/23", site: "disc-site" });
    expect(s.status, s.text).toBe(201);
    const list = Array.from({ length: 256 }, (_, i) => ({ ip: `10.64.${i >> 7}.${(i & 127) + 2}`, mac: `52:54:00:d1:07:${i.toString(16).padStart(2, "0")}` }));
    let t0 = performance.now();
    await applyRackEvents(env.DB, rackId, [neighbours(list)]);
    const first = performance.now() - t0;
    const n = await env.DB.prepare("SELECT count(*) AS n FROM ip_addresses WHERE subnet_id = ? AND kind = 'discovered'").bind(s.json.id).first<{ n: number }>();
    expect(n!.n).toBe(256);
    t0 = performance.now();
    const again = await recordDiscoveries(
      env.DB,
      rackId,
      list.map((x) => ({ ...x, seenAt: 1_700_000_000_000, source: "arp" })),
    );
    expect(again.recorded).toBe(0);
    console.log(`256 neighbours: recorded in ${first.toFixed(0)} ms, the same again (no change) in ${(performance.now() - t0).toFixed(0)} ms`);
  });

  it("refuses bad input without a crash and keeps the good part", async () => {
    const out = await recordDiscoveries(env.DB, rackId, [
      { ip: "10.61.0.40", mac: "not-a-mac", seenAt: 1, source: "arp" },
      { ip: "10.61.0.300", mac: "52:54:00:d1:05:01", seenAt: 1, source: "arp" },
      { ip: "10.61.0.41", mac: "ff:ff:ff:ff:ff:ff", seenAt: 1, source: "arp" },
      { ip: "10.61.0.42", mac: "52:54:00:d1:05:02", seenAt: -1, source: "arp" },
      { ip: "10.61.0.43", mac: "52:54:00:d1:05:03", seenAt: 1, source: "arp", extra: 1 },
      null,
      "10.61.0.44",
      { ip: "10.61.0.45", mac: "52:54:00:D1:05:05", seenAt: 1, source: "arp" },
    ]);
    expect(out).toEqual({ recorded: 1, ignored: 0, refused: 7 });
    expect((await rows("10.61.0.45"))[0]).toMatchObject({ kind: "discovered", mac: "52:54:00:d1:05:05" });
    // Through the tunnel, a malformed event is an error frame; the socket keeps serving.
    const rack = await connect(rackId, credential, { journal: "disc-j2" });
    rack.send({ t: "event", v: 1, events: [{ seq: 1, at: 1, type: "net.neighbours", data: { iface: "eth0", neighbours: [{ ip: "x; drop", mac: "zz" }] } }] });
    expect((await rack.next((m) => m.t === "error")).code).toBe("invalid_frame");
    const big = Array.from({ length: 257 }, (_, i) => ({ ip: `10.61.1.${i % 256}`, mac: "52:54:00:d1:06:01", seenAt: 1 }));
    rack.send({ t: "event", v: 1, events: [{ seq: 1, at: 1, type: "net.neighbours", data: { iface: "eth0", neighbours: big } }] });
    expect((await rack.next((m) => m.t === "error")).code).toBe("invalid_frame");
    rack.send('{"t":"heartbeat","v":1}');
    await rack.next((m) => m.t === "heartbeat");
    rack.ws.close(1000);
  });
});
