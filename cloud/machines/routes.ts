// /api/v1/machines: create, read, update, delete and the filtered, cursor-paged list.
import type { Hono } from "hono";
import { z } from "zod";
import { decide, isStatus, NODE_STATUS, STATUS_NAME, type Status } from "../../shared/lifecycle";
import { POWER_TYPES, powerParameterSchemas, type PowerType } from "../../shared/power";
import { require as requirePerm, visibleSites } from "../auth/roles";
import { decryptJson, encryptJson } from "../auth/secrets";
import type { AppEnv, Ctx } from "../http/context";
import { badRequest, conflict } from "../http/errors";
import { def } from "../http/openapi";
import { hostnameSchema, intParam, listParam, macSchema, nameSchema, readJson, readQuery, systemIdSchema } from "../http/validate";
import { recordEvent } from "../domain/events";
import { applyAction, illegal } from "../domain/machines/transition";
import { commissionPower } from "../domain/machines/lifecycle-power";
import { idByName, loadMachine } from "./load";
import { newHostname, newSystemId } from "../domain/machines/names";
import { decodeCursor, encodeCursor, getMachine, listMachines, serializeMachine, tagsFor } from "./repo";

const statusNames = new Map<string, number>([
  ...Object.entries(NODE_STATUS).map(([k, v]) => [k.toLowerCase(), v] as const),
  ...Object.entries(STATUS_NAME).map(([v, name]) => [name.toLowerCase(), Number(v)] as const),
]);

const statusParam = z.string().transform((s, ctx) => {
  const n = /^\d+$/.test(s) ? Number(s) : statusNames.get(s.toLowerCase().replaceAll("-", "_"));
  if (n === undefined || !isStatus(n)) {
    ctx.addIssue({ code: "custom", message: `unknown status "${s}"` });
    return z.NEVER;
  }
  return n;
});

export const ListQuery = z.strictObject({
  status: listParam(statusParam).optional(),
  site: listParam(nameSchema).optional(),
  zone: listParam(nameSchema).optional(),
  pool: listParam(nameSchema).optional(),
  tag: listParam(nameSchema).optional(),
  not_tag: listParam(nameSchema).optional(),
  hostname: listParam(hostnameSchema).optional(),
  mac: listParam(macSchema).optional(),
  owner: listParam(nameSchema).optional(),
  arch: listParam(z.string().max(64)).optional(),
  system_id: listParam(systemIdSchema).optional(),
  q: z.string().max(64).optional(),
  cursor: z.string().max(128).optional(),
  limit: intParam(1, 1000).default(100),
});

// No defaults here: zod applies a default even inside .optional(), which would make every
// PATCH reset the power settings.
const powerTypeSchema = z.enum(POWER_TYPES as [PowerType, ...PowerType[]]);
const powerParamsSchema = z.record(z.string(), z.unknown());

export const CreateMachine = z.strictObject({
  hostname: hostnameSchema.optional(),
  domain: z.string().max(128).regex(/^[a-z0-9.-]+$/i).default("maas"),
  description: z.string().max(1024).default(""),
  architecture: z.string().max(64).default("amd64/generic"),
  mac_addresses: z.array(macSchema).min(1).max(64),
  power_type: powerTypeSchema.default("manual"),
  power_parameters: powerParamsSchema.default({}),
  site: nameSchema.default("default"),
  zone: nameSchema.default("default"),
  pool: nameSchema.default("default"),
  commission: z.boolean().default(false),
  cpu_count: z.number().int().min(0).max(100_000).optional(),
  memory: z.number().int().min(0).max(1 << 30).optional(),
});

export const UpdateMachine = z.strictObject({
  hostname: hostnameSchema.optional(),
  description: z.string().max(1024).optional(),
  zone: nameSchema.optional(),
  pool: nameSchema.optional(),
  site: nameSchema.optional(),
  architecture: z.string().max(64).optional(),
  power_type: powerTypeSchema.optional(),
  power_parameters: powerParamsSchema.optional(),
  owner_data: z.record(z.string().max(64), z.string().max(1024).nullable()).optional(),
});

