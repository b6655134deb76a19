// The MAAS facade's account endpoints that automation calls before it touches a machine: users
// created and deleted (machines transferred or the delete refused), the caller's SSH and SSL
// keys (account/prefs/), and the region's settings (maas/?op=get_config / set_config), which
// also decide what a deploy or release leaves unsaid. The same rows through /api/v1.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, deployableImage, makeMachine, makeUser, TEST_CERT as CERT } from "./helpers";
import { ENCODINGS, maas, maasKey } from "./maas-helpers";

const ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEnVr18cEoy1VaTHrjmyRFwNhFNFcUwwJ/fuHR6lmg4u ops@lab";
// The first 48 bits of its SHA256 (ssh-keygen -lf: SHA256:e0Dt/Hzq3LGiPowHhDtk8bODGEFrU7jCIKFYeOdKfsU).
const ED_ID = 135518800870634;
// openssl x509 -noout -fingerprint -sha256, lower-cased
const CERT_FP = "33:0e:e3:88:72:3f:ab:d2:43:18:f3:81:b0:2f:dc:25:83:2b:d4:2b:ef:6c:4b:e4:9a:29:56:8d:4c:bf:fc:3c";

let adminNative: string;
let admin: string;
let op: string;
let opNative: string;
beforeAll(async () => {
  adminNative = await makeUser("a-admin", [["admin", null]]);
  admin = await maasKey(adminNative);
  opNative = await makeUser("a-op", [["operator", null]]);
  op = await maasKey(opNative);
});

async function events(like: string) {
  const { results } = await env.DB.prepare("SELECT type, actor, description FROM events WHERE type LIKE ? ORDER BY id").bind(like).all();
  return results;
}

describe("account/prefs/sshkeys/", () => {
  for (const encoding of ENCODINGS) {
    it(`${encoding}: add, list, read, delete the caller's own keys, shared with /api/v1`, async () => {
      const user = `a-ssh-${encoding}`;
      const native = await makeUser(user, [["viewer", null]]);
      const key = await maasKey(native);
      expect((await maas(key, "GET", "account/prefs/sshkeys/")).json).toEqual([]);
      const c = await maas(key, "POST", "account/prefs/sshkeys/", { encoding, form: { key: ED } });
      expect(c.status, c.text).toBe(201);
      expect(c.json).toEqual({ id: ED_ID, key: ED, keysource: "", resource_uri: `/MAAS/api/2.0/account/prefs/sshkeys/${ED_ID}/` });
      // The same key is what /api/v1 lists, and what deployments hand the deployed system.
      expect((await call(native, "GET", `/users/${user}/ssh-keys`)).json.items.map((k: { key: string }) => k.key)).toEqual([ED]);
      const dup = await maas(key, "POST", "account/prefs/sshkeys/", { encoding, form: { key: ED.replace("ops@lab", "again") } });
      expect(dup.status).toBe(400);
      expect(dup.json).toEqual({ __all__: ["This key has already been added for this user."] });
      expect((await maas(key, "GET", "account/prefs/sshkeys/")).json).toHaveLength(1);
      expect((await maas(key, "GET", `account/prefs/sshkeys/${ED_ID}/`)).json.key).toBe(ED);
      // Another user's key is not the caller's to see.
      expect((await maas(op, "GET", `account/prefs/sshkeys/${ED_ID}/`)).status).toBe(404);
      expect((await maas(op, "DELETE", `account/prefs/sshkeys/${ED_ID}/`)).status).toBe(404);
      expect((await maas(key, "DELETE", `account/prefs/sshkeys/${ED_ID}/`)).status).toBe(204);
      expect((await maas(key, "GET", `account/prefs/sshkeys/${ED_ID}/`)).status).toBe(404);
      expect(await events("user.ssh_key%")).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: "user.ssh_key_added", actor: user }),
          expect.objectContaining({ type: "user.ssh_key_removed", actor: user }),
        ]),
      );
    });
  }

  it("bad keys answer 400 on the key field and are never echoed; import says what to do instead", async () => {
    const missing = await maas(op, "POST", "account/prefs/sshkeys/", { form: { other: "x" } });
    expect(missing.json).toEqual({ key: ["This field is required."] });
    const priv = await maas(op, "POST", "account/prefs/sshkeys/", {
      form: { key: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----" },
    });
    expect(priv.status).toBe(400);
    expect(priv.text).toContain("private key");
    expect(priv.text).not.toContain("b3BlbnNzaC1rZXktdjEAAAAA");
    const cut = await maas(op, "POST", "account/prefs/sshkeys/", { form: { key: ED.slice(0, 40) } });
    expect(cut.status).toBe(400);
    expect(cut.json.key[0]).toMatch(/^Invalid SSH public key: /);
    const imp = await maas(op, "POST", "account/prefs/sshkeys/", { query: { op: "import" }, form: { keysource: "gh:someone" } });
    expect(imp.status).toBe(400);
    expect(imp.text).toContain("POST key=");
    expect((await maas(op, "GET", "account/prefs/sshkeys/notanumber/")).status).toBe(404);
    expect((await maas(null, "GET", "account/prefs/sshkeys/")).status).toBe(401);
  });
});

