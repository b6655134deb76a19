// Allocation is one conditional UPDATE: concurrent callers never get the same machine.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { call, makeMachine, makeUser } from "./helpers";

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
