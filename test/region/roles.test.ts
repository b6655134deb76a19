// The role × route matrix: four roles scoped to site "north", one global admin, and the same
// requests against objects of "north" and of "south" (cross-site must look absent and change
// nothing). The last test checks that every authenticated route of the OpenAPI document has a
// case here, so a new route cannot slip past the matrix.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { table as maasTable } from "../../cloud/maas/index";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import { call, deployableImage, makeMachine, makeUser, siteId, TEST_CERT as CERT } from "./helpers";
import { enrolRack } from "./tunnel-helpers";

type Who = "admin" | "operator" | "remote-hands" | "viewer" | "nobody";
const WHO: Who[] = ["admin", "operator", "remote-hands", "viewer", "nobody"];
const keys = {} as Record<Who, string>;
const SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEnVr18cEoy1VaTHrjmyRFwNhFNFcUwwJ/fuHR6lmg4u roles@test";
const USERNAME: Record<Who, string> = { admin: "root", operator: "oper", "remote-hands": "hands", viewer: "view", nobody: "nobody" };
let rootId = 0;
/** One enrolled rack on each site (rack routes are site-scoped like machines). */
const racks = {} as Record<"north" | "south", string>;

beforeAll(async () => {
  await deployableImage("ubuntu", "noble");
  keys.admin = await makeUser("root", [["admin", null]]);
  keys.operator = await makeUser("oper", [["operator", "north"]]);
  keys["remote-hands"] = await makeUser("hands", [["remote-hands", "north"]]);
  keys.viewer = await makeUser("view", [["viewer", "north"]]);
  keys.nobody = await makeUser("nobody", []);
  await siteId("south");
  rootId = (await env.DB.prepare("SELECT id FROM users WHERE username = 'root'").first<{ id: number }>())!.id;
  await env.DB.prepare("INSERT INTO tags (name) VALUES ('rack-a') ON CONFLICT DO NOTHING").run();
  racks.north = (await enrolRack(keys.admin, "north", "rack-north")).rackId;
  racks.south = (await enrolRack(keys.admin, "south", "rack-south")).rackId;
});

interface Case {
  name: string;
  /** The OpenAPI route this case exercises ("METHOD /path/{param}"). */
  route: string;
  /** Builds the request against a fresh machine on the given site. */
  req: (id: string) => [string, string, unknown?];
  status?: number;
  previousStatus?: number;
  locked?: boolean;
  /** The machine is owned by the global admin (deploy and release check the owner). */
  ownedByAdmin?: boolean;
  expect: Record<Who, number>;
}

const mac = (w: string, n: number) => `52:54:01:${w.length.toString(16).padStart(2, "0")}:${w.charCodeAt(0).toString(16)}:0${n}`;
const ALL = (n: number): Record<Who, number> => ({ admin: n, operator: n, "remote-hands": n, viewer: n, nobody: n });
/** Machine routes: who may act on a machine of a site it holds a role on. */
const EDIT = (n: number): Record<Who, number> => ({ admin: n, operator: n, "remote-hands": 403, viewer: 403, nobody: 404 });
const HANDS = (n: number): Record<Who, number> => ({ admin: n, operator: n, "remote-hands": n, viewer: 403, nobody: 404 });
const READ = (n: number): Record<Who, number> => ({ ...ALL(n), nobody: 404 });

const cases: Case[] = [
  { name: "read machine", route: "GET /machines/{id}", req: (id) => ["GET", `/machines/${id}`], expect: READ(200) },
  { name: "update machine", route: "PATCH /machines/{id}", req: (id) => ["PATCH", `/machines/${id}`, { description: "x" }], expect: EDIT(200) },
  // Moving a machine needs the right on the target site too; south is invisible to north's roles.
  {
    name: "move machine to south",
    route: "PATCH /machines/{id}",
    req: (id) => ["PATCH", `/machines/${id}`, { site: "south" }],
    expect: { ...EDIT(200), operator: 404 },
  },
  { name: "delete machine", route: "DELETE /machines/{id}", req: (id) => ["DELETE", `/machines/${id}`], expect: EDIT(204) },
  { name: "commission", route: "POST /machines/{id}/commission", req: (id) => ["POST", `/machines/${id}/commission`, {}], expect: EDIT(200) },
  { name: "allocate this machine", route: "POST /machines/{id}/allocate", req: (id) => ["POST", `/machines/${id}/allocate`, {}], expect: EDIT(200) },
  { name: "deploy", route: "POST /machines/{id}/deploy", req: (id) => ["POST", `/machines/${id}/deploy`, {}], expect: EDIT(200) },
  {
    name: "deploy a machine the admin owns",
    route: "POST /machines/{id}/deploy",
    status: S.ALLOCATED,
    ownedByAdmin: true,
    req: (id) => ["POST", `/machines/${id}/deploy`, {}],
    expect: { ...EDIT(200), operator: 403 },
  },
  { name: "release", route: "POST /machines/{id}/release", status: S.ALLOCATED, req: (id) => ["POST", `/machines/${id}/release`, {}], expect: EDIT(200) },
  {
    name: "release a machine the admin owns",
    route: "POST /machines/{id}/release",
    status: S.DEPLOYED,
    ownedByAdmin: true,
    req: (id) => ["POST", `/machines/${id}/release`, {}],
    expect: { ...EDIT(200), operator: 403 },
  },
  {
    name: "abort",
    route: "POST /machines/{id}/abort",
    status: S.COMMISSIONING,
    previousStatus: S.NEW,
    req: (id) => ["POST", `/machines/${id}/abort`, {}],
    expect: EDIT(200),
  },
  {
    name: "rescue mode",
    route: "POST /machines/{id}/rescue_mode",
    status: S.DEPLOYED,
    req: (id) => ["POST", `/machines/${id}/rescue_mode`, {}],
    expect: EDIT(200),
  },
  {
    name: "exit rescue mode",
    route: "POST /machines/{id}/exit_rescue_mode",
    status: S.RESCUE_MODE,
    previousStatus: S.DEPLOYED,
    req: (id) => ["POST", `/machines/${id}/exit_rescue_mode`, {}],
    expect: EDIT(200),
  },
  { name: "lock", route: "POST /machines/{id}/lock", status: S.DEPLOYED, req: (id) => ["POST", `/machines/${id}/lock`, {}], expect: EDIT(200) },
  {
    name: "unlock",
    route: "POST /machines/{id}/unlock",
    status: S.DEPLOYED,
    locked: true,
    req: (id) => ["POST", `/machines/${id}/unlock`, {}],
    expect: EDIT(200),
  },
  { name: "mark broken", route: "POST /machines/{id}/mark_broken", req: (id) => ["POST", `/machines/${id}/mark_broken`, {}], expect: HANDS(200) },
  {
    name: "mark fixed",
    route: "POST /machines/{id}/mark_fixed",
    status: S.BROKEN,
    req: (id) => ["POST", `/machines/${id}/mark_fixed`, {}],
    expect: HANDS(200),
  },
  { name: "power on", route: "POST /machines/{id}/power_on", req: (id) => ["POST", `/machines/${id}/power_on`, {}], expect: HANDS(202) },
  { name: "power off", route: "POST /machines/{id}/power_off", req: (id) => ["POST", `/machines/${id}/power_off`, {}], expect: HANDS(202) },
  { name: "power cycle", route: "POST /machines/{id}/power_cycle", req: (id) => ["POST", `/machines/${id}/power_cycle`, {}], expect: HANDS(202) },
  {
    name: "query power state",
    route: "POST /machines/{id}/query_power_state",
    req: (id) => ["POST", `/machines/${id}/query_power_state`, {}],
    expect: HANDS(202),
  },
  { name: "identify", route: "POST /machines/{id}/identify", req: (id) => ["POST", `/machines/${id}/identify`, {}], expect: HANDS(202) },
  {
    name: "comment",
    route: "POST /machines/{id}/comment",
    req: (id) => ["POST", `/machines/${id}/comment`, { text: "reseated PSU" }],
    expect: { ...HANDS(201) },
  },
  {
    name: "reveal BMC parameters",
    route: "GET /machines/{id}/power-parameters",
    req: (id) => ["GET", `/machines/${id}/power-parameters`],
    expect: { admin: 200, operator: 403, "remote-hands": 403, viewer: 403, nobody: 404 },
  },
  { name: "commissioning results", route: "GET /machines/{id}/results", req: (id) => ["GET", `/machines/${id}/results`], expect: READ(200) },
  { name: "tag the machine", route: "POST /tags/{name}/machines", req: (id) => ["POST", "/tags/rack-a/machines", { add: [id] }], expect: EDIT(200) },
  { name: "untag the machine", route: "POST /tags/{name}/machines", req: (id) => ["POST", "/tags/rack-a/machines", { remove: [id] }], expect: EDIT(200) },
  // Interface kinds (issue 15): bonds, VLAN interfaces, bridges on a machine's interfaces.
  { name: "list interfaces", route: "GET /machines/{id}/interfaces", req: (id) => ["GET", `/machines/${id}/interfaces`], expect: READ(200) },
  {
    name: "create a bond",
    route: "POST /machines/{id}/interfaces",
    req: (id) => ["POST", `/machines/${id}/interfaces`, { type: "bond", name: "bond0", parents: ["eth0"] }],
    expect: EDIT(201),
  },
  {
    name: "update an interface",
    route: "PATCH /machines/{id}/interfaces/{iface}",
    req: (id) => ["PATCH", `/machines/${id}/interfaces/eth0`, { mtu: 1400 }],
    expect: EDIT(200),
  },
  {
    name: "list links",
    route: "GET /machines/{id}/interfaces/{iface}/links",
    req: (id) => ["GET", `/machines/${id}/interfaces/eth0/links`],
    expect: READ(200),
  },
  // The fresh machine's interface is on no subnet the caller may name: refused (400) once the role allows.
  {
    name: "link a subnet",
    route: "POST /machines/{id}/interfaces/{iface}/links",
    req: (id) => ["POST", `/machines/${id}/interfaces/eth0/links`, { mode: "dhcp", subnet_id: 999999 }],
    expect: EDIT(400),
  },
  {
    name: "unlink a subnet",
    route: "DELETE /machines/{id}/interfaces/{iface}/links/{link}",
    req: (id) => ["DELETE", `/machines/${id}/interfaces/eth0/links/999999`],
    expect: EDIT(404),
  },
  {
    name: "set the default gateway",
    route: "PUT /machines/{id}/interfaces/{iface}/default-gateway",
    req: (id) => ["PUT", `/machines/${id}/interfaces/eth0/default-gateway`, { link_id: null }],
    // eth0 has no addressed link on a subnet with a gateway: refused (400) once the role allows.
    expect: EDIT(400),
  },
  // The fresh machine's one interface is its boot interface: refused (409) once the role allows.
  {
    name: "delete an interface",
    route: "DELETE /machines/{id}/interfaces/{iface}",
    req: (id) => ["DELETE", `/machines/${id}/interfaces/eth0`],
    expect: EDIT(409),
  },
  // Storage (issue 16): the fresh machine has no disks, so its design is blank; every change
  // reaches the model once the role allows and is refused there (4xx with the reason).
  { name: "storage design", route: "GET /machines/{id}/storage", req: (id) => ["GET", `/machines/${id}/storage`], expect: READ(200) },
  {
    name: "storage layout (no disks)",
    route: "POST /machines/{id}/storage/layout",
    req: (id) => ["POST", `/machines/${id}/storage/layout`, { layout: "flat" }],
    expect: EDIT(400),
  },
  { name: "boot disk", route: "PUT /machines/{id}/storage/boot-disk", req: (id) => ["PUT", `/machines/${id}/storage/boot-disk`, { id: 1 }], expect: EDIT(400) },
  {
    name: "create a partition",
    route: "POST /machines/{id}/storage/partitions",
    req: (id) => ["POST", `/machines/${id}/storage/partitions`, { device: 999999 }],
    expect: EDIT(404),
  },
  {
    name: "delete a partition",
    route: "DELETE /machines/{id}/storage/partitions/{pid}",
    req: (id) => ["DELETE", `/machines/${id}/storage/partitions/1000000999`],
    expect: EDIT(404),
  },
  ...(["format", "unformat", "mount", "unmount"] as const).map(
    (op): Case => ({
      name: `${op} a device`,
      route: `POST /machines/{id}/storage/devices/{dev}/${op}`,
      req: (id) => [
        "POST",
        `/machines/${id}/storage/devices/999999/${op}`,
        op === "format" ? { fstype: "ext4" } : op === "mount" ? { mount_point: "/srv" } : undefined,
      ],
      expect: EDIT(404),
    }),
  ),
  {
    name: "create a RAID",
    route: "POST /machines/{id}/storage/raids",
    req: (id) => ["POST", `/machines/${id}/storage/raids`, { level: 1, devices: [999998, 999999] }],
    expect: EDIT(404),
  },
  {
    name: "update a RAID",
    route: "PATCH /machines/{id}/storage/raids/{rid}",
    req: (id) => ["PATCH", `/machines/${id}/storage/raids/1000000999`, { name: "md9" }],
    expect: EDIT(404),
  },
  {
    name: "delete a RAID",
    route: "DELETE /machines/{id}/storage/raids/{rid}",
    req: (id) => ["DELETE", `/machines/${id}/storage/raids/1000000999`],
    expect: EDIT(404),
  },
  {
    name: "create a volume group",
    route: "POST /machines/{id}/storage/volume-groups",
    req: (id) => ["POST", `/machines/${id}/storage/volume-groups`, { name: "vg0", devices: [999999] }],
    expect: EDIT(404),
  },
  {
    name: "update a volume group",
    route: "PATCH /machines/{id}/storage/volume-groups/{vg}",
    req: (id) => ["PATCH", `/machines/${id}/storage/volume-groups/1000000999`, { name: "vg1" }],
    expect: EDIT(404),
  },
  {
    name: "delete a volume group",
    route: "DELETE /machines/{id}/storage/volume-groups/{vg}",
    req: (id) => ["DELETE", `/machines/${id}/storage/volume-groups/1000000999`],
    expect: EDIT(404),
  },
  {
    name: "create a logical volume",
    route: "POST /machines/{id}/storage/volume-groups/{vg}/logical-volumes",
    req: (id) => ["POST", `/machines/${id}/storage/volume-groups/1000000999/logical-volumes`, { name: "lv0" }],
    expect: EDIT(404),
  },
  {
    name: "delete a logical volume",
    route: "DELETE /machines/{id}/storage/logical-volumes/{lv}",
    req: (id) => ["DELETE", `/machines/${id}/storage/logical-volumes/1000000999`],
    expect: EDIT(404),
  },
  {
    name: "create a cache set",
    route: "POST /machines/{id}/storage/cache-sets",
    req: (id) => ["POST", `/machines/${id}/storage/cache-sets`, { device: 999999 }],
    expect: EDIT(404),
  },
  {
    name: "delete a cache set",
    route: "DELETE /machines/{id}/storage/cache-sets/{cs}",
    req: (id) => ["DELETE", `/machines/${id}/storage/cache-sets/1000000999`],
    expect: EDIT(404),
  },
  {
    name: "create a bcache",
    route: "POST /machines/{id}/storage/bcaches",
    req: (id) => ["POST", `/machines/${id}/storage/bcaches`, { backing: 999999, cache_set: 1000000999 }],
    expect: EDIT(404),
  },
  {
    name: "update a bcache",
    route: "PATCH /machines/{id}/storage/bcaches/{bc}",
    req: (id) => ["PATCH", `/machines/${id}/storage/bcaches/1000000999`, { cache_mode: "writethrough" }],
    expect: EDIT(404),
  },
  {
    name: "delete a bcache",
    route: "DELETE /machines/{id}/storage/bcaches/{bc}",
    req: (id) => ["DELETE", `/machines/${id}/storage/bcaches/1000000999`],
    expect: EDIT(404),
  },
];

