// MAAS facade wire conventions: version, describe, OAuth in its several forms, dispatch on
// (method, op), error shapes, the password login python-libmaas uses.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, makeUser } from "./helpers";
import { MAAS, maas, maasKey, multipart, ORIGIN, oauthHeader } from "./maas-helpers";

let admin: string;
let adminNative: string;
beforeAll(async () => {
  adminNative = await makeUser("wire-admin", [["admin", null]], "correct horse battery");
  admin = await maasKey(adminNative);
});

describe("anonymous bootstrap endpoints", () => {
  it("GET /MAAS/api/version/ answers text 2.0, with or without the slash", async () => {
    for (const p of ["/MAAS/api/version/", "/MAAS/api/version"]) {
      const r = await SELF.fetch(`${ORIGIN}${p}`);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
      expect(await r.text()).toBe("2.0");
    }
  });

  it("version/ has capabilities, version and subversion (gomaasapi's schema), signed or not", async () => {
    for (const key of [null, admin, "bad:key:here"]) {
      const r = await maas(key, "GET", "version/");
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ version: expect.any(String), subversion: expect.any(String) });
      expect(r.json.capabilities).toContain("authenticate-api");
      expect(r.json.capabilities).toContain("network-deployment-ubuntu");
    }
  });

  it("describe/ is exactly application/json, carries the hash, and is built from the route table", async () => {
    const r = await maas(null, "GET", "describe/");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.json.hash).toMatch(/^[0-9a-f]{40}$/);
    expect(r.headers.get("x-maas-api-hash")).toBe(r.json.hash);
    expect(r.json.doc).toBe("MAAS API");
    const names = r.json.resources.map((x: { name: string }) => x.name);
    expect(names).toEqual([...names].sort((a: string, b: string) => a.localeCompare(b)));
    const machine = r.json.resources.find((x: { name: string }) => x.name === "MachineHandler").auth;
    expect(machine.path).toBe("/MAAS/api/2.0/machines/{system_id}/");
    expect(machine.uri).toBe("http://region.test/MAAS/api/2.0/machines/{system_id}/");
    expect(machine.params).toEqual(["system_id"]);
    const deploy = machine.actions.find((a: { name: string }) => a.name === "deploy");
    expect(deploy).toMatchObject({ method: "POST", op: "deploy", restful: false });
    expect(deploy.doc).toContain(":param user_data:");
    expect(machine.actions.find((a: { name: string }) => a.name === "read")).toMatchObject({ method: "GET", op: null, restful: true });
    expect(r.json.resources.find((x: { name: string }) => x.name === "ZoneHandler").auth.path).toBe("/MAAS/api/2.0/zones/{name}/");
    expect(r.json.resources.find((x: { name: string }) => x.name === "ResourcePoolHandler").auth.path).toBe("/MAAS/api/2.0/resourcepool/{id}/");
    // Anonymous handlers appear under "anon" and in "handlers".
    const version = r.json.resources.find((x: { name: string }) => x.name === "VersionHandler");
    expect(version.anon.actions.map((a: { name: string }) => a.name)).toEqual(["read"]);
    expect(r.json.handlers.length).toBe(r.json.resources.length + r.json.resources.filter((x: { anon: unknown }) => x.anon).length);
  });

  it("every API response carries X-MAAS-API-Hash, errors included", async () => {
    const hash = (await maas(null, "GET", "describe/")).json.hash;
    expect((await maas(admin, "GET", "zones/")).headers.get("x-maas-api-hash")).toBe(hash);
    expect((await maas(null, "GET", "zones/")).headers.get("x-maas-api-hash")).toBe(hash);
  });

  it("the 1.0 API is gone (410 text)", async () => {
    const r = await SELF.fetch(`${ORIGIN}/MAAS/api/1.0/nodes/`);
    expect(r.status).toBe(410);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
  });
});

