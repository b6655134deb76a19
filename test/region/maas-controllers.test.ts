// rackcontrollers/, regioncontrollers/ and nodes/ through the MAAS facade: enrolled appliances
// as rack controllers (site rules as for machines), the region as the one region controller,
// Plinth's power drivers as describe_power_types, and nodes/ listing machines then racks.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, makeMachine, makeUser } from "./helpers";
import { maas, maasKey } from "./maas-helpers";
import { enrolRack } from "./tunnel-helpers";

let adminNative: string;
let admin: string;
let eastViewer: string;
let rackId: string;
let machine: string;
beforeAll(async () => {
  adminNative = await makeUser("rc-admin", [["admin", null]]);
  admin = await maasKey(adminNative);
  eastViewer = await maasKey(await makeUser("rc-east", [["viewer", "rc-east"]]));
  rackId = (await enrolRack(adminNative, "rc-west", "rack-west-1")).rackId;
  // What the rack's last hello over its tunnel stored (tunnel.test.ts drives the hello itself).
  await env.DB.prepare("UPDATE racks SET interfaces = ?, connected = 1, version = '0.1.0' WHERE id = ?")
    .bind(JSON.stringify([{ name: "eno1", mac: "52:54:00:aa:bb:01", addresses: ["10.9.0.2/24"] }]), rackId)
    .run();
  machine = await makeMachine({ site: "rc-west", hostname: "rc-node" });
});

