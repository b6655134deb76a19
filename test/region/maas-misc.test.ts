// notifications/, package-repositories/, discovery/, license-keys/ and dhcp-snippets/ through the
// MAAS facade, in each client family's encoding: who sees and changes what, and the refusals.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { makeMachine, makeUser, siteId } from "./helpers";
import { ENCODINGS, maas, maasKey } from "./maas-helpers";

let admin: string;
let alice: string;
let bob: string;
let aliceId: number;
beforeAll(async () => {
  admin = await maasKey(await makeUser("n-admin", [["admin", null]]));
  alice = await maasKey(await makeUser("n-alice", [["operator", null]]));
  bob = await maasKey(await makeUser("n-bob", [["viewer", null]]));
  aliceId = (await env.DB.prepare("SELECT id FROM users WHERE username = 'n-alice'").first<{ id: number }>())!.id;
});

const ids = (r: { json: { id: number }[] }) => r.json.map((n) => n.id);

describe("notifications/", () => {
  it("each user lists what is for them, dismisses for themselves; admins create, update, delete", async () => {
    const mk = async (form: Record<string, string>, encoding: (typeof ENCODINGS)[number] = "urlencoded") => {
      const r = await maas(admin, "POST", "notifications/", { encoding, form });
      expect(r.status, r.text).toBe(200);
      return r.json;
    };
    const toAlice = await mk({ message: "rack east is down", user: String(aliceId), category: "error", context: '{"rack":"east"}' });
    expect(toAlice).toMatchObject({
      message: "rack east is down",
      category: "error",
      user: { username: "n-alice" },
      users: false,
      admins: false,
      dismissable: true,
      context: { rack: "east" },
      resource_uri: `/MAAS/api/2.0/notifications/${toAlice.id}/`,
    });
    const toAll = await mk({ message: "maintenance tonight", users: "true", dismissable: "false" }, "multipart");
    const toAdmins = await mk({ message: "images are stale", admins: "1", ident: "images.stale" });

    expect(ids(await maas(alice, "GET", "notifications/"))).toEqual([toAlice.id, toAll.id]);
    expect(ids(await maas(bob, "GET", "notifications/"))).toEqual([toAll.id]);
    expect(ids(await maas(admin, "GET", "notifications/"))).toEqual([toAll.id, toAdmins.id]);
    expect((await maas(bob, "GET", `notifications/${toAlice.id}/`)).status).toBe(404);

    // Dismissed for alice only; a notification that cannot be dismissed says so.
    expect((await maas(alice, "POST", `notifications/${toAlice.id}/`, { query: { op: "dismiss" } })).status).toBe(200);
    expect(ids(await maas(alice, "GET", "notifications/"))).toEqual([toAll.id]);
    const stuck = await maas(alice, "POST", `notifications/${toAll.id}/`, { query: { op: "dismiss" } });
    expect(stuck.status).toBe(400);
    expect(stuck.text).toContain("cannot be dismissed");

    const upd = await maas(admin, "PUT", `notifications/${toAll.id}/`, { form: { message: "maintenance moved to Friday" } });
    expect(upd.json).toMatchObject({ message: "maintenance moved to Friday", users: true, dismissable: false });
    expect((await maas(alice, "PUT", `notifications/${toAll.id}/`, { form: { message: "x" } })).status).toBe(403);
    expect((await maas(alice, "POST", "notifications/", { form: { message: "x", users: "true" } })).status).toBe(403);
    expect((await maas(admin, "DELETE", `notifications/${toAdmins.id}/`)).status).toBe(204);
    expect((await maas(admin, "GET", `notifications/${toAdmins.id}/`)).status).toBe(404);

    const bad = await maas(admin, "POST", "notifications/", { form: { category: "panic", context: "[1]", user: "999999" } });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.json).sort()).toEqual(["category", "context", "message"]);
    expect((await maas(admin, "POST", "notifications/", { form: { message: "x", user: "999999" } })).json).toEqual({
      user: ["Select a valid choice. That choice is not one of the available choices."],
    });
  });
});