describe("OAuth 1.0a PLAINTEXT", () => {
  for (const style of ["gomaasapi", "oauthlib", "libmaas", "query"] as const) {
    it(`whoami works with the ${style} form of the credentials`, async () => {
      const r = await maas(admin, "GET", "users/", { query: { op: "whoami" }, style });
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ username: "wire-admin", email: "", is_local: true, is_superuser: true, resource_uri: "/MAAS/api/2.0/users/wire-admin/" });
    });
  }

  it("oauth parameters in a urlencoded body are accepted too", async () => {
    const [ck, tk, ts] = admin.split(":") as [string, string, string];
    const form = new URLSearchParams({
      oauth_consumer_key: ck,
      oauth_token: tk,
      oauth_signature_method: "PLAINTEXT",
      oauth_signature: `&${ts}`,
      name: "fromBody",
    });
    const r = await SELF.fetch(`${MAAS}/zones/?op=`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form.toString(),
    });
    expect(r.status).toBe(200);
    expect((await r.json()) as object).toMatchObject({ name: "fromBody", resource_uri: "/MAAS/api/2.0/zones/fromBody/" });
  });

  it("a bad key is 401 with WWW-Authenticate and a text body; whoami without a key too", async () => {
    const [ck, tk] = admin.split(":") as [string, string, string];
    for (const key of [`${ck}:${tk}:wrongsecret`, `${ck}x:${tk}:x`, "a:b:c", null]) {
      const r = await maas(key, "GET", "users/", { query: { op: "whoami" } });
      expect(r.status).toBe(401);
      expect(r.headers.get("www-authenticate")).toBe('OAuth realm="MAAS API"');
      expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
      expect(r.text).toBe("Authorization Error: Invalid API key.");
    }
  });

  it("a revoked key stops working through the facade", async () => {
    const native = await makeUser("wire-revoked", [["viewer", null]]);
    const k = await call(native, "POST", "/keys", { name: "to-revoke" });
    const key = k.json.maas_api_key as string;
    expect((await maas(key, "GET", "users/", { query: { op: "whoami" } })).status).toBe(200);
    expect((await call(native, "DELETE", `/keys/${k.json.key_id}`)).status).toBe(204);
    expect((await maas(key, "GET", "users/", { query: { op: "whoami" } })).status).toBe(401);
  });

  it("a non-integer oauth_timestamp is 400; HMAC-SHA1 is refused", async () => {
    const bad = oauthHeader(admin, "gomaasapi").replace(/oauth_timestamp="\d+"/, 'oauth_timestamp="soon"');
    const r = await maas(null, "GET", "users/", { query: { op: "whoami" }, headers: { authorization: bad } });
    expect(r.status).toBe(400);
    const hmac = oauthHeader(admin, "gomaasapi").replace("PLAINTEXT", "HMAC-SHA1");
    expect((await maas(null, "GET", "users/", { query: { op: "whoami" }, headers: { authorization: hmac } })).status).toBe(401);
  });
});

describe("dispatch", () => {
  it("paths with and without the trailing slash", async () => {
    expect((await maas(admin, "GET", "zones")).status).toBe(200);
    expect((await maas(admin, "GET", "zones/default")).json).toMatchObject({ name: "default" });
    expect((await maas(admin, "GET", "zones/default/")).json).toMatchObject({ name: "default" });
  });

  it("unknown op → 400 Unrecognised signature; empty op is CRUD; op read from the body too", async () => {
    let r = await maas(admin, "GET", "machines/", { query: { op: "frobnicate" } });
    expect(r.status).toBe(400);
    expect(r.text).toBe("Unrecognised signature: method=GET op=frobnicate");
    expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
    r = await maas(admin, "POST", "zones/", { query: { op: "nope" }, form: { name: "z" } });
    expect(r.text).toBe("Unrecognised signature: method=POST op=nope");
    expect((await maas(admin, "GET", "zones/", { query: { op: "" } })).status).toBe(200);
    // op in the form body (python-libmaas can put it there).
    r = await maas(admin, "POST", "account/", { form: { op: "create_authorisation_token", name: "tok" }, encoding: "multipart" });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: "tok", token_key: expect.any(String), token_secret: expect.any(String), consumer_key: expect.any(String) });
  });

  it("op-<name> as the last path segment (MAAS 3.8)", async () => {
    const r = await maas(admin, "GET", "users/op-whoami");
    expect(r.status).toBe(200);
    expect(r.json.username).toBe("wire-admin");
  });

  it("unknown endpoint → 404 text; a method the handler lacks → 405", async () => {
    const r = await maas(admin, "GET", "no-such-thing/");
    expect(r.status).toBe(404);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
    const m = await maas(admin, "PUT", "zones/", { form: { name: "x" } });
    expect(m.status).toBe(405);
  });

  it("validation errors are 400 JSON {field: [messages]}", async () => {
    const r = await maas(admin, "POST", "zones/", { query: { op: "" }, form: { name: "has space" } });
    expect(r.status).toBe(400);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.json.name[0]).toMatch(/valid name/);
  });

  it("a malformed multipart body is a 400, never a crash", async () => {
    const r = await SELF.fetch(`${MAAS}/zones/`, {
      method: "POST",
      headers: { authorization: oauthHeader(admin, "oauthlib"), "content-type": 'multipart/form-data; boundary="x"' },
      body: "garbage without boundary",
    });
    expect(r.status).toBe(400);
    const m = multipart({ name: "ok-zone" });
    const good = await SELF.fetch(`${MAAS}/zones/`, {
      method: "POST",
      headers: { authorization: oauthHeader(admin, "oauthlib"), "content-type": m.type },
      body: m.body,
    });
    expect(good.status).toBe(200);
  });
});

