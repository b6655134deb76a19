// machines/ and machines/{system_id}/: list with MAAS's filters, create (with power_type and
// power_parameters_*), read, PUT update, DELETE. Lifecycle and power ops are in machine-ops.ts,
// allocate in allocate.ts; all of them act on the same rows and lifecycle as /api/v1.
import { z } from "zod";
import { decide, isStatus, NODE_STATUS, STATUS_NAME, type Status } from "../../shared/lifecycle";
import { POWER_TYPES, type PowerType, } from "../../shared/power";
import { can, require as requirePerm, visibleSites } from "../auth/roles";
import { decryptJson } from "../auth/secrets";
import { applyAction, illegal } from "../domain/machines/transition";
import { commissionPower } from "../domain/machines/lifecycle-power";
import { newHostname, newSystemId } from "../domain/machines/names";
import { getMachine, listMachines, type MachineRow } from "../machines/repo";
import { sealPower } from "../machines/routes";
import { machineFor, machineJsonById, machinesJson } from "./load";
import { powerParametersOf } from "./machine-ops";
import { AGENT_KEY, DOMAIN } from "./shape";
import type { Handler, Req } from "./table";
import { boolParam, deleted, fieldError, intParam, json, list, MaasError, parse, type Params } from "./wire";

const statusByName = new Map<string, number>([
  ...Object.entries(NODE_STATUS).map(([k, v]) => [k.toLowerCase(), v] as const),
  ...Object.entries(STATUS_NAME).map(([v, n]) => [n.toLowerCase().replaceAll(" ", "_"), Number(v)] as const),
]);

const name = z.string().min(1).max(255);

const ListQuery = z.object({
  hostname: list(name).optional(),
  mac_address: list(z.string().max(32)).optional(),
  id: list(z.string().max(64)).optional(),
  domain: list(name).optional(),
  zone: list(name).optional(),
  not_in_zone: list(name).optional(),
  pool: list(name).optional(),
  not_in_pool: list(name).optional(),
  agent_name: z.string().max(255).optional(),
  tags: list(name).optional(),
  arch: list(z.string().max(64)).optional(),
  status: list(z.string().max(64)).optional(),
  owner: list(name).optional(),
});
const LIST_KEYS = ["hostname", "mac_address", "id", "domain", "zone", "not_in_zone", "pool", "not_in_pool", "tags", "arch", "status", "owner"] as const;

// MAAS answers the whole collection at once; past this the answer would not fit a Worker's
// memory comfortably, so the list stops there (clients filter by id or hostname instead).
const LIST_CAP = 10_000;

export async function listVisible(r: Req, p: Params): Promise<MachineRow[]> {
  const q = parse(ListQuery, p, LIST_KEYS);
  const statuses = q.status?.map((s) => {
    const n = /^\d+$/.test(s) ? Number(s) : statusByName.get(s.toLowerCase().replaceAll(" ", "_").replaceAll("-", "_"));
    if (n === undefined || !isStatus(n)) throw fieldError("status", `Unknown status "${s}".`);
    return n;
  });
  const rows: MachineRow[] = [];
  let afterId: number | undefined;
  for (;;) {
    const page = await listMachines(r.db, {
      status: statuses,
      zone: q.zone,
      pool: q.pool,
      tags: q.tags,
      hostname: q.hostname,
      mac: q.mac_address?.map((m) => m.toLowerCase().replaceAll("-", ":")),
      owner: q.owner,
      arch: q.arch,
      systemId: q.id,
      visibleSites: visibleSites(r.caller),
      afterId,
      limit: 1000,
    });
    rows.push(...page.rows);
    if (!page.more || rows.length >= LIST_CAP) break;
    afterId = page.rows[page.rows.length - 1]!.id;
  }
  return rows.filter(
    (m) =>
      (!q.domain || q.domain.includes(m.domain)) &&
      (!q.not_in_zone?.includes(m.zone)) &&
      (!q.not_in_pool?.includes(m.pool)) &&
      (q.agent_name === undefined || ((JSON.parse(m.ownerData) as Record<string, string>)[AGENT_KEY] ?? "") === q.agent_name),
  );
}