describe("package-repositories/", () => {
  for (const encoding of ENCODINGS) {
    it(`${encoding}: admins create, read by id or name, update what they name, delete; lists parsed and checked`, async () => {
      const name = `ppa-${encoding}`;
      const c = await maas(admin, "POST", "package-repositories/", {
        encoding,
        form: {
          name,
          url: "http://mirror.example.com/debian",
          distributions: "bookworm, trixie",
          components: "main,contrib",
          arches: "amd64 arm64",
          disabled_pockets: "backports",
        },
      });
      expect(c.status, c.text).toBe(200);
      expect(c.json).toEqual({
        id: expect.any(Number),
        name,
        url: "http://mirror.example.com/debian",
        distributions: ["bookworm", "trixie"],
        disabled_pockets: ["backports"],
        disabled_components: [],
        disable_sources: true,
        components: ["main", "contrib"],
        arches: ["amd64", "arm64"],
        key: "",
        enabled: true,
        resource_uri: `/MAAS/api/2.0/package-repositories/${c.json.id}/`,
      });
      expect((await maas(bob, "GET", `package-repositories/${name}/`)).json.id).toBe(c.json.id);
      const u = await maas(admin, "PUT", `package-repositories/${c.json.id}/`, { encoding, form: { enabled: "false", arches: "amd64" } });
      expect(u.json).toMatchObject({ enabled: false, arches: ["amd64"], distributions: ["bookworm", "trixie"], url: "http://mirror.example.com/debian" });
      expect((await maas(admin, "POST", "package-repositories/", { encoding, form: { name, url: "http://other.example.com/" } })).json).toEqual({
        name: ["Package repository with this Name already exists."],
      });
      expect((await maas(alice, "DELETE", `package-repositories/${c.json.id}/`)).status).toBe(403);
      expect((await maas(admin, "DELETE", `package-repositories/${c.json.id}/`)).status).toBe(204);
      expect((await maas(admin, "GET", `package-repositories/${c.json.id}/`)).status).toBe(404);
    });
  }

  it("bad URLs, arches, pockets and keys are refused field by field", async () => {
    const r = await maas(admin, "POST", "package-repositories/", {
      form: { name: "bad", url: "file:///etc", arches: "amd64,sparc", disabled_pockets: "proposed", key: "not a key" },
    });
    expect(r.status).toBe(400);
    expect(Object.keys(r.json).sort()).toEqual(["arches.1", "disabled_pockets.0", "key", "url"]);
    expect((await maas(admin, "POST", "package-repositories/", { form: { name: "ppa", url: "ppa:owner/archive" } })).status).toBe(200);
  });
});

