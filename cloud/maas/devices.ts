// devices/ and devices/{system_id}/: non-deployable nodes with MACs, as Terraform's maas_device
// and operators' inventory scripts make them. A device stands on a site (Plinth's `site`, else
// its parent machine's, else the caller's only one, else default); roles apply as for machines.
// Its addresses are the reservations made for its MACs (ipaddresses/?op=reserve mac_address=).
import { z } from "zod";
import { require as requirePerm, visibleSites } from "../auth/roles";
import { pushConfigAfter } from "../domain/racks/commands";
import { createDevice, DEVICE_COLS, type DeviceInput, type DeviceRow, deleteDevice, deviceClash, setDeviceOwnerData, updateDevice } from "../domain/devices";
import { newHostname } from "../domain/machines/names";
import { netCache } from "./load";
import { idOf, siteFor } from "./machines";
import { DOMAIN, type NetCache, subnetJson, zoneJson } from "./shape";
import type { Handler, Req } from "./table";
import { applyOwnerData } from "./owner-data";
import { API, deleted, fieldError, json, list, MaasError, parse } from "./wire";

const mac = z
  .string()
  .regex(/^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i, "Enter a valid MAC address.")
  .transform((m) => m.toLowerCase().replaceAll("-", ":"));
const hostname = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i, "Enter a valid hostname (a DNS label).")
  .max(63)
  .transform((h) => h.toLowerCase());
const domain = z
  .string()
  .max(128)
  .regex(/^[a-z0-9.-]*$/i, "Enter a valid domain name.");
const name = z.string().max(64);

const CreateForm = z.object({
  hostname: hostname.optional(),
  description: z.string().max(1024).default(""),
  domain: domain.optional(),
  parent: z.string().max(64).optional(),
  zone: name.default("default"),
  mac_addresses: list(mac).pipe(z.array(z.string()).max(64)).default([]),
  site: name.optional(),
});
const UpdateForm = z.object({
  hostname: hostname.optional(),
  description: z.string().max(1024).optional(),
  domain: domain.optional(),
  parent: z.string().max(64).optional(),
  zone: name.optional(),
  mac_addresses: list(mac).pipe(z.array(z.string()).max(64)).optional(),
});
const ListQuery = z.object({
  hostname: list(z.string().max(255)).optional(),
  mac_address: list(mac).optional(),
  id: list(z.string().max(64)).optional(),
  zone: name.optional(),
});

interface Extras {
  net: NetCache;
  zones: Map<number, { id: number; name: string; description: string }>;
  owners: Map<number, string>;
  parents: Map<number, string>;
  addresses: { mac: string; ip: string; cidr: string; subnet_id: number }[];
}

async function extras(r: Req, rows: DeviceRow[]): Promise<Extras> {
  const macs = rows.flatMap((d) => JSON.parse(d.macs) as string[]);
  const [z, o, p, a] = await r.db.batch([
    r.db.prepare("SELECT id, name, description FROM zones"),
    r.db.prepare("SELECT id, username FROM users WHERE id IN (SELECT value FROM json_each(?))").bind(JSON.stringify(rows.map((d) => d.owner_id))),
    r.db.prepare("SELECT id, system_id FROM machines WHERE id IN (SELECT value FROM json_each(?))").bind(JSON.stringify(rows.map((d) => d.parent_id))),
    r.db
      .prepare(
        "SELECT a.mac, a.ip, s.cidr, s.id AS subnet_id FROM ip_addresses a JOIN subnets s ON s.id = a.subnet_id WHERE a.kind = 'user_reserved' AND a.mac IN (SELECT value FROM json_each(?)) ORDER BY a.id",
      )
      .bind(JSON.stringify(macs)),
  ]);
  const addresses = a!.results as Extras["addresses"];
  return {
    net: await netCache(
      r.db,
      addresses.map((x) => x.subnet_id),
      [],
    ),
    zones: new Map((z!.results as { id: number; name: string; description: string }[]).map((x) => [x.id, x])),
    owners: new Map((o!.results as { id: number; username: string }[]).map((x) => [x.id, x.username])),
    parents: new Map((p!.results as { id: number; system_id: string }[]).map((x) => [x.id, x.system_id])),
    addresses,
  };
}

