// The small endpoints automation probes: discovery/ (what racks saw on their networks, from the
// `discovered` addresses; admins of a site clear its own), license-keys/ and dhcp-snippets/
// (Plinth has nothing to hold there, and says why when asked to store one).
import { z } from "zod";
import { GRANTS } from "../../shared/roles";
import { visibleSites } from "../auth/roles";
import { canonicalIp } from "../domain/addresses";
import { clearDiscovered } from "../domain/discovery";
import type { Handler, Req } from "./table";
import { API, badRequest, boolParam, deleted, fieldError, json, MaasError, parse } from "./wire";

interface DiscoveredRow {
  ip: string;
  mac: string | null;
  created_at: number;
  site_id: number | null;
  cidr: string;
  vid: number | null;
  fabric: string | null;
  rack: string | null;
}

/** What racks saw, on the caller's sites; `one` narrows it in SQL to one IP and MAC (a discovery's id). */
async function discoveries(r: Req, one?: { ip: string; mac: string }): Promise<DiscoveredRow[]> {
  const { results } = await r.db
    .prepare(
      `SELECT a.ip, a.mac, a.created_at, s.site_id, s.cidr, v.vid, f.name AS fabric, rk.hostname AS rack
       FROM ip_addresses a JOIN subnets s ON s.id = a.subnet_id
       LEFT JOIN vlans v ON v.id = s.vlan_id LEFT JOIN fabrics f ON f.id = v.fabric_id LEFT JOIN racks rk ON rk.id = s.rack_id
       WHERE a.kind = 'discovered'${one ? " AND a.ip = ? AND a.mac IS ?" : ""} ORDER BY a.id LIMIT 10000`,
    )
    .bind(...(one ? [one.ip, one.mac || null] : []))
    .all<DiscoveredRow>();
  const sites = visibleSites(r.caller);
  return results.filter((d) => sites === null || (d.site_id !== null && sites.includes(d.site_id)));
}

/** MAAS names a discovery by its IP and MAC; Plinth the same way (base64 of "ip,mac"). */
const discoveryId = (d: DiscoveredRow) => btoa(`${d.ip},${d.mac ?? ""}`);

function discoveryJson(d: DiscoveredRow) {
  const id = discoveryId(d);
  return {
    discovery_id: id,
    ip: d.ip,
    mac_address: d.mac,
    mac_organization: null,
    hostname: null,
    fabric_name: d.fabric,
    vid: d.vid,
    subnet: d.cidr,
    observer_hostname: d.rack,
    first_seen: new Date(d.created_at).toISOString(),
    last_seen: new Date(d.created_at).toISOString(),
    resource_uri: `${API}/discovery/${encodeURIComponent(id)}/`,
  };
}

/** The sites whose discoveries the caller may clear (network.manage there); null: every site. */
function clearableSites(r: Req): number[] | null {
  const b = r.caller.bindings.filter((x) => GRANTS[x.role].has("network.manage"));
  if (b.some((x) => x.siteId === null)) return null;
  return b.map((x) => x.siteId!);
}

function requireClearer(r: Req): number[] | null {
  const sites = clearableSites(r);
  if (sites !== null && !sites.length) throw new MaasError(403, "Must be an administrator to clear discovery entries.");
  return sites;
}

const ClearBody = z.object({ mdns: boolParam.default(false), neighbours: boolParam.default(false), all: boolParam.default(false) });
const mac = z
  .string()
  .transform((m) => m.toLowerCase().replaceAll("-", ":"))
  .pipe(z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, "Enter a valid MAC address."));
const ClearOneBody = z.object({
  ip: z
    .string()
    .max(45)
    .transform((s, ctx) => {
      const ip = canonicalIp(s);
      if (ip) return ip;
      ctx.addIssue({ code: "custom", message: "Enter a valid IPv4 or IPv6 address." });
      return z.NEVER;
    }),
  mac,
});

/** A discovered address is "unknown" when no machine interface or reservation holds its MAC or IP. */
async function known(r: Req): Promise<{ macs: Set<string>; ips: Set<string> }> {
  // Only what a discovery could match: not every MAC and address of the fleet.
  const [m, a] = await r.db.batch([
    r.db.prepare("SELECT mac FROM interfaces WHERE mac IN (SELECT mac FROM ip_addresses WHERE kind = 'discovered')"),
    r.db.prepare(
      `SELECT ip, mac FROM ip_addresses WHERE kind != 'discovered' AND ip IS NOT NULL
       AND (ip IN (SELECT ip FROM ip_addresses WHERE kind = 'discovered') OR mac IN (SELECT mac FROM ip_addresses WHERE kind = 'discovered'))`,
    ),
  ]);
  const macs = new Set(((m!.results ?? []) as { mac: string }[]).map((x) => x.mac));
  const ips = new Set<string>();
  for (const x of (a!.results ?? []) as { ip: string; mac: string | null }[]) {
    ips.add(x.ip);
    if (x.mac) macs.add(x.mac);
  }
  return { macs, ips };
}

