// Zones, resource pools, tags (op=machines, op=update_nodes), domains, boot resources,
// users, account tokens and events through the MAAS facade.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { makeMachine, makeUser } from "./helpers";
import { ENCODINGS, maas, maasKey } from "./maas-helpers";

let admin: string;
let op: string;
let viewer: string;
let eastOp: string;
beforeAll(async () => {
  admin = await maasKey(await makeUser("c-admin", [["admin", null]]));
  op = await maasKey(await makeUser("c-op", [["operator", null]]));
  viewer = await maasKey(await makeUser("c-viewer", [["viewer", null]]));
  eastOp = await maasKey(await makeUser("c-eastop", [["operator", "c-east"]]));
});

describe("zones and resource pools", () => {
  for (const encoding of ENCODINGS) {
    it(`${encoding}: zone CRUD by name, pool CRUD at resourcepool/{id}/`, async () => {
      const z = `c-zone-${encoding}`;
      const c = await maas(op, "POST", "zones/", { query: { op: "" }, encoding, form: { name: z, description: "row A" } });
      expect(c.json).toEqual({ id: expect.any(Number), name: z, description: "row A", resource_uri: `/MAAS/api/2.0/zones/${z}/` });
      expect((await maas(op, "POST", "zones/", { query: { op: "" }, encoding, form: { name: z } })).status).toBe(400);
      const u = await maas(op, "PUT", `zones/${z}/`, { encoding, form: { description: "row B" } });
      expect(u.json).toMatchObject({ description: "row B", resource_uri: `/MAAS/api/2.0/zones/${z}/` });
      expect((await maas(viewer, "GET", "zones/")).json.map((x: { name: string }) => x.name)).toContain(z);
      expect((await maas(viewer, "DELETE", `zones/${z}/`)).status).toBe(403);
      expect((await maas(op, "DELETE", `zones/${z}/`)).status).toBe(204);
      expect((await maas(op, "GET", `zones/${z}/`)).status).toBe(404);

      const p = await maas(op, "POST", "resourcepools/", { query: { op: "" }, encoding, form: { name: `c-pool-${encoding}` } });
      expect(p.json.resource_uri).toBe(`/MAAS/api/2.0/resourcepool/${p.json.id}/`);
      const pu = await maas(op, "PUT", `resourcepool/${p.json.id}/`, { encoding, form: { description: "gpu boxes" } });
      expect(pu.json).toMatchObject({ description: "gpu boxes", resource_uri: `/MAAS/api/2.0/resourcepool/${p.json.id}/` });
      expect((await maas(op, "GET", `resourcepools/${p.json.id}/`)).json.name).toBe(`c-pool-${encoding}`);
      expect((await maas(op, "DELETE", `resourcepool/${p.json.id}/`)).status).toBe(204);
    });
  }

  it("the default zone cannot go; a zone holding machines cannot go; site operators cannot manage the catalog", async () => {
    expect((await maas(admin, "DELETE", "zones/default/")).status).toBe(400);
    await maas(op, "POST", "zones/", { query: { op: "" }, form: { name: "c-busy" } });
    const sid = await makeMachine();
    await env.DB.prepare("UPDATE machines SET zone_id = (SELECT id FROM zones WHERE name = 'c-busy') WHERE system_id = ?").bind(sid).run();
    expect((await maas(op, "DELETE", "zones/c-busy/")).status).toBe(400);
    expect((await maas(eastOp, "POST", "zones/", { query: { op: "" }, form: { name: "c-nope" } })).status).toBe(403);
  });
});