describe("account/prefs/sslkeys/", () => {
  it("a certificate is added, listed, read and deleted; the same row in /api/v1; audited", async () => {
    const c = await maas(op, "POST", "account/prefs/sslkeys/", { encoding: "multipart", form: { key: `${CERT}\r\n` } });
    expect(c.status, c.text).toBe(201);
    expect(c.json).toEqual({ id: expect.any(Number), key: `${CERT}\n`, resource_uri: `/MAAS/api/2.0/account/prefs/sslkeys/${c.json.id}/` });
    const v1 = await call(opNative, "GET", "/users/a-op/ssl-keys");
    expect(v1.json.items).toEqual([{ id: c.json.id, key: `${CERT}\n`, fingerprint: CERT_FP, created_at: expect.any(Number) }]);
    const dup = await maas(op, "POST", "account/prefs/sslkeys/", { form: { key: CERT } });
    expect(dup.json).toEqual({ __all__: ["This key has already been added for this user."] });
    expect((await maas(op, "GET", "account/prefs/sslkeys/")).json).toHaveLength(1);
    expect((await maas(op, "GET", `account/prefs/sslkeys/${c.json.id}/`)).json.id).toBe(c.json.id);
    expect((await maas(admin, "GET", `account/prefs/sslkeys/${c.json.id}/`)).status).toBe(404);
    expect((await maas(op, "DELETE", `account/prefs/sslkeys/${c.json.id}/`)).status).toBe(204);
    expect((await maas(op, "DELETE", `account/prefs/sslkeys/${c.json.id}/`)).status).toBe(404);
    expect(await events("user.ssl_key%")).toEqual([
      { type: "user.ssl_key_added", actor: "a-op", description: `SSL key ${CERT_FP} added for a-op` },
      { type: "user.ssl_key_removed", actor: "a-op", description: `SSL key ${CERT_FP} removed from a-op` },
    ]);
  });

  it("what is not one whole certificate is refused with the reason", async () => {
    const lines = CERT.split("\n");
    const cases: [string, RegExp][] = [
      ["hello", /not a PEM certificate/],
      [`${CERT}\n${CERT}`, /one certificate per key/],
      [[...lines.slice(0, 4), ...lines.slice(-1)].join("\n"), /cut short or is not DER/],
      [CERT.replace(/CERTIFICATE/g, "PUBLIC KEY"), /a PUBLIC KEY is not a certificate/],
      ["-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----", /private key/],
    ];
    for (const [key, why] of cases) {
      const r = await maas(op, "POST", "account/prefs/sslkeys/", { form: { key } });
      expect(r.status, key).toBe(400);
      expect(r.json.key[0], key).toMatch(why);
      expect(r.text).not.toContain("MIGHAgEAMBMGByqGSM49");
    }
    const v1 = await call(opNative, "POST", "/users/a-op/ssl-keys", { key: "hello" });
    expect(v1.status).toBe(400);
    expect((await call(opNative, "GET", "/users/a-admin/ssl-keys")).status).toBe(403);
  });
});