/** Everything a denied request must leave alone: the machine row, its tags, its events. */
async function snapshot(id: string) {
  const row = await env.DB.prepare(
    "SELECT status, previous_status, description, locked, site_id, owner_id, power_type, power_params_enc FROM machines WHERE system_id = ?",
  )
    .bind(id)
    .first();
  const tags = await env.DB.prepare(
    "SELECT t.name FROM machine_tags mt JOIN tags t ON t.id = mt.tag_id JOIN machines m ON m.id = mt.machine_id WHERE m.system_id = ? ORDER BY t.name",
  )
    .bind(id)
    .all();
  const events = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE system_id = ?").bind(id).first<{ n: number }>();
  return { row, tags: tags.results, events: events!.n };
}

async function machineFor(c: Case, site: string, tagged: boolean) {
  return makeMachine({
    site,
    status: c.status ?? S.READY,
    previousStatus: c.previousStatus ?? null,
    locked: c.locked,
    ownerId: c.ownedByAdmin ? rootId : null,
    tags: tagged ? ["rack-a"] : [],
  });
}

describe.each(WHO)("as %s", (who) => {
  it.each(cases.map((c) => [c.name, c] as const))("%s on its own site", async (_n, c) => {
    const id = await machineFor(c, "north", c.name === "untag the machine");
    const before = await snapshot(id);
    const [method, path, body] = c.req(id);
    const r = await call(keys[who], method, path, body);
    expect(r.status, r.text).toBe(c.expect[who]);
    if (r.status >= 400) {
      expect(r.json.error.code).toBeTypeOf("string");
      expect(await snapshot(id), "a denied request changes nothing").toEqual(before);
    }
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s on another site", async (_n, c) => {
    const id = await machineFor(c, "south", c.name === "untag the machine");
    const before = await snapshot(id);
    const [method, path, body] = c.req(id);
    const r = await call(keys[who], method, path, body);
    // Only the global admin reaches other sites; for everyone else the machine does not exist.
    expect(r.status, r.text).toBe(who === "admin" ? c.expect.admin : 404);
    if (who !== "admin") {
      expect(r.json.error.code).toBe("not_found");
      expect(await snapshot(id)).toEqual(before);
    }
  });
});

it("tagging a list that holds one machine of another site touches none of them", async () => {
  const own = await makeMachine({ site: "north" });
  const other = await makeMachine({ site: "south" });
  const r = await call(keys.operator, "POST", "/tags/rack-a/machines", { add: [own, other] });
  expect(r.status, r.text).toBe(404);
  for (const id of [own, other]) expect((await snapshot(id)).tags).toEqual([]);
  const untag = await makeMachine({ site: "south", tags: ["rack-a"] });
  expect((await call(keys.operator, "POST", "/tags/rack-a/machines", { remove: [untag] })).status).toBe(404);
  expect((await snapshot(untag)).tags).toEqual([{ name: "rack-a" }]);
});

/** Collection and non-machine routes; `prep` makes the objects a request names (unique per caller). */
interface Global {
  name: string;
  route: string;
  prep?: (w: Who) => Promise<Record<string, string | number>>;
  req: (w: Who, o: Record<string, string | number>) => [string, string, unknown?];
  expect: Record<Who, number>;
  /** Checks after the request (e.g. a denied revocation left the key working). */
  after?: (w: Who, status: number, o: Record<string, string | number>) => Promise<void>;
}

const ADMIN_ONLY = (n: number, others = 403): Record<Who, number> => ({ admin: n, operator: others, "remote-hands": others, viewer: others, nobody: others });
/** Objects of site north: its roles may read them, nobody (no binding) cannot see them. */
const NORTH_ADMIN = (n: number): Record<Who, number> => ({ ...ADMIN_ONLY(n), nobody: 404 });

const named = async (table: string, name: string) => {
  await env.DB.prepare(`INSERT INTO ${table} (name) VALUES (?) ON CONFLICT DO NOTHING`).bind(name).run();
  return { name };
};
const subnet = async (site: string, n: number) => {
  const r = await env.DB.prepare("INSERT INTO subnets (cidr, site_id) VALUES (?, ?) RETURNING id")
    .bind(`10.${100 + n}.7.0/24`, await siteId(site))
    .first<{ id: number }>();
  return r!.id;
};
let subnetSeq = 0;
const vlan = async (vid: number) => {
  const r = await env.DB.prepare("INSERT INTO vlans (fabric_id, vid) SELECT id, ? FROM fabrics WHERE name = 'fabric-0' RETURNING id")
    .bind(vid)
    .first<{ id: number }>();
  return { id: r!.id };
};
const dnsDomain = async (name: string) => {
  await env.DB.prepare("INSERT INTO domains (name) VALUES (?) ON CONFLICT DO NOTHING").bind(name).run();
  return { name };
};
const dnsResource = async (name: string) => {
  const r = await env.DB.prepare("INSERT INTO dns_resources (name, domain_id) VALUES (?, 0) RETURNING id").bind(name).first<{ id: number }>();
  return { id: r!.id };
};
const dnsRecord = async (name: string) => {
  const { id } = await dnsResource(name);
  const r = await env.DB.prepare("INSERT INTO dns_records (resource_id, rrtype, rrdata) VALUES (?, 'TXT', 'x') RETURNING id").bind(id).first<{ id: number }>();
  return { id: r!.id };
};
const userWithKey = async (name: string) => {
  const key = await makeUser(name, [["viewer", "north"]]);
  const keyId = key.split("_")[1]!;
  return { name, key, keyId };
};
const bootSource = async (name: string, withSelection = false): Promise<Record<string, number>> => {
  const src = await env.DB.prepare("INSERT INTO boot_sources (url, skip_verify) VALUES (?, 1) RETURNING id")
    .bind(`http://${name}.test/`)
    .first<{ id: number }>();
  if (!withSelection) return { id: src!.id };
  const sel = await env.DB.prepare("INSERT INTO boot_source_selections (source_id, os, release) VALUES (?, 'ubuntu', 'noble') RETURNING id")
    .bind(src!.id)
    .first<{ id: number }>();
  return { id: src!.id, sid: sel!.id };
};
const stillWorks = (expectWorks: (w: Who) => boolean) => async (w: Who, _s: number, o: Record<string, string | number>) => {
  expect((await call(String(o.key), "GET", "/me")).status, `key of ${o.name} after ${w}`).toBe(expectWorks(w) ? 200 : 401);
};
const command = async (rack: string) => {
  const id = `cmd-${crypto.randomUUID()}`;
  await env.DB.prepare("INSERT INTO rack_commands (id, rack_id, type, deadline) VALUES (?, ?, 'power.on', ?)")
    .bind(id, rack, Date.now() + 60_000)
    .run();
  return { id };
};