export function deviceJson(d: DeviceRow, x: Extras) {
  const macs = JSON.parse(d.macs) as string[];
  const zone = x.zones.get(d.zone_id) ?? { id: d.zone_id, name: "default", description: "" };
  const addrs = x.addresses.filter((a) => macs.includes(a.mac));
  return {
    system_id: d.system_id,
    hostname: d.hostname,
    fqdn: `${d.hostname}.${d.domain}`,
    domain: d.domain === DOMAIN.name ? DOMAIN : { ...DOMAIN, id: -1, name: d.domain, is_default: false, resource_uri: `${API}/domains/${d.domain}/` },
    description: d.description,
    owner: d.owner_id ? (x.owners.get(d.owner_id) ?? null) : null,
    owner_data: JSON.parse(d.owner_data) as Record<string, string>,
    parent: d.parent_id ? (x.parents.get(d.parent_id) ?? null) : null,
    zone: zoneJson(zone),
    node_type: 1,
    node_type_name: "Device",
    interface_set: macs.map((m, i) => ({
      id: i,
      name: `eth${i}`,
      type: "physical",
      mac_address: m,
      enabled: true,
      tags: [],
      vlan: null,
      effective_mtu: 1500,
      parents: [],
      children: [],
      links: addrs
        .filter((a) => a.mac === m)
        .map((a, k) => {
          const s = x.net.subnets.get(a.subnet_id)!;
          return { id: k, mode: "static", ip_address: a.ip, subnet: subnetJson(s, s.vlan_id === null ? null : (x.net.vlans.get(s.vlan_id) ?? null)) };
        }),
      resource_uri: `${API}/nodes/${d.system_id}/interfaces/${i}/`,
    })),
    ip_addresses: addrs.map((a) => a.ip),
    tag_names: [],
    address_ttl: null,
    workload_annotations: {},
    resource_uri: `${API}/devices/${d.system_id}/`,
  };
}

/** Devices in their MAAS shape, with what they embed loaded once for all of them. */
export async function devicesJson(r: Req, rows: DeviceRow[]) {
  const x = await extras(r, rows);
  return rows.map((d) => deviceJson(d, x));
}

/** The devices the caller can see, filtered as MAAS filters them (in SQL: a site may hold thousands). */
export async function visibleDevices(r: Req): Promise<DeviceRow[]> {
  const q = parse(ListQuery, r.p, ["hostname", "mac_address", "id"]);
  const where: string[] = [];
  const args: unknown[] = [];
  const inJson = (expr: string, values: unknown[]) => {
    where.push(`${expr} IN (SELECT value FROM json_each(?))`);
    args.push(JSON.stringify(values));
  };
  const sites = visibleSites(r.caller);
  if (sites !== null) inJson("site_id", sites);
  if (q.hostname) inJson("hostname", q.hostname);
  if (q.id) inJson("system_id", q.id);
  if (q.zone) {
    where.push("zone_id = ?");
    args.push(await idOf(r.db, "zones", q.zone, "zone"));
  }
  if (q.mac_address) {
    where.push("EXISTS (SELECT 1 FROM json_each(devices.macs) m WHERE m.value IN (SELECT value FROM json_each(?)))");
    args.push(JSON.stringify(q.mac_address));
  }
  const { results } = await r.db
    .prepare(`SELECT ${DEVICE_COLS} FROM devices${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY id LIMIT 10000`)
    .bind(...args)
    .all<DeviceRow>();
  return results;
}

async function one(r: Req, perm: "machine.read" | "machine.edit" | "machine.delete"): Promise<DeviceRow> {
  const d = await r.db
    .prepare(`SELECT ${DEVICE_COLS} FROM devices WHERE system_id = ?`)
    .bind(r.path["system_id"] ?? "")
    .first<DeviceRow>();
  const sites = visibleSites(r.caller);
  if (!d || (sites !== null && !sites.includes(d.site_id))) throw new MaasError(404, "No Device matches the given query.");
  requirePerm(r.caller, perm, d.site_id);
  return d;
}

async function parentOf(r: Req, systemId: string | undefined): Promise<{ id: number; site_id: number } | null> {
  if (!systemId) return null;
  const m = await r.db.prepare("SELECT id, site_id FROM machines WHERE system_id = ?").bind(systemId).first<{ id: number; site_id: number }>();
  const sites = visibleSites(r.caller);
  if (!m || (sites !== null && !sites.includes(m.site_id)))
    throw fieldError("parent", `Select a valid choice. ${systemId} is not one of the available choices.`);
  return m;
}

/** Named, else the caller's only site (whatever their role there, so a viewer is told no rather than not found), else as machines. */
async function siteOf(r: Req, named: string | undefined): Promise<number> {
  const sites = visibleSites(r.caller);
  if (!named && sites?.length === 1) return sites[0]!;
  return siteFor(r, named);
}

