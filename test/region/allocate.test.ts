// Allocation is one conditional UPDATE: concurrent callers never get the same machine.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { call, makeMachine, makeUser, siteId } from "./helpers";

let op: string;
beforeAll(async () => {
  op = await makeUser("op", [["operator", null]]);
});

it("50 concurrent requests for 10 READY machines: exactly 10 succeed, no machine twice", async () => {
  const ready = await Promise.all(Array.from({ length: 10 }, () => makeMachine({ status: S.READY })));
  for (const s of [S.NEW, S.DEPLOYED, S.BROKEN, S.ALLOCATED]) await makeMachine({ status: s });
  const results = await Promise.all(Array.from({ length: 50 }, () => call(op, "POST", "/machines/allocate", {})));
  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 409);
  expect(ok).toHaveLength(10);
  expect(refused).toHaveLength(40);
  for (const r of refused) expect(r.json.error.code).toBe("no_match");
  const got = ok.map((r) => r.json.system_id as string);
  expect(new Set(got).size).toBe(10);
  expect(got.sort()).toEqual([...ready].sort());
  for (const r of ok) expect(r.json).toMatchObject({ status: S.ALLOCATED, owner: "op" });
  const ev = await env.DB.prepare("SELECT count(*) AS n, count(DISTINCT system_id) AS d FROM events WHERE type = 'machine.allocate'").first<{
    n: number;
    d: number;
  }>();
  expect(ev).toEqual({ n: 10, d: 10 });
});

it("1,000 concurrent allocations against 500 READY machines: exactly 500 succeed, none twice, one event each", async () => {
  // Its own site and an operator of that site alone, so machines other tests leave READY are out of reach.
  const loadOp = await makeUser("loadop", [["operator", "load"]]);
  // 500 READY and 20 others in one statement: makeMachine's two round trips each took ~10 s here.
  const site = await siteId("load");
  const { results: made } = await env.DB.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 519)
     INSERT INTO machines (system_id, hostname, status, site_id, zone_id, pool_id, power_type, architecture)
     SELECT printf('ld%04d', i), printf('load-%d', i), CASE WHEN i < 500 THEN ${S.READY} WHEN i % 2 THEN ${S.DEPLOYED} ELSE ${S.NEW} END, ?, 1, 1, 'manual', 'amd64/generic' FROM n
     RETURNING system_id, status`,
  )
    .bind(site)
    .all<{ system_id: string; status: number }>();
  const ready = new Set(made.filter((m) => m.status === S.READY).map((m) => m.system_id));
  expect(ready.size).toBe(500);
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: 1000 }, () => call(loadOp, "POST", "/machines/allocate", {})));
  const seconds = (Date.now() - started) / 1000;
  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status !== 200);
  expect(ok).toHaveLength(500);
  expect(refused).toHaveLength(500);
  for (const r of refused) {
    expect(r.status).toBe(409);
    expect(r.json.error).toMatchObject({ code: "no_match", message: "no READY machine matches these constraints" });
  }
  const got = ok.map((r) => r.json.system_id as string);
  expect(new Set(got).size).toBe(500);
  expect(got.filter((id) => !ready.has(id))).toEqual([]);
  const { results: rows } = await env.DB.prepare(
    `SELECT m.system_id, m.status, u.username AS owner, (SELECT count(*) FROM events e WHERE e.system_id = m.system_id AND e.type = 'machine.allocate') AS events
     FROM machines m JOIN sites s ON s.id = m.site_id LEFT JOIN users u ON u.id = m.owner_id WHERE s.name = 'load' AND m.system_id IN (SELECT value FROM json_each(?))`,
  )
    .bind(JSON.stringify([...ready]))
    .all<{ system_id: string; status: number; owner: string; events: number }>();
  expect(rows).toHaveLength(500);
  for (const m of rows) expect(m).toEqual({ system_id: m.system_id, status: S.ALLOCATED, owner: "loadop", events: 1 });
  console.log(`1,000 concurrent allocations against 500 READY machines: ${seconds.toFixed(1)} s`);
}, 60_000);

describe("constraints", () => {
  it("arch, cpu_count, mem, tags, not_tags, zone, pool, site, hostname, system_id", async () => {
    const small = await makeMachine({ cpuCount: 2, memory: 2048, tags: ["ssd"] });
    const big = await makeMachine({ cpuCount: 32, memory: 262144, tags: ["ssd", "gpu"], site: "lab" });
    const arm = await makeMachine({ arch: "arm64/generic", cpuCount: 64, memory: 65536 });
    const pick = async (body: Record<string, unknown>) => {
      const r = await call(op, "POST", "/machines/allocate", body);
      return r.status === 200 ? r.json.system_id : r.status;
    };
    expect(await pick({ arch: "arm64" })).toBe(arm);
    await call(op, "POST", `/machines/${arm}/release`, {});
    expect(await pick({ cpu_count: 16, mem: 100000 })).toBe(big);
    await call(op, "POST", `/machines/${big}/release`, {});
    expect(await pick({ tags: ["gpu"] })).toBe(big);
    await call(op, "POST", `/machines/${big}/release`, {});
    expect(await pick({ tags: ["ssd"], not_tags: ["gpu"] })).toBe(small);
    await call(op, "POST", `/machines/${small}/release`, {});
    expect(await pick({ site: "lab" })).toBe(big);
    await call(op, "POST", `/machines/${big}/release`, {});
    expect(await pick({ system_id: small })).toBe(small);
    expect(await pick({ system_id: small })).toBe(409);
    expect(await pick({ zone: "default", pool: "default", cpu_count: 1000 })).toBe(409);
    const r = await call(op, "POST", "/machines/allocate", { tags: ["nonexistent"] });
    expect(r.status).toBe(409);
    expect(r.json.error.message).toMatch(/no READY machine matches/);
  });

  it("an operator of one site only allocates there", async () => {
    const siteOp = await makeUser("siteop", [["operator", "east"]]);
    await makeMachine({ site: "west" });
    const east = await makeMachine({ site: "east" });
    const r = await call(siteOp, "POST", "/machines/allocate", {});
    expect(r.json.system_id).toBe(east);
    expect((await call(siteOp, "POST", "/machines/allocate", {})).status).toBe(409);
  });
});