const matrix: Global[] = [
  // Machines as a collection.
  { name: "list machines", route: "GET /machines", req: () => ["GET", "/machines"], expect: ALL(200) },
  {
    name: "create machine on own site",
    route: "POST /machines",
    req: (w) => ["POST", "/machines", { mac_addresses: [mac(w, 1)], site: "north" }],
    expect: { ...EDIT(201), nobody: 404 },
  },
  {
    name: "create machine on another site",
    route: "POST /machines",
    req: (w) => ["POST", "/machines", { mac_addresses: [mac(w, 2)], site: "south" }],
    expect: ADMIN_ONLY(201, 404),
  },
  {
    name: "allocate",
    route: "POST /machines/allocate",
    prep: async () => ({ id: await makeMachine({ site: "north" }) }),
    req: (_w, o) => ["POST", "/machines/allocate", { system_id: o.id }],
    expect: { admin: 200, operator: 200, "remote-hands": 403, viewer: 403, nobody: 403 },
  },
  {
    name: "allocate a machine of another site",
    route: "POST /machines/allocate",
    prep: async () => ({ id: await makeMachine({ site: "south" }) }),
    req: (_w, o) => ["POST", "/machines/allocate", { system_id: o.id }],
    expect: { admin: 200, operator: 409, "remote-hands": 403, viewer: 403, nobody: 403 },
    after: async (w, _s, o) =>
      expect(await snapshot(String(o.id)).then((s) => (s.row as { status: number }).status)).toBe(w === "admin" ? S.ALLOCATED : S.READY),
  },
  // Sites: objects of their own, scoped like machines.
  { name: "list sites", route: "GET /sites", req: () => ["GET", "/sites"], expect: ALL(200) },
  { name: "read own site", route: "GET /sites/{key}", req: () => ["GET", "/sites/north"], expect: READ(200) },
  { name: "read another site", route: "GET /sites/{key}", req: () => ["GET", "/sites/south"], expect: ADMIN_ONLY(200, 404) },
  { name: "create site", route: "POST /sites", req: (w) => ["POST", "/sites", { name: `west-${w}` }], expect: ADMIN_ONLY(201) },
  { name: "update own site", route: "PATCH /sites/{key}", req: () => ["PATCH", "/sites/north", { description: "the north hall" }], expect: NORTH_ADMIN(200) },
  {
    name: "update another site",
    route: "PATCH /sites/{key}",
    req: () => ["PATCH", "/sites/south", { description: "the south hall" }],
    expect: ADMIN_ONLY(200, 404),
  },
  { name: "delete own site (in use)", route: "DELETE /sites/{key}", req: () => ["DELETE", "/sites/north"], expect: NORTH_ADMIN(409) },
  {
    name: "delete another site",
    route: "DELETE /sites/{key}",
    prep: (w) => named("sites", `gone-${w}`),
    req: (_w, o) => ["DELETE", `/sites/${o.name}`],
    expect: ADMIN_ONLY(204, 404),
  },
  // Zones, pools, fabrics, spaces: global catalogues.
  ...(
    [
      ["zones", "zones"],
      ["pools", "resource_pools"],
      ["fabrics", "fabrics"],
      ["spaces", "spaces"],
    ] as const
  ).flatMap(([path, table]): Global[] => [
    { name: `list ${path}`, route: `GET /${path}`, req: () => ["GET", `/${path}`], expect: ALL(200) },
    {
      name: `read one of ${path}`,
      route: `GET /${path}/{key}`,
      prep: (w) => named(table, `r-${path}-${w}`),
      req: (_w, o) => ["GET", `/${path}/${o.name}`],
      expect: ALL(200),
    },
    { name: `create in ${path}`, route: `POST /${path}`, req: (w) => ["POST", `/${path}`, { name: `c-${path}-${w}` }], expect: ADMIN_ONLY(201) },
    {
      name: `update in ${path}`,
      route: `PATCH /${path}/{key}`,
      prep: (w) => named(table, `p-${path}-${w}`),
      req: (_w, o) => ["PATCH", `/${path}/${o.name}`, { description: "changed" }],
      expect: ADMIN_ONLY(200),
    },
    {
      name: `delete in ${path}`,
      route: `DELETE /${path}/{key}`,
      prep: (w) => named(table, `d-${path}-${w}`),
      req: (_w, o) => ["DELETE", `/${path}/${o.name}`],
      expect: ADMIN_ONLY(204),
    },
  ]),
  // Tags (adding machines to tags is in the per-machine cases).
  { name: "list tags", route: "GET /tags", req: () => ["GET", "/tags"], expect: ALL(200) },
  { name: "read tag", route: "GET /tags/{name}", req: () => ["GET", "/tags/rack-a"], expect: ALL(200) },
  { name: "create tag", route: "POST /tags", req: (w) => ["POST", "/tags", { name: `t-${w}` }], expect: ADMIN_ONLY(201) },
  {
    name: "update tag",
    route: "PATCH /tags/{name}",
    prep: (w) => named("tags", `pt-${w}`),
    req: (_w, o) => ["PATCH", `/tags/${o.name}`, { comment: "changed" }],
    expect: ADMIN_ONLY(200),
  },
  {
    name: "delete tag",
    route: "DELETE /tags/{name}",
    prep: (w) => named("tags", `dt-${w}`),
    req: (_w, o) => ["DELETE", `/tags/${o.name}`],
    expect: ADMIN_ONLY(204),
  },
  // DNS: everyone reads domains and operators' data; changing them needs network.manage everywhere.
  { name: "list domains", route: "GET /domains", req: () => ["GET", "/domains"], expect: ALL(200) },
  { name: "read domain", route: "GET /domains/{key}", req: () => ["GET", "/domains/maas"], expect: ALL(200) },
  { name: "create domain", route: "POST /domains", req: (w) => ["POST", "/domains", { name: `new-${w}.test` }], expect: ADMIN_ONLY(201) },
  {
    name: "update domain",
    route: "PATCH /domains/{key}",
    prep: (w) => dnsDomain(`pd-${w}.test`),
    req: (_w, o) => ["PATCH", `/domains/${o.name}`, { ttl: 60 }],
    expect: ADMIN_ONLY(200),
  },
  {
    name: "delete domain",
    route: "DELETE /domains/{key}",
    prep: (w) => dnsDomain(`dd-${w}.test`),
    req: (_w, o) => ["DELETE", `/domains/${o.name}`],
    expect: ADMIN_ONLY(204),
  },
  { name: "list DNS resources", route: "GET /dns/resources", req: () => ["GET", "/dns/resources"], expect: ALL(200) },
  {
    name: "read DNS resource",
    route: "GET /dns/resources/{id}",
    prep: (w) => dnsResource(`rr-${w}`),
    req: (_w, o) => ["GET", `/dns/resources/${o.id}`],
    expect: ALL(200),
  },
  {
    name: "create DNS resource",
    route: "POST /dns/resources",
    req: (w) => ["POST", "/dns/resources", { name: `cr-${w}`, addresses: [`10.55.0.${WHO.indexOf(w) + 1}`] }],
    expect: ADMIN_ONLY(201),
  },
  {
    name: "update DNS resource",
    route: "PATCH /dns/resources/{id}",
    prep: (w) => dnsResource(`ur-${w}`),
    req: (_w, o) => ["PATCH", `/dns/resources/${o.id}`, { address_ttl: 90 }],
    expect: ADMIN_ONLY(200),
  },
  {
    name: "delete DNS resource",
    route: "DELETE /dns/resources/{id}",
    prep: (w) => dnsResource(`xr-${w}`),
    req: (_w, o) => ["DELETE", `/dns/resources/${o.id}`],
    expect: ADMIN_ONLY(204),
  },
  { name: "list DNS records", route: "GET /dns/records", req: () => ["GET", "/dns/records"], expect: ALL(200) },
  {
    name: "read DNS record",
    route: "GET /dns/records/{id}",
    prep: (w) => dnsRecord(`rd-${w}`),
    req: (_w, o) => ["GET", `/dns/records/${o.id}`],
    expect: ALL(200),
  },
  {
    name: "create DNS record",
    route: "POST /dns/records",
    req: (w) => ["POST", "/dns/records", { name: `cd-${w}`, type: "TXT", data: "hello" }],
    expect: ADMIN_ONLY(201),
  },
  {
    name: "update DNS record",
    route: "PATCH /dns/records/{id}",
    prep: (w) => dnsRecord(`ud-${w}`),
    req: (_w, o) => ["PATCH", `/dns/records/${o.id}`, { data: "changed" }],
    expect: ADMIN_ONLY(200),
  },
  {
    name: "delete DNS record",
    route: "DELETE /dns/records/{id}",
    prep: (w) => dnsRecord(`xd-${w}`),
    req: (_w, o) => ["DELETE", `/dns/records/${o.id}`],
    expect: ADMIN_ONLY(204),
  },
  { name: "list a site's zones", route: "GET /dns/zones", req: () => ["GET", "/dns/zones?site=north"], expect: READ(200) },
  { name: "export a zone", route: "GET /dns/zones/{name}/zonefile", req: () => ["GET", "/dns/zones/maas/zonefile?site=north"], expect: READ(200) },
  // Networks: admin; subnets and their ranges belong to a site.
  { name: "list VLANs", route: "GET /vlans", req: () => ["GET", "/vlans"], expect: ALL(200) },
  { name: "create VLAN", route: "POST /vlans", req: (w) => ["POST", "/vlans", { vid: 100 + WHO.indexOf(w) }], expect: ADMIN_ONLY(201) },
  { name: "read VLAN", route: "GET /vlans/{id}", prep: (w) => vlan(200 + WHO.indexOf(w)), req: (_w, o) => ["GET", `/vlans/${o.id}`], expect: ALL(200) },
  {
    name: "update VLAN",
    route: "PATCH /vlans/{id}",
    prep: (w) => vlan(210 + WHO.indexOf(w)),
    req: (_w, o) => ["PATCH", `/vlans/${o.id}`, { mtu: 9000 }],
    expect: ADMIN_ONLY(200),
  },
  {
    name: "delete VLAN",
    route: "DELETE /vlans/{id}",
    prep: (w) => vlan(220 + WHO.indexOf(w)),
    req: (_w, o) => ["DELETE", `/vlans/${o.id}`],
    expect: ADMIN_ONLY(204),
    after: async (w, _s, o) => expect(!!(await env.DB.prepare("SELECT 1 FROM vlans WHERE id = ?").bind(o.id).first())).toBe(w !== "admin"),
  },
  { name: "list subnets", route: "GET /subnets", req: () => ["GET", "/subnets"], expect: ALL(200) },
  {
    name: "read own site's subnet",
    route: "GET /subnets/{id}",
    prep: async () => ({ id: await subnet("north", ++subnetSeq) }),
    req: (_w, o) => ["GET", `/subnets/${o.id}`],
    expect: READ(200),
  },
  {
    name: "read another site's subnet",
    route: "GET /subnets/{id}",
    prep: async () => ({ id: await subnet("south", ++subnetSeq) }),
    req: (_w, o) => ["GET", `/subnets/${o.id}`],
    expect: ADMIN_ONLY(200, 404),
  },
  {
    name: "create subnet on own site",
    route: "POST /subnets",
    req: (w) => ["POST", "/subnets", { cidr: `10.9.${WHO.indexOf(w)}.0/24`, site: "north" }],
    expect: ADMIN_ONLY(201),
  },
  {
    name: "create subnet on another site",
    route: "POST /subnets",
    req: (w) => ["POST", "/subnets", { cidr: `10.8.${WHO.indexOf(w)}.0/24`, site: "south" }],
    expect: ADMIN_ONLY(201),
  },
  {
    name: "update own site's subnet",
    route: "PATCH /subnets/{id}",
    prep: async () => ({ id: await subnet("north", ++subnetSeq) }),
    req: (_w, o) => ["PATCH", `/subnets/${o.id}`, { name: "renamed" }],
    expect: NORTH_ADMIN(200),
  },
  {
    name: "update another site's subnet",
    route: "PATCH /subnets/{id}",
    prep: async () => ({ id: await subnet("south", ++subnetSeq) }),
    req: (_w, o) => ["PATCH", `/subnets/${o.id}`, { name: "renamed" }],
    expect: ADMIN_ONLY(200, 404),
  },
  {
    name: "delete own site's subnet",
    route: "DELETE /subnets/{id}",
    prep: async () => ({ id: await subnet("north", ++subnetSeq) }),
    req: (_w, o) => ["DELETE", `/subnets/${o.id}`],
    expect: NORTH_ADMIN(204),
  },
  {
    name: "delete another site's subnet",
    route: "DELETE /subnets/{id}",
    prep: async () => ({ id: await subnet("south", ++subnetSeq) }),
    req: (_w, o) => ["DELETE", `/subnets/${o.id}`],
    expect: ADMIN_ONLY(204, 404),
  },
  {
    name: "create IP range on own site",
    route: "POST /ip-ranges",
    prep: async () => {
      const id = await subnet("north", ++subnetSeq);
      const cidr = (await env.DB.prepare("SELECT cidr FROM subnets WHERE id = ?").bind(id).first<{ cidr: string }>())!.cidr;
      return { id, base: cidr.slice(0, cidr.lastIndexOf(".")) };
    },
    req: (_w, o) => ["POST", "/ip-ranges", { subnet_id: o.id, type: "dynamic", start_ip: `${o.base}.10`, end_ip: `${o.base}.20` }],
    // A subnet the caller cannot see is answered like one that does not exist.
    expect: { ...ADMIN_ONLY(201), nobody: 400 },
  },
  {
    name: "create IP range on another site",
    route: "POST /ip-ranges",
    prep: async () => {
      const id = await subnet("south", ++subnetSeq);
      const cidr = (await env.DB.prepare("SELECT cidr FROM subnets WHERE id = ?").bind(id).first<{ cidr: string }>())!.cidr;
      return { id, base: cidr.slice(0, cidr.lastIndexOf(".")) };
    },
    req: (_w, o) => ["POST", "/ip-ranges", { subnet_id: o.id, type: "dynamic", start_ip: `${o.base}.10`, end_ip: `${o.base}.20` }],
    expect: ADMIN_ONLY(201, 400),
  },
  { name: "list IP ranges", route: "GET /ip-ranges", req: () => ["GET", "/ip-ranges"], expect: ALL(200) },
  ...(["north", "south"] as const).flatMap((site): Global[] => {
    const own = site === "north";
    const range = async () => {
      const s = await subnet(site, ++subnetSeq);
      const r = await env.DB.prepare(
        "INSERT INTO ip_ranges (subnet_id, type, start_ip, end_ip) SELECT id, 'reserved', substr(cidr, 1, length(cidr) - 4) || '10', substr(cidr, 1, length(cidr) - 4) || '20' FROM subnets WHERE id = ? RETURNING id",
      )
        .bind(s)
        .first<{ id: number }>();
      return { id: r!.id, subnet: s };
    };
    return [
      {
        name: `list IP ranges of a ${site} subnet`,
        route: "GET /ip-ranges",
        prep: range,
        req: (_w, o) => ["GET", `/ip-ranges?subnet=${o.subnet}`],
        expect: own ? READ(200) : ADMIN_ONLY(200, 404),
      },
      {
        name: `update IP range of ${site}`,
        route: "PATCH /ip-ranges/{id}",
        prep: range,
        req: (_w, o) => ["PATCH", `/ip-ranges/${o.id}`, { comment: "changed" }],
        expect: own ? NORTH_ADMIN(200) : ADMIN_ONLY(200, 404),
        after: async (w, _s, o) => {
          const r = await env.DB.prepare("SELECT comment FROM ip_ranges WHERE id = ?").bind(o.id).first<{ comment: string }>();
          expect(r!.comment, w).toBe(w === "admin" ? "changed" : "");
        },
      },
    ];
  }),
  ...(["north", "south"] as const).map(
    (site): Global => ({
      name: `delete IP range of ${site}`,
      route: "DELETE /ip-ranges/{id}",
      prep: async () => {
        const s = await subnet(site, ++subnetSeq);
        const r = await env.DB.prepare(
          "INSERT INTO ip_ranges (subnet_id, type, start_ip, end_ip) SELECT id, 'reserved', '10.0.0.1', '10.0.0.2' FROM subnets WHERE id = ? RETURNING id",
        )
          .bind(s)
          .first<{ id: number }>();
        return { id: r!.id };
      },
      req: (_w, o) => ["DELETE", `/ip-ranges/${o.id}`],
      expect: site === "north" ? NORTH_ADMIN(204) : ADMIN_ONLY(204, 404),
      after: async (w, _s, o) => expect(!!(await env.DB.prepare("SELECT 1 FROM ip_ranges WHERE id = ?").bind(o.id).first())).toBe(w !== "admin"),
    }),
  ),
  // Issue 15, links/addresses/allocator: subnet addresses, reservations, utilisation. Reading
  // follows the subnet's site; reserving needs the operator role there; releasing, the owner or an admin.
  ...(["north", "south"] as const).flatMap((site): Global[] => {
    const own = site === "north";
    const reservation = async () => {
      const id = await subnet(site, ++subnetSeq);
      const r = await env.DB.prepare(
        "INSERT INTO ip_addresses (subnet_id, ip, kind, owner_id) SELECT id, substr(cidr, 1, length(cidr) - 4) || '9', 'user_reserved', ? FROM subnets WHERE id = ? RETURNING id",
      )
        .bind(rootId, id)
        .first<{ id: number }>();
      return { id: r!.id, subnet: id };
    };
    return [
      {
        name: `list addresses of a ${site} subnet`,
        route: "GET /ip-addresses",
        prep: async () => ({ id: await subnet(site, ++subnetSeq) }),
        req: (_w, o) => ["GET", `/ip-addresses?subnet=${o.id}`],
        expect: own ? READ(200) : ADMIN_ONLY(200, 404),
      },
      {
        name: `reserve an address in a ${site} subnet`,
        route: "POST /ip-addresses",
        prep: async () => ({ id: await subnet(site, ++subnetSeq) }),
        req: (_w, o) => ["POST", "/ip-addresses", { subnet: o.id }],
        // A subnet the caller cannot see is answered like one that does not exist.
        expect: own ? { admin: 201, operator: 201, "remote-hands": 403, viewer: 403, nobody: 400 } : ADMIN_ONLY(201, 400),
        after: async (w, status, o) => {
          const n = await env.DB.prepare("SELECT count(*) AS n FROM ip_addresses WHERE subnet_id = ?").bind(o.id).first<{ n: number }>();
          expect(n!.n, `${w}`).toBe(status === 201 ? 1 : 0);
        },
      },
      {
        name: `release the admin's reservation in a ${site} subnet`,
        route: "DELETE /ip-addresses/{id}",
        prep: reservation,
        req: (_w, o) => ["DELETE", `/ip-addresses/${o.id}`],
        expect: own ? NORTH_ADMIN(204) : ADMIN_ONLY(204, 404),
        after: async (w, _s, o) => expect(!!(await env.DB.prepare("SELECT 1 FROM ip_addresses WHERE id = ?").bind(o.id).first())).toBe(w !== "admin"),
      },
      {
        name: `utilisation of a ${site} subnet`,
        route: "GET /subnets/{id}/utilisation",
        prep: async () => ({ id: await subnet(site, ++subnetSeq) }),
        req: (_w, o) => ["GET", `/subnets/${o.id}/utilisation`],
        expect: own ? READ(200) : ADMIN_ONLY(200, 404),
      },
    ];
  }),
  // Users, role bindings and keys.
  { name: "list users", route: "GET /users", req: () => ["GET", "/users"], expect: ADMIN_ONLY(200) },
  { name: "read another user", route: "GET /users/{username}", req: () => ["GET", "/users/root"], expect: ADMIN_ONLY(200) },
  { name: "read oneself", route: "GET /users/{username}", req: (w) => ["GET", `/users/${USERNAME[w]}`], expect: ALL(200) },
  { name: "create user", route: "POST /users", req: (w) => ["POST", "/users", { username: `new-${w}` }], expect: ADMIN_ONLY(201) },
  {
    name: "change another user",
    route: "PATCH /users/{username}",
    prep: (w) => userWithKey(`pu-${w}`),
    req: (_w, o) => ["PATCH", `/users/${o.name}`, { email: "changed@example.org" }],
    expect: ADMIN_ONLY(200),
  },
  {
    name: "deactivate another user",
    route: "PATCH /users/{username}",
    prep: (w) => userWithKey(`da-${w}`),
    req: (_w, o) => ["PATCH", `/users/${o.name}`, { is_active: false }],
    expect: ADMIN_ONLY(200),
    after: stillWorks((w) => w !== "admin"),
  },
  {
    name: "change own email",
    route: "PATCH /users/{username}",
    req: (w) => ["PATCH", `/users/${USERNAME[w]}`, { email: `${w}@example.org` }],
    expect: ALL(200),
  },
  {
    name: "reactivate oneself",
    route: "PATCH /users/{username}",
    req: (w) => ["PATCH", `/users/${USERNAME[w]}`, { is_active: true }],
    expect: ADMIN_ONLY(200),
  },
  {
    name: "delete another user",
    route: "DELETE /users/{username}",
    prep: (w) => userWithKey(`du-${w}`),
    req: (_w, o) => ["DELETE", `/users/${o.name}`],
    expect: ADMIN_ONLY(204),
    after: stillWorks((w) => w !== "admin"),
  },
  { name: "delete oneself", route: "DELETE /users/{username}", req: (w) => ["DELETE", `/users/${USERNAME[w]}`], expect: ADMIN_ONLY(409) },
  {
    name: "grant role",
    route: "POST /users/{username}/roles",
    prep: async (w) => ({ ...(await named("sites", `grant-${w}`)), user: (await userWithKey(`gr-${w}`)).name }),
    req: (w, o) => ["POST", `/users/${o.user}/roles`, { role: "viewer", site: `grant-${w}` }],
    expect: ADMIN_ONLY(201),
  },
  {
    name: "grant oneself admin",
    route: "POST /users/{username}/roles",
    req: (w) => ["POST", `/users/${USERNAME[w]}/roles`, { role: "admin", site: null }],
    expect: ADMIN_ONLY(409),
  },
  {
    name: "remove a role binding",
    route: "DELETE /users/{username}/roles/{id}",
    prep: async (w) => {
      const u = await userWithKey(`rb-${w}`);
      const b = await env.DB.prepare("SELECT rb.id FROM role_bindings rb JOIN users u ON u.id = rb.user_id WHERE u.username = ?")
        .bind(u.name)
        .first<{ id: number }>();
      return { ...u, binding: b!.id };
    },
    req: (_w, o) => ["DELETE", `/users/${o.name}/roles/${o.binding}`],
    expect: ADMIN_ONLY(204),
    after: async (w, _s, o) => expect(!!(await env.DB.prepare("SELECT 1 FROM role_bindings WHERE id = ?").bind(o.binding).first())).toBe(w !== "admin"),
  },
  {
    name: "remove one's own role binding",
    route: "DELETE /users/{username}/roles/{id}",
    // The admin names a binding that does not exist (removing its own would end the matrix).
    prep: async (w) => ({
      binding:
        w === "admin"
          ? 999_999
          : ((
              await env.DB.prepare("SELECT rb.id FROM role_bindings rb JOIN users u ON u.id = rb.user_id WHERE u.username = ?")
                .bind(USERNAME[w])
                .first<{ id: number }>()
            )?.id ?? 999_999),
    }),
    req: (w, o) => ["DELETE", `/users/${USERNAME[w]}/roles/${o.binding}`],
    expect: ADMIN_ONLY(404, 403),
    after: async (w) => expect((await call(keys[w], "GET", "/me")).json.roles.length).toBe(w === "nobody" ? 0 : 1),
  },
  { name: "own keys", route: "GET /keys", req: () => ["GET", "/keys"], expect: ALL(200) },
  { name: "new own key", route: "POST /keys", req: () => ["POST", "/keys", { name: "mine" }], expect: ALL(201) },
  {
    name: "revoke own key",
    route: "DELETE /keys/{keyId}",
    prep: async (w) => {
      const r = await call(keys[w], "POST", "/keys", { name: "to-revoke" });
      return { key: r.json.api_key, keyId: r.json.key_id, name: USERNAME[w] };
    },
    req: (_w, o) => ["DELETE", `/keys/${o.keyId}`],
    expect: ALL(204),
    after: stillWorks(() => false),
  },
  {
    name: "revoke another user's key through /keys",
    route: "DELETE /keys/{keyId}",
    prep: (w) => userWithKey(`rk-${w}`),
    req: (_w, o) => ["DELETE", `/keys/${o.keyId}`],
    expect: ALL(404),
    after: stillWorks(() => true),
  },
  { name: "someone else's keys", route: "GET /users/{username}/keys", req: () => ["GET", "/users/root/keys"], expect: ADMIN_ONLY(200) },
  {
    name: "a key for someone else",
    route: "POST /users/{username}/keys",
    prep: (w) => userWithKey(`nk-${w}`),
    req: (_w, o) => ["POST", `/users/${o.name}/keys`, { name: "planted" }],
    expect: ADMIN_ONLY(201),
  },
  {
    name: "revoke another user's key",
    route: "DELETE /users/{username}/keys/{keyId}",
    prep: (w) => userWithKey(`ro-${w}`),
    req: (_w, o) => ["DELETE", `/users/${o.name}/keys/${o.keyId}`],
    expect: ADMIN_ONLY(204),
    after: stillWorks((w) => w !== "admin"),
  },
  // SSH keys: one's own, or anyone's for an admin.
  { name: "own SSH keys", route: "GET /users/{username}/ssh-keys", req: (w) => ["GET", `/users/${USERNAME[w]}/ssh-keys`], expect: ALL(200) },
  {
    name: "a new own SSH key",
    route: "POST /users/{username}/ssh-keys",
    req: (w) => ["POST", `/users/${USERNAME[w]}/ssh-keys`, { key: SSH_KEY }],
    expect: ALL(201),
  },
  { name: "someone else's SSH keys", route: "GET /users/{username}/ssh-keys", req: () => ["GET", "/users/root/ssh-keys"], expect: ADMIN_ONLY(200) },
  {
    name: "an SSH key for someone else",
    route: "POST /users/{username}/ssh-keys",
    prep: (w) => userWithKey(`sk-${w}`),
    req: (_w, o) => ["POST", `/users/${o.name}/ssh-keys`, { key: SSH_KEY }],
    expect: ADMIN_ONLY(201),
  },
  {
    name: "delete someone else's SSH key",
    route: "DELETE /users/{username}/ssh-keys/{id}",
    prep: async (w) => {
      const u = await userWithKey(`sd-${w}`);
      const k = await call(keys.admin, "POST", `/users/${u.name}/ssh-keys`, { key: SSH_KEY });
      return { ...u, id: k.json.id };
    },
    req: (_w, o) => ["DELETE", `/users/${o.name}/ssh-keys/${o.id}`],
    expect: ADMIN_ONLY(204),
  },
  // SSL keys: the same rule as SSH keys.
  { name: "own SSL keys", route: "GET /users/{username}/ssl-keys", req: (w) => ["GET", `/users/${USERNAME[w]}/ssl-keys`], expect: ALL(200) },
  {
    name: "a new own SSL key",
    route: "POST /users/{username}/ssl-keys",
    req: (w) => ["POST", `/users/${USERNAME[w]}/ssl-keys`, { key: CERT }],
    expect: ALL(201),
  },
  {
    name: "someone else's SSL key",
    route: "GET /users/{username}/ssl-keys/{id}",
    prep: async (w) => {
      const u = await userWithKey(`sg-${w}`);
      const k = await call(keys.admin, "POST", `/users/${u.name}/ssl-keys`, { key: CERT });
      return { ...u, id: k.json.id };
    },
    req: (_w, o) => ["GET", `/users/${o.name}/ssl-keys/${o.id}`],
    expect: ADMIN_ONLY(200),
  },
  {
    name: "delete someone else's SSL key",
    route: "DELETE /users/{username}/ssl-keys/{id}",
    prep: async (w) => {
      const u = await userWithKey(`sx-${w}`);
      const k = await call(keys.admin, "POST", `/users/${u.name}/ssl-keys`, { key: CERT });
      return { ...u, id: k.json.id };
    },
    req: (_w, o) => ["DELETE", `/users/${o.name}/ssl-keys/${o.id}`],
    expect: ADMIN_ONLY(204),
  },
  // Region settings: everyone reads, admins of every site write.
  { name: "settings", route: "GET /settings", req: () => ["GET", "/settings"], expect: ALL(200) },
  { name: "one setting", route: "GET /settings/{name}", req: () => ["GET", "/settings/maas_name"], expect: ALL(200) },
  { name: "change a setting", route: "PUT /settings/{name}", req: (w) => ["PUT", "/settings/maas_name", { value: `by-${w}` }], expect: ADMIN_ONLY(200) },
  { name: "whoami", route: "GET /me", req: () => ["GET", "/me"], expect: ALL(200) },
  // Power polling: runs over every site, so a global admin's.
  { name: "run the power poller", route: "POST /power/poll", req: () => ["POST", "/power/poll", {}], expect: ADMIN_ONLY(200) },
  // Events, overview.
  { name: "events", route: "GET /events", req: () => ["GET", "/events"], expect: ALL(200) },
  { name: "overview", route: "GET /overview", req: () => ["GET", "/overview"], expect: ALL(200) },
  // Racks: site-scoped like machines; managing them is admin.
  { name: "list racks", route: "GET /racks", req: () => ["GET", "/racks"], expect: ALL(200) },
  { name: "read own site's rack", route: "GET /racks/{rackId}", req: () => ["GET", `/racks/${racks.north}`], expect: READ(200) },
  { name: "read another site's rack", route: "GET /racks/{rackId}", req: () => ["GET", `/racks/${racks.south}`], expect: ADMIN_ONLY(200, 404) },
  { name: "own site's rack events", route: "GET /racks/{rackId}/events", req: () => ["GET", `/racks/${racks.north}/events`], expect: READ(200) },
  { name: "another site's rack events", route: "GET /racks/{rackId}/events", req: () => ["GET", `/racks/${racks.south}/events`], expect: ADMIN_ONLY(200, 404) },
  { name: "own site's rack images", route: "GET /racks/{rackId}/images", req: () => ["GET", `/racks/${racks.north}/images`], expect: READ(200) },
  { name: "another site's rack images", route: "GET /racks/{rackId}/images", req: () => ["GET", `/racks/${racks.south}/images`], expect: ADMIN_ONLY(200, 404) },
  {
    name: "own site's rack command",
    route: "GET /racks/{rackId}/commands/{commandId}",
    prep: () => command(racks.north),
    req: (_w, o) => ["GET", `/racks/${racks.north}/commands/${o.id}`],
    expect: READ(200),
  },
  {
    name: "another site's rack command",
    route: "GET /racks/{rackId}/commands/{commandId}",
    prep: () => command(racks.south),
    req: (_w, o) => ["GET", `/racks/${racks.south}/commands/${o.id}`],
    expect: ADMIN_ONLY(200, 404),
  },
  {
    name: "rotate a rack's credential (not connected)",
    route: "POST /racks/{rackId}/rotate",
    req: () => ["POST", `/racks/${racks.north}/rotate`],
    expect: NORTH_ADMIN(409),
  },
  {
    name: "rotate another site's rack",
    route: "POST /racks/{rackId}/rotate",
    req: () => ["POST", `/racks/${racks.south}/rotate`],
    expect: ADMIN_ONLY(409, 404),
  },
  ...(["north", "south"] as const).map(
    (site): Global => ({
      name: `revoke a rack of ${site}`,
      route: "POST /racks/{rackId}/revoke",
      prep: async (w) => ({ rack: (await enrolRack(keys.admin, site, `revoke-${site}-${w}`)).rackId }),
      req: (_w, o) => ["POST", `/racks/${o.rack}/revoke`],
      expect: site === "north" ? NORTH_ADMIN(200) : ADMIN_ONLY(200, 404),
      after: async (w, _s, o) =>
        expect(
          (await env.DB.prepare("SELECT revoked_at FROM racks WHERE id = ?").bind(o.rack).first<{ revoked_at: number | null }>())!.revoked_at !== null,
        ).toBe(w === "admin"),
    }),
  ),
  {
    name: "create enrolment token for own site",
    route: "POST /racks/enrol-tokens",
    req: () => ["POST", "/racks/enrol-tokens", { site: "north" }],
    expect: ADMIN_ONLY(201),
  },
  {
    name: "create enrolment token for another site",
    route: "POST /racks/enrol-tokens",
    req: () => ["POST", "/racks/enrol-tokens", { site: "south" }],
    expect: ADMIN_ONLY(201),
  },
  { name: "list enrolment tokens", route: "GET /racks/enrol-tokens", req: () => ["GET", "/racks/enrol-tokens"], expect: ADMIN_ONLY(200) },
  {
    name: "revoke an enrolment token",
    route: "DELETE /racks/enrol-tokens/{tokenId}",
    prep: async () => ({ id: (await call(keys.admin, "POST", "/racks/enrol-tokens", { site: "north" })).json.id }),
    req: (_w, o) => ["DELETE", `/racks/enrol-tokens/${o.id}`],
    expect: ADMIN_ONLY(204, 404),
    after: async (w, _s, o) =>
      expect(
        (await env.DB.prepare("SELECT revoked_at FROM enrol_tokens WHERE id = ?").bind(o.id).first<{ revoked_at: number | null }>())!.revoked_at !== null,
      ).toBe(w === "admin"),
  },
  // Boot images: everyone may read the catalogue; only a global admin changes it.
  { name: "list boot images", route: "GET /boot-images", req: () => ["GET", "/boot-images"], expect: ALL(200) },
  {
    name: "read a boot image",
    route: "GET /boot-images/{id}",
    prep: async (w) => ({
      id: (await env.DB.prepare("INSERT INTO boot_images (osystem, series) VALUES ('ubuntu', ?) RETURNING id").bind(`read-${w}`).first<{ id: number }>())!.id,
    }),
    req: (_w, o) => ["GET", `/boot-images/${o.id}`],
    expect: ALL(200),
  },
  {
    name: "declare a boot image",
    route: "POST /boot-images",
    req: (w) => ["POST", "/boot-images", { osystem: "ubuntu", series: `new-${w}` }],
    expect: ADMIN_ONLY(201),
  },
  {
    name: "upload a boot image",
    route: "PUT /boot-images/{id}/content",
    prep: async (w) => ({
      id: (await env.DB.prepare("INSERT INTO boot_images (osystem, series) VALUES ('ubuntu', ?) RETURNING id").bind(`put-${w}`).first<{ id: number }>())!.id,
    }),
    // No sha256 header: an admin gets past the role check to the 400; nobody else gets that far.
    req: (_w, o) => ["PUT", `/boot-images/${o.id}/content`, "bytes"],
    expect: ADMIN_ONLY(400),
  },
  {
    name: "delete a boot image",
    route: "DELETE /boot-images/{id}",
    prep: async (w) => ({
      id: (await env.DB.prepare("INSERT INTO boot_images (osystem, series) VALUES ('ubuntu', ?) RETURNING id").bind(`del-${w}`).first<{ id: number }>())!.id,
    }),
    req: (_w, o) => ["DELETE", `/boot-images/${o.id}`],
    expect: ADMIN_ONLY(204),
  },
  // Image sync: everyone may watch it; only a global admin starts or stops it.
  { name: "read the image sync", route: "GET /image-sync", req: () => ["GET", "/image-sync"], expect: ALL(200) },
  { name: "start an image sync", route: "POST /image-sync", req: () => ["POST", "/image-sync"], expect: ADMIN_ONLY(202) },
  { name: "stop the image sync", route: "DELETE /image-sync", req: () => ["DELETE", "/image-sync"], expect: ADMIN_ONLY(200) },
  // Boot sources and selections: everyone reads; only a global admin changes them.
  { name: "list boot sources", route: "GET /boot-sources", req: () => ["GET", "/boot-sources"], expect: ALL(200) },
  {
    name: "read a boot source",
    route: "GET /boot-sources/{id}",
    prep: (w) => bootSource(`read-${w}`),
    req: (_w, o) => ["GET", `/boot-sources/${o.id}`],
    expect: ALL(200),
  },
  {
    name: "add a boot source",
    route: "POST /boot-sources",
    req: (w) => ["POST", "/boot-sources", { url: `http://add-${w}.test/`, skip_verify: true }],
    expect: ADMIN_ONLY(201),
  },
  {
    name: "change a boot source",
    route: "PATCH /boot-sources/{id}",
    prep: (w) => bootSource(`patch-${w}`),
    req: (_w, o) => ["PATCH", `/boot-sources/${o.id}`, { keyring_filename: "x.gpg" }],
    expect: ADMIN_ONLY(200),
  },
  {
    name: "delete a boot source",
    route: "DELETE /boot-sources/{id}",
    prep: (w) => bootSource(`del-${w}`),
    req: (_w, o) => ["DELETE", `/boot-sources/${o.id}`],
    expect: ADMIN_ONLY(204),
  },
  {
    name: "list selections",
    route: "GET /boot-sources/{id}/selections",
    prep: (w) => bootSource(`sels-${w}`),
    req: (_w, o) => ["GET", `/boot-sources/${o.id}/selections`],
    expect: ALL(200),
  },
  {
    name: "read a selection",
    route: "GET /boot-sources/{id}/selections/{sid}",
    prep: (w) => bootSource(`sel-${w}`, true),
    req: (_w, o) => ["GET", `/boot-sources/${o.id}/selections/${o.sid}`],
    expect: ALL(200),
  },
  {
    name: "add a selection",
    route: "POST /boot-sources/{id}/selections",
    prep: (w) => bootSource(`addsel-${w}`),
    req: (_w, o) => ["POST", `/boot-sources/${o.id}/selections`, { os: "ubuntu", release: "noble" }],
    expect: ADMIN_ONLY(201),
  },
  {
    name: "change a selection",
    route: "PATCH /boot-sources/{id}/selections/{sid}",
    prep: (w) => bootSource(`patchsel-${w}`, true),
    req: (_w, o) => ["PATCH", `/boot-sources/${o.id}/selections/${o.sid}`, { arches: ["amd64"] }],
    expect: ADMIN_ONLY(200),
  },
  {
    name: "delete a selection",
    route: "DELETE /boot-sources/{id}/selections/{sid}",
    prep: (w) => bootSource(`delsel-${w}`, true),
    req: (_w, o) => ["DELETE", `/boot-sources/${o.id}/selections/${o.sid}`],
    expect: ADMIN_ONLY(204),
  },
];

