// machines/ and machines/{system_id}/: list with MAAS's filters, create (with power_type and
// power_parameters_*), read, PUT update, DELETE. Lifecycle and power ops are in machine-ops.ts,
// allocate in allocate.ts; all of them act on the same rows and lifecycle as /api/v1.
import { pushConfigAfter } from "../domain/racks/commands";
import { z } from "zod";
import { isStatus, NODE_STATUS, STATUS_NAME } from "../../shared/lifecycle";
import { POWER_TYPES, type PowerType } from "../../shared/power";
import { ACTION_PERMISSION } from "../../shared/roles";
import { can, canAnywhere, require as requirePerm, visibleSites } from "../auth/roles";
import { runAction } from "../domain/machines/actions";
import { newHostname } from "../domain/machines/names";
import { resealPower } from "../domain/machines/power-params";
import { createMachine, deleteMachine, type MachineChanges, macInUse, updateMachine } from "../domain/machines/records";
import { listMachines, type MachineRow } from "../machines/repo";
import { machineFor, machineJsonById, machinesJson } from "./load";
import { powerParametersOf } from "./machine-ops";
import { AGENT_KEY, DOMAIN } from "./shape";
import type { Handler, Req } from "./table";
import { boolParam, deleted, fieldError, intParam, json, list, MaasError, Params, parse } from "./wire";

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
      !q.not_in_zone?.includes(m.zone) &&
      !q.not_in_pool?.includes(m.pool) &&
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
  mac_addresses: list(
    z
      .string()
      .regex(/^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i, "Enter a valid MAC address.")
      .transform((m) => m.toLowerCase().replaceAll("-", ":")),
  ).pipe(z.array(z.string()).min(1, "This field is required.").max(64)),
  hostname: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i, "Enter a valid hostname (a DNS label).")
    .max(63)
    .optional(),
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

export async function idOf(db: D1Database, table: "zones" | "resource_pools" | "sites", n: string, field: string): Promise<number> {
  const row = await db.prepare(`SELECT id FROM ${table} WHERE name = ?`).bind(n).first<{ id: number }>();
  if (!row) throw fieldError(field, `Select a valid choice. ${n} is not one of the available choices.`);
  return row.id;
}

/** The site a new machine goes to: the one named, else the caller's only site, else "default". */
export async function siteFor(r: Req, named: string | undefined): Promise<number> {
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
  const taken = await macInUse(db, b.mac_addresses);
  // Terraform's provider looks for "mac" and "already" in this message to adopt the machine.
  if (taken) throw fieldError("mac_addresses", `One or more MAC addresses is invalid: MAC address ${taken.mac} already in use on ${taken.hostname}.`);
  const domain = b.domain && b.domain !== "" ? b.domain : DOMAIN.name;
  if (!/^[a-z0-9.-]+$/i.test(domain)) throw fieldError("domain", "Enter a valid domain name.");
  const hostname = b.hostname ?? newHostname();
  if (
    await db
      .prepare("SELECT 1 FROM machines WHERE hostname = ?1 AND domain = ?2 UNION ALL SELECT 1 FROM devices WHERE hostname = ?1 AND domain = ?2")
      .bind(hostname, domain)
      .first()
  ) {
    throw fieldError("hostname", `Node with hostname "${hostname}" already exists.`);
  }
  const systemId = await createMachine(
    r.c.env,
    r.caller,
    {
      hostname,
      domain,
      description: b.description,
      architecture: b.architecture,
      macs: b.mac_addresses,
      powerType: b.power_type,
      powerParams: b.power_type === "manual" ? {} : (powerParams(r.p) ?? {}),
      siteId,
      zoneId,
      poolId,
      cpuCount: b.cpu_count,
      memory: b.memory,
    },
    // MAAS commissions machines an administrator adds unless told not to; Terraform then polls
    // for Commissioning/Testing → Ready, so the state must be visible at once.
    { commission: b.commission ?? true, via: " through the MAAS API" },
  );
  return json(await machineJsonById(db, systemId));
}

