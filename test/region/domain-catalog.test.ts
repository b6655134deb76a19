// cloud/domain/catalog.ts on the real D1: zones, pools, sites and tags with their events, and
// tag links written in one batch with the one event that counts them.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createTag, deleteTag, findTag, pools, sites, tagMachines, updateTag, zones } from "../../cloud/domain/catalog";
import { makeMachine } from "./helpers";

const db = () => env.DB;
const eventsOf = async (type: string) =>
  (await env.DB.prepare("SELECT actor, level, description FROM events WHERE type = ? ORDER BY id").bind(type).all()).results;
const machineId = async (systemId: string) => (await env.DB.prepare("SELECT id FROM machines WHERE system_id = ?").bind(systemId).first<{ id: number }>())!.id;

describe("named rows", () => {
  it("zones: create, rename, delete, each with its event; usage counts the machines in it", async () => {
    const z = await zones.create(db(), "dc-op", { name: "dc-zone", description: "hall A" });
    expect(z).toMatchObject({ name: "dc-zone", description: "hall A", created_at: expect.any(Number) });
    expect(await zones.find(db(), "dc-zone")).toEqual(z);
    expect(await zones.find(db(), String(z.id))).toEqual(z);
    expect(await zones.find(db(), String(z.id), false)).toBeNull();

    const renamed = await zones.update(db(), "dc-op", z, { name: "dc-zone-2" });
    expect(renamed).toMatchObject({ id: z.id, name: "dc-zone-2", description: "hall A" });
    await zones.update(db(), "dc-op", renamed, { description: "hall B" });
    expect(await eventsOf("zone.updated")).toEqual([
      { actor: "dc-op", level: "INFO", description: "zone dc-zone renamed dc-zone-2" },
      { actor: "dc-op", level: "INFO", description: "zone dc-zone-2 updated" },
    ]);

    expect(await zones.usage(db(), 1)).toBeGreaterThanOrEqual(0);
    expect(await zones.usage(db(), z.id)).toBe(0);
    await zones.delete(db(), "dc-op", renamed);
    expect(await zones.find(db(), "dc-zone-2")).toBeNull();
    expect(await eventsOf("zone.deleted")).toEqual([{ actor: "dc-op", level: "INFO", description: "zone dc-zone-2 deleted" }]);
  });

  it("pools and sites use the API's nouns; a duplicate name writes neither row nor event", async () => {
    await pools.create(db(), "dc-op", { name: "dc-pool", description: "" });
    await expect(pools.create(db(), "dc-op", { name: "dc-pool", description: "" })).rejects.toThrow(/UNIQUE/);
    expect(await eventsOf("pool.created")).toEqual([{ actor: "dc-op", level: "INFO", description: "pool dc-pool created" }]);
    const site = await sites.create(db(), "dc-admin", { name: "dc-site", description: "" });
    await makeMachine({ site: "dc-site" });
    expect(await sites.usage(db(), site.id)).toBe(1);
  });
});

describe("tags", () => {
  it("create, patch, delete; a patch keeps what it leaves out", async () => {
    const t = await createTag(db(), "dc-op", { name: "dc-tag", comment: "c", definition: "", kernel_opts: "quiet" });
    expect(await findTag(db(), "dc-tag")).toEqual(t);
    const u = await updateTag(db(), "dc-op", t, { comment: "c2" });
    expect(u).toMatchObject({ name: "dc-tag", comment: "c2", kernel_opts: "quiet" });
    const r = await updateTag(db(), "dc-op", u, { name: "dc-tag-2" });
    expect(r).toMatchObject({ name: "dc-tag-2", comment: "c2" });
    await deleteTag(db(), "dc-op", r);
    expect(await findTag(db(), "dc-tag-2")).toBeNull();
    expect((await eventsOf("tag.created")).length + (await eventsOf("tag.updated")).length + (await eventsOf("tag.deleted")).length).toBe(4);
  });

  it("links and unlinks machines with one event; a bad id leaves links and events as they were", async () => {
    const t = await createTag(db(), "dc-op", { name: "dc-links", comment: "", definition: "", kernel_opts: "" });
    const [a, b] = [await machineId(await makeMachine()), await machineId(await makeMachine())];
    await tagMachines(db(), "dc-op", t, { add: [a, b], remove: [] });
    await tagMachines(db(), "dc-op", t, { add: [a], remove: [b], via: "(MAAS API)" });
    const links = await env.DB.prepare("SELECT machine_id FROM machine_tags WHERE tag_id = ?").bind(t.id).all<{ machine_id: number }>();
    expect(links.results.map((l) => l.machine_id)).toEqual([a]);
    expect(await eventsOf("tag.machines")).toEqual([
      { actor: "dc-op", level: "INFO", description: "tag dc-links: +2 -0" },
      { actor: "dc-op", level: "INFO", description: "tag dc-links: +1 -1 (MAAS API)" },
    ]);
    await expect(tagMachines(db(), "dc-op", t, { add: [b, 999_999], remove: [a] })).rejects.toThrow(/FOREIGN KEY/);
    expect((await env.DB.prepare("SELECT machine_id FROM machine_tags WHERE tag_id = ?").bind(t.id).all()).results).toEqual([{ machine_id: a }]);
    expect(await eventsOf("tag.machines")).toHaveLength(2);
  });
});
