// terraform-provider-maas, resource by resource: the request sequence each resource's Create,
// Read, Update and Delete send through gomaasclient (method, path, op, form fields as its
// entity params encode them: urlencoded, bools as true/false, ints as text), replayed against
// the region, asserting the fields the provider's Read copies into its state. maas_machine,
// maas_instance and the per-NIC resources have their own flows in maas-machines.test.ts and
// maas-networks.test.ts; DNS, block devices and VM hosts belong to other issues.
import { beforeAll, describe, expect, it } from "vitest";
import { makeUser } from "./helpers";
import { maas, maasKey } from "./maas-helpers";
import { enrolRack } from "./tunnel-helpers";

let admin: string;
let adminNative: string;
beforeAll(async () => {
  adminNative = await makeUser("tf-admin", [["admin", null]]);
  admin = await maasKey(adminNative);
});

type Form = Record<string, string | string[]>;
type Json = Record<string, any>;
interface Resource {
  name: string;
  /** Objects the resource refers to, made first; their JSON goes to the steps. */
  prep?: () => Promise<Json>;
  create: (p: Json) => { path: string; form: Form };
  /** The object's path from the created JSON (the provider keeps the id it was given). */
  object: (created: Json, p: Json) => string;
  reads: (p: Json) => Json;
  update?: { form: Form; reads: Json };
}

const RESOURCES: Resource[] = [
  {
    name: "maas_fabric",
    create: () => ({ path: "fabrics/", form: { name: "tf-fabric" } }),
    object: (c) => `fabrics/${c.id}/`,
    reads: () => ({ name: "tf-fabric", vlans: [expect.objectContaining({ vid: 0 })] }),
    update: { form: { name: "tf-fabric-2" }, reads: { name: "tf-fabric-2" } },
  },
  {
    name: "maas_space",
    create: () => ({ path: "spaces/", form: { name: "tf-space" } }),
    object: (c) => `spaces/${c.id}/`,
    reads: () => ({ name: "tf-space" }),
    update: { form: { name: "tf-space-2" }, reads: { name: "tf-space-2" } },
  },
  {
    name: "maas_vlan",
    prep: async () => ({ fabric: (await maas(admin, "POST", "fabrics/", { form: { name: "tf-vlan-fabric" } })).json }),
    create: (p) => ({ path: `fabrics/${p.fabric.id}/vlans/`, form: { vid: "42", name: "tf-vlan", mtu: "9000", dhcp_on: "false" } }),
    object: (c, p) => `fabrics/${p.fabric.id}/vlans/${c.vid}/`,
    reads: (p) => ({ vid: 42, name: "tf-vlan", mtu: 9000, dhcp_on: false, fabric_id: p.fabric.id }),
    update: { form: { vid: "42", name: "tf-vlan-2", mtu: "1500", dhcp_on: "false" }, reads: { name: "tf-vlan-2", mtu: 1500 } },
  },
  {
    name: "maas_subnet",
    create: () => ({
      path: "subnets/",
      form: {
        cidr: "10.123.0.0/24",
        name: "tf-subnet",
        fabric: "1",
        vid: "0",
        gateway_ip: "10.123.0.1",
        dns_servers: ["10.123.0.2", "10.123.0.3"],
        rdns_mode: "2",
        allow_dns: "true",
        allow_proxy: "true",
        managed: "true",
        active_discovery: "false",
      },
    }),
    object: (c) => `subnets/${c.id}/`,
    reads: () => ({
      cidr: "10.123.0.0/24",
      name: "tf-subnet",
      gateway_ip: "10.123.0.1",
      dns_servers: ["10.123.0.2", "10.123.0.3"],
      managed: true,
      vlan: expect.objectContaining({ vid: 0, fabric_id: 1 }),
    }),
    update: { form: { name: "tf-subnet-2", gateway_ip: "10.123.0.254" }, reads: { name: "tf-subnet-2", gateway_ip: "10.123.0.254" } },
  },
  {
    name: "maas_subnet_ip_range",
    prep: async () => ({ subnet: (await maas(admin, "POST", "subnets/", { form: { cidr: "10.124.0.0/24", site: "default" } })).json }),
    create: (p) => ({
      path: "ipranges/",
      form: { type: "dynamic", subnet: String(p.subnet.id), start_ip: "10.124.0.100", end_ip: "10.124.0.150", comment: "tf" },
    }),
    object: (c) => `ipranges/${c.id}/`,
    reads: (p) => ({ type: "dynamic", start_ip: "10.124.0.100", end_ip: "10.124.0.150", comment: "tf", subnet: expect.objectContaining({ id: p.subnet.id }) }),
    update: {
      form: { type: "dynamic", subnet: "10.124.0.0/24", start_ip: "10.124.0.100", end_ip: "10.124.0.160", comment: "tf" },
      reads: { end_ip: "10.124.0.160" },
    },
  },
  {
    name: "maas_resource_pool",
    create: () => ({ path: "resourcepools/", form: { name: "tf-pool", description: "built by terraform" } }),
    object: (c) => `resourcepool/${c.id}/`,
    reads: () => ({ name: "tf-pool", description: "built by terraform" }),
    update: { form: { name: "tf-pool", description: "changed" }, reads: { description: "changed" } },
  },
  {
    name: "maas_tag",
    create: () => ({ path: "tags/", form: { name: "tf-tag", comment: "from terraform" } }),
    object: (c) => `tags/${c.name}/`,
    reads: () => ({ name: "tf-tag", comment: "from terraform" }),
    update: { form: { comment: "changed" }, reads: { comment: "changed" } },
  },
  {
    name: "maas_user",
    create: () => ({ path: "users/", form: { username: "tf-user", password: "correct horse battery", email: "tf@example.com", is_superuser: "0" } }),
    object: (c) => `users/${c.username}/`,
    reads: () => ({ username: "tf-user", email: "tf@example.com", is_superuser: false }),
  },
  {
    name: "maas_device",
    create: () => ({ path: "devices/", form: { hostname: "tf-device", description: "a PDU", domain: "maas", mac_addresses: ["52:54:00:7f:00:01"] } }),
    object: (c) => `devices/${c.system_id}/`,
    reads: () => ({
      hostname: "tf-device",
      description: "a PDU",
      domain: expect.objectContaining({ name: "maas" }),
      fqdn: "tf-device.maas",
      owner: "tf-admin",
      zone: expect.objectContaining({ name: "default" }),
      ip_addresses: [],
      interface_set: [expect.objectContaining({ id: expect.any(Number), mac_address: "52:54:00:7f:00:01", name: "eth0" })],
    }),
    update: {
      form: { hostname: "tf-device-2", description: "a PDU", domain: "maas", zone: "default" },
      reads: { hostname: "tf-device-2", fqdn: "tf-device-2.maas" },
    },
  },
];

