// rackcontrollers/ and regioncontrollers/: each enrolled appliance is a rack controller (its
// hostname, version, interfaces and addresses from its last hello, its services from its last
// status report while its tunnel is up); the region is the one region controller. Appliances enrol with a token
// (/api/v1/racks/enrol), not through MAAS's rack registration; deleting one revokes it. A rack
// has no BMC here (it is the box that drives BMCs), so its power ops answer as the manual
// driver does, and it has no zone or description to edit: those writes say so.
import { z } from "zod";
import { type PowerType, POWER_TYPES, powerParameterSchemas, SECRET_POWER_FIELDS } from "../../shared/power";
import { can, canAnywhere, visibleSites } from "../auth/roles";
import { revokeRack } from "../domain/racks/racks";
import { getSetting } from "../domain/settings";
import { VERSION } from "./account";
import { devicesJson, visibleDevices } from "./devices";
import { machinesJson } from "./load";
import { listBootImagesJson } from "./rack-boot-images";
import { listVisible } from "./machines";
import { DOMAIN } from "./shape";
import type { Handler, Req } from "./table";
import { API, badRequest, bsonBinaries, deleted, fieldError, forbidden, json, list, MaasError, parse } from "./wire";

const NODE_TYPE = { rack: 2, region: 3 } as const;

interface RackRow {
  id: string;
  site_id: number;
  hostname: string;
  version: string;
  interfaces: string;
  connected: number;
  last_seen_at: number | null;
  revoked_at: number | null;
  services: string;
  zone_id: number;
  zone: string;
  zone_description: string;
}

interface HelloInterface {
  name?: string;
  mac?: string;
  addresses?: string[];
}

const RACK_SELECT = `SELECT r.id, r.site_id, r.hostname, r.version, r.interfaces, r.connected, r.last_seen_at, r.revoked_at, r.services,
  z.id AS zone_id, z.name AS zone, z.description AS zone_description
  FROM racks r, zones z WHERE z.id = 1 AND r.revoked_at IS NULL`;

function interfacesOf(r: RackRow): HelloInterface[] {
  try {
    const v = JSON.parse(r.interfaces) as unknown;
    return Array.isArray(v) ? (v as HelloInterface[]) : [];
  } catch {
    return [];
  }
}

/** MAAS's rack services that the appliance's status report names (shared/tunnel/protocol.ts). */
const REPORTED: Record<string, string> = { dhcpd: "dhcp", tftp: "tftp", http: "http", dns_rack: "dns" };
const MAAS_STATE: Record<string, string> = { ok: "running", failed: "dead", disabled: "off" };

/**
 * Which of a rack's services run: while its tunnel is up, what its last status report says
 * (a service it does not report, or a rack that has sent no report, counts as running), none
 * we can vouch for otherwise.
 */
function services(up: boolean, reportJson: string) {
  if (!up)
    return ["rackd", "dhcpd", "dhcpd6", "tftp", "http", "dns_rack", "proxy_rack", "ntp_rack", "syslog_rack"].map((name) => ({
      name,
      status: "unknown",
      status_info: "the rack's tunnel to the region is down",
    }));
  let report: { name?: string; state?: string; error?: string }[] = [];
  try {
    const v = JSON.parse(reportJson) as unknown;
    if (Array.isArray(v)) report = v as typeof report;
  } catch {
    report = [];
  }
  return ["rackd", "dhcpd", "dhcpd6", "tftp", "http", "dns_rack", "proxy_rack", "ntp_rack", "syslog_rack"].map((name) => {
    const s = REPORTED[name] ? report.find((x) => x.name === REPORTED[name]) : undefined;
    return { name, status: (s?.state && MAAS_STATE[s.state]) || "running", status_info: s?.error ?? "" };
  });
}

