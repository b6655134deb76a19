// The native API end to end: bootstrap, machines CRUD, lists with filters and cursors,
// catalogs, networks, events and the OpenAPI document.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { call, deployableImage, makeMachine, makeUser } from "./helpers";

let admin: string;
beforeAll(async () => {
  await deployableImage("debian", "bookworm");
  admin = await makeUser("admin", [["admin", null]]);
});

describe("bootstrap", () => {
  it("needs the token, works once, and its key works for MAAS too", async () => {
    await env.DB.prepare("DELETE FROM users").run();
    expect((await call(null, "POST", "/bootstrap", { password: "long-enough-password" })).status).toBe(401);
    const r = await call(null, "POST", "/bootstrap", { password: "long-enough-password" }, { "x-plinth-bootstrap-token": env.PLINTH_BOOTSTRAP_TOKEN });
    expect(r.status, r.text).toBe(201);
    expect(r.json.api_key).toMatch(/^plk_[a-z0-9]{12}_[a-z0-9]{32}$/);
    expect(r.json.maas_api_key.split(":")).toHaveLength(3);
    expect((await call(r.json.api_key, "GET", "/me")).json).toMatchObject({ username: "admin", is_admin: true });
    const again = await call(null, "POST", "/bootstrap", { password: "long-enough-password" }, { "x-plinth-bootstrap-token": env.PLINTH_BOOTSTRAP_TOKEN });
    expect(again.status).toBe(409);
    admin = r.json.api_key;
  });
});