describe("rack and region controllers", () => {
  it("an enrolled appliance is a rack controller with its interfaces, addresses and services; other sites do not see it", async () => {
    const list = await maas(admin, "GET", "rackcontrollers/");
    expect(list.status, list.text).toBe(200);
    const rc = list.json.find((x: { system_id: string }) => x.system_id === rackId);
    expect(rc).toMatchObject({
      hostname: "rack-west-1",
      fqdn: "rack-west-1.maas",
      node_type: 2,
      node_type_name: "Rack controller",
      version: "0.1.0",
      ip_addresses: ["10.9.0.2"],
      interface_set: [{ name: "eno1", mac_address: "52:54:00:aa:bb:01", links: [{ ip_address: "10.9.0.2" }] }],
      resource_uri: `/MAAS/api/2.0/rackcontrollers/${rackId}/`,
    });
    expect(rc.service_set.find((s: { name: string }) => s.name === "rackd")).toEqual({ name: "rackd", status: "running", status_info: "" });
    expect((await maas(admin, "GET", `rackcontrollers/${rackId}/`)).json.hostname).toBe("rack-west-1");
    expect((await maas(admin, "GET", "rackcontrollers/", { query: { hostname: "nope" } })).json).toEqual([]);
    expect((await maas(eastViewer, "GET", "rackcontrollers/")).json).toEqual([]);
    expect((await maas(eastViewer, "GET", `rackcontrollers/${rackId}/`)).status).toBe(404);
    expect((await maas(admin, "GET", "rackcontrollers/", { query: { op: "is_registered", mac_address: "52-54-00-AA-BB-01" } })).json).toBe(true);
    expect((await maas(admin, "GET", "rackcontrollers/", { query: { op: "is_registered", mac_address: "52:54:00:aa:bb:99" } })).json).toBe(false);

    // A rack whose tunnel is down: its services are not vouched for.
    await env.DB.prepare("UPDATE racks SET connected = 0 WHERE id = ?").bind(rackId).run();
    const down = await maas(admin, "GET", `rackcontrollers/${rackId}/`);
    expect(down.json.service_set[0]).toMatchObject({ status: "unknown", status_info: expect.stringContaining("tunnel") });
    await env.DB.prepare("UPDATE racks SET connected = 1 WHERE id = ?").bind(rackId).run();

    // What the rack's last status report said (tunnel.test.ts sends one): MAAS's names and states.
    const report = [
      { name: "dhcp", state: "failed", error: "eno2: no such device" },
      { name: "dns", state: "disabled" },
      { name: "tftp", state: "ok" },
    ];
    await env.DB.prepare("UPDATE racks SET services = ? WHERE id = ?").bind(JSON.stringify(report), rackId).run();
    const set = (await maas(admin, "GET", `rackcontrollers/${rackId}/`)).json.service_set as { name: string }[];
    const byName = Object.fromEntries(set.map((s) => [s.name, s]));
    expect(byName.dhcpd).toEqual({ name: "dhcpd", status: "dead", status_info: "eno2: no such device" });
    expect(byName.dns_rack).toEqual({ name: "dns_rack", status: "off", status_info: "" });
    expect(byName.tftp).toEqual({ name: "tftp", status: "running", status_info: "" });
    expect(byName.rackd).toEqual({ name: "rackd", status: "running", status_info: "" });

    // A revoked rack is no controller.
    const other = (await enrolRack(adminNative, "rc-west", "rack-west-2")).rackId;
    expect((await call(adminNative, "POST", `/racks/${other}/revoke`, {})).status).toBeLessThan(300);
    expect((await maas(admin, "GET", "rackcontrollers/")).json.map((x: { system_id: string }) => x.system_id)).not.toContain(other);
  });

  it("a rack's ops: power reads as manual, power and edits are refused with the reason, deleting revokes it (admins of its site only)", async () => {
    const westOperator = await maasKey(await makeUser("rc-west-op", [["operator", "rc-west"]]));
    const spare = (await enrolRack(adminNative, "rc-west", "rack-west-3")).rackId;
    await env.DB.prepare("UPDATE racks SET connected = 1 WHERE id = ?").bind(spare).run();
    const at = `rackcontrollers/${spare}/`;
    expect((await maas(admin, "GET", at, { query: { op: "power_parameters" } })).json).toEqual({});
    expect((await maas(westOperator, "GET", at, { query: { op: "power_parameters" } })).status).toBe(403);
    expect((await maas(admin, "GET", "rackcontrollers/", { query: { op: "power_parameters", id: spare } })).json).toEqual({ [spare]: {} });
    expect((await maas(westOperator, "GET", at, { query: { op: "query_power_state" } })).json).toEqual({ state: "on" });
    const on = await maas(admin, "POST", at, { query: { op: "power_on" } });
    expect(on.status).toBe(400);
    expect(on.text).toContain("has no BMC");
    expect((await maas(admin, "POST", at, { query: { op: "abort" } })).status).toBe(409);
    const put = await maas(admin, "PUT", at, { form: { description: "x", zone: "default" } });
    expect(put.status).toBe(400);
    expect(put.text).toContain("/api/v1/racks");
    const zone = await maas(admin, "POST", "rackcontrollers/", { query: { op: "set_zone" }, form: { zone: "default", nodes: spare } });
    expect(zone.status).toBe(400);
    expect(zone.text).toContain("site");
    const details = await maas(admin, "GET", at, { query: { op: "details" } });
    expect(details.status).toBe(200);
    // An empty BSON document with two empty binaries: total length, then lshw and lldp.
    expect(details.headers.get("content-type")).toBe("application/bson");
    expect([...details.bytes.slice(0, 4)]).toEqual([27, 0, 0, 0]);
    expect(new TextDecoder().decode(details.bytes)).toContain("lshw");
    expect((await maas(eastViewer, "DELETE", at)).status).toBe(404);
    expect((await maas(westOperator, "DELETE", at)).status).toBe(403);
    expect((await maas(admin, "DELETE", at)).status).toBe(204);
    expect((await maas(admin, "GET", at)).status).toBe(404);
    const revoked = await env.DB.prepare("SELECT revoked_at FROM racks WHERE id = ?").bind(spare).first<{ revoked_at: number | null }>();
    expect(revoked?.revoked_at).not.toBeNull();
    const audit = await env.DB.prepare("SELECT actor FROM events WHERE type = 'rack.revoked' AND description LIKE ?")
      .bind(`%${spare}%`)
      .first<{ actor: string }>();
    expect(audit?.actor).toBe("rc-admin");
  });

  it("the region is the one region controller, named by maas_name", async () => {
    await maas(admin, "POST", "maas/", { query: { op: "set_config" }, form: { name: "maas_name", value: "lab-region" } });
    const list = await maas(eastViewer, "GET", "regioncontrollers/");
    expect(list.json).toHaveLength(1);
    expect(list.json[0]).toMatchObject({ system_id: "region", hostname: "lab-region", node_type: 3, resource_uri: "/MAAS/api/2.0/regioncontrollers/region/" });
    expect((await maas(admin, "GET", "regioncontrollers/region/")).json.hostname).toBe("lab-region");
    expect((await maas(admin, "GET", "regioncontrollers/other/")).status).toBe(404);
  });

  it("describe_power_types lists Plinth's drivers with their fields; secrets are password fields", async () => {
    const r = await maas(eastViewer, "GET", "rackcontrollers/", { query: { op: "describe_power_types" } });
    expect(r.json.map((t: { name: string }) => t.name)).toEqual(["manual", "ipmi", "redfish", "webhook"]);
    const ipmi = r.json.find((t: { name: string }) => t.name === "ipmi");
    const field = (n: string) => ipmi.fields.find((f: { name: string }) => f.name === n);
    expect(field("power_address")).toMatchObject({ required: true, field_type: "string", scope: "bmc" });
    expect(field("power_pass")).toMatchObject({ required: false, field_type: "password" });
    expect(field("power_driver")).toMatchObject({
      field_type: "choice",
      default: "LAN_2_0",
      choices: [
        ["LAN_2_0", "LAN_2_0"],
        ["LAN", "LAN"],
      ],
    });
  });
});

describe("nodes/", () => {
  it("lists machines then rack controllers; a machine-only filter leaves the racks out", async () => {
    const all = await maas(admin, "GET", "nodes/");
    expect(all.status, all.text).toBe(200);
    const types = all.json.map((n: { system_id: string; node_type: number }) => [n.system_id, n.node_type]);
    expect(types).toEqual(
      expect.arrayContaining([
        [machine, 0],
        [rackId, 2],
      ]),
    );
    expect(types.findIndex((t: [string, number]) => t[0] === machine)).toBeLessThan(types.findIndex((t: [string, number]) => t[0] === rackId));
    expect((await maas(admin, "GET", "nodes/", { query: { hostname: "rack-west-1" } })).json.map((n: { system_id: string }) => n.system_id)).toEqual([rackId]);
    expect((await maas(admin, "GET", "nodes/", { query: { zone: "default" } })).json.some((n: { node_type: number }) => n.node_type === 2)).toBe(false);
    expect((await maas(eastViewer, "GET", "nodes/")).json).toEqual([]);
  });
});