export function rackControllerJson(r: RackRow) {
  const up = !!r.connected;
  const ifaces = interfacesOf(r);
  const addresses = ifaces.flatMap((i) => (i.addresses ?? []).map((a) => a.split("/")[0]!));
  return {
    system_id: r.id,
    hostname: r.hostname,
    fqdn: `${r.hostname}.${DOMAIN.name}`,
    domain: DOMAIN,
    description: "",
    node_type: NODE_TYPE.rack,
    node_type_name: "Rack controller",
    version: r.version,
    architecture: "amd64/generic",
    osystem: "",
    distro_series: "",
    power_type: "manual",
    power_state: up ? "on" : "unknown",
    zone: { id: r.zone_id, name: r.zone, description: r.zone_description, resource_uri: `${API}/zones/${r.zone}/` },
    interface_set: ifaces.map((i, n) => ({
      id: n,
      name: i.name ?? `if${n}`,
      type: "physical",
      mac_address: i.mac ?? "",
      enabled: true,
      links: (i.addresses ?? []).map((a, k) => ({ id: k, mode: "static", ip_address: a.split("/")[0] })),
    })),
    ip_addresses: addresses,
    service_set: services(up, r.services),
    tag_names: [],
    last_sync: r.last_seen_at ? new Date(r.last_seen_at).toISOString() : null,
    resource_uri: `${API}/rackcontrollers/${r.id}/`,
  };
}

async function visibleRacks(r: Req, where = "", ...args: unknown[]): Promise<RackRow[]> {
  const { results } = await r.db
    .prepare(`${RACK_SELECT}${where} ORDER BY r.created_at, r.id`)
    .bind(...args)
    .all<RackRow>();
  const sites = visibleSites(r.caller);
  return results.filter((x) => sites === null || sites.includes(x.site_id));
}

const RackQuery = z.object({ hostname: list(z.string().max(255)).optional(), id: list(z.string().max(64)).optional() });

async function rackFor(r: Req): Promise<RackRow> {
  const [x] = await visibleRacks(r, " AND r.id = ?", r.path["system_id"] ?? "");
  if (!x) throw new MaasError(404, "No RackController matches the given query.");
  return x;
}

function requireRackAdmin(r: Req, x: RackRow): void {
  if (!can(r.caller, "rack.manage", x.site_id)) throw forbidden(`Only an administrator of the rack's site can change rack controller ${x.hostname}.`);
}

const noBmc = (x: RackRow) => badRequest(`Rack controller ${x.hostname} has no BMC Plinth drives (power type manual): power it on or off at the rack.`);

async function regionJson(r: Req) {
  const name = await getSetting(r.db, "maas_name");
  return {
    system_id: "region",
    hostname: name,
    fqdn: `${name}.${DOMAIN.name}`,
    domain: DOMAIN,
    node_type: NODE_TYPE.region,
    node_type_name: "Region controller",
    version: `${VERSION.version}-${VERSION.subversion}`,
    service_set: ["regiond", "bind9", "ntp_region", "proxy", "syslog_region"].map((n) => ({
      name: n,
      status: n === "regiond" ? "running" : "off",
      status_info: "",
    })),
    resource_uri: `${API}/regioncontrollers/region/`,
  };
}

/** Plinth's power drivers as MAAS describes its own: each field, whether required, its choices. */
function describePowerType(name: PowerType) {
  const shape = (powerParameterSchemas[name] as z.ZodObject<z.ZodRawShape>).shape;
  const fields = Object.entries(shape).map(([field, schema]) => {
    let s = schema as z.ZodType;
    let required = true;
    let dflt: unknown = "";
    for (;;) {
      const d = (s as unknown as { def: { type: string; innerType?: z.ZodType; defaultValue?: unknown } }).def;
      if (d.type === "optional") required = false;
      else if (d.type === "default") {
        required = false;
        dflt = typeof d.defaultValue === "function" ? (d.defaultValue as () => unknown)() : d.defaultValue;
      } else break;
      s = d.innerType!;
    }
    const choices = s instanceof z.ZodEnum ? (s.options as string[]).map((o) => [o, o]) : [];
    return {
      name: field,
      label: field.replaceAll("_", " "),
      required,
      field_type: SECRET_POWER_FIELDS.has(field) ? "password" : choices.length ? "choice" : "string",
      choices,
      default: dflt,
      scope: field === "power_address" || field.endsWith("_uri") ? "bmc" : "node",
    };
  });
  return {
    name,
    description: name === "ipmi" ? "IPMI" : name[0]!.toUpperCase() + name.slice(1),
    driver_type: "power",
    chassis: false,
    can_probe: false,
    fields,
    missing_packages: [],
    queryable: name !== "manual",
  };
}

