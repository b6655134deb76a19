// terraform-provider-maas, resource by resource: the request sequence each resource's Create,
// Read, Update and Delete send through gomaasclient (method, path, op, form fields as its
// entity params encode them: urlencoded, bools as true/false, ints as text), replayed against
// the region, asserting the fields the provider's Read copies into its state. A resource whose
// Create waits on a machine's own boot (maas_machine waits for commissioning to finish) has that
// step stood in for by a status write: the VM that would boot is in the e2e suite. Bonds,
// bridges and VLAN interfaces (networking), DNS, block devices and VM hosts belong to other issues.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { deployableImage, makeMachine, makeUser } from "./helpers";
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
interface Step {
  path: string;
  op?: string;
  form: Form;
}
interface Resource {
  name: string;
  /** Objects the resource refers to, made first; their JSON goes to the steps. */
  prep?: () => Promise<Json>;
  create: (p: Json) => Step;
  /** What Create sends after the first request (maas_instance: deploy after allocate). */
  after?: (created: Json, p: Json) => Step[];
  /** What a machine's own boot would do while Create waits (a stand-in: no VM here). */
  settle?: (created: Json) => Promise<void>;
  /** The object's path from the created JSON (the provider keeps the id it was given). */
  object: (created: Json, p: Json) => string;
  reads: (p: Json) => Json;
  update?: { form: Form; reads: Json };
  /** Delete, when it is not DELETE on the object (a POST op), and what a read shows after it (else 404). */
  remove?: (created: Json, p: Json) => Step;
  removed?: Json;
}

const RESOURCES: Resource[] = [
  {
    name: "maas_machine",
    create: () => ({
      path: "machines/",
      form: {
        power_type: "ipmi",
        mac_addresses: "52:54:00:7f:10:01",
        architecture: "amd64/generic",
        hostname: "tf-machine",
        domain: "maas",
        zone: "default",
        pool: "default",
        power_parameters_power_address: "10.9.0.8",
        power_parameters_power_user: "ADMIN",
        power_parameters_power_pass: "tf-secret",
      },
    }),
    // Create waits for Ready (pending Commissioning, Testing): what commissioning ends in.
    settle: async (c) => {
      expect(c.status_name).toBe("Commissioning");
      await env.DB.prepare("UPDATE machines SET status = ? WHERE system_id = ?").bind(S.READY, c.system_id).run();
    },
    object: (c) => `machines/${c.system_id}/`,
    reads: () => ({
      architecture: "amd64/generic",
      hostname: "tf-machine",
      domain: expect.objectContaining({ name: "maas" }),
      zone: expect.objectContaining({ name: "default" }),
      pool: expect.objectContaining({ name: "default" }),
      power_type: "ipmi",
      interface_set: [expect.objectContaining({ mac_address: "52:54:00:7f:10:01" })],
    }),
    // Terraform's Update sends every field again, the power parameters flattened.
    update: {
      form: {
        power_type: "ipmi",
        mac_addresses: "52:54:00:7f:10:01",
        architecture: "amd64/generic",
        hostname: "tf-machine-2",
        domain: "maas",
        zone: "default",
        pool: "default",
        power_parameters_power_address: "10.9.0.9",
        power_parameters_power_user: "ADMIN",
        power_parameters_power_pass: "tf-secret",
      },
      reads: { hostname: "tf-machine-2", fqdn: "tf-machine-2.maas" },
    },
  },
  {
    name: "maas_instance",
    prep: async () => {
      await deployableImage("ubuntu", "noble");
      return { sid: await makeMachine({ hostname: "tf-instance", cpuCount: 8, memory: 16384 }) };
    },
    create: () => ({ path: "machines/", op: "allocate", form: { cpu_count: "8", mem: "16384", name: "tf-instance", zone: "default", pool: "default" } }),
    after: (c) => [
      {
        path: `machines/${c.system_id}/`,
        op: "deploy",
        form: { distro_series: "ubuntu/noble", hwe_kernel: "ga-24.04", user_data: btoa("#cloud-config\n"), enable_hw_sync: "false", ephemeral_deploy: "false" },
      },
    ],
    object: (c) => `machines/${c.system_id}/`,
    reads: (p) => ({
      system_id: p.sid,
      hostname: "tf-instance",
      status_name: "Deploying",
      osystem: "ubuntu",
      distro_series: "noble",
      cpu_count: 8,
      memory: 16384,
    }),
    remove: (c) => ({ path: "machines/", op: "release", form: { machines: c.system_id, comment: "Released by Terraform" } }),
    removed: { status_name: "Ready", owner: null },
  },
  {
    name: "maas_network_interface_physical",
    prep: async () => ({ sid: await makeMachine({ hostname: "tf-nic", mac: "52:54:00:7f:20:01" }) }),
    create: (p) => ({
      path: `nodes/${p.sid}/interfaces/`,
      op: "create_physical",
      form: { mac_address: "52:54:00:7f:20:02", mtu: "1500", name: "tf-eth1", tags: "data,fast" },
    }),
    object: (c, p) => `nodes/${p.sid}/interfaces/${c.id}/`,
    reads: () => ({ name: "tf-eth1", mac_address: "52:54:00:7f:20:02", type: "physical", effective_mtu: 1500, tags: ["data", "fast"] }),
    update: {
      form: { mac_address: "52:54:00:7f:20:02", mtu: "9000", name: "tf-data0", tags: "data" },
      reads: { name: "tf-data0", effective_mtu: 9000, tags: ["data"] },
    },
  },
  {
    name: "maas_network_interface_link",
    prep: async () => {
      const sid = await makeMachine({ hostname: "tf-link", mac: "52:54:00:7f:30:01" });
      const subnet = (await maas(admin, "POST", "subnets/", { form: { cidr: "10.126.0.0/24", gateway_ip: "10.126.0.1" } })).json;
      const iface = (await maas(admin, "GET", `nodes/${sid}/interfaces/`)).json[0];
      return { sid, subnet, iface };
    },
    create: (p) => ({
      path: `nodes/${p.sid}/interfaces/${p.iface.id}/`,
      op: "link_subnet",
      form: { mode: "STATIC", subnet: String(p.subnet.id), ip_address: "10.126.0.50", default_gateway: "false" },
    }),
    object: (_c, p) => `nodes/${p.sid}/interfaces/${p.iface.id}/`,
    reads: (p) => ({
      links: [
        { id: expect.any(Number), mode: "static", ip_address: "10.126.0.50", subnet: expect.objectContaining({ id: p.subnet.id, cidr: "10.126.0.0/24" }) },
      ],
    }),
    remove: (c, p) => ({ path: `nodes/${p.sid}/interfaces/${p.iface.id}/`, op: "unlink_subnet", form: { id: String(c.links[0].id) } }),
    removed: { links: [] },
  },
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
      const post = async (st: Step) => {
        const r = await maas(admin, "POST", st.path, { form: st.form, ...(st.op ? { query: { op: st.op } } : {}) });
        expect(r.status, `${st.op ?? "POST"} ${st.path}: ${r.text}`).toBe(200);
        return r.json as Json;
      };
      const made = await post(res.create(p));
      for (const st of res.after?.(made, p) ?? []) await post(st);
      await res.settle?.(made);
      const path = res.object(made, p);
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
      if (res.remove) {
        await post(res.remove(made, p));
        expect((await maas(admin, "GET", path)).json).toMatchObject(res.removed ?? {});
        return;
      }
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
