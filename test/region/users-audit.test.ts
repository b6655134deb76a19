// The audit trail of users and API keys through both APIs: every change leaves exactly one
// event, with the same texts whichever API made it, and a change that finds nothing to do
// (a key revoked twice, a second bootstrap) leaves none.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, makeUser } from "./helpers";
import { maas, maasKey, ORIGIN } from "./maas-helpers";

const PASSWORD = "audit trail password";
let admin = "";

/** "actor: description" of each AUDIT event of `type` whose description is LIKE `like`. */
async function audit(type: string, like = "%"): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT actor, description FROM events WHERE type = ? AND level = 'AUDIT' AND description LIKE ? ORDER BY id")
    .bind(type, like)
    .all<{ actor: string; description: string }>();
  return results.map((e) => `${e.actor}: ${e.description}`);
}

beforeAll(async () => {
  admin = await makeUser("audit-admin", [["admin", null]], PASSWORD);
});

describe("API keys", () => {
  it("native: created and revoked once, with their events", async () => {
    const k = await call(admin, "POST", "/keys", { name: "ci" });
    expect(k.status).toBe(201);
    expect(await audit("key.created", `API key ${k.json.key_id}%`)).toEqual([`audit-admin: API key ${k.json.key_id} for audit-admin`]);
    expect((await call(k.json.api_key, "GET", "/me")).status).toBe(200);
    expect((await call(admin, "DELETE", `/keys/${k.json.key_id}`)).status).toBe(204);
    expect((await call(admin, "DELETE", `/keys/${k.json.key_id}`)).status).toBe(404);
    expect(await audit("key.revoked", `API key ${k.json.key_id}%`)).toEqual([`audit-admin: API key ${k.json.key_id} of audit-admin`]);
    expect((await call(k.json.api_key, "GET", "/me")).status).toBe(401);
  });

  it("MAAS: a token made, listed and deleted revokes the native key issued with it", async () => {
    const key = await maasKey(admin);
    const made = await maas(key, "POST", "account/", { query: { op: "create_authorisation_token" }, form: { name: "juju" } });
    expect(made.status).toBe(200);
    const token = made.json.token_key as string;
    const row = await env.DB.prepare("SELECT key_id FROM api_keys WHERE maas_token_key = ?").bind(token).first<{ key_id: string }>();
    expect(await audit("key.created", `API key ${row!.key_id}%`)).toEqual([`audit-admin: API key ${row!.key_id} for audit-admin (MAAS API)`]);
    const listed = await maas(key, "GET", "account/", { query: { op: "list_authorisation_tokens" } });
    expect(listed.json).toContainEqual({ name: "juju", token: `${made.json.consumer_key}:${token}` });
    const del = await maas(key, "POST", "account/", { query: { op: "delete_authorisation_token" }, form: { token_key: token } });
    expect(del.status).toBe(204);
    expect((await maas(key, "POST", "account/", { query: { op: "delete_authorisation_token" }, form: { token_key: token } })).status).toBe(404);
    expect(await audit("key.revoked", `API key ${row!.key_id}%`)).toEqual([`audit-admin: API key ${row!.key_id} of audit-admin (MAAS API)`]);
    const keys = await call(admin, "GET", "/keys");
    expect(keys.json.items.find((k: { key_id: string }) => k.key_id === row!.key_id).revoked_at).toEqual(expect.any(Number));
  });

  it("records a key's last use, at most once a minute, through either API", async () => {
    const k = await call(admin, "POST", "/keys", { name: "used" });
    const lastUsed = async () => (await call(admin, "GET", "/keys")).json.items.find((i: { key_id: string }) => i.key_id === k.json.key_id).last_used_at;
    expect(await lastUsed()).toBeNull();
    const before = Date.now();
    expect((await call(k.json.api_key, "GET", "/me")).status).toBe(200);
    const first = await lastUsed();
    expect(first).toBeGreaterThanOrEqual(before);
    expect((await call(k.json.api_key, "GET", "/me")).status).toBe(200);
    expect(await lastUsed()).toBe(first);
    await env.DB.prepare("UPDATE api_keys SET last_used_at = 1 WHERE key_id = ?").bind(k.json.key_id).run();
    expect((await maas(k.json.maas_api_key, "GET", "users/", { query: { op: "whoami" } })).status).toBe(200);
    expect(await lastUsed()).toBeGreaterThanOrEqual(before);
  });

  it("MAAS: another user's token cannot be deleted", async () => {
    const other = await maasKey(await makeUser("audit-other", [["viewer", null]]));
    const made = await maas(await maasKey(admin), "POST", "account/", { query: { op: "create_authorisation_token" }, form: { name: "mine" } });
    expect((await maas(other, "POST", "account/", { query: { op: "delete_authorisation_token" }, form: { token_key: made.json.token_key } })).status).toBe(404);
    const row = await env.DB.prepare("SELECT revoked_at FROM api_keys WHERE maas_token_key = ?").bind(made.json.token_key).first();
    expect(row).toEqual({ revoked_at: null });
  });

  it("MAAS password login records the key it makes", async () => {
    const r = await SELF.fetch(`${ORIGIN}/MAAS/accounts/authenticate/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username: "audit-admin", password: PASSWORD }).toString(),
    });
    expect(r.status).toBe(200);
    const j = (await r.json()) as Record<string, string>;
    expect(j["name"]).toBe("MAAS API login");
    const row = await env.DB.prepare("SELECT key_id FROM api_keys WHERE maas_token_key = ?").bind(j["token_key"]).first<{ key_id: string }>();
    expect(await audit("key.created", `API key ${row!.key_id}%`)).toEqual([`audit-admin: API key ${row!.key_id} by password login (MAAS API)`]);
  });
});

describe("users", () => {
  it("created with bindings, granted a role, deleted: one event each", async () => {
    const made = await call(admin, "POST", "/users", {
      username: "audit-carol",
      password: "carol-password-1",
      roles: [{ role: "viewer", site: null }],
    });
    expect(made.status, made.text).toBe(201);
    expect(made.json.roles).toEqual([{ id: expect.any(Number), role: "viewer", site: null }]);
    expect(await audit("user.created", "user audit-carol %")).toEqual(["audit-admin: user audit-carol created"]);
    expect((await call(admin, "POST", "/users/audit-carol/roles", { role: "operator", site: null })).status).toBe(201);
    expect(await audit("user.role_granted", "audit-carol:%")).toEqual(["audit-admin: audit-carol: operator on every site"]);
    expect((await call(admin, "DELETE", "/users/audit-carol")).status).toBe(204);
    expect((await call(admin, "DELETE", "/users/audit-carol")).status).toBe(404);
    expect(await audit("user.deleted", "user audit-carol %")).toEqual(["audit-admin: user audit-carol deleted"]);
  });

  it("a dashboard sign-in is recorded with the session", async () => {
    const r = await call(null, "POST", "/session", { username: "audit-admin", password: PASSWORD }, { "cf-connecting-ip": "203.0.113.9" });
    expect(r.status).toBe(201);
    expect(await audit("user.signed_in", "%203.0.113.9")).toEqual(["audit-admin: signed in to the dashboard from 203.0.113.9"]);
  });
});

// Last: it removes every user, so that the region has no admin to begin with.
describe("bootstrap", () => {
  it("two at once make one admin, one key and one event", async () => {
    await env.DB.prepare("DELETE FROM users").run();
    const headers = { "x-plinth-bootstrap-token": env.PLINTH_BOOTSTRAP_TOKEN };
    const bootstrap = (username: string) => call(null, "POST", "/bootstrap", { username, password: "long-enough-password" }, headers);
    const replies = await Promise.all([bootstrap("first-admin"), bootstrap("second-admin")]);
    expect(replies.map((r) => r.status).sort()).toEqual([201, 409]);
    const won = replies.find((r) => r.status === 201)!;
    expect((await call(won.json.api_key, "GET", "/me")).json).toMatchObject({ username: won.json.username, is_admin: true });
    const users = await env.DB.prepare("SELECT username FROM users").all<{ username: string }>();
    expect(users.results).toEqual([{ username: won.json.username }]);
    const keys = await env.DB.prepare("SELECT name FROM api_keys").all<{ name: string }>();
    expect(keys.results).toEqual([{ name: "bootstrap" }]);
    expect(await audit("user.bootstrap")).toEqual([`${won.json.username}: first admin created`]);
  });
});