export const controllerHandlers: Handler[] = [
  {
    name: "NodesHandler",
    doc: "List the nodes the caller can see: machines, devices, then rack controllers (the last two filtered by hostname and id only).",
    path: "nodes/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List nodes, optionally filtered as machines/ filters.",
        params: ["hostname", "mac_address", "id", "zone", "pool", "tags", "status", "owner"],
        run: async (r) => {
          const machines = await machinesJson(r.db, await listVisible(r, r.p));
          // A filter only machines have (zone, tags, ...) leaves devices and racks out.
          const machineOnly = r.p.keys().some((k) => !["hostname", "id", "op"].includes(k) && !k.startsWith("oauth_"));
          const q = parse(RackQuery, r.p, ["hostname", "id"]);
          if (machineOnly) return json(machines);
          const devices = await visibleDevices(r);
          const racks = (await visibleRacks(r))
            .filter((x) => (!q.hostname || q.hostname.includes(x.hostname)) && (!q.id || q.id.includes(x.id)))
            .map(rackControllerJson);
          return json([...machines, ...(devices.length ? await devicesJson(r, devices) : []), ...racks]);
        },
      },
    ],
  },
  {
    name: "RackControllersHandler",
    doc: "Manage rack controllers: Plinth's enrolled rack appliances, on the caller's sites.",
    path: "rackcontrollers/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List rack controllers.",
        params: ["hostname", "id"],
        run: async (r) => {
          const q = parse(RackQuery, r.p, ["hostname", "id"]);
          const rows = (await visibleRacks(r)).filter((x) => (!q.hostname || q.hostname.includes(x.hostname)) && (!q.id || q.id.includes(x.id)));
          return json(rows.map(rackControllerJson));
        },
      },
      {
        method: "GET",
        op: "describe_power_types",
        doc: "The power drivers machines may use, with their parameters.",
        run: async () => json(POWER_TYPES.map(describePowerType)),
      },
      {
        method: "GET",
        op: "power_parameters",
        doc: "Power parameters of the listed rack controllers (id=…): none, each is manual.",
        params: ["id"],
        run: async (r) => {
          const q = parse(RackQuery, r.p, ["hostname", "id"]);
          if (!canAnywhere(r.caller, "rack.manage")) throw forbidden("Only an administrator can read rack controllers' power parameters.");
          const rows = (await visibleRacks(r)).filter((x) => !q.id || q.id.includes(x.id));
          for (const x of rows) requireRackAdmin(r, x);
          return json(Object.fromEntries(rows.map((x) => [x.id, {}])));
        },
      },
      {
        method: "POST",
        op: "set_zone",
        doc: "Refused: rack appliances stand on sites, not zones.",
        params: ["zone", "nodes"],
        run: async () => {
          throw badRequest("Plinth's rack controllers stand on a site, not in a zone: a rack serves its site's networks whatever zone its machines are in.");
        },
      },
      {
        method: "GET",
        op: "is_registered",
        doc: "Whether a rack appliance with this MAC address is enrolled.",
        params: ["mac_address"],
        run: async (r) => {
          const mac = (r.p.get("mac_address") ?? "").toLowerCase().replaceAll("-", ":");
          if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) throw fieldError("mac_address", "Enter a valid MAC address.");
          return json((await visibleRacks(r)).some((x) => interfacesOf(x).some((i) => i.mac?.toLowerCase() === mac)));
        },
      },
    ],
  },
  {
    name: "RackControllerHandler",
    doc: "Manage a rack controller.",
    path: "rackcontrollers/{system_id}/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "Read a rack controller.",
        run: async (r) => json(rackControllerJson(await rackFor(r))),
      },
      {
        method: "PUT",
        op: null,
        doc: "Refused: a rack appliance's name comes from its host, and it has no zone, description or power settings to edit.",
        params: ["description", "domain", "zone", "power_type"],
        run: async (r) => {
          const x = await rackFor(r);
          requireRackAdmin(r, x);
          throw badRequest(
            `Rack controller ${x.hostname} is a Plinth rack appliance: its name and interfaces come from the appliance itself, it stands on its site rather than a zone, and it has no BMC. Manage it through /api/v1/racks.`,
          );
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Revoke the rack appliance's credential and close its tunnel (it must enrol again to serve).",
        params: ["force"],
        run: async (r) => {
          const x = await rackFor(r);
          requireRackAdmin(r, x);
          const tunnel = r.c.env.RACK_TUNNEL.get(r.c.env.RACK_TUNNEL.idFromName(x.id));
          await revokeRack(r.db, tunnel, { id: x.id, hostname: x.hostname, siteId: x.site_id }, r.caller.username);
          return deleted();
        },
      },
      {
        method: "GET",
        op: "power_parameters",
        doc: "The rack's power parameters: none (power type manual).",
        run: async (r) => {
          requireRackAdmin(r, await rackFor(r));
          return json({});
        },
      },
      {
        method: "GET",
        op: "query_power_state",
        doc: "The rack's power state: on while its tunnel is up, else unknown.",
        run: async (r) => json({ state: (await rackFor(r)).connected ? "on" : "unknown" }),
      },
      ...(["power_on", "power_off"] as const).map((op) => ({
        method: "POST" as const,
        op,
        doc: "Refused: the rack has no BMC Plinth drives.",
        params: ["comment"],
        run: async (r: Req): Promise<Response> => {
          const x = await rackFor(r);
          requireRackAdmin(r, x);
          throw noBmc(x);
        },
      })),
      {
        method: "POST",
        op: "abort",
        doc: "Abort the rack's current action: a rack never has one.",
        params: ["comment"],
        run: async (r) => {
          const x = await rackFor(r);
          requireRackAdmin(r, x);
          throw new MaasError(409, `Rack controller ${x.hostname} has no action in progress to abort.`);
        },
      },
      {
        method: "GET",
        op: "list_boot_images",
        doc: "The boot images the rack holds (as it reports them) and whether they are in sync with the region.",
        run: async (r) => {
          const x = await rackFor(r);
          requireRackAdmin(r, x);
          return json(await listBootImagesJson(r.db, x));
        },
      },
      {
        method: "GET",
        op: "details",
        doc: "System details (BSON: lshw and lldp): a rack appliance reports none.",
        run: async (r) => {
          await rackFor(r);
          return new Response(bsonBinaries({ lshw: new Uint8Array(), lldp: new Uint8Array() }), { headers: { "content-type": "application/bson" } });
        },
      },
    ],
  },
  {
    name: "RegionControllersHandler",
    doc: "Manage region controllers: the one Plinth region.",
    path: "regioncontrollers/",
    actions: [{ method: "GET", op: null, doc: "List region controllers.", run: async (r) => json([await regionJson(r)]) }],
  },
  {
    name: "RegionControllerHandler",
    doc: "Manage a region controller.",
    path: "regioncontrollers/{system_id}/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "Read the region controller.",
        run: async (r) => {
          if (r.path["system_id"] !== "region") throw new MaasError(404, "No RegionController matches the given query.");
          return json(await regionJson(r));
        },
      },
    ],
  },
];
