// BMC secrets: encrypted at rest, never in any response for any role (but the audited reveal).
import { env } from "cloudflare:workers";
import { beforeAll, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { call, makeUser } from "./helpers";

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

it("no role sees a secret in any route's response", async () => {
  const requests: [string, string, unknown?][] = [
    ["GET", `/machines/${id}`],
    ["GET", "/machines"],
    ["GET", `/machines?system_id=${id}`],
    ["GET", `/machines/${id}/results`],
    ["GET", "/events?limit=1000"],
    ["PATCH", `/machines/${id}`, { description: "touched" }],
    ["POST", `/machines/${id}/mark_broken`, {}],
    ["POST", `/machines/${id}/mark_fixed`, {}],
    ["POST", `/machines/${id}/comment`, { text: "checked" }],
    ["POST", `/machines/${id}/power_on`, {}],
    ["POST", `/machines/${id}/query_power_state`, {}],
    ["POST", "/machines/allocate", { system_id: id }],
    ["POST", `/machines/${id}/release`, {}],
    ["GET", "/openapi.json"],
  ];
  for (const [who, key] of Object.entries(keys)) {
    for (const [method, path, body] of requests) {
      const r = await call(key!, method, path, body);
      expect(r.text, `${who} ${method} ${path}`).not.toContain(PASS);
      expect(r.text, `${who} ${method} ${path}`).not.toContain(USER);
      expect(r.text, `${who} ${method} ${path}`).not.toContain("kg-secret-value");
    }
  }
});

it("the reveal is admin-only and audited", async () => {
  for (const who of ["operator", "hands", "viewer"]) {
    const r = await call(keys[who]!, "GET", `/machines/${id}/power-parameters`);
    expect(r.status).toBe(403);
    expect(r.text).not.toContain(PASS);
  }
  const r = await call(keys.admin!, "GET", `/machines/${id}/power-parameters`);
  expect(r.status).toBe(200);
  expect(r.json.power_parameters).toMatchObject({ power_pass: PASS, power_user: USER });
  const ev = await env.DB.prepare("SELECT actor, level FROM events WHERE system_id = ? AND type = 'machine.power_parameters_revealed'").bind(id).all();
  expect(ev.results).toEqual([{ actor: "admin", level: "AUDIT" }]);
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
