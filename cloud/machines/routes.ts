// /api/v1/machines: create, read, update, delete and the filtered, cursor-paged list.
import { pushConfigAfter } from "../domain/racks/commands";
import type { Hono } from "hono";
import { z } from "zod";
import { isStatus, NODE_STATUS, STATUS_NAME } from "../../shared/lifecycle";
import { POWER_TYPES, type PowerType } from "../../shared/power";
import { require as requirePerm, visibleSites } from "../auth/roles";
import type { AppEnv, Ctx } from "../http/context";
import { ApiError, badRequest, conflict } from "../http/errors";
import { def } from "../http/openapi";
import { hostnameSchema, intParam, listParam, macSchema, nameSchema, readJson, readQuery, systemIdSchema } from "../http/validate";
import { recordEvent } from "../domain/events";
import { createMachine, deleteMachine, type MachineChanges, macInUse, updateMachine } from "../domain/machines/records";
import { resealPower } from "../domain/machines/power-params";
import { bootDiskOf, deployedStorageOf } from "../domain/machines/storage";
import {
  DISK_COLS,
  type DiskRowFull,
  MAAS_ONLY_LAYOUTS,
  STORAGE_LAYOUTS,
  type StorageColumns,
  setStorageLayout,
  storageFrom,
  storageSettingFrom,
  storageSettingStatement,
} from "../domain/storage/repo";
import { validateDesign } from "../domain/storage/validate";
import { idByName, loadMachine } from "./load";
import { decodeCursor, encodeCursor, listMachines, type MachineRow, SELECT_ONE, serializeMachine, tagsFor } from "./repo";

const statusNames = new Map<string, number>([
  ...Object.entries(NODE_STATUS).map(([k, v]) => [k.toLowerCase(), v] as const),
  ...Object.entries(STATUS_NAME).map(([v, name]) => [name.toLowerCase(), Number(v)] as const),
]);