/** power_parameters_<name> fields (or a power_parameters JSON object, as enlistment sends). */
export function powerParams(p: Params): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  const raw = p.get("power_parameters");
  if (raw !== undefined && raw !== "") {
    try {
      const obj = JSON.parse(raw) as unknown;
      if (!obj || typeof obj !== "object" || Array.isArray(obj)) throw new Error("not an object");
      out = Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, String(v)]));
    } catch {
      throw fieldError("power_parameters", "Enter a JSON object.");
    }
  }
  for (const k of p.keys()) {
    if (!k.startsWith("power_parameters_")) continue;
    const key = k.slice("power_parameters_".length);
    // MAAS-only switches that change nothing here.
    if (key === "skip_check" || key === "workaround_flags") continue;
    out = { ...out, [key]: p.get(k)! };
  }
  return out;
}

const powerType = z.enum(POWER_TYPES as [PowerType, ...PowerType[]], { message: `Select a valid choice: ${POWER_TYPES.join(", ")}.` });
const arch = z
  .string()
  .max(64)
  .regex(/^[a-z0-9_]+(\/[a-z0-9_.-]+)?$/, "Select a valid choice.")
  .transform((a) => (a.includes("/") ? a : `${a}/generic`));

const CreateBody = z.object({
  architecture: arch.default("amd64/generic"),
  mac_addresses: list(z.string().regex(/^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i, "Enter a valid MAC address.").transform((m) => m.toLowerCase().replaceAll("-", ":"))).pipe(z.array(z.string()).min(1, "This field is required.").max(64)),
  hostname: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i, "Enter a valid hostname (a DNS label).").max(63).optional(),
  domain: z.string().max(128).optional(),
  description: z.string().max(1024).default(""),
  power_type: powerType.default("manual"),
  commission: boolParam.optional(),
  zone: name.default("default"),
  pool: name.default("default"),
  /** Plinth extension: MAAS has no sites. */
  site: name.optional(),
  cpu_count: intParam(0, 100_000).optional(),
  memory: intParam(0, 1 << 30).optional(),
});

async function idOf(db: D1Database, table: "zones" | "resource_pools" | "sites", n: string, field: string): Promise<number> {
  const row = await db.prepare(`SELECT id FROM ${table} WHERE name = ?`).bind(n).first<{ id: number }>();
  if (!row) throw fieldError(field, `Select a valid choice. ${n} is not one of the available choices.`);
  return row.id;
}

/** The site a new machine goes to: the one named, else the caller's only site, else "default". */
async function siteFor(r: Req, named: string | undefined): Promise<number> {
  if (named) return idOf(r.db, "sites", named, "site");
  const sites = [...new Set(r.caller.bindings.filter((b) => b.siteId !== null && can(r.caller, "machine.create", b.siteId)).map((b) => b.siteId!))];
  if (!r.caller.bindings.some((b) => b.siteId === null) && sites.length === 1) return sites[0]!;
  return 1;
}

