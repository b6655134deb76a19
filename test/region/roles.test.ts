// The role × route matrix: four roles scoped to site "north", one global admin, and the same
// requests against a machine of "north" and one of "south" (cross-site must look absent).
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { call, makeMachine, makeUser } from "./helpers";

type Who = "admin" | "operator" | "remote-hands" | "viewer" | "nobody";
const keys = {} as Record<Who, string>;

beforeAll(async () => {
  keys.admin = await makeUser("root", [["admin", null]]);
  keys.operator = await makeUser("oper", [["operator", "north"]]);
  keys["remote-hands"] = await makeUser("hands", [["remote-hands", "north"]]);
  keys.viewer = await makeUser("view", [["viewer", "north"]]);
  keys.nobody = await makeUser("nobody", []);
  await env.DB.prepare("INSERT INTO sites (name) VALUES ('south') ON CONFLICT DO NOTHING").run();
});

interface Case {
  name: string;
  /** Builds the request against a fresh machine on the given site. */
  req: (id: string) => [string, string, unknown?];
  status?: number;
  expect: Record<Who, number>;
}

const mac = (w: string, n: number) => `52:54:01:${w.length.toString(16).padStart(2, "0")}:${w.charCodeAt(0).toString(16)}:0${n}`;
const ALL = (n: number): Record<Who, number> => ({ admin: n, operator: n, "remote-hands": n, viewer: n, nobody: n });

const cases: Case[] = [
  { name: "read machine", req: (id) => ["GET", `/machines/${id}`], expect: { ...ALL(200), nobody: 404 } },
  { name: "update machine", req: (id) => ["PATCH", `/machines/${id}`, { description: "x" }], expect: { admin: 200, operator: 200, "remote-hands": 403, viewer: 403, nobody: 404 } },
  { name: "delete machine", req: (id) => ["DELETE", `/machines/${id}`], expect: { admin: 204, operator: 204, "remote-hands": 403, viewer: 403, nobody: 404 } },
  { name: "commission", req: (id) => ["POST", `/machines/${id}/commission`, {}], expect: { admin: 200, operator: 200, "remote-hands": 403, viewer: 403, nobody: 404 } },
  { name: "allocate this machine", req: (id) => ["POST", `/machines/${id}/allocate`, {}], expect: { admin: 200, operator: 200, "remote-hands": 403, viewer: 403, nobody: 404 } },
  { name: "deploy", req: (id) => ["POST", `/machines/${id}/deploy`, {}], expect: { admin: 200, operator: 200, "remote-hands": 403, viewer: 403, nobody: 404 } },
  { name: "mark broken", req: (id) => ["POST", `/machines/${id}/mark_broken`, {}], expect: { admin: 200, operator: 200, "remote-hands": 200, viewer: 403, nobody: 404 } },
  { name: "power on", req: (id) => ["POST", `/machines/${id}/power_on`, {}], expect: { admin: 202, operator: 202, "remote-hands": 202, viewer: 403, nobody: 404 } },
  { name: "power cycle", req: (id) => ["POST", `/machines/${id}/power_cycle`, {}], expect: { admin: 202, operator: 202, "remote-hands": 202, viewer: 403, nobody: 404 } },
  { name: "identify", req: (id) => ["POST", `/machines/${id}/identify`, {}], expect: { admin: 202, operator: 202, "remote-hands": 202, viewer: 403, nobody: 404 } },
  { name: "comment", req: (id) => ["POST", `/machines/${id}/comment`, { text: "reseated PSU" }], expect: { admin: 201, operator: 201, "remote-hands": 201, viewer: 403, nobody: 404 } },
  { name: "reveal BMC parameters", req: (id) => ["GET", `/machines/${id}/power-parameters`], expect: { admin: 200, operator: 403, "remote-hands": 403, viewer: 403, nobody: 404 } },
  { name: "commissioning results", req: (id) => ["GET", `/machines/${id}/results`], expect: { ...ALL(200), nobody: 404 } },
];

describe.each(["admin", "operator", "remote-hands", "viewer", "nobody"] as Who[])("as %s", (who) => {
  it.each(cases.map((c) => [c.name, c] as const))("%s on its own site", async (_n, c) => {
    const id = await makeMachine({ site: "north", status: S.READY });
    const [method, path, body] = c.req(id);
    const r = await call(keys[who], method, path, body);
    expect(r.status, r.text).toBe(c.expect[who]);
    if (r.status >= 400) expect(r.json.error.code).toBeTypeOf("string");
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s on another site", async (_n, c) => {
    const id = await makeMachine({ site: "south", status: S.READY });
    const before = await env.DB.prepare("SELECT status, description, locked FROM machines WHERE system_id = ?").bind(id).first();
    const [method, path, body] = c.req(id);
    const r = await call(keys[who], method, path, body);
    // Only the global admin reaches other sites; for everyone else the machine does not exist.
    expect(r.status, r.text).toBe(who === "admin" ? c.expect.admin : 404);
    if (who !== "admin") {
      expect(await env.DB.prepare("SELECT status, description, locked FROM machines WHERE system_id = ?").bind(id).first()).toEqual(before);
    }
  });
});