export const miscHandlers: Handler[] = [
  {
    name: "DiscoveriesHandler",
    doc: "Query observed devices on the racks' networks (the caller's sites).",
    path: "discovery/",
    actions: [
      { method: "GET", op: null, doc: "List all discovered devices.", run: async (r) => json((await discoveries(r)).map(discoveryJson)) },
      {
        method: "POST",
        op: "clear",
        doc: "Delete discovered neighbours (neighbours=true or all=true) on the sites the caller administers; Plinth keeps no mDNS entries.",
        params: ["mdns", "neighbours", "all"],
        run: async (r) => {
          const sites = requireClearer(r);
          const b = parse(ClearBody, r.p);
          if (!b.mdns && !b.neighbours && !b.all)
            throw badRequest("Bad request: could not determine what data to clear.\nMust specify mdns=True, neighbours=True, or all=True.");
          if (b.neighbours || b.all) await clearDiscovered(r.db, r.caller.username, sites);
          return deleted();
        },
      },
      {
        method: "POST",
        op: "clear_by_mac_and_ip",
        doc: "Delete the discovery of one IP and MAC address (404 when there is none).",
        params: ["ip", "mac"],
        run: async (r) => {
          const sites = requireClearer(r);
          const b = parse(ClearOneBody, r.p);
          if (!(await clearDiscovered(r.db, r.caller.username, sites, b))) throw new MaasError(404, "No Discovery matches the given query.");
          return deleted();
        },
      },
      {
        method: "GET",
        op: "by_unknown_mac",
        doc: "Discoveries whose MAC no machine or reservation has.",
        run: async (r) => {
          const k = await known(r);
          return json((await discoveries(r)).filter((d) => !d.mac || !k.macs.has(d.mac)).map(discoveryJson));
        },
      },
      {
        method: "GET",
        op: "by_unknown_ip",
        doc: "Discoveries whose IP no machine or reservation holds.",
        run: async (r) => {
          const k = await known(r);
          return json((await discoveries(r)).filter((d) => !k.ips.has(d.ip)).map(discoveryJson));
        },
      },
      {
        method: "GET",
        op: "by_unknown_ip_and_mac",
        doc: "Discoveries whose IP and MAC are both unknown.",
        run: async (r) => {
          const k = await known(r);
          return json((await discoveries(r)).filter((d) => !k.ips.has(d.ip) && (!d.mac || !k.macs.has(d.mac))).map(discoveryJson));
        },
      },
    ],
  },
  {
    name: "DiscoveryHandler",
    doc: "Read one observed device.",
    path: "discovery/{discovery_id}/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "Read a discovery by its id.",
        run: async (r) => {
          const id = r.path["discovery_id"] ?? "";
          let ip = "";
          let mac = "";
          try {
            [ip = "", mac = ""] = atob(id).split(",");
          } catch {
            // Not base64: no discovery has that id.
          }
          const d = ip ? (await discoveries(r, { ip, mac })).find((x) => discoveryId(x) === id) : undefined;
          if (!d) throw new MaasError(404, "No Discovery matches the given query.");
          return json(discoveryJson(d));
        },
      },
    ],
  },
  {
    name: "LicenseKeysHandler",
    doc: "License keys for licensed operating systems: Plinth deploys none, so there are none.",
    path: "license-keys/",
    actions: [
      { method: "GET", op: null, doc: "List license keys (always empty).", run: async () => json([]) },
      {
        method: "POST",
        op: null,
        doc: "Refused: no operating system Plinth deploys takes a license key.",
        params: ["osystem", "distro_series", "license_key"],
        run: async (r) => {
          throw fieldError(
            "osystem",
            `${(r.p.get("osystem") ?? "").slice(0, 64) || "This OS"} does not take a license key: Plinth deploys no licensed operating system.`,
          );
        },
      },
    ],
  },
  {
    name: "LicenseKeyHandler",
    doc: "One license key: there are none.",
    path: "license-keys/{osystem}/{distro_series}/",
    actions: [
      { method: "GET", op: null, doc: "Read a license key: none exists.", run: async () => noLicenseKey() },
      { method: "DELETE", op: null, doc: "Delete a license key: none exists.", run: async () => noLicenseKey() },
      {
        method: "PUT",
        op: null,
        doc: "Refused: no operating system Plinth deploys takes a license key.",
        params: ["license_key"],
        run: async (r) => {
          throw fieldError("osystem", `${(r.path["osystem"] ?? "").slice(0, 64)} does not take a license key: Plinth deploys no licensed operating system.`);
        },
      },
    ],
  },
  {
    name: "DhcpSnippetsHandler",
    doc: "ISC dhcpd configuration snippets: Plinth's racks run their own DHCP server, which takes none.",
    path: "dhcp-snippets/",
    actions: [
      { method: "GET", op: null, doc: "List DHCP snippets (always empty).", run: async () => json([]) },
      {
        method: "POST",
        op: null,
        doc: "Refused: the rack's DHCP server is configured from subnets, IP ranges and reservations, not dhcpd text.",
        params: ["name", "value", "description", "enabled", "node", "subnet", "global_snippet"],
        run: async () => {
          throw badRequest(
            "Plinth's racks serve DHCP themselves and take no ISC dhcpd snippets: set options through subnets (gateway, DNS servers), IP ranges and reservations instead.",
          );
        },
      },
    ],
  },
];

function noLicenseKey(): never {
  throw new MaasError(404, "No LicenseKey matches the given query.");
}
