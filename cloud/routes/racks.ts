// Rack appliances: enrolment tokens (admin), enrolment and the tunnel (the rack's own
// credential, so they are mounted on the unauthenticated sub-app), and the racks themselves.
import type { Hono } from "hono";
import { z } from "zod";
import { can, require as requirePerm, visibleSites } from "../auth/roles";
import { refuseBadToken, refuseRack } from "../auth/throttle";
import type { AppEnv, Ctx } from "../http/context";
import { ApiError, conflict, forbidden, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { intParam, nameSchema, readJson, readQuery } from "../http/validate";
import { idByName } from "../machines/load";
import { authenticateRack } from "../domain/racks/credentials";
import { redeem } from "../domain/racks/enrol";
import { imageSummaryStatement, listRackImages } from "../domain/racks/rack-images";
import { createEnrolToken, revokeEnrolToken, revokeRack, rotateCredential } from "../domain/racks/racks";

const TokenBody = z.strictObject({
  site: nameSchema.default("default"),
  name: z.string().max(64).default(""),
  /** Seconds until the token expires (default one day, at most 90 days). */
  expires_in: z
    .number()
    .int()
    .min(1)
    .max(90 * 86400)
    .default(86400),
  /** How many racks may enrol with it; absent: unlimited until it expires. */
  uses: z.number().int().min(1).max(100_000).optional(),
});
const EnrolBody = z.strictObject({
  token: z.string().min(8).max(128),
  hostname: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, "a hostname"),
  version: z.string().max(64).default(""),
  interfaces: z
    .array(z.strictObject({ name: z.string().max(64), mac: z.string().max(17).optional(), addresses: z.array(z.string().max(64)).max(64).default([]) }))
    .max(256)
    .default([]),
});
const RackEventsQuery = z.strictObject({
  after: intParam(0, Number.MAX_SAFE_INTEGER).default(0),
  limit: intParam(1, 1000).default(100),
  type: z.string().max(64).optional(),
});
const rackIdSchema = z.string().regex(/^[a-z0-9]{12}$/);

interface RackRow {
  id: string;
  site_id: number;
  site: string;
  hostname: string;
  version: string;
  interfaces: string;
  connected: number;
  last_seen_at: number | null;
  config_version: string | null;
  services: string;
  journal_depth: number | null;
  status_at: number | null;
  created_at: number;
  revoked_at: number | null;
}

const RACK_SELECT =
  "SELECT r.id, r.site_id, s.name AS site, r.hostname, r.version, r.interfaces, r.connected, r.last_seen_at, r.config_version, r.services, r.journal_depth, r.status_at, r.created_at, r.revoked_at FROM racks r JOIN sites s ON s.id = r.site_id";

async function serializeRack(db: D1Database, r: RackRow) {
  const [subnets, pending, images] = await db.batch([
    db.prepare("SELECT cidr FROM subnets WHERE site_id = ?1 OR rack_id = ?2 ORDER BY id").bind(r.site_id, r.id),
    db.prepare("SELECT count(*) AS n FROM rack_commands WHERE rack_id = ? AND state = 'pending'").bind(r.id),
    imageSummaryStatement(db, r.id),
  ]);
  return {
    id: r.id,
    site: r.site,
    hostname: r.hostname,
    version: r.version,
    interfaces: JSON.parse(r.interfaces) as unknown[],
    connected: !!r.connected && r.revoked_at === null,
    last_seen_at: r.last_seen_at,
    config_version: r.config_version,
    // The appliance's last status report (null journal_depth and status_at: none yet).
    services: JSON.parse(r.services) as { name: string; state: string; error?: string }[],
    journal_depth: r.journal_depth,
    status_at: r.status_at,
    subnets: ((subnets!.results ?? []) as { cidr: string }[]).map((s) => s.cidr),
    pending_commands: ((pending!.results?.[0] ?? { n: 0 }) as { n: number }).n,
    images: (images!.results?.[0] ?? { present: 0, downloading: 0, failed: 0 }) as { present: number; downloading: number; failed: number },
    created_at: r.created_at,
    revoked: r.revoked_at !== null,
  };
}

async function loadRack(c: Ctx, perm: "rack.manage" | "machine.read"): Promise<RackRow> {
  const id = c.req.param("rackId") ?? "";
  const r = rackIdSchema.safeParse(id).success ? await c.env.DB.prepare(`${RACK_SELECT} WHERE r.id = ?`).bind(id).first<RackRow>() : null;
  if (!r) throw notFound("rack");
  requirePerm(c.get("caller"), perm, r.site_id, "rack");
  return r;
}

