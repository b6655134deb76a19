// ipaddresses/: addresses reserved for things that are not machines (op=reserve, op=release),
// and the listing of the caller's (or, for an admin with all=true, every) address. MAAS calls
// these StaticIPAddress; here they are rows of ip_addresses (cloud/domain/addresses.ts).
import { z } from "zod";
import { can, isGlobalAdmin, visibleSites } from "../auth/roles";
import {
  type AddressListing,
  canonicalIp,
  listAddresses,
  parseIp,
  parseNet,
  releaseReservation,
  reserveAddress,
  type SubnetSpace,
  subnetSpace,
} from "../domain/addresses";
import { type LinkRow, linksOf } from "../domain/machines/interfaces";
import { pushConfigAfter } from "../domain/racks/commands";
import { ApiError } from "../http/errors";
import { netCache } from "./load";
import { subnetByKey, subnetsJson, visibleSubnets } from "./net";
import { type IfaceRow, interfaceJson } from "./shape";
import type { Handler, Req } from "./table";
import { API, boolParam, fieldError, forbidden, json, MaasError, parse } from "./wire";

/** MAAS's IPADDRESS_TYPE numbers and names for each kind of row. */
export const ALLOC_TYPE: Record<string, { n: number; name: string }> = {
  auto: { n: 0, name: "Automatic" },
  static: { n: 1, name: "Static" },
  sticky: { n: 1, name: "Static" },
  link_up: { n: 1, name: "Static" },
  user_reserved: { n: 4, name: "User reserved" },
  dhcp: { n: 5, name: "DHCP" },
  discovered: { n: 6, name: "Observed" },
};

/** MAAS's timestamps: ISO 8601 without the zone. */
export const maasTime = (ms: number) => new Date(ms).toISOString().replace("Z", "");