async function create(r: Req): Promise<Response> {
  const b = parse(CreateBody, r.p, ["mac_addresses"]);
  const db = r.db;
  const siteId = await siteFor(r, b.site);
  requirePerm(r.caller, "machine.create", siteId, "site");
  const [zoneId, poolId] = [await idOf(db, "zones", b.zone, "zone"), await idOf(db, "resource_pools", b.pool, "pool")];
  if (new Set(b.mac_addresses).size !== b.mac_addresses.length) throw fieldError("mac_addresses", "Duplicate MAC addresses.");
  const taken = await db
    .prepare("SELECT i.mac, m.hostname FROM interfaces i JOIN machines m ON m.id = i.machine_id WHERE i.mac IN (SELECT value FROM json_each(?))")
    .bind(JSON.stringify(b.mac_addresses))
    .first<{ mac: string; hostname: string }>();
  // Terraform's provider looks for "mac" and "already" in this message to adopt the machine.
  if (taken) throw fieldError("mac_addresses", `One or more MAC addresses is invalid: MAC address ${taken.mac} already in use on ${taken.hostname}.`);
  const domain = b.domain && b.domain !== "" ? b.domain : DOMAIN.name;
  if (!/^[a-z0-9.-]+$/i.test(domain)) throw fieldError("domain", "Enter a valid domain name.");
  const hostname = b.hostname ?? newHostname();
  if (await db.prepare("SELECT 1 FROM machines WHERE hostname = ? AND domain = ?").bind(hostname, domain).first()) {
    throw fieldError("hostname", `Node with hostname "${hostname}" already exists.`);
  }
  const systemId = newSystemId();
  const params = b.power_type === "manual" ? {} : (powerParams(r.p) ?? {});
  const power = await sealPower(r.c, b.power_type, params, systemId);
  const now = Date.now();
  await db.batch([
    db
      .prepare(
        `INSERT INTO machines (system_id, hostname, domain, description, architecture, boot_mac, power_type, power_params_enc, power_params_set,
           site_id, zone_id, pool_id, cpu_count, memory, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(systemId, hostname, domain, b.description, b.architecture, b.mac_addresses[0]!, power.powerType, power.enc, JSON.stringify(power.set), siteId, zoneId, poolId, b.cpu_count ?? 0, b.memory ?? 0, now, now),
    ...b.mac_addresses.map((mac, i) => db.prepare("INSERT INTO interfaces (machine_id, name, mac, is_boot) SELECT id, ?, ?, ? FROM machines WHERE system_id = ?").bind(`eth${i}`, mac, i === 0 ? 1 : 0, systemId)),
    db
      .prepare(
        "INSERT INTO events (machine_id, system_id, hostname, site_id, type, level, actor, to_status, description, created_at) SELECT id, system_id, hostname, site_id, 'machine.created', 'INFO', ?, status, 'created through the MAAS API', ? FROM machines WHERE system_id = ?",
      )
      .bind(r.caller.username, now, systemId),
  ]);
  // MAAS commissions machines an administrator adds unless told not to; Terraform then polls
  // for Commissioning/Testing → Ready, so the state must be visible at once.
  if (b.commission ?? true) {
    const m = (await getMachine(db, systemId))!;
    const to = await applyAction(db, { ...m, locked: !!m.locked }, "commission", { actor: r.caller.username, reason: "commission on create" });
    await commissionPower(r.c.env, m, to, r.caller.username);
  }
  return json(await machineJsonById(db, systemId));
}

const UpdateBody = z.object({
  hostname: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i, "Enter a valid hostname (a DNS label).").max(63).optional(),
  description: z.string().max(1024).optional(),
  architecture: arch.optional(),
  domain: z.string().max(128).regex(/^[a-z0-9.-]+$/i, "Enter a valid domain name.").optional(),
  zone: name.optional(),
  pool: name.optional(),
  power_type: powerType.optional(),
  cpu_count: intParam(0, 100_000).optional(),
  memory: intParam(0, 1 << 30).optional(),
});

async function update(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.edit");
  const b = parse(UpdateBody, r.p);
  const db = r.db;
  if (m.locked) throw new MaasError(409, `Cannot update ${m.hostname}: the machine is locked.`);
  const sets: string[] = [];
  const args: (string | number | null)[] = [];
  const put = (col: string, v: string | number | null) => {
    sets.push(`${col} = ?`);
    args.push(v);
  };
  if (b.hostname !== undefined && b.hostname !== m.hostname) put("hostname", b.hostname);
  if (b.description !== undefined) put("description", b.description);
  if (b.architecture !== undefined) put("architecture", b.architecture);
  if (b.domain !== undefined && b.domain !== "") put("domain", b.domain);
  if (b.zone !== undefined) put("zone_id", await idOf(db, "zones", b.zone, "zone"));
  if (b.pool !== undefined) put("pool_id", await idOf(db, "resource_pools", b.pool, "pool"));
  if (b.cpu_count !== undefined) put("cpu_count", b.cpu_count);
  if (b.memory !== undefined) put("memory", b.memory);
  const given = powerParams(r.p);
  if (b.power_type !== undefined || given !== undefined) {
    const type = b.power_type ?? (m.powerType as PowerType);
    let params: Record<string, unknown> = type === "manual" ? {} : (given ?? {});
    // Same type: the given parameters change the stored ones, so a password can change alone.
    if (type === m.powerType && type !== "manual") {
      const row = await db.prepare("SELECT power_params_enc AS enc FROM machines WHERE id = ?").bind(m.id).first<{ enc: string | null }>();
      const old = row?.enc ? ((await decryptJson(r.c.env.PLINTH_SECRET_KEY, row.enc, m.systemId)) as Record<string, unknown>) : {};
      params = { ...old, ...params };
    }
    const power = await sealPower(r.c, type, params, m.systemId);
    put("power_type", power.powerType);
    put("power_params_enc", power.enc);
    put("power_params_set", JSON.stringify(power.set));
  }
  if (sets.length) {
    put("updated_at", Date.now());
    await db.batch([
      db.prepare(`UPDATE machines SET ${sets.join(", ")} WHERE id = ? AND locked = 0`).bind(...args, m.id),
      db
        .prepare("INSERT INTO events (machine_id, system_id, hostname, site_id, type, level, actor, description, created_at) VALUES (?, ?, ?, ?, 'machine.updated', 'INFO', ?, ?, ?)")
        .bind(m.id, m.systemId, b.hostname ?? m.hostname, m.siteId, r.caller.username, `updated through the MAAS API: ${r.p.keys().filter((k) => !k.startsWith("oauth_")).join(", ")}`, Date.now()),
    ]);
  }
  return json(await machineJsonById(db, m.systemId));
}

async function remove(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.delete");
  const d = decide({ status: m.status as Status, previousStatus: m.previousStatus as Status | null, locked: !!m.locked }, "delete");
  if (!d.ok) throw illegal({ ...m, locked: !!m.locked }, d.reason, d.allowed);
  await r.db.batch([
    r.db
      .prepare("INSERT INTO events (machine_id, system_id, hostname, site_id, type, level, actor, from_status, description, created_at) VALUES (?, ?, ?, ?, 'machine.delete', 'AUDIT', ?, ?, 'deleted through the MAAS API', ?)")
      .bind(m.id, m.systemId, m.hostname, m.siteId, r.caller.username, m.status, Date.now()),
    r.db.prepare("DELETE FROM machines WHERE id = ? AND locked = 0").bind(m.id),
  ]);
  return deleted();
}

const LIST_PARAMS = ["hostname", "mac_address", "id", "domain", "zone", "not_in_zone", "pool", "not_in_pool", "agent_name", "tags", "arch", "status", "owner"];

export const machinesHandler: Handler = {
  name: "MachinesHandler",
  doc: "Manage the collection of all the machines in the MAAS.",
  path: "machines/",
  actions: [
    { method: "GET", op: null, doc: "List machines visible to the user, optionally filtered.", params: LIST_PARAMS, run: async (r) => json(await machinesJson(r.db, await listVisible(r, r.p))) },
    {
      method: "POST",
      op: null,
      doc: "Create a new machine. Administrators' machines are commissioned unless commission=false.",
      params: ["architecture", "mac_addresses", "hostname", "domain", "description", "power_type", "power_parameters_{param}", "commission", "zone", "pool", "site"],
      run: create,
    },
    {
      method: "GET",
      op: "is_registered",
      anon: true,
      doc: "Returns whether or not the given MAC address is registered within this MAAS.",
      params: ["mac_address"],
      run: async (r) => {
        const mac = (r.p.get("mac_address") ?? "").toLowerCase().replaceAll("-", ":");
        if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) throw fieldError("mac_address", "Enter a valid MAC address.");
        return json(!!(await r.db.prepare("SELECT 1 FROM interfaces WHERE mac = ?").bind(mac).first()));
      },
    },
    {
      method: "GET",
      op: "list_allocated",
      doc: "Fetch machines that were allocated to the user.",
      params: ["id"],
      run: async (r) => {
        const rows = (await listVisible(r, r.p)).filter((m) => m.ownerId === r.caller.userId);
        return json(await machinesJson(r.db, rows));
      },
    },
    {
      method: "GET",
      op: "power_parameters",
      doc: "Get power parameters for multiple machines (admin only; audited).",
      params: ["id"],
      run: async (r) => {
        const out: Record<string, unknown> = {};
        for (const m of await listVisible(r, r.p)) out[m.systemId] = await powerParametersOf(r, m);
        return json(out);
      },
    },
  ],
};

export const machineHandler: Handler = {
  name: "MachineHandler",
  doc: "Manage an individual machine.",
  path: "machines/{system_id}/",
  aliases: ["nodes/{system_id}/"],
  actions: [
    {
      method: "GET",
      op: null,
      doc: "Read a machine.",
      run: async (r) => {
        const m = await machineFor(r, "machine.read");
        return json(await machineJsonById(r.db, m.systemId));
      },
    },
    { method: "PUT", op: null, doc: "Update a machine.", params: ["hostname", "description", "domain", "architecture", "zone", "pool", "power_type", "power_parameters_{param}", "cpu_count", "memory"], run: update },
    { method: "DELETE", op: null, doc: "Delete a machine.", run: remove },
  ],
};