describe("Terraform resources: create, read, update, read, delete, read", () => {
  for (const res of RESOURCES) {
    it(res.name, async () => {
      const p = res.prep ? await res.prep() : {};
      const c = res.create(p);
      const made = await maas(admin, "POST", c.path, { form: c.form });
      expect(made.status, made.text).toBe(200);
      const path = res.object(made.json, p);
      const read = await maas(admin, "GET", path);
      expect(read.status, read.text).toBe(200);
      expect(read.json).toMatchObject(res.reads(p));
      expect(read.json.resource_uri, "every object names itself").toMatch(/^\/MAAS\/api\/2\.0\//);
      if (res.update) {
        const u = await maas(admin, "PUT", path, { form: res.update.form });
        expect(u.status, u.text).toBe(200);
        expect(u.json).toMatchObject(res.update.reads);
        const again = await maas(admin, "GET", path);
        expect(again.json).toMatchObject(res.update.reads);
      }
      // The provider reads what it made by the object's own resource_uri after an update.
      const self = (await maas(admin, "GET", (await maas(admin, "GET", path)).json.resource_uri)).json;
      expect(self).toMatchObject(res.update?.reads ?? res.reads(p));
      const del = await maas(admin, "DELETE", (await maas(admin, "GET", path)).json.resource_uri);
      expect(del.status, del.text).toBe(204);
      expect((await maas(admin, "GET", path)).status).toBe(404);
    });
  }

  it("maas_rack_controller (data source): found by hostname, with services and version", async () => {
    const { rackId } = await enrolRack(adminNative, "default", "tf-rack");
    const r = await maas(admin, "GET", "rackcontrollers/", { query: { hostname: "tf-rack" } });
    expect(r.json).toHaveLength(1);
    expect(r.json[0]).toMatchObject({ system_id: rackId, hostname: "tf-rack", description: "", version: "test-1" });
    expect(r.json[0].service_set.map((s: { name: string }) => s.name)).toContain("rackd");
    // vm_host: Terraform reads the region's defaults before it deploys a KVM host.
    const os = await maas(admin, "GET", "maas/", { query: { op: "get_config", name: "default_osystem" } });
    const series = await maas(admin, "GET", "maas/", { query: { op: "get_config", name: "default_distro_series" } });
    expect([os.json, series.json]).toEqual(["ubuntu", "noble"]);
  });
});
