// Dashboard sessions: sign-in, cookie flags, CSRF on unsafe methods, rate limiting, sign-out, expiry.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BASE, call, makeMachine, makeUser } from "./helpers";

const PASSWORD = "correct horse battery";

async function signIn(username: string, password: string, base = BASE, address = "198.51.100.1") {
  const r = await SELF.fetch(`${base}/session`, {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": address },
    body: JSON.stringify({ username, password }),
  });
  const json = (await r.json()) as any;
  const setCookie = r.headers.get("set-cookie") ?? "";
  const cookie = /^plinth_session=([^;]*)/.exec(setCookie)?.[1] ?? "";
  return { status: r.status, json, setCookie, cookie: `plinth_session=${cookie}`, headers: r.headers };
}

describe("session sign-in", () => {
  it("signs in with the right password and sets a locked-down cookie", async () => {
    await makeUser("alice", [["admin", null]], PASSWORD);
    const s = await signIn("alice", PASSWORD);
    expect(s.status).toBe(201);
    expect(s.json.username).toBe("alice");
    expect(s.json.csrf_token).toMatch(/^[a-z0-9]{32}$/);
    expect(s.json.is_admin).toBe(true);
    expect(s.setCookie).toMatch(/HttpOnly/);
    expect(s.setCookie).toMatch(/SameSite=Strict/);
    expect(s.setCookie).toMatch(/Path=\//);
    // Plain http (local development): Secure would make the browser drop the cookie.
    expect(s.setCookie).not.toMatch(/Secure/);
    // Only the hash of the id is stored.
    const row = await env.DB.prepare("SELECT id_hash FROM sessions ORDER BY created_at DESC LIMIT 1").first<{ id_hash: string }>();
    expect(s.cookie).not.toContain(row!.id_hash);

    const me = await call(null, "GET", "/me", undefined, { cookie: s.cookie });
    expect(me.status).toBe(200);
    expect(me.json.username).toBe("alice");
    expect(me.json.via).toBe("session");
    const again = await call(null, "GET", "/session", undefined, { cookie: s.cookie });
    expect(again.json.csrf_token).toBe(s.json.csrf_token);
  });

  it("marks the cookie Secure over https", async () => {
    const s = await signIn("alice", PASSWORD, BASE.replace("http:", "https:"));
    expect(s.status).toBe(201);
    expect(s.setCookie).toMatch(/; Secure/);
  });

  it("refuses a wrong password and an unknown user with the same answer", async () => {
    const bad = await signIn("alice", "not the password", BASE, "198.51.100.2");
    const unknown = await signIn("nobody", "whatever", BASE, "198.51.100.2");
    for (const r of [bad, unknown]) {
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe("bad_credentials");
      expect(r.setCookie).toBe("");
    }
  });

  it("refuses users without a password (API-key-only) and inactive users", async () => {
    await makeUser("keyonly", [["viewer", null]]);
    expect((await signIn("keyonly", "anything", BASE, "198.51.100.3")).status).toBe(401);
    await makeUser("gone", [["viewer", null]], PASSWORD);
    await env.DB.prepare("UPDATE users SET is_active = 0 WHERE username = 'gone'").run();
    expect((await signIn("gone", PASSWORD, BASE, "198.51.100.3")).status).toBe(401);
  });

  it("rate-limits failed sign-ins per username, even with the right password afterwards", async () => {
    await makeUser("bob", [["viewer", null]], PASSWORD);
    for (let i = 0; i < 5; i++) expect((await signIn("bob", `wrong-${i}`, BASE, `203.0.113.${i}`)).status).toBe(401);
    const blocked = await signIn("bob", PASSWORD, BASE, "203.0.113.99");
    expect(blocked.status).toBe(429);
    expect(blocked.json.error.code).toBe("too_many_attempts");
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    // Other users are not locked out by bob's attackers.
    expect((await signIn("alice", PASSWORD, BASE, "203.0.113.98")).status).toBe(201);
  });

  it("rate-limits failed sign-ins per client address across usernames", async () => {
    for (let i = 0; i < 30; i++) expect((await signIn(`spray-${i}`, "guess", BASE, "192.0.2.77")).status).toBe(401);
    expect((await signIn("alice", PASSWORD, BASE, "192.0.2.77")).status).toBe(429);
  });

  it("rejects malformed sign-in bodies with the error shape", async () => {
    const r = await call(null, "POST", "/session", { username: "alice" });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("invalid_request");
  });
});

describe("CSRF and the cookie", () => {
  it("refuses unsafe methods without the CSRF token and accepts them with it", async () => {
    const s = await signIn("alice", PASSWORD, BASE, "198.51.100.10");
    const sid = await makeMachine({ status: 4 });
    const without = await call(null, "POST", `/machines/${sid}/mark_broken`, { comment: "x" }, { cookie: s.cookie });
    expect(without.status).toBe(403);
    expect(without.json.error.code).toBe("csrf");
    const wrong = await call(null, "POST", `/machines/${sid}/mark_broken`, {}, { cookie: s.cookie, "x-csrf-token": "a".repeat(32) });
    expect(wrong.status).toBe(403);
    const ok = await call(null, "POST", `/machines/${sid}/mark_broken`, { comment: "fan" }, { cookie: s.cookie, "x-csrf-token": s.json.csrf_token });
    expect(ok.status).toBe(200);
    expect(ok.json.status_name).toBe("Broken");
    // Reads need no token.
    expect((await call(null, "GET", `/machines/${sid}`, undefined, { cookie: s.cookie })).status).toBe(200);
  });

  it("keeps bearer keys working unchanged, with no CSRF token, and prefers them over a cookie", async () => {
    const key = await makeUser("scripter", [["operator", null]]);
    const sid = await makeMachine({ status: 4 });
    expect((await call(key, "POST", `/machines/${sid}/mark_broken`, {})).status).toBe(200);
    const bad = await call("plk_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "GET", "/me", undefined, { cookie: "plinth_session=x" });
    expect(bad.status).toBe(401);
    expect(bad.json.error.code).toBe("unauthorized");
  });

  it("answers an unknown or forged cookie with session_expired", async () => {
    const r = await call(null, "GET", "/machines", undefined, { cookie: `plinth_session=${"z".repeat(43)}` });
    expect(r.status).toBe(401);
    expect(r.json.error.code).toBe("session_expired");
  });

  it("ends a session past its expiry", async () => {
    const s = await signIn("alice", PASSWORD, BASE, "198.51.100.11");
    await env.DB.prepare("UPDATE sessions SET expires_at = ? WHERE csrf_token = ?")
      .bind(Date.now() - 1, s.json.csrf_token)
      .run();
    const r = await call(null, "GET", "/me", undefined, { cookie: s.cookie });
    expect(r.status).toBe(401);
    expect(r.json.error.code).toBe("session_expired");
  });

  it("ends a session idle too long", async () => {
    const s = await signIn("alice", PASSWORD, BASE, "198.51.100.12");
    await env.DB.prepare("UPDATE sessions SET last_seen_at = ? WHERE csrf_token = ?")
      .bind(Date.now() - 3 * 3600_000, s.json.csrf_token)
      .run();
    expect((await call(null, "GET", "/me", undefined, { cookie: s.cookie })).status).toBe(401);
  });
});

describe("sign-out", () => {
  it("needs the CSRF token, deletes the session and clears the cookie", async () => {
    const s = await signIn("alice", PASSWORD, BASE, "198.51.100.20");
    expect((await call(null, "DELETE", "/session", undefined, { cookie: s.cookie })).status).toBe(403);
    const out = await call(null, "DELETE", "/session", undefined, { cookie: s.cookie, "x-csrf-token": s.json.csrf_token });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toMatch(/plinth_session=; .*Max-Age=0/);
    expect((await call(null, "GET", "/me", undefined, { cookie: s.cookie })).status).toBe(401);
    // Signing out again (an ended session) still clears the cookie.
    expect((await call(null, "DELETE", "/session", undefined, { cookie: s.cookie })).status).toBe(204);
  });
});