async function refuseClash(r: Req, d: Pick<DeviceInput, "hostname" | "domain" | "macs">, self?: number) {
  if (new Set(d.macs).size !== d.macs.length) throw fieldError("mac_addresses", "Duplicate MAC addresses.");
  const c = await deviceClash(r.db, d.hostname, d.domain, d.macs, self);
  if (c) throw fieldError(c.field, c.message);
}

export const deviceHandlers: Handler[] = [
  {
    name: "DevicesHandler",
    doc: "Manage devices: nodes Plinth names and addresses but does not deploy.",
    path: "devices/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List devices visible to the user, optionally filtered by hostname, mac_address, id, zone.",
        params: ["hostname", "mac_address", "id", "zone"],
        run: async (r) => json(await devicesJson(r, await visibleDevices(r))),
      },
      {
        method: "POST",
        op: null,
        doc: "Create a device. Plinth's `site` names where it stands (else its parent's site).",
        params: ["hostname", "description", "domain", "parent", "zone", "mac_addresses", "site"],
        run: async (r) => {
          const b = parse(CreateForm, r.p, ["mac_addresses"]);
          const parent = await parentOf(r, b.parent);
          const siteId = parent && !b.site ? parent.site_id : await siteOf(r, b.site);
          requirePerm(r.caller, "machine.create", siteId, "site");
          const input: DeviceInput = {
            hostname: b.hostname ?? newHostname(),
            domain: b.domain || DOMAIN.name,
            description: b.description,
            siteId,
            zoneId: await idOf(r.db, "zones", b.zone, "zone"),
            ownerId: r.caller.userId || null,
            parentId: parent?.id ?? null,
            macs: b.mac_addresses,
          };
          await refuseClash(r, input);
          const d = await createDevice(r.db, r.caller.username, input);
          // A device's name and addresses are in its site's DNS zones.
          await pushConfigAfter(r.c.env, d.site_id, "a device was created");
          return json((await devicesJson(r, [d]))[0]);
        },
      },
    ],
  },
  {
    name: "DeviceHandler",
    doc: "Manage an individual device.",
    path: "devices/{system_id}/",
    actions: [
      { method: "GET", op: null, doc: "Read a device.", run: async (r) => json((await devicesJson(r, [await one(r, "machine.read")]))[0]) },
      {
        method: "PUT",
        op: null,
        doc: "Update a device: the fields given change.",
        params: ["hostname", "description", "domain", "parent", "zone", "mac_addresses"],
        run: async (r) => {
          const d = await one(r, "machine.edit");
          const b = parse(UpdateForm, r.p, ["mac_addresses"]);
          const parent = b.parent !== undefined ? await parentOf(r, b.parent) : undefined;
          const input: DeviceInput = {
            hostname: b.hostname ?? d.hostname,
            domain: b.domain || d.domain,
            description: b.description ?? d.description,
            siteId: d.site_id,
            zoneId: b.zone ? await idOf(r.db, "zones", b.zone, "zone") : d.zone_id,
            ownerId: d.owner_id,
            parentId: parent === undefined ? d.parent_id : (parent?.id ?? null),
            macs: b.mac_addresses ?? (JSON.parse(d.macs) as string[]),
          };
          await refuseClash(r, input, d.id);
          const u = await updateDevice(r.db, r.caller.username, d.id, input);
          if (!u) throw new MaasError(404, "No Device matches the given query.");
          await pushConfigAfter(r.c.env, u.site_id, "a device edit");
          return json((await devicesJson(r, [u]))[0]);
        },
      },
      ...(["set_owner_data", "set_workload_annotations"] as const).map((op) => ({
        method: "POST" as const,
        op,
        doc: "Set key/value annotations on the device (Juju marks its containers so). An empty value deletes the key.",
        params: ["key"],
        run: async (r: Req): Promise<Response> => {
          const d = await one(r, "machine.edit");
          const { data, keys } = applyOwnerData(r.p, d.owner_data);
          const u = await setDeviceOwnerData(r.db, r.caller.username, d, data, `annotations: ${keys.join(", ")}`);
          if (!u) throw new MaasError(409, "The device changed while its annotations were set; try again.", { "retry-after": "1" });
          return json((await devicesJson(r, [u]))[0]);
        },
      })),
      {
        method: "DELETE",
        op: null,
        doc: "Delete a device (its address reservations stay, as reservations).",
        run: async (r) => {
          const d = await one(r, "machine.delete");
          await deleteDevice(r.db, r.caller.username, d);
          await pushConfigAfter(r.c.env, d.site_id, "a device deletion");
          return deleted();
        },
      },
    ],
  },
];