const tunnelOf = (c: Ctx, rackId: string) => c.env.RACK_TUNNEL.get(c.env.RACK_TUNNEL.idFromName(rackId));

/** Routes the rack calls with its token or credential (no user API key). */
export function rackOpenRoutes(app: Hono<AppEnv>) {
  def(
    app,
    "post",
    "/racks/enrol",
    { summary: "Enrol a rack appliance with an enrolment token", tag: "racks", body: EnrolBody, status: 201, roles: "an enrolment token" },
    async (c) => {
      const b = await readJson(c, EnrolBody);
      const r = await redeem(c.env.DB, b).catch(async (e: unknown) => {
        // A token that never existed is a guess; a revoked, expired or used-up one is not.
        if (e instanceof ApiError && e.code === "invalid_token") await refuseBadToken(c, e);
        throw e;
      });
      return c.json(
        { rack_id: r.rackId, credential: r.credential, site: r.site, reenrolled: r.reenrolled, tunnel: `/api/v1/racks/${r.rackId}/tunnel` },
        r.reenrolled ? 200 : 201,
      );
    },
  );

  def(
    app,
    "get",
    "/racks/:rackId/tunnel",
    { summary: "Open the rack's WebSocket tunnel", tag: "racks", roles: "the rack credential", status: 101 },
    async (c) => {
      const rackId = c.req.param("rackId") ?? "";
      if (!rackIdSchema.safeParse(rackId).success) throw notFound("rack");
      const auth = await authenticateRack(c.env.DB, c.req.header("authorization"), rackId);
      if (!auth.ok) await refuseRack(c, auth);
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket")
        throw new ApiError(400, "upgrade_required", "open the tunnel as a WebSocket (Upgrade: websocket)");
      const headers = new Headers(c.req.raw.headers);
      headers.delete("authorization");
      headers.set("x-plinth-rack", rackId);
      return tunnelOf(c, rackId).fetch(new Request(c.req.url, { method: "GET", headers }));
    },
  );
}