describe("tags (Terraform maas_tag)", () => {
  it("create, read, PUT, op=machines, op=update_nodes add/remove, delete", async () => {
    const a = await makeMachine({ hostname: "tag-a" });
    const b = await makeMachine({ hostname: "tag-b" });
    const t = await maas(op, "POST", "tags/", { query: { op: "" }, form: { name: "c-tag", comment: "fast disks" } });
    expect(t.json).toEqual({ name: "c-tag", definition: "", comment: "fast disks", kernel_opts: null, resource_uri: "/MAAS/api/2.0/tags/c-tag/" });
    const add = await maas(op, "POST", "tags/c-tag/", {
      query: { op: "update_nodes" },
      form: [
        ["add", a],
        ["add", b],
      ],
    });
    expect(add.json).toEqual({ added: 2, removed: 0 });
    const ms = await maas(viewer, "GET", "tags/c-tag/", { query: { op: "machines" } });
    expect(ms.json.map((m: { system_id: string }) => m.system_id).sort()).toEqual([a, b].sort());
    expect(ms.json[0].tag_names).toContain("c-tag");
    const rem = await maas(op, "POST", "tags/c-tag/", { query: { op: "update_nodes" }, encoding: "multipart", form: { remove: b } });
    expect(rem.json).toEqual({ added: 0, removed: 1 });
    expect((await maas(viewer, "GET", `machines/${b}/`)).json.tag_names).toEqual([]);
    expect((await maas(op, "POST", "tags/c-tag/", { query: { op: "update_nodes" }, form: { add: "zzzzzz" } })).status).toBe(400);
    expect((await maas(viewer, "POST", "tags/c-tag/", { query: { op: "update_nodes" }, form: { add: b } })).status).toBe(403);
    const put = await maas(op, "PUT", "tags/c-tag/", { form: { comment: "nvme" } });
    expect(put.json).toMatchObject({ comment: "nvme", resource_uri: "/MAAS/api/2.0/tags/c-tag/" });
    expect((await maas(op, "GET", "tags/")).json.map((x: { name: string }) => x.name)).toContain("c-tag");
    expect((await maas(op, "DELETE", "tags/c-tag/")).status).toBe(204);
    expect((await maas(op, "GET", "tags/c-tag/")).status).toBe(404);
    expect((await maas(viewer, "GET", `machines/${a}/`)).json.tag_names).toEqual([]);
  });

  it("a site operator cannot tag another site's machine (it does not exist for them)", async () => {
    await maas(op, "POST", "tags/", { query: { op: "" }, form: { name: "c-tag2" } });
    const west = await makeMachine({ site: "c-west" });
    expect((await maas(eastOp, "POST", "tags/c-tag2/", { query: { op: "update_nodes" }, form: { add: west } })).status).toBe(400);
  });
});

describe("domains and boot resources (Juju's probes)", () => {
  it("domains/ lists the seeded default domain maas", async () => {
    const r = await maas(viewer, "GET", "domains/");
    expect(r.json[0]).toEqual({
      id: 0,
      name: "maas",
      ttl: null,
      authoritative: true,
      is_default: true,
      resource_record_count: expect.any(Number),
      resource_uri: "/MAAS/api/2.0/domains/0/",
    });
    expect((await maas(viewer, "GET", "domains/0/")).json.name).toBe("maas");
    expect((await maas(viewer, "GET", "domains/7777/")).status).toBe(404);
  });

  it("boot-resources/ from the boot images, with architecture Juju splits on '/'", async () => {
    await env.DB.prepare(
      "INSERT INTO boot_images (osystem, series, architecture, sha256, size) VALUES ('ubuntu', 'noble', 'amd64/generic', ?, 1) ON CONFLICT DO NOTHING",
    )
      .bind("e".repeat(64))
      .run();
    await env.DB.prepare("INSERT INTO boot_images (osystem, series, architecture) VALUES ('ubuntu', 'declared', 'amd64/generic') ON CONFLICT DO NOTHING").run();
    const r = await maas(viewer, "GET", "boot-resources/");
    const img = r.json.find((x: { name: string }) => x.name === "ubuntu/noble");
    expect(img).toMatchObject({ type: "Synced", architecture: "amd64/generic", subarches: "generic", resource_uri: `/MAAS/api/2.0/boot-resources/${img.id}/` });
    expect((await maas(viewer, "GET", `boot-resources/${img.id}/`)).json.name).toBe("ubuntu/noble");
    // Declared without bytes: not listed, since nothing could deploy it.
    expect(r.json.some((x: { name: string }) => x.name === "ubuntu/declared")).toBe(false);
    expect((await maas(viewer, "GET", "boot-resources/", { query: { op: "is_importing" } })).json).toBe(false);
  });
});

