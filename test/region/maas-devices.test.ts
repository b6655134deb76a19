// devices/ through the MAAS facade, as Terraform's maas_device makes them: created with MACs,
// read back with the addresses reserved for those MACs, updated, listed with filters, deleted;
// names and MACs unique among machines and devices; sites and roles as for machines.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, makeMachine, makeUser } from "./helpers";
import { ENCODINGS, maas, maasKey } from "./maas-helpers";

let adminNative: string;
let admin: string;
let westOp: string;
let westViewer: string;
let eastOp: string;
beforeAll(async () => {
  adminNative = await makeUser("d-admin", [["admin", null]]);
  admin = await maasKey(adminNative);
  westOp = await maasKey(await makeUser("d-westop", [["operator", "d-west"]]));
  westViewer = await maasKey(await makeUser("d-westview", [["viewer", "d-west"]]));
  eastOp = await maasKey(await makeUser("d-eastop", [["operator", "d-east"]]));
});

describe("devices/", () => {
  for (const encoding of ENCODINGS) {
    it(`${encoding}: create with MACs, read with reserved addresses, update, filter, delete`, async () => {
      const n = encoding === "urlencoded" ? 1 : 2;
      const macs = [`52:54:00:d${n}:00:01`, `52-54-00-D${n}-00-02`];
      const c = await maas(westOp, "POST", "devices/", {
        encoding,
        form: [
          ["hostname", `switch-${n}`],
          ["description", "top of rack"],
          ["mac_addresses", macs[0]!],
          ["mac_addresses", macs[1]!],
        ],
      });
      expect(c.status, c.text).toBe(200);
      const id = c.json.system_id as string;
      expect(c.json).toMatchObject({
        hostname: `switch-${n}`,
        fqdn: `switch-${n}.maas`,
        description: "top of rack",
        owner: "d-westop",
        parent: null,
        node_type: 1,
        node_type_name: "Device",
        zone: { name: "default" },
        ip_addresses: [],
        interface_set: [
          { name: "eth0", mac_address: `52:54:00:d${n}:00:01` },
          { name: "eth1", mac_address: `52:54:00:d${n}:00:02` },
        ],
        resource_uri: `/MAAS/api/2.0/devices/${id}/`,
      });
      expect(c.json.owner_data).toEqual({});
      // Workload annotations (set_owner_data's later name): set, read back, an empty value deletes.
      const ann = await maas(westOp, "POST", `devices/${id}/`, {
        query: { op: "set_workload_annotations" },
        encoding,
        form: { "juju-machine-id": "0/lxd/3", note: "a b=c&d" },
      });
      expect(ann.status, ann.text).toBe(200);
      expect(ann.json.owner_data).toEqual({ "juju-machine-id": "0/lxd/3", note: "a b=c&d" });
      const ann2 = await maas(westOp, "POST", `devices/${id}/`, { query: { op: "set_owner_data" }, encoding, form: { note: "" } });
      expect(ann2.json.owner_data).toEqual({ "juju-machine-id": "0/lxd/3" });
      expect((await maas(westViewer, "POST", `devices/${id}/`, { query: { op: "set_workload_annotations" }, form: { x: "y" } })).status).toBe(403);
      expect((await maas(eastOp, "POST", `devices/${id}/`, { query: { op: "set_workload_annotations" }, form: { x: "y" } })).status).toBe(404);
      expect((await maas(westOp, "GET", `devices/${id}/`)).json.owner_data).toEqual({ "juju-machine-id": "0/lxd/3" });
      // The site it stands on is the caller's only one.
      expect((await env.DB.prepare("SELECT s.name FROM devices d JOIN sites s ON s.id = d.site_id WHERE d.system_id = ?").bind(id).first())!.name).toBe(
        "d-west",
      );

      // An address reserved for one of its MACs is the device's.
      const subnet = await maas(admin, "POST", "subnets/", { form: { cidr: `10.8${n}.0.0/24`, site: "d-west" } });
      expect(subnet.status, subnet.text).toBe(200);
      const res = await maas(westOp, "POST", "ipaddresses/", {
        query: { op: "reserve" },
        form: { subnet: `10.8${n}.0.0/24`, ip: `10.8${n}.0.20`, mac: `52:54:00:d${n}:00:02` },
      });
      expect(res.status, res.text).toBe(200);
      const read = await maas(westViewer, "GET", `devices/${id}/`);
      expect(read.json.ip_addresses).toEqual([`10.8${n}.0.20`]);
      expect(read.json.interface_set[1].links).toEqual([
        {
          id: 0,
          mode: "static",
          ip_address: `10.8${n}.0.20`,
          subnet: expect.objectContaining({ id: subnet.json.id, cidr: `10.8${n}.0.0/24`, vlan: expect.anything() }),
        },
      ]);

      const u = await maas(westOp, "PUT", `devices/${id}/`, { encoding, form: { hostname: `switch-${n}b`, description: "moved" } });
      expect(u.json).toMatchObject({ hostname: `switch-${n}b`, description: "moved", interface_set: [{ mac_address: `52:54:00:d${n}:00:01` }, {}] });
      expect(
        (await maas(westViewer, "GET", "devices/", { query: { mac_address: `52:54:00:d${n}:00:01` } })).json.map((d: { system_id: string }) => d.system_id),
      ).toEqual([id]);
      expect((await maas(westViewer, "GET", "devices/", { query: { hostname: "nope" } })).json).toEqual([]);
      expect((await maas(westViewer, "PUT", `devices/${id}/`, { form: { description: "x" } })).status).toBe(403);
      expect((await maas(eastOp, "GET", `devices/${id}/`)).status).toBe(404);
      expect((await maas(eastOp, "GET", "devices/")).json).toEqual([]);
      expect((await maas(westOp, "DELETE", `devices/${id}/`)).status).toBe(204);
      expect((await maas(westOp, "GET", `devices/${id}/`)).status).toBe(404);
    });
  }

  it("names and MACs are unique among machines and devices, in both directions; bad input is refused field by field", async () => {
    const m = await makeMachine({ site: "d-west", hostname: "d-machine", mac: "52:54:00:d9:00:01" });
    const byName = await maas(westOp, "POST", "devices/", { form: { hostname: "d-machine" } });
    expect(byName.json).toEqual({ hostname: ['Node with hostname "d-machine" already exists.'] });
    const byMac = await maas(westOp, "POST", "devices/", { form: { hostname: "pdu-1", mac_addresses: "52:54:00:d9:00:01" } });
    expect(byMac.json).toEqual({ mac_addresses: ["MAC address 52:54:00:d9:00:01 already in use on d-machine."] });

    const pdu = await maas(westOp, "POST", "devices/", { form: { hostname: "pdu-1", mac_addresses: "52:54:00:d9:00:02", parent: m } });
    expect(pdu.json.parent).toBe(m);
    // A machine cannot take the device's MAC or name, through either API.
    const machine = await maas(admin, "POST", "machines/", {
      form: { mac_addresses: "52:54:00:d9:00:02", hostname: "other", commission: "false", site: "d-west" },
    });
    expect(machine.status).toBe(400);
    expect(machine.text).toContain("already in use on pdu-1");
    expect((await maas(admin, "POST", "machines/", { form: { mac_addresses: "52:54:00:d9:00:03", hostname: "pdu-1", commission: "false" } })).status).toBe(400);
    const v1 = await call(adminNative, "POST", "/machines", { mac_addresses: ["52:54:00:d9:00:02"], site: "d-west" });
    expect(v1.status).toBe(409);
    // Another device neither.
    expect((await maas(westOp, "POST", "devices/", { form: { hostname: "pdu-2", mac_addresses: "52:54:00:d9:00:02" } })).status).toBe(400);

    const bad = await maas(westOp, "POST", "devices/", { form: { hostname: "not a name", mac_addresses: "zz", zone: "nowhere" } });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.json).sort()).toEqual(["hostname", "mac_addresses.0"]);
    expect((await maas(westOp, "POST", "devices/", { form: { zone: "nowhere" } })).json).toEqual({
      zone: ["Select a valid choice. nowhere is not one of the available choices."],
    });
    expect((await maas(westOp, "POST", "devices/", { form: { parent: "zzzzzz" } })).json.parent[0]).toContain("zzzzzz");
    expect((await maas(westViewer, "POST", "devices/", { form: { hostname: "pdu-3" } })).status).toBe(403);
    expect((await maas(eastOp, "POST", "devices/", { form: { hostname: "pdu-4", site: "d-west" } })).status).toBe(404);
  });

  it("a zone holding a device is not deleted; nodes/ lists devices between machines and racks", async () => {
    expect((await maas(admin, "POST", "zones/", { form: { name: "d-zone" } })).status).toBe(200);
    const d = await maas(admin, "POST", "devices/", { form: { hostname: "d-in-zone", zone: "d-zone", site: "d-west" } });
    expect(d.status, d.text).toBe(200);
    const del = await maas(admin, "DELETE", "zones/d-zone/");
    expect(del.status).toBe(400);
    expect(del.text).toContain("device");
    const nodes = await maas(admin, "GET", "nodes/");
    expect(nodes.json.find((n: { system_id: string }) => n.system_id === d.json.system_id)).toMatchObject({ node_type: 1, hostname: "d-in-zone" });
    expect((await maas(admin, "DELETE", `devices/${d.json.system_id}/`)).status).toBe(204);
    expect((await maas(admin, "DELETE", "zones/d-zone/")).status).toBe(204);
  });
});