describe("users/ create and delete", () => {
  it("an admin creates users as MAAS does: superuser = admin everywhere, others operator everywhere", async () => {
    const c = await maas(admin, "POST", "users/", { form: { username: "a-new", email: "new@example.com", password: "correct horse", is_superuser: "0" } });
    expect(c.status, c.text).toBe(200);
    expect(c.json).toEqual({ username: "a-new", email: "new@example.com", is_local: true, is_superuser: false, resource_uri: "/MAAS/api/2.0/users/a-new/" });
    const s = await maas(admin, "POST", "users/", {
      encoding: "multipart",
      form: { username: "a-root", email: "", password: "correct horse", is_superuser: "1" },
    });
    expect(s.json.is_superuser).toBe(true);
    const { results } = await env.DB.prepare(
      "SELECT u.username, b.role, b.site_id FROM role_bindings b JOIN users u ON u.id = b.user_id WHERE u.username IN ('a-new', 'a-root') ORDER BY u.username",
    ).all();
    expect(results).toEqual([
      { username: "a-new", role: "operator", site_id: null },
      { username: "a-root", role: "admin", site_id: null },
    ]);
    // The new user signs in the way python-libmaas does, and is who they were made.
    const login = await maas(null, "POST", "/MAAS/accounts/authenticate/", { form: { username: "a-new", password: "correct horse" } });
    expect(login.status).toBe(200);
    const key = `${login.json.consumer_key}:${login.json.token_key}:${login.json.token_secret}`;
    expect((await maas(key, "GET", "users/", { query: { op: "whoami" } })).json).toMatchObject({ username: "a-new", is_superuser: false });

    expect((await maas(admin, "POST", "users/", { form: { username: "a-new", email: "", password: "correct horse" } })).json).toEqual({
      username: ["A user with that username already exists."],
    });
    const bad = await maas(admin, "POST", "users/", { form: { username: "no spaces", email: "nope", password: "short" } });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.json).sort()).toEqual(["email", "password", "username"]);
    expect((await maas(op, "POST", "users/", { form: { username: "a-sneaky", email: "", password: "correct horse" } })).status).toBe(403);
  });

  it("a user who owns machines is kept unless transfer_resources_to takes them", async () => {
    await makeUser("a-leaver", [["operator", null]]);
    await makeUser("a-heir", [["operator", null]]);
    const leaver = (await env.DB.prepare("SELECT id FROM users WHERE username = 'a-leaver'").first<{ id: number }>())!.id;
    const heir = (await env.DB.prepare("SELECT id FROM users WHERE username = 'a-heir'").first<{ id: number }>())!.id;
    const m = await makeMachine({ status: 10, ownerId: leaver });
    const refused = await maas(admin, "DELETE", "users/a-leaver/");
    expect(refused.status).toBe(400);
    expect(refused.text).toContain("owns 1 machine(s)");
    expect((await maas(admin, "GET", "users/a-leaver/")).status).toBe(200);
    expect((await maas(admin, "DELETE", "users/a-leaver/", { query: { transfer_resources_to: "a-nobody" } })).json).toEqual({
      transfer_resources_to: ["There is no user named a-nobody."],
    });
    expect((await maas(op, "DELETE", "users/a-leaver/")).status).toBe(403);
    expect((await maas(admin, "DELETE", "users/a-admin/")).status).toBe(400);
    expect((await maas(admin, "DELETE", "users/a-leaver/", { query: { transfer_resources_to: "a-heir" } })).status).toBe(204);
    expect((await env.DB.prepare("SELECT owner_id FROM machines WHERE system_id = ?").bind(m).first())!.owner_id).toBe(heir);
    expect((await maas(admin, "GET", "users/a-leaver/")).status).toBe(404);
    expect((await maas(admin, "DELETE", "users/a-leaver/")).status).toBe(404);
    expect((await events("user.%")).filter((e) => String(e.description).includes("a-leaver"))).toEqual([
      { type: "user.resources_transferred", actor: "a-admin", description: "machines and addresses of a-leaver transferred to a-heir" },
      { type: "user.deleted", actor: "a-admin", description: "user a-leaver deleted" },
    ]);
    // /api/v1 keeps the same rule.
    await makeUser("a-leaver2", [["operator", null]]);
    const l2 = (await env.DB.prepare("SELECT id FROM users WHERE username = 'a-leaver2'").first<{ id: number }>())!.id;
    await makeMachine({ status: 10, ownerId: l2 });
    const v1 = await call(adminNative, "DELETE", "/users/a-leaver2");
    expect(v1.status).toBe(409);
    expect(v1.json.error.message).toContain("transfer_to");
    expect((await call(adminNative, "DELETE", "/users/a-leaver2?transfer_to=a-ghost")).status).toBe(400);
    expect((await call(adminNative, "DELETE", "/users/a-leaver2?transfer_to=a-heir")).status).toBe(204);
  });
});

