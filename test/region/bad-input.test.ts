// Bad input at the trust boundary: always a 4xx with the JSON error shape, and the database
// exactly as it was.
import { env } from "cloudflare:workers";
import { beforeAll, expect, it } from "vitest";
import { call, makeMachine, makeUser } from "./helpers";

let admin: string;
let id: string;
const TABLES = [
  "machines",
  "interfaces",
  "events",
  "users",
  "api_keys",
  "sites",
  "zones",
  "resource_pools",
  "tags",
  "machine_tags",
  "subnets",
  "ip_ranges",
  "role_bindings",
];

async function snapshot() {
  const out: Record<string, unknown> = {};
  for (const t of TABLES) {
    const rows = (await env.DB.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all<Record<string, unknown>>()).results;
    // A key's last use is written by the request itself (at most once a minute): not a change the bad input made.
    out[t] = rows.map(({ last_used_at: _, ...r }) => r);
  }
  return JSON.stringify(out);
}

beforeAll(async () => {
  admin = await makeUser("admin", [["admin", null]]);
  id = await makeMachine({ hostname: "victim" });
});

const bad: [string, string, string, string | undefined, Record<string, string>?][] = [
  ["malformed JSON", "POST", "/machines", '{"mac_addresses": ["52:54:00:00:00:01"'],
  ["JSON that is not an object", "POST", "/machines", "[1,2,3]"],
  ["wrong types", "POST", "/machines", JSON.stringify({ mac_addresses: "52:54:00:00:00:01", cpu_count: "four" })],
  ["unknown fields", "POST", "/machines", JSON.stringify({ mac_addresses: ["52:54:00:00:00:02"], is_admin: true })],
  ["bad MAC", "POST", "/machines", JSON.stringify({ mac_addresses: ["zz:54:00:00:00:02"] })],
  [
    "bad power parameters",
    "POST",
    "/machines",
    JSON.stringify({ mac_addresses: ["52:54:00:00:00:03"], power_type: "ipmi", power_parameters: { power_pass: "x" } }),
  ],
  ["unknown power type", "POST", "/machines", JSON.stringify({ mac_addresses: ["52:54:00:00:00:04"], power_type: "telnet" })],
  ["1 MiB body", "POST", "/machines", JSON.stringify({ mac_addresses: ["52:54:00:00:00:05"], description: "x".repeat(1 << 20) })],
  ["unknown action field", "POST", "/machines/ID/deploy", JSON.stringify({ distro_series: "noble", rm_rf: true })],
  ["user_data not base64", "POST", "/machines/ID/deploy", JSON.stringify({ user_data: "not base64!!" })],
  ["patch with SQL in a name", "PATCH", "/machines/ID", JSON.stringify({ zone: "default'; DROP TABLE machines;--" })],
  ["hostname that is not a DNS label", "PATCH", "/machines/ID", JSON.stringify({ hostname: "a b" })],
  ["text body", "POST", "/tags", "name=foo", { "content-type": "text/plain" }],
  ["bad subnet", "POST", "/subnets", JSON.stringify({ cidr: "10.0.0.1/24" })],
  ["range outside its subnet", "POST", "/ip-ranges", JSON.stringify({ subnet_id: 999, type: "dynamic", start_ip: "10.0.0.10", end_ip: "10.0.0.20" })],
  ["bad role", "POST", "/users", JSON.stringify({ username: "eve", roles: [{ role: "root", site: null }] })],
  ["SQL metacharacters in a filter", "GET", "/machines?hostname=x'%20OR%201=1;--", undefined],
  ["SQL in the free-text search", "GET", "/machines?zone=default%27%3B%20DELETE%20FROM%20machines%3B--", undefined],
  ["unknown filter", "GET", "/machines?colour=red", undefined],
  ["bad status filter", "GET", "/machines?status=exploded", undefined],
  ["limit out of range", "GET", "/machines?limit=100000", undefined],
  ["forged cursor", "GET", "/machines?cursor=not-a-cursor", undefined],
  ["bad system_id", "GET", "/machines/..%2F..%2Fetc", undefined],
  ["unknown action", "POST", "/machines/ID/self_destruct", "{}"],
];

it.each(bad)("%s", async (_name, method, path, body, headers) => {
  const before = await snapshot();
  const r = await call(admin, method, path.replace("ID", id), body, headers);
  expect(r.status, r.text).toBeGreaterThanOrEqual(400);
  expect(r.status, r.text).toBeLessThan(500);
  expect(r.headers.get("content-type")).toMatch(/application\/json/);
  expect(r.json.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
  expect(await snapshot()).toBe(before);
});

it("a 1 MiB body is refused as too large", async () => {
  const r = await call(admin, "POST", "/machines", JSON.stringify({ description: "x".repeat(1 << 20) }));
  expect(r.status).toBe(413);
  expect(r.json.error.code).toBe("payload_too_large");
});

it("SQL metacharacters in filters are just values: free text finds nothing, the table survives", async () => {
  const r = await call(admin, "GET", `/machines?q=${encodeURIComponent("victim' OR '1'='1")}`);
  expect(r.status).toBe(200);
  expect(r.json.items).toEqual([]);
  const like = await call(admin, "GET", `/machines?q=${encodeURIComponent("%")}`);
  expect(like.json.items).toEqual([]);
  const ok = await call(admin, "GET", "/machines?q=vict");
  expect(ok.json.items.map((m: { hostname: string }) => m.hostname)).toEqual(["victim"]);
});

it("validation errors say which field and why", async () => {
  const r = await call(admin, "POST", "/machines", { mac_addresses: ["52:54:00:00:00:09"], cpu_count: -1, surprise: 1 });
  expect(r.status).toBe(400);
  const paths = r.json.error.details.map((d: { path: string }) => d.path);
  expect(paths).toEqual(expect.arrayContaining(["cpu_count", ""]));
  expect(JSON.stringify(r.json.error.details)).toMatch(/surprise/);
});

it("a bad value of a list parameter says which value and the valid ones, not just that the input is invalid", async () => {
  for (const path of ["/machines?status=exploded", "/machines?status=ready&status=exploded"]) {
    const r = await call(admin, "GET", path);
    expect(r.status).toBe(400);
    expect(r.json.error.details).toEqual([
      expect.objectContaining({
        path: expect.stringMatching(/^status/),
        message: expect.stringContaining('unknown status "exploded"; one of: new, commissioning'),
      }),
    ]);
  }
});