describe("collection routes", () => {
  // Storage is shared by the tests of a file: every request names objects unique to its caller.
  const matrix: [string, string, (w: string) => string, (w: string) => unknown, Record<Who, number>][] = [
    ["create machine on own site", "POST", () => "/machines", (w) => ({ mac_addresses: [mac(w, 1)], site: "north" }), { admin: 201, operator: 201, "remote-hands": 403, viewer: 403, nobody: 404 }],
    ["create machine on another site", "POST", () => "/machines", (w) => ({ mac_addresses: [mac(w, 2)], site: "south" }), { admin: 201, operator: 404, "remote-hands": 404, viewer: 404, nobody: 404 }],
    ["allocate", "POST", () => "/machines/allocate", () => ({}), { admin: 200, operator: 200, "remote-hands": 403, viewer: 403, nobody: 403 }],
    ["create site", "POST", () => "/sites", (w) => ({ name: `west-${w}` }), { admin: 201, operator: 403, "remote-hands": 403, viewer: 403, nobody: 403 }],
    ["create zone", "POST", () => "/zones", (w) => ({ name: `z-${w}` }), { admin: 201, operator: 403, "remote-hands": 403, viewer: 403, nobody: 403 }],
    ["create tag", "POST", () => "/tags", (w) => ({ name: `t-${w}` }), { admin: 201, operator: 403, "remote-hands": 403, viewer: 403, nobody: 403 }],
    ["create subnet", "POST", () => "/subnets", (w) => ({ cidr: `10.9.${w.length}.0/24`, site: "north" }), { admin: 201, operator: 403, "remote-hands": 403, viewer: 403, nobody: 403 }],
    ["list users", "GET", () => "/users", () => undefined, { admin: 200, operator: 403, "remote-hands": 403, viewer: 403, nobody: 403 }],
    ["create user", "POST", () => "/users", (w) => ({ username: `new-${w}` }), { admin: 201, operator: 403, "remote-hands": 403, viewer: 403, nobody: 403 }],
    ["grant role", "POST", () => "/users/nobody/roles", (w) => ({ role: "viewer", site: `grant-${w}` }), { admin: 201, operator: 403, "remote-hands": 403, viewer: 403, nobody: 403 }],
    ["someone else's keys", "GET", () => "/users/root/keys", () => undefined, { admin: 200, operator: 403, "remote-hands": 403, viewer: 403, nobody: 403 }],
    ["own keys", "POST", () => "/keys", () => ({ name: "mine" }), ALL(201)],
    ["whoami", "GET", () => "/me", () => undefined, ALL(200)],
    ["list machines", "GET", () => "/machines", () => undefined, ALL(200)],
    ["events", "GET", () => "/events", () => undefined, ALL(200)],
  ];
  describe.each(["admin", "operator", "remote-hands", "viewer", "nobody"] as Who[])("as %s", (who) => {
    it.each(matrix.map((m) => [m[0], m] as const))("%s", async (_n, [, method, path, body, expected]) => {
      if (path(who) === "/machines/allocate") await makeMachine({ site: "north" });
      await env.DB.prepare("INSERT INTO sites (name) VALUES (?) ON CONFLICT DO NOTHING").bind(`grant-${who}`).run();
      const r = await call(keys[who], method, path(who), body(who));
      expect(r.status, r.text).toBe(expected[who]);
    });
  });

  it("lists show only the caller's sites", async () => {
    const north = await makeMachine({ site: "north" });
    const south = await makeMachine({ site: "south" });
    const ids = async (who: Who) => (await call(keys[who], "GET", "/machines?limit=1000")).json.items.map((m: { system_id: string }) => m.system_id);
    for (const who of ["operator", "remote-hands", "viewer"] as Who[]) {
      expect(await ids(who)).toContain(north);
      expect(await ids(who)).not.toContain(south);
    }
    expect(await ids("admin")).toEqual(expect.arrayContaining([north, south]));
    expect(await ids("nobody")).toEqual([]);
    const ev = (await call(keys["remote-hands"], "GET", "/events?limit=1000")).json.items as { site_id: number | null }[];
    const northId = (await env.DB.prepare("SELECT id FROM sites WHERE name = 'north'").first<{ id: number }>())!.id;
    expect(ev.every((e) => e.site_id === northId)).toBe(true);
  });

  it("no key, a malformed key, a wrong secret and a revoked key are 401", async () => {
    expect((await call(null, "GET", "/machines")).status).toBe(401);
    expect((await call("nonsense", "GET", "/machines")).status).toBe(401);
    const good = keys.viewer;
    const wrong = `${good.slice(0, -4)}aaaa` === good ? `${good.slice(0, -4)}bbbb` : `${good.slice(0, -4)}aaaa`;
    expect((await call(wrong, "GET", "/machines")).status).toBe(401);
    const made = await call(keys.viewer, "POST", "/keys", { name: "temp" });
    expect((await call(made.json.api_key, "GET", "/me")).status).toBe(200);
    expect((await call(keys.viewer, "DELETE", `/keys/${made.json.key_id}`)).status).toBe(204);
    const r = await call(made.json.api_key, "GET", "/me");
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/Bearer/);
  });

  it("keys are stored hashed", async () => {
    const made = await call(keys.viewer, "POST", "/keys", { name: "hashcheck" });
    const secret = (made.json.api_key as string).split("_")[2]!;
    const row = await env.DB.prepare("SELECT * FROM api_keys WHERE key_id = ?").bind(made.json.key_id).first<Record<string, string>>();
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(JSON.stringify(row)).not.toContain((made.json.maas_api_key as string).split(":")[2]);
  });
});