describe("discovery/, license-keys/, dhcp-snippets/", () => {
  it("discoveries come from what racks saw, unknown filters step over machines' MACs; the others say why they hold nothing", async () => {
    const site = await siteId("n-site");
    const subnet = (await env.DB.prepare("INSERT INTO subnets (cidr, site_id) VALUES ('10.66.0.0/24', ?) RETURNING id").bind(site).first<{ id: number }>())!.id;
    await env.DB.prepare(
      "INSERT INTO ip_addresses (subnet_id, ip, kind, mac) VALUES (?, '10.66.0.50', 'discovered', '52:54:00:66:00:01'), (?, '10.66.0.51', 'discovered', '52:54:00:66:00:02')",
    )
      .bind(subnet, subnet)
      .run();
    await makeMachine({ site: "n-site", mac: "52:54:00:66:00:02" });
    const all = await maas(admin, "GET", "discovery/");
    expect(all.json.map((d: { ip: string }) => d.ip)).toEqual(["10.66.0.50", "10.66.0.51"]);
    expect(all.json[0]).toMatchObject({ mac_address: "52:54:00:66:00:01", subnet: "10.66.0.0/24" });
    expect((await maas(admin, "GET", "discovery/", { query: { op: "by_unknown_mac" } })).json.map((d: { ip: string }) => d.ip)).toEqual(["10.66.0.50"]);
    const east = await maasKey(await makeUser("n-east", [["viewer", "n-other"]]));
    expect((await maas(east, "GET", "discovery/")).json).toEqual([]);

    // One discovery by the id it lists with; clearing is for admins of its site.
    const one = await maas(bob, "GET", `discovery/${encodeURIComponent(all.json[0].discovery_id)}/`);
    expect(one.json).toMatchObject({ ip: "10.66.0.50", mac_address: "52:54:00:66:00:01" });
    expect((await maas(bob, "GET", "discovery/bm9wZSw=/")).status).toBe(404);
    const viewerClear = await maas(bob, "POST", "discovery/", { query: { op: "clear" }, form: { all: "true" } });
    expect(viewerClear.status).toBe(403);
    expect(viewerClear.text).toBe("Must be an administrator to clear discovery entries.");
    expect((await maas(admin, "POST", "discovery/", { query: { op: "clear" } })).status).toBe(400);
    const badMac = await maas(admin, "POST", "discovery/", { query: { op: "clear_by_mac_and_ip" }, form: { ip: "10.66.0.50", mac: "nope" } });
    expect(badMac.status).toBe(400);
    expect(badMac.json.mac[0]).toContain("MAC");
    expect(
      (await maas(admin, "POST", "discovery/", { query: { op: "clear_by_mac_and_ip" }, form: { ip: "10.66.0.50", mac: "52:54:00:66:00:02" } })).status,
    ).toBe(404);
    expect(
      (await maas(admin, "POST", "discovery/", { query: { op: "clear_by_mac_and_ip" }, form: { ip: "10.66.0.50", mac: "52-54-00-66-00-01" } })).status,
    ).toBe(204);
    expect((await maas(admin, "GET", "discovery/")).json.map((d: { ip: string }) => d.ip)).toEqual(["10.66.0.51"]);
    // An admin of another site clears nothing here; an admin of this one clears all of it.
    const otherAdmin = await maasKey(await makeUser("n-other-admin", [["admin", "n-other"]]));
    expect((await maas(otherAdmin, "POST", "discovery/", { query: { op: "clear" }, form: { neighbours: "true" } })).status).toBe(204);
    expect((await maas(admin, "GET", "discovery/")).json).toHaveLength(1);
    const siteAdmin = await maasKey(await makeUser("n-site-admin", [["admin", "n-site"]]));
    expect((await maas(siteAdmin, "POST", "discovery/", { query: { op: "clear" }, form: { mdns: "true" } })).status).toBe(204);
    expect((await maas(admin, "GET", "discovery/")).json).toHaveLength(1);
    expect((await maas(siteAdmin, "POST", "discovery/", { query: { op: "clear" }, form: { all: "true" } })).status).toBe(204);
    expect((await maas(admin, "GET", "discovery/")).json).toEqual([]);
    const cleared = await env.DB.prepare("SELECT actor, description FROM events WHERE type = 'discovery.cleared' ORDER BY id").all<{
      actor: string;
      description: string;
    }>();
    expect(cleared.results).toEqual([
      { actor: "n-admin", description: "discovery of 10.66.0.50 (52:54:00:66:00:01) cleared" },
      { actor: "n-site-admin", description: "1 discovered address cleared" },
    ]);

    expect((await maas(bob, "GET", "license-keys/")).json).toEqual([]);
    expect((await maas(bob, "GET", "license-keys/windows/win2022/")).status).toBe(404);
    expect((await maas(admin, "DELETE", "license-keys/windows/win2022/")).status).toBe(404);
    const lkPut = await maas(admin, "PUT", "license-keys/windows/win2022/", { form: { license_key: "XXXXX" } });
    expect(lkPut.status).toBe(400);
    expect(lkPut.json.osystem[0]).toContain("windows does not take a license key");
    const lk = await maas(admin, "POST", "license-keys/", { form: { osystem: "windows", distro_series: "win2022", license_key: "XXXXX" } });
    expect(lk.status).toBe(400);
    expect(lk.json.osystem[0]).toContain("no licensed operating system");
    expect((await maas(bob, "GET", "dhcp-snippets/")).json).toEqual([]);
    const ds = await maas(admin, "POST", "dhcp-snippets/", { form: { name: "x", value: "option foo 1;" } });
    expect(ds.status).toBe(400);
    expect(ds.text).toContain("subnets");
  });
});