describe("users, account tokens, events", () => {
  it("users/ is for admins; users/{name}/ for admins and oneself", async () => {
    expect((await maas(viewer, "GET", "users/")).status).toBe(403);
    const all = await maas(admin, "GET", "users/");
    expect(all.json.find((u: { username: string }) => u.username === "c-admin")).toMatchObject({
      is_superuser: true,
      resource_uri: "/MAAS/api/2.0/users/c-admin/",
    });
    expect((await maas(viewer, "GET", "users/c-viewer/")).json).toMatchObject({ username: "c-viewer", is_superuser: false });
    expect((await maas(viewer, "GET", "users/c-admin/")).status).toBe(403);
  });

  it("create, list and delete authorisation tokens; a deleted token stops working", async () => {
    const c = await maas(viewer, "POST", "account/", { query: { op: "create_authorisation_token" }, form: { name: "cli" } });
    const key = `${c.json.consumer_key}:${c.json.token_key}:${c.json.token_secret}`;
    expect((await maas(key, "GET", "users/", { query: { op: "whoami" } })).json.username).toBe("c-viewer");
    const l = await maas(viewer, "GET", "account/", { query: { op: "list_authorisation_tokens" } });
    expect(l.json).toContainEqual({ name: "cli", token: `${c.json.consumer_key}:${c.json.token_key}` });
    expect(l.text).not.toContain(c.json.token_secret);
    // update_token_name takes the whole token or its key; someone else's token is not found.
    const renamed = await maas(viewer, "POST", "account/", { query: { op: "update_token_name" }, form: { token: key, name: "juju-cli" } });
    expect(renamed.status).toBe(202);
    expect(renamed.text).toBe("Accepted");
    const again = await maas(viewer, "GET", "account/", { query: { op: "list_authorisation_tokens" } });
    expect(again.json).toContainEqual({ name: "juju-cli", token: `${c.json.consumer_key}:${c.json.token_key}` });
    expect((await maas(admin, "POST", "account/", { query: { op: "update_token_name" }, form: { token: c.json.token_key, name: "x" } })).status).toBe(404);
    expect((await maas(viewer, "POST", "account/", { query: { op: "update_token_name" }, form: { token: c.json.token_key } })).json).toEqual({
      name: ["This field is required."],
    });
    const renameEvent = await env.DB.prepare("SELECT actor FROM events WHERE type = 'key.renamed' AND description LIKE '%juju-cli%'").first<{
      actor: string;
    }>();
    expect(renameEvent?.actor).toBe("c-viewer");
    expect((await maas(viewer, "POST", "account/", { query: { op: "delete_authorisation_token" }, form: { token_key: c.json.token_key } })).status).toBe(204);
    expect((await maas(key, "GET", "users/", { query: { op: "whoami" } })).status).toBe(401);
  });

  it("events/?op=query: machine events newest first, filtered by id and level, only visible sites", async () => {
    const sid = await makeMachine({ status: 0, hostname: "ev-box" });
    await maas(op, "POST", `machines/${sid}/`, { query: { op: "commission" } });
    await maas(op, "POST", `machines/${sid}/`, { query: { op: "abort" } });
    const r = await maas(viewer, "GET", "events/", { query: { op: "query", id: sid } });
    expect(r.status).toBe(200);
    // Each step's power action is an event too (manual driver: a request to someone on site).
    expect(r.json.count).toBe(4);
    expect(r.json.events.map((e: { type: string }) => e.type)).toEqual(["power.power_off", "machine.abort", "power.power_on", "machine.commission"]);
    expect(r.json.events[1]).toMatchObject({
      username: "c-op",
      node: sid,
      hostname: "ev-box",
      level: "INFO",
      created: expect.stringMatching(/^\w{3}, \d{2} \w{3}\. \d{4} \d{2}:\d{2}:\d{2}$/),
    });
    expect((await maas(viewer, "GET", "events/", { query: { op: "query", id: sid, level: "ERROR" } })).json.count).toBe(0);
    expect((await maas(viewer, "GET", "events/", { query: { op: "query", id: sid, limit: "1" } })).json.events).toHaveLength(1);
    expect((await maas(eastOp, "GET", "events/", { query: { op: "query", id: sid } })).json.count).toBe(0);
    expect((await maas(viewer, "GET", "events/", { query: { op: "query", level: "LOUD" } })).status).toBe(400);
    expect((await maas(viewer, "GET", "events/")).text).toBe("Unrecognised signature: method=GET op=None");
  });
});