/** Validates power parameters for their type and encrypts them; returns what to store. */
export async function sealPower(c: Ctx, type: PowerType, params: Record<string, unknown>, systemId: string) {
  const r = powerParameterSchemas[type].safeParse(params);
  if (!r.success) throw badRequest(`power_parameters are not valid for power_type ${type}`, r.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })));
  const set = Object.entries(r.data as Record<string, unknown>)
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k]) => k)
    .sort();
  return { powerType: type, enc: set.length ? await encryptJson(c.env.PLINTH_SECRET_KEY, r.data, systemId) : null, set };
}

async function machineResponse(c: Ctx, systemId: string, status: 200 | 201 | 202 = 200) {
  const m = (await getMachine(c.env.DB, systemId))!;
  const tags = (await tagsFor(c.env.DB, [m.id])).get(m.id) ?? [];
  const [ifaces, disks] = await c.env.DB.batch([
    c.env.DB.prepare(
      "SELECT id, name, mac, type, ip_address, link_mode, driver, speed_mbps, link_connected, is_boot FROM interfaces WHERE machine_id = ? ORDER BY id",
    ).bind(m.id),
    c.env.DB.prepare("SELECT id, name, path, model, serial, size, rotational, is_boot FROM block_devices WHERE machine_id = ? ORDER BY id").bind(m.id),
  ]);
  return c.json(
    {
      ...serializeMachine(m, tags),
      interfaces: (ifaces?.results ?? []).map((i) => {
        const r = i as Record<string, unknown>;
        return { ...r, link_connected: !!r["link_connected"], is_boot: !!r["is_boot"] };
      }),
      block_devices: (disks?.results ?? []).map((d) => {
        const r = d as Record<string, unknown>;
        return { ...r, rotational: !!r["rotational"], is_boot: !!r["is_boot"] };
      }),
    },
    status,
  );
}

export { machineResponse };

