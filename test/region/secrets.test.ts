// BMC secrets: encrypted at rest, never in any response for any role (but the audited reveal).
import { env } from "cloudflare:workers";
import { beforeAll, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { call, makeUser, TEST_CERT } from "./helpers";
import { enrolRack } from "./tunnel-helpers";

const PASS = "Pa55-w0rd-that-must-never-leak";
const USER = "bmc-operator-login";
const keys: Record<string, string> = {};
let id: string;

beforeAll(async () => {
  keys.admin = await makeUser("admin", [["admin", null]]);
  keys.operator = await makeUser("oper", [["operator", null]]);
  keys.hands = await makeUser("hands", [["remote-hands", "default"]]);
  keys.viewer = await makeUser("view", [["viewer", null]]);
  const r = await call(keys.admin!, "POST", "/machines", {
    mac_addresses: ["52:54:00:5e:c7:01"],
    power_type: "ipmi",
    power_parameters: { power_address: "127.0.0.1", power_user: USER, power_pass: PASS, k_g: "kg-secret-value" },
  });
  expect(r.status, r.text).toBe(201);
  id = r.json.system_id;
  await env.DB.prepare("UPDATE machines SET status = ? WHERE system_id = ?").bind(S.READY, id).run();
});

it("responses show which fields are set, never their values", async () => {
  const r = await call(keys.admin!, "GET", `/machines/${id}`);
  expect(r.json.power_parameters_set).toEqual(["k_g", "power_address", "power_boot_type", "power_driver", "power_pass", "power_user", "privilege_level"]);
  expect(r.text).not.toContain(PASS);
  expect(r.text).not.toContain(USER);
});

it("stored encrypted, bound to the machine", async () => {
  const row = await env.DB.prepare("SELECT * FROM machines WHERE system_id = ?").bind(id).first<Record<string, unknown>>();
  const raw = JSON.stringify(row);
  expect(raw).not.toContain(PASS);
  expect(raw).not.toContain(USER);
  expect(String(row!.power_params_enc)).toMatch(/^v1:/);
});

const SECRETS = [PASS, USER, "kg-secret-value"];

it("no role sees a secret in the response of any GET route of the OpenAPI document", async () => {
  // Objects for every path parameter, all tied to the machine with the secrets: a rack on its
  // site, a command sent for it, a tag on it, its subnet, a boot image, an enrolment token.
  const { rackId } = await enrolRack(keys.admin!, "default", "secrets-rack");
  const command = await call(keys.admin!, "POST", `/machines/${id}/power_on`, {});
  expect(command.status, command.text).toBe(202);
  expect(command.json.command_id).toBeTypeOf("string");
  await env.DB.prepare("INSERT INTO tags (name) VALUES ('secret-tag') ON CONFLICT DO NOTHING").run();
  expect((await call(keys.admin!, "POST", "/tags/secret-tag/machines", { add: [id] })).status).toBe(200);
  const subnet = await call(keys.admin!, "POST", "/subnets", { cidr: "10.77.0.0/24", site: "default" });
  expect(subnet.status, subnet.text).toBe(201);
  const image = await env.DB.prepare("INSERT INTO boot_images (osystem, series) VALUES ('ubuntu', 'secrets') RETURNING id").first<{ id: number }>();
  const space = await env.DB.prepare("INSERT INTO spaces (name) VALUES ('secrets-space') RETURNING id").first<{ id: number }>();
  const token = await call(keys.admin!, "POST", "/racks/enrol-tokens", { site: "default" });
  expect(token.status).toBe(201);
  const comment = await call(keys.hands!, "POST", `/machines/${id}/comment`, { text: "checked the BMC cable" });
  expect(comment.status).toBe(201);
  const ssl = await call(keys.admin!, "POST", "/users/admin/ssl-keys", { key: TEST_CERT });
  expect(ssl.status, ssl.text).toBe(201);
  const dnsRes = await call(keys.admin!, "POST", "/dns/resources", { name: "secrets-res", addresses: ["10.77.0.9"] });
  expect(dnsRes.status, dnsRes.text).toBe(201);
  const dnsRec = await call(keys.admin!, "POST", "/dns/records", { name: "secrets-rec", type: "TXT", data: "x" });
  expect(dnsRec.status, dnsRec.text).toBe(201);

  const source = await call(keys.admin!, "POST", "/boot-sources", { url: "http://secrets-mirror.test/", skip_verify: true });
  expect(source.status, source.text).toBe(201);
  const selection = await call(keys.admin!, "POST", `/boot-sources/${source.json.id}/selections`, { os: "ubuntu", release: "noble" });
  expect(selection.status, selection.text).toBe(201);

  const vlan = await call(keys.admin!, "POST", "/vlans", { vid: 77 });
  expect(vlan.status, vlan.text).toBe(201);

  const values = (path: string): Record<string, string> => ({
    id: path.startsWith("/vlans")
      ? String(vlan.json.id)
      : path.startsWith("/boot-sources")
        ? String(source.json.id)
        : path.startsWith("/subnets")
          ? String(subnet.json.id)
          : path.startsWith("/boot-images")
            ? String(image!.id)
            : path.includes("/ssl-keys/")
              ? String(ssl.json.id)
              : path.startsWith("/dns/resources")
                ? String(dnsRes.json.id)
                : path.startsWith("/dns/records")
                  ? String(dnsRec.json.id)
                  : id,
    // Sites, zones, pools and fabrics by id (1 is each one's default row); spaces have one made here.
    key: path.startsWith("/spaces") ? String(space!.id) : path.startsWith("/domains") ? "maas" : "1",
    name: path.startsWith("/settings") ? "http_proxy" : path.startsWith("/dns/zones") ? "maas" : "secret-tag",
    username: "admin",
    rackId,
    commandId: command.json.command_id,
    tokenId: String(token.json.id),
    iface: "eth0",
    sid: String(selection.json.id),
  });
  // Not a user's route: the rack downloads images with its own credential (no JSON, no machine).
  // The live stream never ends by itself; it sends the rows GET /events returns. GET /session
  // answers a session cookie only (the signed-in user and a CSRF token), never a bearer key.
  const skip = new Set(["/racks/{rackId}/images/{sha256}", "/racks/{rackId}/tunnel", "/stream", "/session"]);
  const doc = (await call(null, "GET", "/openapi.json")).json as { paths: Record<string, Record<string, unknown>> };
  const gets = Object.entries(doc.paths)
    .filter(([, ops]) => "get" in ops)
    .map(([p]) => p.replace(/^\/api\/v1/, ""))
    .filter((p) => !skip.has(p));
  expect(gets.length).toBeGreaterThan(25);
  // Lists that need a filter get the subnet made here.
  const query: Record<string, string> = { "/ip-addresses": "?subnet=10.77.0.0%2F24" };
  const paths = gets.map((p) => p.replace(/\{([A-Za-z_]+)\}/g, (_x, k: string) => encodeURIComponent(values(p)[k] ?? `missing-${k}`)) + (query[p] ?? ""));
  // The same lists filtered down to the machine, and the events about it.
  paths.push(
    `/machines?system_id=${id}`,
    `/machines?tag=secret-tag`,
    `/events?machine=${id}&limit=1000`,
    "/events?limit=1000",
    `/users/hands`,
    `/users/oper/keys`,
  );
  for (const path of paths) expect(path, "every parameter has a value").not.toMatch(/missing-/);

  for (const [who, key] of Object.entries(keys)) {
    for (const path of paths) {
      const r = await call(key!, "GET", path);
      if (who === "admin") expect(r.status, `admin GET ${path}: ${r.text.slice(0, 200)}`).toBe(200);
      if (path === `/machines/${id}/power-parameters` && who === "admin") {
        // The audited reveal: the one place the values appear, and only for the admin.
        expect(r.json.power_parameters).toMatchObject({ power_pass: PASS, power_user: USER });
        continue;
      }
      for (const secret of SECRETS) expect(r.text, `${who} GET ${path}`).not.toContain(secret);
    }
  }
});

it("no role sees a secret in the response of a change", async () => {
  const requests: [string, string, unknown?][] = [
    ["PATCH", `/machines/${id}`, { description: "touched" }],
    ["POST", `/machines/${id}/mark_broken`, {}],
    ["POST", `/machines/${id}/mark_fixed`, {}],
    ["POST", `/machines/${id}/comment`, { text: "checked" }],
    ["POST", `/machines/${id}/power_on`, {}],
    ["POST", `/machines/${id}/query_power_state`, {}],
    ["POST", "/machines/allocate", { system_id: id }],
    ["POST", `/machines/${id}/release`, {}],
    ["PATCH", `/machines/${id}`, { power_parameters: { power_address: "127.0.0.1" } }],
  ];
  for (const [who, key] of Object.entries(keys)) {
    for (const [method, path, body] of requests) {
      const r = await call(key!, method, path, body);
      for (const secret of SECRETS) expect(r.text, `${who} ${method} ${path}`).not.toContain(secret);
    }
  }
});

it("the reveal is admin-only and audited", async () => {
  for (const who of ["operator", "hands", "viewer"]) {
    const r = await call(keys[who]!, "GET", `/machines/${id}/power-parameters`);
    expect(r.status).toBe(403);
    expect(r.text).not.toContain(PASS);
  }
  const reveals = () =>
    env.DB.prepare("SELECT actor, level FROM events WHERE system_id = ? AND type = 'machine.power_parameters_revealed' ORDER BY id").bind(id).all();
  const before = (await reveals()).results;
  const r = await call(keys.admin!, "GET", `/machines/${id}/power-parameters`);
  expect(r.status).toBe(200);
  expect(r.json.power_parameters).toMatchObject({ power_pass: PASS, power_user: USER });
  // One more audit event, by the admin; the refused attempts above wrote none.
  expect((await reveals()).results).toEqual([...before, { actor: "admin", level: "AUDIT" }]);
});

it("changing the power type re-encrypts; a blob pasted onto another machine does not decrypt", async () => {
  const other = await call(keys.admin!, "POST", "/machines", { mac_addresses: ["52:54:00:5e:c7:02"], power_type: "manual" });
  const blob = await env.DB.prepare("SELECT power_params_enc AS e FROM machines WHERE system_id = ?").bind(id).first<{ e: string }>();
  await env.DB.prepare("UPDATE machines SET power_params_enc = ?, power_type = 'ipmi' WHERE system_id = ?").bind(blob!.e, other.json.system_id).run();
  const r = await call(keys.admin!, "GET", `/machines/${other.json.system_id}/power-parameters`);
  expect(r.status).toBe(500);
  expect(r.text).not.toContain(PASS);
});

it("a password can be changed alone; the other parameters stay", async () => {
  const r = await call(keys.admin!, "PATCH", `/machines/${id}`, { power_parameters: { power_pass: "n3w-pass-also-secret" } });
  expect(r.status, r.text).toBe(200);
  expect(r.text).not.toContain("n3w-pass-also-secret");
  const p = await call(keys.admin!, "GET", `/machines/${id}/power-parameters`);
  expect(p.json.power_parameters).toMatchObject({ power_pass: "n3w-pass-also-secret", power_user: USER, power_address: "127.0.0.1" });
});