describe("collection routes", () => {
  // Storage is shared by the tests of a file: every request names objects unique to its caller.
  describe.each(WHO)("as %s", (who) => {
    it.each(matrix.map((m) => [m.name, m] as const))("%s", async (_n, m) => {
      const o = m.prep ? await m.prep(who) : {};
      const [method, path, body] = m.req(who, o);
      const r = await call(keys[who], method, path, body);
      expect(r.status, r.text).toBe(m.expect[who]);
      if (r.status >= 400) expect(r.json.error.code).toBeTypeOf("string");
      await m.after?.(who, r.status, o);
    });
  });

  it("lists show only the caller's sites", async () => {
    const north = await makeMachine({ site: "north" });
    const south = await makeMachine({ site: "south" });
    const ids = async (who: Who) => (await call(keys[who], "GET", "/machines?limit=1000")).json.items.map((m: { system_id: string }) => m.system_id);
    for (const who of ["operator", "remote-hands", "viewer"] as Who[]) {
      expect(await ids(who)).toContain(north);
      expect(await ids(who)).not.toContain(south);
    }
    expect(await ids("admin")).toEqual(expect.arrayContaining([north, south]));
    expect(await ids("nobody")).toEqual([]);
    const ev = (await call(keys["remote-hands"], "GET", "/events?limit=1000")).json.items as { site_id: number | null }[];
    const northId = (await env.DB.prepare("SELECT id FROM sites WHERE name = 'north'").first<{ id: number }>())!.id;
    expect(ev.every((e) => e.site_id === northId)).toBe(true);
  });

  it("sites, subnets, racks, the overview and events show only the caller's sites; enrolment tokens only to admins", async () => {
    const southMachine = await makeMachine({ site: "south" });
    await call(keys.admin, "POST", `/machines/${southMachine}/mark_broken`, { comment: "south only" });
    const southSubnet = await subnet("south", ++subnetSeq);
    const northSubnet = await subnet("north", ++subnetSeq);
    for (const who of ["operator", "remote-hands", "viewer", "nobody"] as Who[]) {
      const sites = (await call(keys[who], "GET", "/sites")).json.items.map((s: { name: string }) => s.name);
      expect(sites, who).toEqual(who === "nobody" ? [] : ["north"]);
      const subnets = (await call(keys[who], "GET", "/subnets")).json.items.map((s: { id: number }) => s.id);
      expect(subnets).not.toContain(southSubnet);
      expect(subnets.includes(northSubnet)).toBe(who !== "nobody");
      const rackIds = (await call(keys[who], "GET", "/racks")).json.items.map((r: { id: string }) => r.id);
      expect(rackIds).not.toContain(racks.south);
      expect(rackIds.includes(racks.north)).toBe(who !== "nobody");
      const overview = (await call(keys[who], "GET", "/overview")).json.sites.map((s: { site: string }) => s.site);
      expect(overview).toEqual(who === "nobody" ? [] : ["north"]);
      const events = (await call(keys[who], "GET", `/events?machine=${southMachine}`)).json.items;
      expect(events).toEqual([]);
      expect((await call(keys[who], "GET", "/racks/enrol-tokens")).status).toBe(403);
    }
    const all = (await call(keys.admin, "GET", "/overview")).json.sites.map((s: { site: string }) => s.site);
    expect(all).toEqual(expect.arrayContaining(["north", "south"]));
    expect((await call(keys.admin, "GET", `/events?machine=${southMachine}`)).json.items.length).toBeGreaterThan(0);
    expect((await call(keys.admin, "GET", "/racks/enrol-tokens")).json.items.length).toBeGreaterThan(0);
    // About 30 requests over a database the matrix has filled: seconds on a loaded machine.
  }, 120_000);

  it("no key, a malformed key, a wrong secret and a revoked key are 401", async () => {
    expect((await call(null, "GET", "/machines")).status).toBe(401);
    expect((await call("nonsense", "GET", "/machines")).status).toBe(401);
    const good = keys.viewer;
    const wrong = `${good.slice(0, -4)}aaaa` === good ? `${good.slice(0, -4)}bbbb` : `${good.slice(0, -4)}aaaa`;
    expect((await call(wrong, "GET", "/machines")).status).toBe(401);
    const made = await call(keys.viewer, "POST", "/keys", { name: "temp" });
    expect((await call(made.json.api_key, "GET", "/me")).status).toBe(200);
    expect((await call(keys.viewer, "DELETE", `/keys/${made.json.key_id}`)).status).toBe(204);
    const r = await call(made.json.api_key, "GET", "/me");
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/Bearer/);
  });

  it("keys are stored hashed", async () => {
    const made = await call(keys.viewer, "POST", "/keys", { name: "hashcheck" });
    const secret = (made.json.api_key as string).split("_")[2]!;
    const row = await env.DB.prepare("SELECT * FROM api_keys WHERE key_id = ?").bind(made.json.key_id).first<Record<string, string>>();
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(JSON.stringify(row)).not.toContain((made.json.maas_api_key as string).split(":")[2]);
  });
});