export function machineRoutes(app: Hono<AppEnv>) {
  def(app, "get", "/machines", { summary: "List machines (filters, cursor paging)", tag: "machines", query: ListQuery, roles: "any; only the caller's sites" }, async (c) => {
    const q = readQuery(c, ListQuery);
    let afterId: number | undefined;
    if (q.cursor !== undefined) {
      const id = decodeCursor(q.cursor);
      if (id === null) throw badRequest("cursor is not one this API gave out");
      afterId = id;
    }
    const { rows, more } = await listMachines(c.env.DB, {
      status: q.status,
      site: q.site,
      zone: q.zone,
      pool: q.pool,
      tags: q.tag,
      notTags: q.not_tag,
      hostname: q.hostname,
      mac: q.mac,
      owner: q.owner,
      arch: q.arch,
      systemId: q.system_id,
      q: q.q,
      visibleSites: visibleSites(c.get("caller")),
      afterId,
      limit: q.limit,
    });
    const tags = await tagsFor(c.env.DB, rows.map((r) => r.id));
    return c.json({
      items: rows.map((r) => serializeMachine(r, tags.get(r.id) ?? [])),
      next_cursor: more && rows.length ? encodeCursor(rows[rows.length - 1]!.id) : null,
    });
  });

  def(app, "post", "/machines", { summary: "Create a machine", tag: "machines", body: CreateMachine, roles: "operator, admin", status: 201 }, async (c) => {
    const body = await readJson(c, CreateMachine);
    const caller = c.get("caller");
    const db = c.env.DB;
    const siteId = await idByName(db, "sites", body.site, "site");
    requirePerm(caller, "machine.create", siteId, "site");
    const [zoneId, poolId] = [await idByName(db, "zones", body.zone, "zone"), await idByName(db, "resource_pools", body.pool, "pool")];
    const systemId = newSystemId();
    const power = await sealPower(c, body.power_type, body.power_parameters, systemId);
    const taken = await db
      .prepare("SELECT i.mac, m.system_id AS systemId FROM interfaces i JOIN machines m ON m.id = i.machine_id WHERE i.mac IN (SELECT value FROM json_each(?))")
      .bind(JSON.stringify(body.mac_addresses))
      .first<{ mac: string; systemId: string }>();
    if (taken) throw conflict(`MAC address ${taken.mac} already in use on machine ${taken.systemId}`, { mac: taken.mac, system_id: taken.systemId });
    if (new Set(body.mac_addresses).size !== body.mac_addresses.length) throw badRequest("mac_addresses has duplicates");
    const hostname = body.hostname ?? newHostname();
    const now = Date.now();
    const stmts = [
      db
        .prepare(
          `INSERT INTO machines (system_id, hostname, domain, description, architecture, boot_mac, power_type, power_params_enc, power_params_set,
             site_id, zone_id, pool_id, cpu_count, memory, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .bind(systemId, hostname, body.domain, body.description, body.architecture, body.mac_addresses[0]!, power.powerType, power.enc, JSON.stringify(power.set), siteId, zoneId, poolId, body.cpu_count ?? 0, body.memory ?? 0, now, now),
      ...body.mac_addresses.map((mac, i) =>
        db.prepare("INSERT INTO interfaces (machine_id, name, mac, is_boot) SELECT id, ?, ?, ? FROM machines WHERE system_id = ?").bind(`eth${i}`, mac, i === 0 ? 1 : 0, systemId),
      ),
      db
        .prepare(
          "INSERT INTO events (machine_id, system_id, hostname, site_id, type, level, actor, to_status, description, created_at) SELECT id, system_id, hostname, site_id, 'machine.created', 'INFO', ?, status, 'created', ? FROM machines WHERE system_id = ?",
        )
        .bind(caller.username, now, systemId),
    ];
    await db.batch(stmts);
    if (body.commission) {
      const m = (await getMachine(db, systemId))!;
      const to = await applyAction(db, { ...m, locked: !!m.locked }, "commission", { actor: caller.username, reason: "commission on create" });
      await commissionPower(c.env, m, to, caller.username);
    }
    return machineResponse(c, systemId, 201);
  });

  def(app, "get", "/machines/:id", { summary: "Read a machine with its interfaces and disks", tag: "machines", roles: "any; only the caller's sites" }, async (c) => {
    const m = await loadMachine(c, "machine.read");
    return machineResponse(c, m.systemId);
  });

  def(app, "patch", "/machines/:id", { summary: "Update a machine", tag: "machines", body: UpdateMachine, roles: "operator, admin" }, async (c) => {
    const m = await loadMachine(c, "machine.edit");
    const body = await readJson(c, UpdateMachine);
    const caller = c.get("caller");
    const db = c.env.DB;
    if (m.locked) throw conflict("the machine is locked: unlock it first");
    const sets: string[] = [];
    const args: (string | number | null)[] = [];
    const put = (col: string, v: string | number | null) => {
      sets.push(`${col} = ?`);
      args.push(v);
    };
    if (body.hostname !== undefined) put("hostname", body.hostname);
    if (body.description !== undefined) put("description", body.description);
    if (body.architecture !== undefined) put("architecture", body.architecture);
    if (body.zone !== undefined) put("zone_id", await idByName(db, "zones", body.zone, "zone"));
    if (body.pool !== undefined) put("pool_id", await idByName(db, "resource_pools", body.pool, "pool"));
    if (body.site !== undefined) {
      const siteId = await idByName(db, "sites", body.site, "site");
      requirePerm(caller, "machine.edit", siteId, "site");
      put("site_id", siteId);
    }
    if (body.power_type !== undefined || body.power_parameters !== undefined) {
      const type = body.power_type ?? (m.powerType as PowerType);
      // Same power type: the given parameters update the stored ones (so a password can change alone).
      let params = body.power_parameters ?? {};
      if (type === m.powerType) {
        const row = await db.prepare("SELECT power_params_enc AS enc FROM machines WHERE id = ?").bind(m.id).first<{ enc: string | null }>();
        const old = row?.enc ? ((await decryptJson(c.env.PLINTH_SECRET_KEY, row.enc, m.systemId)) as Record<string, unknown>) : {};
        params = { ...old, ...params };
      }
      const power = await sealPower(c, type, params, m.systemId);
      put("power_type", power.powerType);
      put("power_params_enc", power.enc);
      put("power_params_set", JSON.stringify(power.set));
    }
    if (body.owner_data !== undefined) {
      const data: Record<string, string> = { ...(JSON.parse(m.ownerData) as Record<string, string>) };
      for (const [k, v] of Object.entries(body.owner_data)) {
        if (v === null) delete data[k];
        else data[k] = v;
      }
      put("owner_data", JSON.stringify(data));
    }
    if (sets.length === 0) return machineResponse(c, m.systemId);
    put("updated_at", Date.now());
    await db.batch([
      db.prepare(`UPDATE machines SET ${sets.join(", ")} WHERE id = ?`).bind(...args, m.id),
      db
        .prepare("INSERT INTO events (machine_id, system_id, hostname, site_id, type, level, actor, description, created_at) VALUES (?, ?, ?, ?, 'machine.updated', 'INFO', ?, ?, ?)")
        .bind(m.id, m.systemId, body.hostname ?? m.hostname, m.siteId, caller.username, `updated ${Object.keys(body).join(", ")}`, Date.now()),
    ]);
    return machineResponse(c, m.systemId);
  });

  def(app, "delete", "/machines/:id", { summary: "Delete a machine", tag: "machines", roles: "operator, admin", status: 204 }, async (c) => {
    const m = await loadMachine(c, "machine.delete");
    const caller = c.get("caller");
    // The lifecycle table decides (a locked machine cannot be deleted).
    const d = decide({ status: m.status as Status, previousStatus: m.previousStatus as Status | null, locked: !!m.locked }, "delete");
    if (!d.ok) throw illegal({ ...m, locked: !!m.locked }, d.reason, d.allowed);
    const db = c.env.DB;
    await db.batch([
      db
        .prepare("INSERT INTO events (machine_id, system_id, hostname, site_id, type, level, actor, from_status, description, created_at) VALUES (?, ?, ?, ?, 'machine.delete', 'AUDIT', ?, ?, 'deleted', ?)")
        .bind(m.id, m.systemId, m.hostname, m.siteId, caller.username, m.status, Date.now()),
      db.prepare("DELETE FROM machines WHERE id = ? AND locked = 0").bind(m.id),
    ]);
    return c.body(null, 204);
  });

  def(app, "get", "/machines/:id/results", { summary: "Commissioning results", tag: "machines" }, async (c) => {
    const m = await loadMachine(c, "machine.read");
    const { results } = await c.env.DB.prepare("SELECT id, name, status, exit_code, output, created_at FROM commissioning_results WHERE machine_id = ? ORDER BY id").bind(m.id).all();
    return c.json({ items: results });
  });

  const Comment = z.strictObject({ text: z.string().min(1).max(4096) });
  def(app, "post", "/machines/:id/comment", { summary: "Add a note to the machine's event log", tag: "machines", body: Comment, roles: "remote-hands, operator, admin" }, async (c) => {
    const m = await loadMachine(c, "machine.comment");
    const { text } = await readJson(c, Comment);
    await recordEvent(c.env.DB, { machineId: m.id, systemId: m.systemId, hostname: m.hostname, siteId: m.siteId, type: "machine.comment", actor: c.get("caller").username, description: text, status: m.status });
    return c.json({ ok: true }, 201);
  });

}