describe("machines", () => {
  it("create, read, update, delete", async () => {
    const c = await call(admin, "POST", "/machines", {
      hostname: "web-01",
      mac_addresses: ["52:54:00:01:00:01", "52:54:00:01:00:02"],
      cpu_count: 8,
      memory: 16384,
      commission: true,
    });
    expect(c.status, c.text).toBe(201);
    expect(c.json).toMatchObject({
      hostname: "web-01",
      fqdn: "web-01.maas",
      status: S.COMMISSIONING,
      status_name: "Commissioning",
      boot_mac: "52:54:00:01:00:01",
      site: "default",
      power_type: "manual",
    });
    expect(c.json.system_id).toMatch(/^[a-z0-9]{6}$/);
    expect(c.json.interfaces.map((i: { mac: string }) => i.mac)).toEqual(["52:54:00:01:00:01", "52:54:00:01:00:02"]);
    const dupMac = await call(admin, "POST", "/machines", { mac_addresses: ["52:54:00:01:00:02"] });
    expect(dupMac.status).toBe(409);
    expect(dupMac.json.error.details.system_id).toBe(c.json.system_id);
    const dupName = await call(admin, "POST", "/machines", { hostname: "web-01", mac_addresses: ["52:54:00:01:00:03"] });
    expect(dupName.status).toBe(409);
    await call(admin, "POST", "/zones", { name: "rack-a" });
    const u = await call(admin, "PATCH", `/machines/${c.json.system_id}`, { hostname: "web-02", zone: "rack-a", owner_data: { team: "infra" } });
    expect(u.json).toMatchObject({ hostname: "web-02", zone: "rack-a", owner_data: { team: "infra" } });
    expect((await call(admin, "GET", `/machines/${c.json.system_id}`)).json.hostname).toBe("web-02");
    expect((await call(admin, "DELETE", `/machines/${c.json.system_id}`)).status).toBe(204);
    expect((await call(admin, "GET", `/machines/${c.json.system_id}`)).status).toBe(404);
    // The audit log outlives the machine.
    const ev = await call(admin, "GET", `/events?machine=${c.json.system_id}`);
    // Commissioning starts with a power on; the manual driver records that someone must do it.
    expect(ev.json.items.map((e: { type: string }) => e.type)).toEqual([
      "machine.delete",
      "machine.updated",
      "power.power_on",
      "machine.commission",
      "machine.created",
    ]);
    // A type prefix ending in "." takes every type under it; actor filters by who did it.
    const prefixed = await call(admin, "GET", `/events?machine=${c.json.system_id}&type=machine.`);
    expect(prefixed.json.items.map((e: { type: string }) => e.type)).toEqual(["machine.delete", "machine.updated", "machine.commission", "machine.created"]);
    const byActor = await call(admin, "GET", `/events?machine=${c.json.system_id}&type=machine.&actor=${ev.json.items[0].actor}`);
    expect(byActor.json.items.length).toBe(4);
    expect((await call(admin, "GET", `/events?machine=${c.json.system_id}&actor=nobody-at-all`)).json.items).toEqual([]);
  });

  it("lists page with a cursor and filter by status, site, zone, pool, tag, hostname, MAC, owner, arch", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 25; i++)
      ids.push(
        await makeMachine({
          site: i % 2 ? "odd" : "even",
          status: i % 5 === 0 ? S.DEPLOYED : S.READY,
          tags: i % 3 === 0 ? ["gpu"] : [],
          arch: i === 7 ? "arm64/generic" : "amd64/generic",
          hostname: `page-${i}`,
          mac: `52:54:00:02:00:${i.toString(16).padStart(2, "0")}`,
        }),
      );
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: Awaited<ReturnType<typeof call>> = await call(admin, "GET", `/machines?limit=10&site=odd&site=even${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...r.json.items.map((m: { system_id: string }) => m.system_id));
      cursor = r.json.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);
    const q = async (qs: string) => (await call(admin, "GET", `/machines?limit=1000&${qs}`)).json.items.map((m: { hostname: string }) => m.hostname);
    expect(await q("status=deployed&site=even")).toEqual(["page-0", "page-10", "page-20"]);
    expect(await q("status=Deployed&status=6&site=odd")).toEqual(["page-5", "page-15"]);
    expect((await q("tag=gpu")).length).toBe(9);
    expect(await q("tag=gpu&site=odd&status=4")).toEqual(["page-3", "page-9", "page-21"]);
    expect(await q("arch=arm64/generic")).toEqual(["page-7"]);
    expect(await q("hostname=page-4&hostname=page-8")).toEqual(["page-4", "page-8"]);
    expect(await q("mac=52:54:00:02:00:0c")).toEqual(["page-12"]);
    expect(await q("q=page-1")).toEqual([
      "page-1",
      "page-10",
      "page-11",
      "page-12",
      "page-13",
      "page-14",
      "page-15",
      "page-16",
      "page-17",
      "page-18",
      "page-19",
    ]);
    expect((await call(admin, "GET", "/machines?zone=default&pool=default&site=odd&limit=3")).json.items).toHaveLength(3);
    const allocated = await call(admin, "POST", "/machines/allocate", { site: "odd", tags: ["gpu"] });
    expect(await q("owner=admin")).toEqual([allocated.json.hostname]);
  });

  it("deploy records the image; release clears the owner", async () => {
    const id = await makeMachine({ status: S.READY });
    const a = await call(admin, "POST", `/machines/${id}/allocate`, {});
    expect(a.json).toMatchObject({ status: S.ALLOCATED, owner: "admin" });
    const d = await call(admin, "POST", `/machines/${id}/deploy`, { osystem: "debian", distro_series: "bookworm", user_data: btoa("#cloud-config\n") });
    expect(d.json).toMatchObject({ status: S.DEPLOYING, osystem: "debian", distro_series: "bookworm", owner: "admin" });
    await env.DB.prepare("UPDATE machines SET status = 6 WHERE system_id = ?").bind(id).run();
    const r = await call(admin, "POST", `/machines/${id}/release`, { comment: "done" });
    expect(r.json).toMatchObject({ status: S.READY, owner: null });
  });

  it("power on a manual machine asks a human and says so", async () => {
    const id = await makeMachine({});
    const r = await call(admin, "POST", `/machines/${id}/power_on`, {});
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ manual: true, command_id: null });
    const ev = await call(admin, "GET", `/events?machine=${id}&type=power.power_on`);
    expect(ev.json.items[0].level).toBe("WARNING");
  });

  it("power on a BMC machine with no rack connected is 503 with Retry-After", async () => {
    const id = await makeMachine({ powerType: "ipmi", powerParams: { power_address: "127.0.0.1" } });
    const r = await call(admin, "POST", `/machines/${id}/power_on`, {});
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("30");
    expect(r.json.error.code).toBe("no_rack");
  });
});

describe("catalogs and networks", () => {
  it("sites, zones, pools: CRUD, defaults protected, in-use refused", async () => {
    for (const kind of ["sites", "zones", "pools"]) {
      const c = await call(admin, "POST", `/${kind}`, { name: `x-${kind}`, description: "d" });
      expect(c.status, c.text).toBe(201);
      expect((await call(admin, "GET", `/${kind}/x-${kind}`)).json.description).toBe("d");
      expect((await call(admin, "PATCH", `/${kind}/x-${kind}`, { description: "e" })).json.description).toBe("e");
      expect((await call(admin, "DELETE", `/${kind}/default`)).status).toBe(409);
      expect((await call(admin, "DELETE", `/${kind}/x-${kind}`)).status).toBe(204);
      expect((await call(admin, "GET", `/${kind}/x-${kind}`)).status).toBe(404);
    }
    await call(admin, "POST", "/zones", { name: "busy" });
    const id = await makeMachine({});
    await call(admin, "PATCH", `/machines/${id}`, { zone: "busy" });
    expect((await call(admin, "DELETE", "/zones/busy")).status).toBe(409);
  });

  it("tags: create, add and remove machines, filter", async () => {
    const [a, b] = [await makeMachine({}), await makeMachine({})];
    expect((await call(admin, "POST", "/tags", { name: "nvme", comment: "fast" })).status).toBe(201);
    const r = await call(admin, "POST", "/tags/nvme/machines", { add: [a, b] });
    expect(r.json.machines.sort()).toEqual([a, b].sort());
    const r2 = await call(admin, "POST", "/tags/nvme/machines", { remove: [a] });
    expect(r2.json.machines).toEqual([b]);
    expect((await call(admin, "GET", `/machines/${b}`)).json.tags).toEqual(["nvme"]);
  });

  it("VLANs answer dhcp_on as a boolean, created and listed", async () => {
    const v = await call(admin, "POST", "/vlans", { vid: 321, dhcp_on: true });
    expect(v.status, v.text).toBe(201);
    expect(v.json.dhcp_on).toBe(true);
    const listed = (await call(admin, "GET", "/vlans")).json.items;
    expect(listed.find((x: { vid: number }) => x.vid === 321).dhcp_on).toBe(true);
    for (const x of listed) expect(typeof x.dhcp_on).toBe("boolean");
  });

  it("subnets with dynamic and reserved ranges; overlaps and strays refused", async () => {
    const s = await call(admin, "POST", "/subnets", { cidr: "10.20.0.0/24", gateway_ip: "10.20.0.1", dns_servers: ["10.20.0.2"] });
    expect(s.status, s.text).toBe(201);
    const dyn = await call(admin, "POST", "/ip-ranges", { subnet_id: s.json.id, type: "dynamic", start_ip: "10.20.0.100", end_ip: "10.20.0.199" });
    expect(dyn.status).toBe(201);
    expect((await call(admin, "POST", "/ip-ranges", { subnet_id: s.json.id, type: "reserved", start_ip: "10.20.0.150", end_ip: "10.20.0.160" })).status).toBe(
      409,
    );
    expect((await call(admin, "POST", "/ip-ranges", { subnet_id: s.json.id, type: "reserved", start_ip: "10.21.0.1", end_ip: "10.21.0.2" })).status).toBe(400);
    expect((await call(admin, "POST", "/subnets", { cidr: "10.30.0.0/24", gateway_ip: "10.31.0.1" })).status).toBe(400);
    const got = await call(admin, "GET", `/subnets/${s.json.id}`);
    expect(got.json).toMatchObject({ cidr: "10.20.0.0/24", dns_servers: ["10.20.0.2"], ip_ranges: [{ type: "dynamic", start_ip: "10.20.0.100" }] });
  });

  it("a VLAN read, patched and deleted; one a subnet is on is refused with the subnets named", async () => {
    const v = (await call(admin, "POST", "/vlans", { vid: 322, name: "old" })).json;
    expect((await call(admin, "GET", `/vlans/${v.id}`)).json).toEqual({ id: v.id, fabric: "fabric-0", vid: 322, name: "old", mtu: 1500, dhcp_on: false });
    const p = await call(admin, "PATCH", `/vlans/${v.id}`, { name: "new", mtu: 9000, dhcp_on: true });
    expect(p.json).toMatchObject({ vid: 322, name: "new", mtu: 9000, dhcp_on: true });
    const clash = await call(admin, "PATCH", `/vlans/${v.id}`, { vid: 321 });
    expect([clash.status, clash.json.error.message]).toEqual([409, "fabric fabric-0 already has VLAN 321"]);
    expect((await call(admin, "PATCH", `/vlans/${v.id}`, { mtu: 100 })).status).toBe(400);
    const s = (await call(admin, "POST", "/subnets", { cidr: "10.22.0.0/24", vlan_id: v.id })).json;
    const refused = await call(admin, "DELETE", `/vlans/${v.id}`);
    expect(refused.status).toBe(409);
    expect(refused.json.error).toMatchObject({
      message: "VLAN 322 on fabric fabric-0 is in use by 1 subnet (10.22.0.0/24): move or delete it first",
      details: { subnets: ["10.22.0.0/24"] },
    });
    expect((await call(admin, "PATCH", `/subnets/${s.id}`, { vlan_id: null })).json.vlan_id).toBeNull();
    expect((await call(admin, "DELETE", `/vlans/${v.id}`)).status).toBe(204);
    expect((await call(admin, "GET", `/vlans/${v.id}`)).status).toBe(404);
    const events = await env.DB.prepare("SELECT type, actor FROM events WHERE type LIKE 'vlan.%' AND description LIKE 'VLAN 322 %' ORDER BY id").all();
    expect(events.results).toEqual(["vlan.created", "vlan.updated", "vlan.deleted"].map((type) => ({ type, actor: "admin" })));
  });

  it("IP ranges listed by subnet and patched within their subnet; subnets found by CIDR", async () => {
    const s = (await call(admin, "POST", "/subnets", { cidr: "10.23.0.0/24" })).json;
    const other = (await call(admin, "POST", "/subnets", { cidr: "10.24.0.0/24" })).json;
    const a = (await call(admin, "POST", "/ip-ranges", { subnet_id: s.id, type: "dynamic", start_ip: "10.23.0.100", end_ip: "10.23.0.149" })).json;
    const b = (await call(admin, "POST", "/ip-ranges", { subnet_id: s.id, type: "reserved", start_ip: "10.23.0.10", end_ip: "10.23.0.19" })).json;
    await call(admin, "POST", "/ip-ranges", { subnet_id: other.id, type: "reserved", start_ip: "10.24.0.10", end_ip: "10.24.0.19" });
    const listed = (await call(admin, "GET", `/ip-ranges?subnet=${s.id}`)).json.items;
    expect(listed.map((r: { id: number }) => r.id)).toEqual([a.id, b.id]);
    expect(listed[0]).toEqual({ ...a, cidr: "10.23.0.0/24", site: "default" });
    expect((await call(admin, "GET", "/ip-ranges")).json.items.length).toBeGreaterThanOrEqual(3);
    expect((await call(admin, "GET", "/ip-ranges?subnet=999999")).status).toBe(404);

    const moved = await call(admin, "PATCH", `/ip-ranges/${a.id}`, { end_ip: "10.23.0.199", comment: "pool" });
    expect(moved.json).toMatchObject({ id: a.id, type: "dynamic", start_ip: "10.23.0.100", end_ip: "10.23.0.199", comment: "pool" });
    const refusals = [
      [{ start_ip: "10.23.0.15" }, 409, "the range overlaps 10.23.0.10-10.23.0.19"],
      [{ start_ip: "10.23.0.250" }, 400, "start_ip 10.23.0.250 is after end_ip 10.23.0.199"],
      [{ end_ip: "10.24.0.5" }, 400, "the range 10.23.0.100-10.24.0.5 is not inside 10.23.0.0/24"],
    ] as const;
    for (const [body, status, message] of refusals) {
      const r = await call(admin, "PATCH", `/ip-ranges/${a.id}`, body);
      expect([r.status, r.json.error.message]).toEqual([status, message]);
    }
    expect((await call(admin, "GET", `/subnets/${s.id}`)).json.ip_ranges.find((r: { id: number }) => r.id === a.id).end_ip).toBe("10.23.0.199");

    const found = (await call(admin, "GET", "/subnets?cidr=10.24.0.0/24")).json.items;
    expect(found.map((x: { id: number }) => x.id)).toEqual([other.id]);
    expect((await call(admin, "GET", "/subnets?cidr=10.99.0.0/24")).json.items).toEqual([]);
    expect((await call(admin, "GET", "/subnets?cidr=10.24.0.1/24")).status).toBe(400);
  });

  it("users with role bindings", async () => {
    const r = await call(admin, "POST", "/users", { username: "tech1", password: "a-long-password", roles: [{ role: "remote-hands", site: "default" }] });
    expect(r.status, r.text).toBe(201);
    expect(r.json.roles).toEqual([{ id: expect.any(Number), role: "remote-hands", site: "default" }]);
    expect(JSON.stringify(r.json)).not.toContain("a-long-password");
    const k = await call(admin, "POST", "/users/tech1/keys", { name: "cli" });
    expect((await call(k.json.api_key, "GET", "/me")).json.roles[0].role).toBe("remote-hands");
  });
});

it("serves an OpenAPI 3.1 document generated from the route schemas", async () => {
  const r = await SELF.fetch("http://region.test/api/v1/openapi.json");
  const doc = (await r.json()) as any;
  expect(doc.openapi).toBe("3.1.0");
  expect(Object.keys(doc.paths)).toEqual(
    expect.arrayContaining([
      "/api/v1/machines",
      "/api/v1/machines/{id}",
      "/api/v1/machines/allocate",
      "/api/v1/machines/{id}/deploy",
      "/api/v1/subnets",
      "/api/v1/users/{username}/roles",
      "/api/v1/events",
    ]),
  );
  const create = doc.paths["/api/v1/machines"].post.requestBody.content["application/json"].schema;
  expect(create.properties.mac_addresses.type).toBe("array");
  expect(create.additionalProperties).toBe(false);
  expect(doc.paths["/api/v1/machines"].get.parameters.map((p: { name: string }) => p.name)).toEqual(
    expect.arrayContaining(["status", "site", "tag", "cursor", "limit"]),
  );
});

it("unknown routes are 404 JSON; health answers without a key", async () => {
  expect((await call(admin, "GET", "/nope")).json.error.code).toBe("not_found");
  expect((await call(null, "GET", "/health")).json).toEqual({ ok: true });
});

it("a known route with the wrong method is 405 with the methods it allows", async () => {
  const r = await SELF.fetch("https://region.test/api/v1/machines/abc123", { method: "PUT", headers: { authorization: `Bearer ${admin}` } });
  expect(r.status).toBe(405);
  expect(r.headers.get("allow")).toBe("DELETE, GET, HEAD, PATCH");
  expect(((await r.json()) as { error: { code: string } }).error.code).toBe("method_not_allowed");
  expect((await call(admin, "DELETE", "/overview")).status).toBe(405);
  expect((await call(admin, "PATCH", "/no/such/route")).status).toBe(404);
});