describe("POST /MAAS/accounts/authenticate/ (python-libmaas login)", () => {
  it("username and password give a working key triplet", async () => {
    const r = await SELF.fetch(`${ORIGIN}/MAAS/accounts/authenticate/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username: "wire-admin", password: "correct horse battery", consumer: "libmaas" }).toString(),
    });
    expect(r.status).toBe(200);
    const j = (await r.json()) as Record<string, string>;
    expect(j).toMatchObject({ consumer_key: expect.any(String), token_key: expect.any(String), token_secret: expect.any(String), name: "libmaas" });
    const key = `${j["consumer_key"]}:${j["token_key"]}:${j["token_secret"]}`;
    expect((await maas(key, "GET", "users/", { query: { op: "whoami" } })).json.username).toBe("wire-admin");
  });

  it("a wrong password or unknown user is 401", async () => {
    for (const [u, p] of [
      ["wire-admin", "wrong"],
      ["nobody-here", "x"],
    ]) {
      const m = multipart({ username: u!, password: p! });
      const r = await SELF.fetch(`${ORIGIN}/MAAS/accounts/authenticate/`, { method: "POST", headers: { "content-type": m.type }, body: m.body });
      expect(r.status).toBe(401);
    }
  });

  const login = (username: string, password: string, from: string) =>
    SELF.fetch(`${ORIGIN}/MAAS/accounts/authenticate/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": from },
      body: new URLSearchParams({ username, password }).toString(),
    });

  it("five wrong passwords for a name lock that name out (429, Retry-After, MAAS text), shared with the dashboard's sign-in", async () => {
    await makeUser("wire-locked", [["viewer", null]], "correct horse battery");
    for (let i = 0; i < 5; i++) expect((await login("wire-locked", `guess-${i}`, `192.0.2.${i + 1}`)).status).toBe(401);
    // From yet another address, and with the right password: the name is locked for the window.
    const r = await login("wire-locked", "correct horse battery", "192.0.2.99");
    expect(r.status).toBe(429);
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await r.text()).toMatch(/^Too many failed sign-ins from this address: try again in \d+ minute\(s\)\.$/);
    const dash = await SELF.fetch(`${ORIGIN}/api/v1/session`, {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": "192.0.2.99" },
      body: JSON.stringify({ username: "wire-locked", password: "correct horse battery" }),
    });
    expect(dash.status).toBe(429);
    // Another user is not locked out by guesses at this one's name, nor is anyone's key.
    expect((await login("wire-admin", "correct horse battery", "192.0.2.1")).status).toBe(200);
    expect((await maas(admin, "GET", "users/", { query: { op: "whoami" }, headers: { "cf-connecting-ip": "192.0.2.1" } })).status).toBe(200);
  });

  it("a flood of bad OAuth tokens from one address gets 429; a good token from it and other addresses do not", async () => {
    const from = "198.51.100.7";
    // The 99 bad tokens before these, as rows: sending them would only cost time.
    const now = Date.now();
    await env.DB.batch(
      Array.from({ length: 99 }, (_, i) => env.DB.prepare("INSERT INTO login_attempts (key, at) VALUES (?, ?)").bind(`token:${from}`, now - i)),
    );
    const bad = (style?: "query") => maas("bogus:bogus:bogus", "GET", "machines/", { headers: { "cf-connecting-ip": from }, ...(style ? { style } : {}) });
    expect((await bad()).status).toBe(401);
    for (const r of [await bad(), await bad("query")]) {
      expect(r.status).toBe(429);
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(800);
      expect(r.text).toMatch(/^Too many failed authentications from this address: try again in 1[45] minute\(s\)\.$/);
    }
    // A Plinth key as a bearer token is a token too.
    const bearer = await SELF.fetch(`${MAAS}/machines/`, {
      headers: { authorization: "Bearer plk_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "cf-connecting-ip": from },
    });
    expect(bearer.status).toBe(429);
    expect((await maas(admin, "GET", "machines/", { headers: { "cf-connecting-ip": from } })).status).toBe(200);
    expect((await maas("bogus:bogus:bogus", "GET", "machines/", { headers: { "cf-connecting-ip": "198.51.100.8" } })).status).toBe(401);
    // The native API counts the same address's bad keys: JSON body there.
    const v1 = await call("plk_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "GET", "/machines", undefined, { "cf-connecting-ip": from });
    expect(v1.status, v1.text).toBe(429);
    expect(v1.json.error.code).toBe("too_many_attempts");
    expect((await call(adminNative, "GET", "/machines", undefined, { "cf-connecting-ip": from })).status).toBe(200);
    // Anonymous actions are still served: there is nothing to guess.
    expect((await maas("bogus:bogus:bogus", "GET", "version/", { headers: { "cf-connecting-ip": from } })).status).toBe(200);
  });
});

it("the native API is unaffected by the facade's mount", async () => {
  expect((await call(adminNative, "GET", "/zones")).status).toBe(200);
  expect((await call(null, "GET", "/health")).json).toEqual({ ok: true });
});
