// Enrolment tokens and enrolment: site-scoped, expiring, limited in uses, revocable, hashed.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, makeUser } from "./helpers";

describe("rack enrolment", () => {
  it("issues a token once, lists it without the secret, and stores only its hash", async () => {
    const admin = await makeUser("enr-admin-1", [["admin", null]]);
    const t = await call(admin, "POST", "/racks/enrol-tokens", { site: "enr-site-1", name: "fleet", uses: 2 });
    expect(t.status).toBe(400);
    await env.DB.prepare("INSERT INTO sites (name) VALUES ('enr-site-1')").run();
    const ok = await call(admin, "POST", "/racks/enrol-tokens", { site: "enr-site-1", name: "fleet", uses: 2 });
    expect(ok.status).toBe(201);
    expect(ok.json.token).toMatch(/^pet_/);
    const list = await call(admin, "GET", "/racks/enrol-tokens");
    const item = list.json.items.find((i: { id: number }) => i.id === ok.json.id);
    expect(item).toMatchObject({ site: "enr-site-1", name: "fleet", uses_left: 2, state: "active" });
    expect(JSON.stringify(list.json)).not.toContain(ok.json.token);
    const row = await env.DB.prepare("SELECT token_hash FROM enrol_tokens WHERE id = ?").bind(ok.json.id).first<{ token_hash: string }>();
    expect(row!.token_hash).not.toContain(ok.json.token.slice(4));
  });

  it("enrols racks, is idempotent per hostname, and refuses an exhausted, expired or revoked token", async () => {
    const admin = await makeUser("enr-admin-2", [["admin", null]]);
    await env.DB.prepare("INSERT INTO sites (name) VALUES ('enr-site-2')").run();
    const tok = (await call(admin, "POST", "/racks/enrol-tokens", { site: "enr-site-2", uses: 1 })).json;
    const iface = [{ name: "eth0", mac: "52:54:00:00:00:01", addresses: ["10.0.0.2/24"] }];
    const a = await call(null, "POST", "/racks/enrol", { token: tok.token, hostname: "rack-a", version: "0.1.0", interfaces: iface });
    expect(a.status).toBe(201);
    expect(a.json.rack_id).toMatch(/^[a-z0-9]{12}$/);
    expect(a.json.credential).toMatch(new RegExp(`^prk_${a.json.rack_id}_`));
    const again = await call(null, "POST", "/racks/enrol", { token: tok.token, hostname: "rack-a", version: "0.1.1" });
    expect(again.status).toBe(200);
    expect(again.json.rack_id).toBe(a.json.rack_id);
    const b = await call(null, "POST", "/racks/enrol", { token: tok.token, hostname: "rack-b" });
    expect(b.status).toBe(401);
    expect(b.json.error.code).toBe("token_exhausted");

    const exp = (await call(admin, "POST", "/racks/enrol-tokens", { site: "enr-site-2" })).json;
    await env.DB.prepare("UPDATE enrol_tokens SET expires_at = ? WHERE id = ?")
      .bind(Date.now() - 1, exp.id)
      .run();
    expect((await call(null, "POST", "/racks/enrol", { token: exp.token, hostname: "rack-c" })).json.error.code).toBe("token_expired");

    const rev = (await call(admin, "POST", "/racks/enrol-tokens", { site: "enr-site-2" })).json;
    expect((await call(admin, "DELETE", `/racks/enrol-tokens/${rev.id}`)).status).toBe(204);
    expect((await call(null, "POST", "/racks/enrol", { token: rev.token, hostname: "rack-d" })).json.error.code).toBe("token_revoked");
    expect((await call(null, "POST", "/racks/enrol", { token: "pet_unknown-token", hostname: "rack-e" })).json.error.code).toBe("invalid_token");

    const racks = await call(admin, "GET", "/racks");
    const mine = racks.json.items.filter((r: { site: string }) => r.site === "enr-site-2");
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ hostname: "rack-a", version: "0.1.1", connected: false, last_seen_at: null, pending_commands: 0 });
    // Never connected: no status report yet.
    expect(mine[0]).toMatchObject({ services: [], journal_depth: null, status_at: null });
    const row = await env.DB.prepare("SELECT secret_hash FROM racks WHERE id = ?").bind(a.json.rack_id).first<{ secret_hash: string }>();
    expect(again.json.credential).not.toContain(row!.secret_hash);
  });

  it("lets only admins of the site manage tokens and racks", async () => {
    await env.DB.prepare("INSERT INTO sites (name) VALUES ('enr-site-3')").run();
    const op = await makeUser("enr-op-3", [["operator", "enr-site-3"]]);
    expect((await call(op, "POST", "/racks/enrol-tokens", { site: "enr-site-3" })).status).toBe(403);
    const other = await makeUser("enr-admin-other", [["admin", "default"]]);
    expect((await call(other, "POST", "/racks/enrol-tokens", { site: "enr-site-3" })).status).toBe(403);
    expect((await call(null, "GET", "/racks")).status).toBe(401);
  });

  it("a flood of unknown enrolment tokens or wrong rack credentials from one address gets 429; real ones still work", async () => {
    const admin = await makeUser("enr-admin-4", [["admin", null]]);
    await env.DB.prepare("INSERT INTO sites (name) VALUES ('enr-site-4')").run();
    const tok = (await call(admin, "POST", "/racks/enrol-tokens", { site: "enr-site-4", uses: 5 })).json;
    const from = { "cf-connecting-ip": "203.0.113.9" };
    // The 99 bad tokens before these, as rows: sending them would only cost time.
    const now = Date.now();
    await env.DB.batch(
      Array.from({ length: 99 }, (_, i) => env.DB.prepare("INSERT INTO login_attempts (key, at) VALUES (?, ?)").bind("token:203.0.113.9", now - i)),
    );
    const guess = () => call(null, "POST", "/racks/enrol", { token: "pet_guessed-token", hostname: "rack-x" }, from);
    expect((await guess()).json.error.code).toBe("invalid_token");
    const limited = await guess();
    expect(limited.status).toBe(429);
    expect(limited.json.error.code).toBe("too_many_attempts");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(800);
    // A real token from that address is not refused; neither is the rack it enrols.
    const ok = await call(null, "POST", "/racks/enrol", { token: tok.token, hostname: "rack-y" }, from);
    expect(ok.status).toBe(201);
    const tunnel = (credential: string) => call(null, "GET", `/racks/${ok.json.rack_id}/tunnel`, undefined, { ...from, authorization: `Bearer ${credential}` });
    // Past the credential check a plain GET is told to upgrade (400): the credential was accepted.
    expect((await tunnel(ok.json.credential)).status).toBe(400);
    const wrong = await tunnel(`prk_${ok.json.rack_id}_${"x".repeat(43)}`);
    expect(wrong.status).toBe(429);
    // The image route checks rack credentials the same way.
    expect(
      (await call(null, "GET", `/racks/${ok.json.rack_id}/images/${"0".repeat(64)}`, undefined, { ...from, authorization: "Bearer prk_nope" })).status,
    ).toBe(429);
    // A revoked token is real, not a guess: it says so even from this address.
    expect((await call(admin, "DELETE", `/racks/enrol-tokens/${tok.id}`)).status).toBe(204);
    expect((await call(null, "POST", "/racks/enrol", { token: tok.token, hostname: "rack-z" }, from)).json.error.code).toBe("token_revoked");
    // Another address is not limited by this one's guesses.
    expect((await call(null, "POST", "/racks/enrol", { token: "pet_guessed-token", hostname: "rack-x" }, { "cf-connecting-ip": "203.0.113.10" })).status).toBe(
      401,
    );
  });
});