export function rackRoutes(app: Hono<AppEnv>) {
  def(
    app,
    "post",
    "/racks/enrol-tokens",
    { summary: "Create an enrolment token (shown once)", tag: "racks", body: TokenBody, status: 201, roles: "admin" },
    async (c) => {
      const b = await readJson(c, TokenBody);
      const siteId = await idByName(c.env.DB, "sites", b.site, "site");
      if (!can(c.get("caller"), "rack.manage", siteId)) throw forbidden("enrolling racks needs admin on the site");
      const expiresAt = Date.now() + b.expires_in * 1000;
      const t = await createEnrolToken(c.env.DB, c.get("caller"), { siteId, name: b.name, expiresAt, uses: b.uses ?? null });
      return c.json({ id: t.id, token: t.token, site: b.site, name: b.name, expires_at: expiresAt, uses_left: b.uses ?? null }, 201);
    },
  );

  def(app, "get", "/racks/enrol-tokens", { summary: "List enrolment tokens (never the tokens themselves)", tag: "racks", roles: "admin" }, async (c) => {
    const { results } = await c.env.DB.prepare(
      "SELECT t.id, t.site_id, s.name AS site, t.name, t.prefix, t.expires_at, t.uses_left, t.used_count, t.created_at, t.revoked_at FROM enrol_tokens t JOIN sites s ON s.id = t.site_id ORDER BY t.id",
    ).all<{ site_id: number; revoked_at: number | null; expires_at: number; uses_left: number | null }>();
    const caller = c.get("caller");
    // One rule with /users: a caller who may manage no rack anywhere is refused, not shown an empty list.
    if (!caller.bindings.some((b) => can(caller, "rack.manage", b.siteId))) throw forbidden("enrolment tokens need an admin role");
    const now = Date.now();
    const items = results
      .filter((t) => can(caller, "rack.manage", t.site_id))
      .map(({ site_id: _s, ...t }) => ({
        ...t,
        state: t.revoked_at !== null ? "revoked" : t.expires_at <= now ? "expired" : t.uses_left === 0 ? "exhausted" : "active",
      }));
    return c.json({ items });
  });

  def(app, "delete", "/racks/enrol-tokens/:tokenId", { summary: "Revoke an enrolment token", tag: "racks", roles: "admin", status: 204 }, async (c) => {
    const id = Number(c.req.param("tokenId"));
    const t = Number.isInteger(id) ? await c.env.DB.prepare("SELECT site_id FROM enrol_tokens WHERE id = ?").bind(id).first<{ site_id: number }>() : null;
    if (!t || !can(c.get("caller"), "rack.manage", t.site_id)) throw notFound("enrolment token");
    await revokeEnrolToken(c.env.DB, c.get("caller").username, { id, siteId: t.site_id });
    return c.body(null, 204);
  });

  def(app, "get", "/racks", { summary: "List rack appliances", tag: "racks", roles: "any; only the caller's sites" }, async (c) => {
    const sites = visibleSites(c.get("caller"));
    const { results } = await c.env.DB.prepare(`${RACK_SELECT} ORDER BY r.created_at, r.id`).all<RackRow>();
    const rows = results.filter((r) => sites === null || sites.includes(r.site_id));
    return c.json({ items: await Promise.all(rows.map((r) => serializeRack(c.env.DB, r))) });
  });

  def(app, "get", "/racks/:rackId", { summary: "Read a rack appliance", tag: "racks", roles: "any; only the caller's sites" }, async (c) =>
    c.json(await serializeRack(c.env.DB, await loadRack(c, "machine.read"))),
  );

  def(app, "post", "/racks/:rackId/rotate", { summary: "Rotate the rack's credential over its tunnel", tag: "racks", roles: "admin" }, async (c) => {
    const r = await loadRack(c, "rack.manage");
    if (r.revoked_at !== null) throw conflict("the rack was revoked");
    await rotateCredential(c.env.DB, tunnelOf(c, r.id), r.id);
    return c.json({ rotating: true, rack_id: r.id });
  });

  def(app, "post", "/racks/:rackId/revoke", { summary: "Revoke the rack's credential and close its tunnel", tag: "racks", roles: "admin" }, async (c) => {
    const r = await loadRack(c, "rack.manage");
    const closed = await revokeRack(c.env.DB, tunnelOf(c, r.id), { id: r.id, hostname: r.hostname, siteId: r.site_id }, c.get("caller").username);
    return c.json({ revoked: true, rack_id: r.id, sockets_closed: closed });
  });

  def(
    app,
    "get",
    "/racks/:rackId/commands/:commandId",
    { summary: "Read a command sent to a rack and its result", tag: "racks", roles: "any; only the caller's sites" },
    async (c) => {
      const r = await loadRack(c, "machine.read");
      const row = await c.env.DB.prepare(
        "SELECT id, rack_id, machine_id, type, state, result, actor, deadline, created_at, completed_at FROM rack_commands WHERE id = ? AND rack_id = ?",
      )
        .bind(c.req.param("commandId") ?? "", r.id)
        .first<{ result: string | null }>();
      if (!row) throw notFound("command");
      return c.json({ ...row, result: row.result ? JSON.parse(row.result) : null });
    },
  );

  def(
    app,
    "get",
    "/racks/:rackId/images",
    {
      summary: "The images in the rack's cache as it reports them (present, downloading, failed, evicted)",
      tag: "racks",
      roles: "any; only the caller's sites",
    },
    async (c) => {
      const r = await loadRack(c, "machine.read");
      return c.json({ items: await listRackImages(c.env.DB, r.id) });
    },
  );

  def(
    app,
    "get",
    "/racks/:rackId/events",
    { summary: "Events reported by the rack (DHCP, boot, metadata, power)", tag: "racks", query: RackEventsQuery, roles: "any; only the caller's sites" },
    async (c) => {
      const r = await loadRack(c, "machine.read");
      const q = readQuery(c, RackEventsQuery);
      const typeClause = q.type ? "AND type = ?" : "";
      const binds = q.type ? [r.id, q.after, q.type] : [r.id, q.after];
      const [page, total] = await c.env.DB.batch([
        c.env.DB.prepare(
          `SELECT rowid AS cursor, journal, seq, type, data, at, received_at FROM rack_events WHERE rack_id = ? AND rowid > ? ${typeClause} ORDER BY rowid LIMIT ${q.limit}`,
        ).bind(...binds),
        c.env.DB.prepare(`SELECT count(*) AS n FROM rack_events WHERE rack_id = ? ${q.type ? "AND type = ?" : ""}`).bind(...(q.type ? [r.id, q.type] : [r.id])),
      ]);
      const items = ((page!.results ?? []) as { data: string }[]).map((e) => ({ ...e, data: JSON.parse(e.data) }));
      return c.json({ items, total: ((total!.results?.[0] ?? { n: 0 }) as { n: number }).n });
    },
  );
}