/** The interface JSON of the listed rows that are links, by row id. */
async function interfacesOf(db: D1Database, rows: AddressListing[]): Promise<Map<number, unknown>> {
  const ids = [...new Set(rows.flatMap((r) => (r.interface_id !== null ? [r.interface_id] : [])))];
  const out = new Map<number, unknown>();
  if (ids.length === 0) return out;
  const { results } = await db
    .prepare(
      "SELECT id, machine_id, name, mac, type, vlan_id, speed_mbps, link_connected, is_boot FROM interfaces WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(JSON.stringify(ids))
    .all<IfaceRow>();
  const links: LinkRow[] = await linksOf(db, ids);
  const net = await netCache(
    db,
    links.flatMap((l) => (l.subnet_id !== null ? [l.subnet_id] : [])),
    results.flatMap((i) => (i.vlan_id !== null ? [i.vlan_id] : [])),
  );
  for (const r of rows) {
    const i = results.find((x) => x.id === r.interface_id);
    if (i && r.system_id) out.set(r.id, interfaceJson(r.system_id, i, net, links));
  }
  return out;
}

async function addressesJson(r: Req, rows: AddressListing[]) {
  const subnetIds = [...new Set(rows.flatMap((x) => (x.subnet_id !== null ? [x.subnet_id] : [])))];
  const subnetRows = subnetIds.length ? await visibleSubnets(r, "WHERE id IN (SELECT value FROM json_each(?))", JSON.stringify(subnetIds)) : [];
  const shaped = new Map((await subnetsJson(r.db, subnetRows)).map((s) => [s.id, s]));
  const ifaces = await interfacesOf(r.db, rows);
  const owners = new Map<string, unknown>();
  for (const x of rows) {
    if (!x.owner || owners.has(x.owner)) continue;
    const u = await r.db
      .prepare("SELECT id, username, email FROM users WHERE username = ?")
      .bind(x.owner)
      .first<{ id: number; username: string; email: string }>();
    const admin = u ? await r.db.prepare("SELECT 1 FROM role_bindings WHERE user_id = ? AND role = 'admin' AND site_id IS NULL").bind(u.id).first() : null;
    owners.set(
      x.owner,
      u
        ? { username: u.username, email: u.email, is_local: true, is_superuser: !!admin, resource_uri: `${API}/users/${encodeURIComponent(u.username)}/` }
        : null,
    );
  }
  return rows.map((x) => {
    const t = ALLOC_TYPE[x.kind] ?? { n: 1, name: "Static" };
    const iface = ifaces.get(x.id);
    return {
      alloc_type: t.n,
      alloc_type_name: t.name,
      created: maasTime(x.created_at),
      ip: x.ip,
      subnet: x.subnet_id !== null ? (shaped.get(x.subnet_id) ?? null) : null,
      interface_set: iface ? [iface] : [],
      owner: x.owner ? (owners.get(x.owner) ?? null) : null,
      ...(x.comment ? { comment: x.comment } : {}),
      resource_uri: `${API}/ipaddresses/`,
    };
  });
}

/** A reservation for a MAC is one the rack's DHCP serves: tell the site's racks. */
async function pushConfig(r: Req, siteId: number | null) {
  await pushConfigAfter(r.c.env, siteId, "a reservation");
}

const ReadQuery = z.object({
  ip: z.string().max(64).optional(),
  all: boolParam.optional(),
  owner: z.string().max(64).optional(),
});

async function read(r: Req): Promise<Response> {
  const q = parse(ReadQuery, r.p);
  const admin = isGlobalAdmin(r.caller);
  if ((q.all || q.owner !== undefined) && !admin) throw forbidden("Only administrators can list other users' IP addresses.");
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (q.all) where.push("a.ip IS NOT NULL");
  else if (q.owner !== undefined) {
    where.push("a.kind = 'user_reserved' AND u.username = ?");
    args.push(q.owner);
  } else {
    where.push("a.kind = 'user_reserved' AND a.owner_id = ?");
    args.push(r.caller.userId);
  }
  if (q.ip !== undefined) {
    const ip = canonicalIp(q.ip);
    if (!ip) throw fieldError("ip", "Enter a valid IPv4 or IPv6 address.");
    where.push("a.ip = ?");
    args.push(ip);
  }
  return json(await addressesJson(r, await listAddresses(r.db, where.join(" AND "), ...args)));
}

const ReserveBody = z.object({
  subnet: z.string().max(64).optional(),
  ip: z.string().max(64).optional(),
  /** The older name of `ip`. */
  ip_address: z.string().max(64).optional(),
  requested_address: z.string().max(64).optional(),
  comment: z.string().max(1024).default(""),
  mac: z.string().max(32).optional(),
  hostname: z.string().max(255).optional(),
  domain: z.string().max(255).optional(),
});

/** The visible subnet that holds `ip`, for a reservation that names only its address. */
async function subnetHolding(r: Req, ip: string) {
  const a = parseIp(ip);
  if (!a) return undefined;
  return (await visibleSubnets(r)).find((s) => {
    const n = parseNet(s.cidr);
    return n !== null && n.family === a.family && a.n >= n.first && a.n <= n.last;
  });
}

async function reserve(r: Req): Promise<Response> {
  const b = parse(ReserveBody, r.p);
  const ip = b.ip || b.ip_address || b.requested_address || undefined;
  if (ip !== undefined && !parseIp(ip)) throw fieldError("ip", "Enter a valid IPv4 or IPv6 address.");
  const row = b.subnet ? await subnetByKey(r, b.subnet) : ip ? await subnetHolding(r, ip) : undefined;
  if (!row) {
    if (b.subnet) throw fieldError("subnet", `Select a valid choice. ${b.subnet} is not one of the available choices.`);
    if (ip) throw new MaasError(404, `No subnet found containing ${ip}.`);
    throw fieldError("subnet", "This field is required.");
  }
  if (!can(r.caller, "machine.edit", row.site_id)) throw forbidden("Reserving addresses needs the operator role on the subnet's site.");
  const s = (await subnetSpace(r.db, row.id)) as SubnetSpace;
  let made: Awaited<ReturnType<typeof reserveAddress>>;
  try {
    made = await reserveAddress(r.db, { username: r.caller.username, userId: r.caller.userId }, s, { ip, comment: b.comment, mac: b.mac });
  } catch (e) {
    // MAAS: an exhausted subnet is 503 (StaticIPAddressExhaustion), a taken address 409.
    if (e instanceof ApiError && e.code === "subnet_full") throw new MaasError(503, `No more IPs available in subnet: ${s.cidr}.`);
    if (e instanceof ApiError && e.status === 400 && !Array.isArray(e.details)) throw fieldError(e.code === "invalid_mac" ? "mac" : "ip", e.message);
    throw e;
  }
  if (made.mac) await pushConfig(r, s.siteId);
  const [listed] = await listAddresses(r.db, "a.id = ?", made.id);
  return json((await addressesJson(r, [listed!]))[0]);
}

const ReleaseBody = z.object({
  ip: z.string().min(1, "This field is required.").max(64),
  discovered: boolParam.optional(),
  force: boolParam.optional(),
});

async function release(r: Req): Promise<Response> {
  if (!r.p.get("ip")) throw fieldError("ip", "This field is required.");
  const b = parse(ReleaseBody, r.p);
  const ip = canonicalIp(b.ip);
  if (!ip) throw fieldError("ip", "Enter a valid IPv4 or IPv6 address.");
  const admin = isGlobalAdmin(r.caller);
  if ((b.force || b.discovered) && !admin) throw forbidden("Only administrators can release other users' or discovered addresses.");
  const kind = b.discovered ? "discovered" : "user_reserved";
  const rows = await listAddresses(
    r.db,
    b.force ? "a.ip = ? AND a.kind = ?" : "a.ip = ? AND a.kind = ? AND a.owner_id = ?",
    ...(b.force ? [ip, kind] : [ip, kind, r.caller.userId]),
  );
  const sites = visibleSites(r.caller);
  const row = rows.find((x) => x.subnet_id !== null);
  const s = row?.subnet_id ? await subnetSpace(r.db, row.subnet_id) : null;
  if (!row || !s || (sites !== null && (s.siteId === null || !sites.includes(s.siteId)))) throw new MaasError(404, `No reserved IP address ${b.ip} found.`);
  if (kind === "discovered") await releaseReservation(r.db, r.caller.username, row, s, { discovered: true });
  else await releaseReservation(r.db, r.caller.username, row, s);
  if (row.mac) await pushConfig(r, s.siteId);
  return new Response(null, { status: 204 });
}

export const ipAddressHandlers: Handler[] = [
  {
    name: "IPAddressesHandler",
    doc: "Manage IP addresses allocated by MAAS.",
    path: "ipaddresses/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List the caller's reserved IP addresses (all of them with all=true, for admins).",
        params: ["ip", "all", "owner"],
        run: read,
      },
      {
        method: "POST",
        op: "reserve",
        doc: "Reserve an IP address for use outside of MAAS: the one given, or the lowest free one of the subnet.",
        params: ["subnet", "ip", "ip_address", "comment", "mac", "hostname", "domain"],
        run: reserve,
      },
      {
        method: "POST",
        op: "release",
        doc: "Release an IP address that was previously reserved by the user.",
        params: ["ip", "discovered", "force"],
        run: release,
      },
    ],
  },
];