const UpdateBody = z.object({
  hostname: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i, "Enter a valid hostname (a DNS label).")
    .max(63)
    .optional(),
  description: z.string().max(1024).optional(),
  architecture: arch.optional(),
  domain: z
    .string()
    .max(128)
    .regex(/^[a-z0-9.-]+$/i, "Enter a valid domain name.")
    .optional(),
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
  const ch: MachineChanges = {};
  if (b.hostname !== undefined && b.hostname !== m.hostname) ch.hostname = b.hostname;
  if (b.description !== undefined) ch.description = b.description;
  if (b.architecture !== undefined) ch.architecture = b.architecture;
  if (b.domain !== undefined && b.domain !== "") ch.domain = b.domain;
  if (b.zone !== undefined) ch.zoneId = await idOf(db, "zones", b.zone, "zone");
  if (b.pool !== undefined) ch.poolId = await idOf(db, "resource_pools", b.pool, "pool");
  if (b.cpu_count !== undefined) ch.cpuCount = b.cpu_count;
  if (b.memory !== undefined) ch.memory = b.memory;
  const given = powerParams(r.p);
  if (b.power_type !== undefined || given !== undefined) {
    const type = b.power_type ?? (m.powerType as PowerType);
    ch.power = await resealPower(db, r.c.env.PLINTH_SECRET_KEY, m, type, type === "manual" ? {} : (given ?? {}));
  }
  const keys = r.p.keys().filter((k) => !k.startsWith("oauth_"));
  await updateMachine(db, r.caller.username, m, ch, `updated through the MAAS API: ${keys.join(", ")}`);
  // A new hostname or domain renames the machine's DNS records and DHCP reservations.
  if (ch.hostname !== undefined || ch.domain !== undefined) await pushConfigAfter(r.c.env, m.siteId, "a machine edit");
  return json(await machineJsonById(db, m.systemId));
}

async function remove(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.delete");
  await deleteMachine(r.db, r.caller.username, m, " through the MAAS API");
  await pushConfigAfter(r.c.env, m.siteId, "a machine deletion");
  return deleted();
}

const LIST_PARAMS = ["hostname", "mac_address", "id", "domain", "zone", "not_in_zone", "pool", "not_in_pool", "agent_name", "tags", "arch", "status", "owner"];

export const machinesHandler: Handler = {
  name: "MachinesHandler",
  doc: "Manage the collection of all the machines in the MAAS.",
  path: "machines/",
  actions: [
    {
      method: "GET",
      op: null,
      doc: "List machines visible to the user, optionally filtered.",
      params: LIST_PARAMS,
      run: async (r) => json(await machinesJson(r.db, await listVisible(r, r.p))),
    },
    {
      method: "POST",
      op: null,
      doc: "Create a new machine. Administrators' machines are commissioned unless commission=false.",
      params: [
        "architecture",
        "mac_addresses",
        "hostname",
        "domain",
        "description",
        "power_type",
        "power_parameters_{param}",
        "commission",
        "zone",
        "pool",
        "site",
      ],
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
      method: "POST",
      op: "accept_all",
      doc: "Accept all New machines the caller may commission: each starts commissioning, as MAAS accepts an enlistment.",
      run: async (r) => {
        const only = (k: string, vs: string[]) => new Params(new Map([[k, vs]]));
        const fresh = (await listVisible(r, only("status", [String(NODE_STATUS.NEW)]))).filter((m) => can(r.caller, ACTION_PERMISSION.commission, m.siteId));
        // One at a time, as MAAS does: a refusal (no rack to power one on) stops the call with
        // its reason, and those before it stay accepted.
        for (const m of fresh) await runAction(r.c.env, r.caller, m, "commission", { comment: "accepted (accept_all)" });
        return json(
          fresh.length
            ? await machinesJson(
                r.db,
                await listVisible(
                  r,
                  only(
                    "id",
                    fresh.map((m) => m.systemId),
                  ),
                ),
              )
            : [],
        );
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
        // Refused outright, not an empty answer, to a caller who may reveal no machine's secrets.
        if (!canAnywhere(r.caller, "machine.secrets")) throw new MaasError(403, "Only an administrator can read machines' power parameters.");
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
    {
      method: "PUT",
      op: null,
      doc: "Update a machine.",
      params: ["hostname", "description", "domain", "architecture", "zone", "pool", "power_type", "power_parameters_{param}", "cpu_count", "memory"],
      run: update,
    },
    { method: "DELETE", op: null, doc: "Delete a machine.", run: remove },
  ],
};
