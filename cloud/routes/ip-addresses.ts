// IP addresses of subnets: what is held (links, reservations, discoveries), reserving an
// address for something that is not a machine, and how full a subnet is. Allocation itself is
// in cloud/domain/addresses.ts.
import type { Hono } from "hono";
import { z } from "zod";
import { can, visibleSites } from "../auth/roles";
import {
  type AddressListing,
  IP_KINDS,
  listAddresses,
  releaseReservation,
  reserveAddress,
  type SubnetSpace,
  subnetSpace,
  utilisation,
  utilisationJson,
} from "../domain/addresses";
import { pushConfigAfter } from "../domain/racks/commands";
import type { AppEnv, Ctx } from "../http/context";
import { ApiError, badRequest, forbidden, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { readJson, readQuery } from "../http/validate";

const subnetKey = z.string().min(1).max(64).describe("subnet id or CIDR");
const ListQuery = z.strictObject({
  subnet: subnetKey,
  kind: z.enum(IP_KINDS).optional(),
});
const ReserveBody = z.strictObject({
  subnet: z.union([z.number().int().positive(), subnetKey]),
  /** None: the lowest free address, as AUTO would take it. */
  ip: z.string().max(64).optional(),
  comment: z.string().max(1024).default(""),
  /** A device that is no machine: the rack's DHCP hands this MAC the reserved address. */
  mac: z.string().max(17).optional(),
});

async function subnetFor(c: Ctx, key: string | number): Promise<SubnetSpace | null> {
  const db = c.env.DB;
  const row =
    typeof key === "number" || /^\d+$/.test(key)
      ? await db.prepare("SELECT id FROM subnets WHERE id = ?").bind(Number(key)).first<{ id: number }>()
      : await db.prepare("SELECT id FROM subnets WHERE cidr = ?").bind(key).first<{ id: number }>();
  const s = row ? await subnetSpace(db, row.id) : null;
  const sites = visibleSites(c.get("caller"));
  // A subnet on a site the caller cannot see is answered like one that does not exist.
  if (!s || (sites !== null && (s.siteId === null || !sites.includes(s.siteId)))) return null;
  return s;
}

/** A reservation for a MAC is one the rack's DHCP serves: tell the site's racks. */
async function pushConfig(c: Ctx, siteId: number | null): Promise<void> {
  await pushConfigAfter(c.env, siteId, "a reservation");
}

function serialize(r: AddressListing) {
  return {
    id: r.id,
    subnet_id: r.subnet_id,
    cidr: r.cidr,
    ip: r.ip,
    kind: r.kind,
    interface_id: r.interface_id,
    interface: r.interface_name,
    mac: r.mac,
    machine: r.system_id,
    hostname: r.hostname,
    owner: r.owner,
    comment: r.comment,
    created_at: r.created_at,
  };
}

export function ipAddressRoutes(app: Hono<AppEnv>) {
  def(
    app,
    "get",
    "/ip-addresses",
    { summary: "List a subnet's addresses: links, reservations, discoveries", tag: "networks", query: ListQuery, roles: "any; only the caller's sites" },
    async (c) => {
      const q = readQuery(c, ListQuery);
      const s = await subnetFor(c, q.subnet);
      if (!s) throw notFound("subnet");
      const rows = q.kind
        ? await listAddresses(c.env.DB, "a.subnet_id = ? AND a.kind = ?", s.id, q.kind)
        : await listAddresses(c.env.DB, "a.subnet_id = ?", s.id);
      return c.json({ items: rows.map(serialize) });
    },
  );

  def(
    app,
    "post",
    "/ip-addresses",
    {
      summary: "Reserve an address (the one given, or the lowest free) for something that is not a machine",
      tag: "networks",
      body: ReserveBody,
      status: 201,
      roles: "operator or admin of the subnet's site",
    },
    async (c) => {
      const b = await readJson(c, ReserveBody);
      const s = await subnetFor(c, b.subnet);
      if (!s) throw badRequest(`no subnet ${b.subnet}`);
      const caller = c.get("caller");
      if (!can(caller, "machine.edit", s.siteId)) throw forbidden("reserving addresses needs the operator role on the subnet's site");
      const row = await reserveAddress(c.env.DB, { username: caller.username, userId: caller.userId }, s, { ip: b.ip, comment: b.comment, mac: b.mac });
      if (row.mac) await pushConfig(c, s.siteId);
      const [made] = await listAddresses(c.env.DB, "a.id = ?", row.id);
      return c.json(serialize(made!), 201);
    },
  );

  def(
    app,
    "delete",
    "/ip-addresses/:id",
    { summary: "Release a reservation", tag: "networks", status: 204, roles: "the operator who reserved it, or an admin of the subnet's site" },
    async (c) => {
      const id = c.req.param("id") ?? "";
      const [row] = /^\d+$/.test(id) ? await listAddresses(c.env.DB, "a.id = ?", Number(id)) : [];
      const s = row?.subnet_id ? await subnetFor(c, row.subnet_id) : null;
      if (!row || !s) throw notFound("IP address");
      const caller = c.get("caller");
      const mine = row.owner_id === caller.userId && can(caller, "machine.edit", s.siteId);
      if (!mine && !can(caller, "network.manage", s.siteId)) throw forbidden("only its owner or an admin releases a reservation");
      if (row.kind !== "user_reserved") {
        throw new ApiError(
          409,
          "not_a_reservation",
          `${row.ip ?? "the address"} is a ${row.kind} address, not a reservation: unlink it from its interface, or release its machine`,
          {
            kind: row.kind,
          },
        );
      }
      await releaseReservation(c.env.DB, caller.username, row, s);
      if (row.mac) await pushConfig(c, s.siteId);
      return c.body(null, 204);
    },
  );

  def(
    app,
    "get",
    "/subnets/:id/utilisation",
    { summary: "How full a subnet is: usable, used by kind, dynamic, reserved, free", tag: "networks", roles: "any; only the caller's sites" },
    async (c) => {
      const s = await subnetFor(c, c.req.param("id") ?? "");
      if (!s) throw notFound("subnet");
      const u = await utilisation(c.env.DB, s);
      return c.json({
        subnet_id: s.id,
        cidr: s.cidr,
        ...utilisationJson(u),
        free_ranges: u.freeRanges,
      });
    },
  );
}