describe("maas/ get_config and set_config", () => {
  it("reads defaults, stores typed values, refuses unknown names and bad values, admins only", async () => {
    const get = async (name: string) => maas(op, "GET", "maas/", { query: { op: "get_config", name } });
    expect((await get("default_osystem")).json).toBe("ubuntu");
    expect((await get("default_distro_series")).json).toBe("noble");
    expect((await get("enable_disk_erasing_on_release")).json).toBe(false);
    expect((await get("default_dns_ttl")).json).toBe(30);
    const unknown = await get("no_such_thing");
    expect(unknown.status).toBe(400);
    expect(unknown.json.name[0]).toContain("is not a valid config setting");

    for (const encoding of ENCODINGS) {
      const set = await maas(admin, "POST", "maas/", {
        query: { op: "set_config" },
        encoding,
        form: { name: "ntp_servers", value: `ntp-${encoding}.example.com 10.0.0.1` },
      });
      expect(set.status, set.text).toBe(200);
      expect((await get("ntp_servers")).json).toBe(`ntp-${encoding}.example.com 10.0.0.1`);
    }
    expect((await maas(admin, "POST", "maas/", { query: { op: "set_config" }, form: { name: "enable_disk_erasing_on_release", value: "True" } })).status).toBe(
      200,
    );
    expect((await get("enable_disk_erasing_on_release")).json).toBe(true);
    expect((await maas(admin, "POST", "maas/", { query: { op: "set_config" }, form: { name: "default_dns_ttl", value: "300" } })).status).toBe(200);
    expect((await get("default_dns_ttl")).json).toBe(300);

    const badInt = await maas(admin, "POST", "maas/", { query: { op: "set_config" }, form: { name: "default_dns_ttl", value: "soon" } });
    expect(badInt.json).toEqual({ default_dns_ttl: ["Invalid value: a whole number."] });
    const badChoice = await maas(admin, "POST", "maas/", { query: { op: "set_config" }, form: { name: "dnssec_validation", value: "maybe" } });
    expect(badChoice.status).toBe(400);
    const badUrl = await maas(admin, "POST", "maas/", { query: { op: "set_config" }, form: { name: "http_proxy", value: "ftp://proxy" } });
    expect(badUrl.status).toBe(400);
    expect((await maas(admin, "POST", "maas/", { query: { op: "set_config" }, form: { name: "maas_name" } })).json).toEqual({
      value: ["This field is required."],
    });
    expect((await maas(op, "POST", "maas/", { query: { op: "set_config" }, form: { name: "maas_name", value: "x" } })).status).toBe(403);
    expect((await maas(null, "GET", "maas/", { query: { op: "get_config", name: "maas_name" } })).status).toBe(401);

    // A proxy password never reaches the audit log.
    await maas(admin, "POST", "maas/", { query: { op: "set_config" }, form: { name: "http_proxy", value: "http://squid:s3cret@proxy.example.com:3128/" } });
    const ev = await events("settings.changed");
    expect(ev.map((e) => e.description)).toContain('setting http_proxy changed from "" to "http://squid@proxy.example.com:3128/"');
    expect(JSON.stringify(ev)).not.toContain("s3cret");
    // Nor does a reader who may not change settings; an admin reads it whole.
    expect((await get("http_proxy")).json).toBe("http://squid@proxy.example.com:3128/");
    expect(JSON.stringify((await call(opNative, "GET", "/settings")).json)).not.toContain("s3cret");
    expect((await maas(admin, "GET", "maas/", { query: { op: "get_config", name: "http_proxy" } })).json).toBe("http://squid:s3cret@proxy.example.com:3128/");

    // /api/v1 shows the same values with their defaults; a write there is checked the same way.
    const list = await call(opNative, "GET", "/settings");
    expect(list.json.items.find((s: { name: string }) => s.name === "default_dns_ttl")).toMatchObject({ value: 300, default: 30 });
    expect((await call(opNative, "PUT", "/settings/maas_name", { value: "lab" })).status).toBe(403);
    expect((await call(adminNative, "PUT", "/settings/default_dns_ttl", { value: "300" })).status).toBe(400);
    expect((await call(adminNative, "PUT", "/settings/nope", { value: 1 })).status).toBe(404);
    const put = await call(adminNative, "PUT", "/settings/maas_name", { value: "lab-east" });
    expect(put.json).toMatchObject({ name: "maas_name", value: "lab-east", default: "plinth" });
    expect((await get("maas_name")).json).toBe("lab-east");
  });

  it("a deploy that names no release gets default_osystem/default_distro_series; a release that says nothing about erasing follows the setting", async () => {
    await deployableImage("debian", "bookworm");
    await call(adminNative, "PUT", "/settings/default_osystem", { value: "debian" });
    await call(adminNative, "PUT", "/settings/default_distro_series", { value: "bookworm" });
    const opId = (await env.DB.prepare("SELECT id FROM users WHERE username = 'a-op'").first<{ id: number }>())!.id;
    const m = await makeMachine({ status: 10, ownerId: opId });
    const d = await maas(op, "POST", `machines/${m}/`, { query: { op: "deploy" } });
    expect(d.status, d.text).toBe(200);
    expect(d.json).toMatchObject({ osystem: "debian", distro_series: "bookworm" });

    await call(adminNative, "PUT", "/settings/enable_disk_erasing_on_release", { value: true });
    await call(adminNative, "PUT", "/settings/disk_erase_with_quick_erase", { value: true });
    const r = await maas(op, "POST", `machines/${m}/`, { query: { op: "release" } });
    expect(r.status, r.text).toBe(200);
    const row = await env.DB.prepare("SELECT status, erase_mode FROM machines WHERE system_id = ?").bind(m).first();
    expect(row).toEqual({ status: 14, erase_mode: "quick" });
  });
});