/** Routes that are not the user roles' business: open ones (rack credential, enrolment token, sign-in) and the live stream. */
const NOT_IN_MATRIX = new Set([
  "GET /health",
  "GET /openapi.json",
  "POST /bootstrap",
  "POST /racks/enrol",
  "GET /racks/{rackId}/tunnel",
  "GET /racks/{rackId}/images/{sha256}",
  "POST /session",
  "GET /session",
  "DELETE /session",
  // Scoped per site in session-stream.test.ts (an open SSE response does not end by itself).
  "GET /stream",
]);

it("every authenticated route of the OpenAPI document is in the matrix", async () => {
  const doc = (await call(null, "GET", "/openapi.json")).json as { paths: Record<string, Record<string, unknown>> };
  const routes = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/^\/api\/v1/, "")}`));
  const covered = new Set([...cases.map((c) => c.route), ...matrix.map((m) => m.route)]);
  const missing = routes.filter((r) => !NOT_IN_MATRIX.has(r) && !covered.has(r));
  expect(missing, "routes with no case in the matrix").toEqual([]);
  // And the matrix names no route that does not exist.
  expect([...covered].filter((r) => !routes.includes(r))).toEqual([]);
});

// ---- The MAAS API (/MAAS/api/2.0/): every (handler, method, op) of the facade's route table,
// as each role, against objects of site "north" or the region's global ones. Each row names a
// rule; the last test fails when the table gains an action without a row. A role the rule
// allows must get past the role check (not 401/403: the empty form may still be a 400, a
// state a 409); a role it refuses gets MAAS's text/plain 403, except "nobody", for whom a north
// object does not exist (404, or a 400 naming it unknown).
type Rule =
  | "read" // everyone signed in
  | "self" // everyone, on their own account
  | "edit" // operator or admin of the object's site
  | "hands" // remote-hands and up
  | "admin" // global admin (catalog changes need operator on every site: also only our admin)
  | "bound" // every role on some site ("nobody" is refused)
  | "none" // refused to every role (403)
  | "same"; // no object or no such thing in Plinth: every role the same answer, never 2xx
const MAAS_RULES: Record<Rule, string[]> = {
  read: [
    "Machines GET -",
    "Machines GET list_allocated",
    "Machine GET -",
    "Machine GET query_power_state",
    "Machine GET details",
    "Interfaces GET -",
    "Interface GET -",
    "BlockDevices GET -",
    "VolumeGroups GET -",
    "Raids GET -",
    "BcacheCacheSets GET -",
    "Bcaches GET -",
    "Zones GET -",
    "Zone GET -",
    "ResourcePools GET -",
    "ResourcePool GET -",
    "Tags GET -",
    "Tag GET -",
    "Tag GET machines",
    "Tag GET nodes",
    "Domains GET -",
    "Domain GET -",
    "DNSResources GET -",
    "DNSResource GET -",
    "DNSResourceRecords GET -",
    "DNSResourceRecord GET -",
    "BootResources GET -",
    "BootResources GET is_importing",
    "Fabrics GET -",
    "Fabric GET -",
    "Vlans GET -",
    "Vlan GET -",
    "Spaces GET -",
    "Space GET -",
    "Subnets GET -",
    "Subnet GET -",
    "Subnet GET reserved_ip_ranges",
    "Subnet GET unreserved_ip_ranges",
    "Subnet GET statistics",
    "Subnet GET ip_addresses",
    "IPRanges GET -",
    "IPRange GET -",
    "IPAddresses GET -",
    "StaticRoutes GET -",
    "Version GET -",
    "Users GET whoami",
    "Nodes GET -",
    "RackControllers GET -",
    "RackControllers GET describe_power_types",
    "RackController GET -",
    "RegionControllers GET -",
    "RegionController GET -",
    "Notifications GET -",
    "Notification GET -",
    "PackageRepositories GET -",
    "PackageRepository GET -",
    "BootSources GET -",
    "BootSource GET -",
    "BootSourceSelections GET -",
    "BootSourceSelection GET -",
    "Discoveries GET -",
    "Discoveries GET by_unknown_mac",
    "Discoveries GET by_unknown_ip",
    "Discoveries GET by_unknown_ip_and_mac",
    "LicenseKeys GET -",
    "DhcpSnippets GET -",
    "Devices GET -",
    "Device GET -",
    "Maas GET get_config",
    "Machines GET is_registered",
  ],
  self: [
    "Account POST create_authorisation_token",
    "Account GET list_authorisation_tokens",
    "Account POST update_token_name",
    "Account POST delete_authorisation_token",
    "Files GET -",
    "Files POST -",
    "Files POST add",
    "Files GET get",
    "Files GET get_by_key",
    "Files DELETE -",
    "SSHKeys GET -",
    "SSHKeys POST -",
    "SSHKeys POST import",
    "SSLKeys GET -",
    "SSLKeys POST -",
    // Each user's own: a role changes nothing, and another's answers 404.
    "File GET -",
    "File DELETE -",
    "SSHKey GET -",
    "SSHKey DELETE -",
    "SSLKey GET -",
    "SSLKey DELETE -",
    // Notifications addressed to every user: each dismisses them for themselves.
    "Notification POST dismiss",
    // Releases the caller's own reservations (another's is 404, as in MAAS); force= is admin-only.
    "IPAddresses POST release",
    // Acts only on what the caller may commission or release: a no-op for the rest.
    "Machines POST accept_all",
    "Machines POST release",
  ],
  edit: [
    "Machine PUT -",
    "Machine DELETE -",
    "Machine POST commission",
    "Machine POST abort",
    "Machine POST lock",
    "Machine POST unlock",
    "Machine POST rescue_mode",
    "Machine POST exit_rescue_mode",
    "Machine POST deploy",
    "Machine POST release",
    "Machine POST set_owner_data",
    "Machine POST set_workload_annotations",
    "Machine POST set_storage_layout",
    "Machine POST clear_default_gateways",
    "Interfaces POST create_physical",
    "Interfaces POST create_bond",
    "Interfaces POST create_vlan",
    "Interfaces POST create_bridge",
    "Interface PUT -",
    "Interface DELETE -",
    "Interface POST link_subnet",
    "Interface POST unlink_subnet",
    "Interface POST disconnect",
    "Interface POST set_default_gateway",
    "BlockDevices POST -",
    "VolumeGroups POST -",
    "Raids POST -",
    "BcacheCacheSets POST -",
    "Bcaches POST -",
    "Devices POST -",
    "Device PUT -",
    "Device POST set_owner_data",
    "Device POST set_workload_annotations",
    "Device DELETE -",
    "Tag POST update_nodes",
    "Machines POST allocate",
    "Machines POST -",
    "IPAddresses POST reserve",
    // The machine has no such storage object: a role that may edit gets past the check to a 404.
    "BlockDevice PUT -",
    "BlockDevice DELETE -",
    "BlockDevice POST format",
    "BlockDevice POST unformat",
    "BlockDevice POST mount",
    "BlockDevice POST unmount",
    "BlockDevice POST set_boot_disk",
    "BlockDevice POST add_tag",
    "BlockDevice POST remove_tag",
    "Partitions POST -",
    "Partition DELETE -",
    "Partition POST format",
    "Partition POST unformat",
    "Partition POST mount",
    "Partition POST unmount",
    "Partition POST add_tag",
    "Partition POST remove_tag",
    "VolumeGroup PUT -",
    "VolumeGroup DELETE -",
    "VolumeGroup POST create_logical_volume",
    "VolumeGroup POST delete_logical_volume",
    "Raid PUT -",
    "Raid DELETE -",
    "BcacheCacheSet PUT -",
    "BcacheCacheSet DELETE -",
    "Bcache PUT -",
    "Bcache DELETE -",
  ],
  hands: ["Machine POST mark_broken", "Machine POST mark_fixed", "Machine POST power_on", "Machine POST power_off"],
  admin: [
    "Machine GET power_parameters",
    "Machines GET power_parameters",
    "Zones POST -",
    "Zone PUT -",
    "Zone DELETE -",
    "ResourcePools POST -",
    "ResourcePool PUT -",
    "ResourcePool DELETE -",
    "Tags POST -",
    "Tag PUT -",
    "Tag DELETE -",
    "Domains POST -",
    "Domain PUT -",
    "Domain DELETE -",
    "Domain POST set_default",
    "DNSResources POST -",
    "DNSResource PUT -",
    "DNSResource DELETE -",
    "DNSResourceRecords POST -",
    "DNSResourceRecord PUT -",
    "DNSResourceRecord DELETE -",
    "BootResources POST import",
    "BootResources POST stop_import",
    "Fabrics POST -",
    "Fabric PUT -",
    "Fabric DELETE -",
    "Vlans POST -",
    "Vlan PUT -",
    "Vlan DELETE -",
    "Spaces POST -",
    "Space PUT -",
    "Space DELETE -",
    "Subnets POST -",
    "Subnet PUT -",
    "Subnet DELETE -",
    "IPRanges POST -",
    "IPRange PUT -",
    "IPRange DELETE -",
    "Users GET -",
    "Users POST -",
    "User GET -",
    "User DELETE -",
    "Maas POST set_config",
    "RackControllers GET power_parameters",
    "RackController PUT -",
    "RackController DELETE -",
    "Notifications POST -",
    "Notification PUT -",
    "Notification DELETE -",
    "PackageRepositories POST -",
    "PackageRepository PUT -",
    "PackageRepository DELETE -",
    "BootSources POST -",
    "BootSource PUT -",
    "BootSource DELETE -",
    "BootSourceSelections POST -",
    "BootSourceSelection PUT -",
    "BootSourceSelection DELETE -",
    "Discoveries POST clear",
    "Discoveries POST clear_by_mac_and_ip",
  ],
  bound: ["Events GET query"],
  none: ["Machine GET get_token"],
  same: [
    "BlockDevice GET -",
    "Partitions GET -",
    "Partition GET -",
    "VolumeGroup GET -",
    "Raid GET -",
    "BcacheCacheSet GET -",
    "Bcache GET -",
    "BootResource GET -",
    "Discovery GET -",
    "LicenseKeys POST -",
    "LicenseKey GET -",
    "LicenseKey DELETE -",
    "LicenseKey PUT -",
    "DhcpSnippets POST -",
    "RackControllers POST set_zone",
    "RackControllers GET is_registered",
    "RackController GET power_parameters",
    "RackController GET query_power_state",
    "RackController POST power_on",
    "RackController POST power_off",
    "RackController POST abort",
    "RackController GET list_boot_images",
    "RackController GET details",
  ],
};
let maasSeq = 0;
/** A MAAS object made for one row, so what one role's allowed request changes leaves the next row's intact. */
async function maasFixture(template: string, site = "north"): Promise<{ path: string; o: Record<string, string> }> {
  const n = ++maasSeq;
  const o: Record<string, string> = {};
  const ins = async (sql: string, ...args: (string | number)[]) =>
    String(
      (await env.DB.prepare(`${sql} RETURNING id`)
        .bind(...args)
        .first<{ id: number }>())!.id,
    );
  const fill: Record<string, () => Promise<string>> = {
    "devices/{system_id}/": async () => {
      const r = await SELF.fetch("http://region.test/MAAS/api/2.0/devices/", {
        method: "POST",
        headers: { authorization: `Bearer ${keys.admin}`, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          hostname: `mdev-${n}`,
          mac_addresses: `52:54:02:00:${(n >> 8).toString(16).padStart(2, "0")}:${(n & 255).toString(16).padStart(2, "0")}`,
          site,
        }).toString(),
      });
      return `devices/${((await r.json()) as { system_id: string }).system_id}/`;
    },
    "rackcontrollers/{system_id}/": async () => `rackcontrollers/${racks.north}/`,
    "regioncontrollers/{system_id}/": async () => "regioncontrollers/region/",
    "tags/{name}/": async () => {
      o.machine = await makeMachine({ site: "north", hostname: `mtagged-${n}` });
      await named("tags", `mtag-${n}`);
      return `tags/mtag-${n}/`;
    },
    "ipaddresses/": async () => {
      o.subnet = String(await subnet("north", ++subnetSeq));
      o.net = `10.${100 + subnetSeq}.7`;
      return "ipaddresses/";
    },
    "ipranges/": async () => {
      o.subnet = String(await subnet("north", ++subnetSeq));
      o.net = `10.${100 + subnetSeq}.7`;
      return "ipranges/";
    },
    "zones/{name}/": async () => {
      await named("zones", `mzone-${n}`);
      return `zones/mzone-${n}/`;
    },
    "resourcepool/{id}/": async () => `resourcepool/${await ins("INSERT INTO resource_pools (name) VALUES (?)", `mpool-${n}`)}/`,
    "fabrics/{id}/": async () => `fabrics/${await ins("INSERT INTO fabrics (name) VALUES (?)", `mfab-${n}`)}/`,
    "fabrics/{fabric_id}/vlans/": async () => `fabrics/${await ins("INSERT INTO fabrics (name) VALUES (?)", `mfab-${n}`)}/vlans/`,
    "fabrics/{fabric_id}/vlans/{vid}/": async () => {
      const f = await ins("INSERT INTO fabrics (name) VALUES (?)", `mfab-${n}`);
      await ins("INSERT INTO vlans (fabric_id, vid, name) VALUES (?, 10, 'v10')", f);
      return `fabrics/${f}/vlans/10/`;
    },
    "spaces/{id}/": async () => `spaces/${await ins("INSERT INTO spaces (name) VALUES (?)", `mspace-${n}`)}/`,
    "subnets/{id...}/": async () => `subnets/${await subnet("north", ++subnetSeq)}/`,
    "ipranges/{id}/": async () => {
      const sn = await subnet("north", ++subnetSeq);
      return `ipranges/${await ins("INSERT INTO ip_ranges (subnet_id, type, start_ip, end_ip) VALUES (?, 'reserved', ?, ?)", sn, `10.${100 + subnetSeq}.7.10`, `10.${100 + subnetSeq}.7.20`)}/`;
    },
    "domains/{id}/": async () => {
      await dnsDomain(`mdom-${n}.test`);
      return `domains/${(await env.DB.prepare("SELECT id FROM domains WHERE name = ?").bind(`mdom-${n}.test`).first<{ id: number }>())!.id}/`;
    },
    "dnsresources/{id}/": async () => `dnsresources/${(await dnsResource(`mres-${n}`)).id}/`,
    "dnsresource-records/{id}/": async () => `dnsresource-records/${(await dnsRecord(`mrec-${n}`)).id}/`,
    "notifications/{id}/": async () => `notifications/${await ins("INSERT INTO notifications (message, users, admins) VALUES ('matrix', 1, 1)")}/`,
    "package-repositories/{id}/": async () =>
      `package-repositories/${await ins("INSERT INTO package_repositories (name, url) VALUES (?, 'http://archive.test/')", `mrepo-${n}`)}/`,
    "boot-sources/{id}/": async () => `boot-sources/${(await bootSource(`mbs-${n}`)).id}/`,
    "boot-sources/{boot_source_id}/selections/": async () => `boot-sources/${(await bootSource(`mbss-${n}`)).id}/selections/`,
    "boot-sources/{boot_source_id}/selections/{id}/": async () => {
      const b = await bootSource(`mbsel-${n}`, true);
      return `boot-sources/${b.id}/selections/${b.sid}/`;
    },
    "users/{username}/": async () => {
      await makeUser(`muser-${n}`, [["viewer", "north"]]);
      return `users/muser-${n}/`;
    },
  };
  let path = fill[template] ? await fill[template]() : template;
  if (path.includes("{system_id}")) {
    o.machine = await makeMachine({ site, hostname: `mrow-${n}` });
    path = path.replace("{system_id}", o.machine);
    if (path.startsWith(`nodes/${o.machine}/interfaces/{id}`)) {
      const i = await env.DB.prepare("SELECT i.id FROM interfaces i JOIN machines m ON m.id = i.machine_id WHERE m.system_id = ?")
        .bind(o.machine)
        .first<{ id: number }>();
      path = path.replace("{id}", String(i!.id));
    }
  }
  // The rest name no object: the rows of rule "same" (every role answers alike).
  return { path: path.replace(/\{[a-z_]+(\.\.\.)?\}/g, "999999"), o };
}

/** Forms that get an allowed role past validation to the role check (an empty one is often a 400 first). */
const MAAS_FORMS: Record<string, (o: Record<string, string>, n: number) => Record<string, string>> = {
  "Tag POST update_nodes": (o) => ({ add: o.machine! }),
  "Subnets POST -": (_o, n) => ({ cidr: `10.${200 + (n % 50)}.${n % 250}.0/24`, site: "north" }),
  "IPRanges POST -": (o) => ({ type: "reserved", start_ip: `${o.net}.10`, end_ip: `${o.net}.20`, subnet: o.subnet! }),
  "IPAddresses POST reserve": (o) => ({ ip: `${o.net}.30` }),
  "IPAddresses POST release": (o) => ({ ip: `${o.net}.30` }),
  "RackControllers POST set_zone": () => ({ nodes: racks.north, zone: "default" }),
  "Machines POST -": (_o, n) => ({
    architecture: "amd64/generic",
    mac_addresses: `52:54:03:00:00:${(n & 255).toString(16).padStart(2, "0")}`,
    power_type: "manual",
    site: "north",
  }),
};

const ALLOWED: Record<Rule, Who[]> = {
  read: WHO,
  self: WHO,
  edit: ["admin", "operator"],
  hands: ["admin", "operator", "remote-hands"],
  admin: ["admin"],
  bound: ["admin", "operator", "remote-hands", "viewer"],
  none: [],
  same: [],
};

describe("the MAAS API", () => {
  const actions = maasTable.handlers.flatMap((h) => h.actions.map((a) => ({ h, a, key: `${h.name.replace(/Handler$/, "")} ${a.method} ${a.op ?? "-"}` })));
  const ruleOf = new Map(Object.entries(MAAS_RULES).flatMap(([rule, ks]) => ks.map((k) => [k, rule as Rule] as const)));

  it("every action of the route table has a rule, and every rule an action", () => {
    expect(
      actions.map((x) => x.key).filter((k) => !ruleOf.has(k)),
      "actions with no rule",
    ).toEqual([]);
    expect(
      [...ruleOf.keys()].filter((k) => !actions.some((x) => x.key === k)),
      "rules with no action",
    ).toEqual([]);
    const all = Object.values(MAAS_RULES).flat();
    expect(
      all.filter((k, i) => all.indexOf(k) !== i),
      "rows in two rules",
    ).toEqual([]);
  });

  // Batched: one `it` per handler keeps the added time small (about 250 actions × 5 roles).
  const byHandler = [...new Set(actions.map((x) => x.h.name))];
  it.each(byHandler)("%s: each role as its rule allows", async (name) => {
    const problems: string[] = [];
    // Reads change nothing: they share one object per handler; each write gets its own.
    let shared: Awaited<ReturnType<typeof maasFixture>> | undefined;
    let south: Awaited<ReturnType<typeof maasFixture>> | undefined;
    for (const { h, a, key } of actions.filter((x) => x.h.name === name)) {
      const rule = ruleOf.get(key);
      if (!rule) continue;
      if (a.method === "GET") shared ??= await maasFixture(h.path);
      const { path, o } = a.method === "GET" && shared ? shared : await maasFixture(h.path);
      const form = MAAS_FORMS[key]?.(o, maasSeq) ?? {};
      const seen: Partial<Record<Who, number>> = {};
      // Refused roles first: an allowed role's change (a delete) must not be what refuses them.
      for (const who of ["nobody", "viewer", "remote-hands", "operator", "admin"] as Who[]) {
        const url = new URL(`http://region.test/MAAS/api/2.0/${path}`);
        if (a.op) url.searchParams.set("op", a.op);
        const get = a.method === "GET";
        if (get) for (const [k, v] of Object.entries(form)) url.searchParams.set(k, v);
        const r = await SELF.fetch(url.toString(), {
          method: a.method,
          headers: { authorization: `Bearer ${keys[who]}`, ...(get ? {} : { "content-type": "application/x-www-form-urlencoded" }) },
          ...(get ? {} : { body: new URLSearchParams(form).toString() }),
        });
        const text = await r.text();
        seen[who] = r.status;
        const say = (why: string) => problems.push(`${key} as ${who}: ${r.status} ${why} (${text.slice(0, 120)})`);
        if (r.status === 401 || r.status >= 500) say("unexpected");
        else if (rule === "same") {
          if (r.status < 300) say("a 2xx where no role should succeed");
        } else if (ALLOWED[rule].includes(who)) {
          if (r.status === 403) say("refused, but the rule allows it");
        } else if (!(r.status === 403 || (who === "nobody" && (r.status === 404 || r.status === 400)))) say("not refused");
        else if (r.status === 403 && !r.headers.get("content-type")?.startsWith("text/plain")) say("a 403 that is not MAAS's text/plain");
      }
      if (rule === "same" && new Set(Object.values(seen)).size !== 1) problems.push(`${key}: roles answered differently ${JSON.stringify(seen)}`);
      // Site scope: the same request on a machine or device of south, where north's strongest
      // role (operator) holds nothing, finds no such object (404) and changes nothing.
      if (rule !== "same" && /^(machines|nodes|devices)\/\{system_id\}/.test(h.path)) {
        south ??= await maasFixture(h.path, "south");
        const url = new URL(`http://region.test/MAAS/api/2.0/${south.path}`);
        if (a.op) url.searchParams.set("op", a.op);
        const r = await SELF.fetch(url.toString(), { method: a.method, headers: { authorization: `Bearer ${keys.operator}` } });
        if (r.status !== 404) problems.push(`${key} on south as operator: ${r.status} (${(await r.text()).slice(0, 120)})`);
        else await r.arrayBuffer();
      }
    }
    expect(problems).toEqual([]);
  });
});
