// The small endpoints automation probes: discovery/ (what racks saw on their networks, from the
// `discovered` addresses), license-keys/ and dhcp-snippets/ (Plinth has nothing to hold there,
// and says why when asked to store one).
import { visibleSites } from "../auth/roles";
import type { Handler, Req } from "./table";
import { API, badRequest, fieldError, json } from "./wire";

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

async function discoveries(r: Req): Promise<DiscoveredRow[]> {
  const { results } = await r.db
    .prepare(
      `SELECT a.ip, a.mac, a.created_at, s.site_id, s.cidr, v.vid, f.name AS fabric, rk.hostname AS rack
       FROM ip_addresses a JOIN subnets s ON s.id = a.subnet_id
       LEFT JOIN vlans v ON v.id = s.vlan_id LEFT JOIN fabrics f ON f.id = v.fabric_id LEFT JOIN racks rk ON rk.id = s.rack_id
       WHERE a.kind = 'discovered' ORDER BY a.id LIMIT 10000`,
    )
    .all<DiscoveredRow>();
  const sites = visibleSites(r.caller);
  return results.filter((d) => sites === null || (d.site_id !== null && sites.includes(d.site_id)));
}

function discoveryJson(d: DiscoveredRow) {
  const id = btoa(`${d.ip},${d.mac ?? ""}`);
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