const statusParam = z.string().transform((s, ctx) => {
  const n = /^\d+$/.test(s) ? Number(s) : statusNames.get(s.toLowerCase().replaceAll("-", "_"));
  if (n === undefined || !isStatus(n)) {
    ctx.addIssue({
      code: "custom",
      message: `unknown status "${s.slice(0, 64)}"; one of: ${Object.keys(NODE_STATUS)
        .map((k) => k.toLowerCase())
        .join(", ")} (or its number)`,
    });
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
  domain: z
    .string()
    .max(128)
    .regex(/^[a-z0-9.-]+$/i)
    .default("maas"),
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
  memory: z
    .number()
    .int()
    .min(0)
    .max(1 << 30)
    .optional(),
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
  /** The layout of the next deployment (Ready or Allocated machines with disks only): the design made anew. */
  storage_layout: z
    .string()
    .max(32)
    .refine((s) => (STORAGE_LAYOUTS as readonly string[]).includes(s), {
      error: (i) =>
        `${(MAAS_ONLY_LAYOUTS as readonly string[]).includes(String(i.input)) ? "Plinth does not make the" : "unknown"} layout "${String(i.input)}"; supported: ${STORAGE_LAYOUTS.join(", ")}`,
    })
    .transform((s) => s as (typeof STORAGE_LAYOUTS)[number])
    .optional(),
});

/**
 * The reads behind a machine's answer, for any batch (one D1 round trip instead of five, most of
 * an allocation's cost when many callers allocate at once). `where` picks the machine by one
 * column of machines, e.g. "system_id = ?"; placed after a change in the same batch, they read
 * the machine as the change left it.
 */
export function machineAnswerReads(db: D1Database, where: "system_id = ?" | "op_nonce = ?", arg: string): D1PreparedStatement[] {
  const byId = `(SELECT id FROM machines WHERE ${where})`;
  return [
    db.prepare(`${SELECT_ONE} WHERE m.${where}`).bind(arg),
    db.prepare(`SELECT t.name FROM machine_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.machine_id = ${byId} ORDER BY t.name`).bind(arg),
    db
      .prepare(
        // ip_address and link_mode: the interface's first link (links lists them all).
        `SELECT i.id, i.name, i.mac, i.type,
              (SELECT a.ip FROM ip_addresses a WHERE a.interface_id = i.id AND a.kind != 'discovered' AND a.ip IS NOT NULL ORDER BY a.id LIMIT 1) AS ip_address,
              coalesce((SELECT a.kind FROM ip_addresses a WHERE a.interface_id = i.id AND a.kind != 'discovered' ORDER BY a.id LIMIT 1), 'unconfigured') AS link_mode,
              (SELECT json_group_array(json_object('id', a.id, 'mode', a.kind, 'subnet_id', a.subnet_id, 'ip', a.ip, 'default_gateway', json(CASE a.default_gateway WHEN 1 THEN 'true' ELSE 'false' END)))
                 FROM (SELECT * FROM ip_addresses WHERE interface_id = i.id ORDER BY id) a) AS links,
              i.driver, i.speed_mbps, i.link_connected, i.is_boot
       FROM interfaces i WHERE i.machine_id = ${byId} ORDER BY i.id`,
      )
      .bind(arg),
    db.prepare(`SELECT ${DISK_COLS} FROM block_devices WHERE machine_id = ${byId} ORDER BY id`).bind(arg),
    db.prepare(`SELECT storage_design, storage_layout, firmware FROM machines WHERE ${where}`).bind(arg),
    storageSettingStatement(db),
  ];
}

/** The answer from machineAnswerReads' results, or null when they found no machine. */
export function machineAnswer(results: D1Result[]) {
  const [mr, tr, ifaces, disks, sr, setting] = results;
  const m = mr?.results?.[0] as MachineRow | undefined;
  if (!m) return null;
  const tags = ((tr?.results ?? []) as { name: string }[]).map((t) => t.name);
  const rows = (disks?.results ?? []) as DiskRowFull[];
  const storage = storageFrom(sr!.results[0] as StorageColumns, rows, storageSettingFrom(setting!));
  const bootDisk = rows.find((d) => d.id === storage.design.boot_disk) ?? rows[0];
  return {
    ...serializeMachine(m, tags),
    storage_layout: storage.design.layout,
    // The next deployment's layout, boot disk and what keeps its design from deploying
    // (GET /machines/{id}/storage has the design); after "installed", what the installer made.
    storage_detail: {
      layout: storage.design.layout,
      disk: bootDiskOf(bootDisk),
      deployed: deployedStorageOf(m.deployedStorage ?? null),
      design_problems: rows.length ? validateDesign(storage.design, storage.ctx) : [],
    },
    interfaces: (ifaces?.results ?? []).map((i) => {
      const r = i as Record<string, unknown>;
      return { ...r, links: JSON.parse(String(r["links"] ?? "[]")) as unknown[], link_connected: !!r["link_connected"], is_boot: !!r["is_boot"] };
    }),
    // The disks' tags are the storage design's business (GET /machines/{id}/storage), not this answer's.
    block_devices: rows.map(({ tags: _, ...r }) => ({ ...r, rotational: !!r.rotational, is_boot: !!r.is_boot })),
  };
}

/** `warnings`: what the caller must know although the request succeeded (e.g. no rack to power through). */
async function machineResponse(c: Ctx, systemId: string, status: 200 | 201 | 202 = 200, warnings: string[] = []) {
  const answer = machineAnswer(await c.env.DB.batch(machineAnswerReads(c.env.DB, "system_id = ?", systemId)));
  if (!answer) throw new ApiError(404, "not_found", `no machine ${systemId}`);
  return c.json({ ...answer, ...(warnings.length ? { warnings } : {}) }, status);
}

export { machineResponse };

export function machineRoutes(app: Hono<AppEnv>) {
  def(
    app,
    "get",
    "/machines",
    { summary: "List machines (filters, cursor paging)", tag: "machines", query: ListQuery, roles: "any; only the caller's sites" },
    async (c) => {
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
      const tags = await tagsFor(
        c.env.DB,
        rows.map((r) => r.id),
      );
      return c.json({
        items: rows.map((r) => serializeMachine(r, tags.get(r.id) ?? [])),
        next_cursor: more && rows.length ? encodeCursor(rows[rows.length - 1]!.id) : null,
      });
    },
  );

  def(app, "post", "/machines", { summary: "Create a machine", tag: "machines", body: CreateMachine, roles: "operator, admin", status: 201 }, async (c) => {
    const body = await readJson(c, CreateMachine);
    const caller = c.get("caller");
    const db = c.env.DB;
    const siteId = await idByName(db, "sites", body.site, "site");
    requirePerm(caller, "machine.create", siteId, "site");
    const [zoneId, poolId] = [await idByName(db, "zones", body.zone, "zone"), await idByName(db, "resource_pools", body.pool, "pool")];
    const taken = await macInUse(db, body.mac_addresses);
    if (taken) throw conflict(`MAC address ${taken.mac} already in use on machine ${taken.systemId}`, { mac: taken.mac, system_id: taken.systemId });
    if (new Set(body.mac_addresses).size !== body.mac_addresses.length) throw badRequest("mac_addresses has duplicates");
    const systemId = await createMachine(
      c.env,
      caller,
      {
        hostname: body.hostname,
        domain: body.domain,
        description: body.description,
        architecture: body.architecture,
        macs: body.mac_addresses,
        powerType: body.power_type,
        powerParams: body.power_parameters,
        siteId,
        zoneId,
        poolId,
        cpuCount: body.cpu_count,
        memory: body.memory,
      },
      { commission: body.commission },
    );
    return machineResponse(c, systemId, 201);
  });

  def(
    app,
    "get",
    "/machines/:id",
    { summary: "Read a machine with its interfaces and disks", tag: "machines", roles: "any; only the caller's sites" },
    async (c) => {
      const m = await loadMachine(c, "machine.read");
      return machineResponse(c, m.systemId);
    },
  );

  def(app, "patch", "/machines/:id", { summary: "Update a machine", tag: "machines", body: UpdateMachine, roles: "operator, admin" }, async (c) => {
    const m = await loadMachine(c, "machine.edit");
    const body = await readJson(c, UpdateMachine);
    const caller = c.get("caller");
    const db = c.env.DB;
    if (m.locked) throw conflict("the machine is locked: unlock it first");
    const ch: MachineChanges = {};
    if (body.hostname !== undefined) ch.hostname = body.hostname;
    if (body.description !== undefined) ch.description = body.description;
    if (body.architecture !== undefined) ch.architecture = body.architecture;
    if (body.zone !== undefined) ch.zoneId = await idByName(db, "zones", body.zone, "zone");
    if (body.pool !== undefined) ch.poolId = await idByName(db, "resource_pools", body.pool, "pool");
    if (body.site !== undefined) {
      const siteId = await idByName(db, "sites", body.site, "site");
      requirePerm(caller, "machine.edit", siteId, "site");
      ch.siteId = siteId;
    }
    if (body.power_type !== undefined || body.power_parameters !== undefined) {
      ch.power = await resealPower(db, c.env.PLINTH_SECRET_KEY, m, body.power_type ?? (m.powerType as PowerType), body.power_parameters ?? {});
    }
    if (body.owner_data !== undefined) {
      const data: Record<string, string> = { ...(JSON.parse(m.ownerData) as Record<string, string>) };
      for (const [k, v] of Object.entries(body.owner_data)) {
        if (v === null) delete data[k];
        else data[k] = v;
      }
      ch.ownerData = data;
    }
    // Set again even when named the same: a layout is made anew over the disks (MAAS does too).
    if (body.storage_layout !== undefined) await setStorageLayout(db, caller.username, m, body.storage_layout);
    const edited = Object.keys(body).filter((k) => k !== "storage_layout");
    if (edited.length) await updateMachine(db, caller.username, m, ch, `updated ${edited.join(", ")}`);
    // A new hostname or domain renames the machine's DNS records and DHCP reservations.
    if (ch.hostname !== undefined || ch.domain !== undefined) await pushConfigAfter(c.env, m.siteId, "a machine edit");
    return machineResponse(c, m.systemId);
  });

  def(app, "delete", "/machines/:id", { summary: "Delete a machine", tag: "machines", roles: "operator, admin", status: 204 }, async (c) => {
    const m = await loadMachine(c, "machine.delete");
    const caller = c.get("caller");
    // The lifecycle table decides (a locked machine cannot be deleted).
    await deleteMachine(c.env.DB, caller.username, m);
    await pushConfigAfter(c.env, m.siteId, "a machine deletion");
    return c.body(null, 204);
  });

  def(app, "get", "/machines/:id/results", { summary: "Commissioning results", tag: "machines" }, async (c) => {
    const m = await loadMachine(c, "machine.read");
    const { results } = await c.env.DB.prepare(
      "SELECT id, name, status, exit_code, output, created_at FROM commissioning_results WHERE machine_id = ? ORDER BY id",
    )
      .bind(m.id)
      .all();
    return c.json({ items: results });
  });

  const Comment = z.strictObject({ text: z.string().min(1).max(4096) });
  def(
    app,
    "post",
    "/machines/:id/comment",
    { summary: "Add a note to the machine's event log", tag: "machines", body: Comment, roles: "remote-hands, operator, admin" },
    async (c) => {
      const m = await loadMachine(c, "machine.comment");
      const { text } = await readJson(c, Comment);
      await recordEvent(c.env.DB, {
        machineId: m.id,
        systemId: m.systemId,
        hostname: m.hostname,
        siteId: m.siteId,
        type: "machine.comment",
        actor: c.get("caller").username,
        description: text,
        status: m.status,
      });
      return c.json({ ok: true }, 201);
    },
  );
}
