// machines/?op=allocate and machines/?op=release (many). Allocation is /api/v1's single
// conditional UPDATE (concurrent callers never get the same machine); this file only turns
// MAAS's constraint syntax into it and shapes the answer (constraints_by_type).
import { z } from "zod";
import { can, type Caller, visibleSites } from "../auth/roles";
import { ApiError } from "../http/errors";
import { allocate, type AllocateConstraints } from "../domain/machines/allocate";
import { getMachine, listMachines, type MachineRow } from "../machines/repo";
import { machinesJson } from "./load";
import { ReleaseBody, releaseOne, setAgentName } from "./machine-ops";
import type { Action, Req } from "./table";
import { boolParam, fieldError, forbidden, json, list, MaasError, numParam, parse } from "./wire";

const name = z.string().min(1).max(255);
// Tags may come repeated or comma-separated ("tags=a,b").
const names = list(z.string().max(1024)).transform((v) =>
  v
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter(Boolean),
);

const AllocateBody = z.object({
  name: name.optional(),
  system_id: z.string().max(64).optional(),
  arch: list(z.string().max(64)).optional(),
  cpu_count: numParam(0, 100_000).optional(),
  mem: numParam(0, 1 << 30).optional(),
  tags: names.optional(),
  not_tags: names.optional(),
  zone: name.optional(),
  not_in_zone: names.optional(),
  pool: name.optional(),
  not_in_pool: names.optional(),
  storage: z.string().max(4096).optional(),
  interfaces: z.string().max(4096).optional(),
  agent_name: z.string().max(255).optional(),
  comment: z.string().max(4096).optional(),
  dry_run: boolParam.optional(),
  verbose: boolParam.optional(),
});

interface StorageSpec {
  label: string;
  /** GB, as MAAS's storage constraint. */
  size: number;
}

/** "label:size(tag,tag),size,…" (labels optional; sizes in GB). */
export function parseStorage(spec: string): StorageSpec[] {
  const out: StorageSpec[] = [];
  const re = /\s*(?:([A-Za-z0-9_-]+):)?(\d+(?:\.\d+)?)(?:\(([^)]*)\))?\s*(?:,|$)/y;
  let i = 0;
  while (i < spec.length) {
    re.lastIndex = i;
    const m = re.exec(spec);
    if (!m || m[0] === "") throw fieldError("storage", `Malformed storage constraint at "${spec.slice(i)}".`);
    out.push({ label: m[1] ?? String(out.length), size: Number(m[2]) });
    i = re.lastIndex;
  }
  return out;
}

/** "label:space=ID;label:…" → labels in order (space matching is not enforced: see docs). */
export function parseInterfaces(spec: string): string[] {
  return spec
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^([A-Za-z0-9_-]+):(.+)$/.exec(s);
      if (!m) throw fieldError("interfaces", `Malformed interfaces constraint "${s}".`);
      return m[1]!;
    });
}

function constraintsByType(
  row: { interface_set: { id: number }[]; boot_interface?: { id: number } | null; blockdevice_set: { id: number }[]; boot_disk?: { id: number } | null },
  storage: StorageSpec[],
  ifaceLabels: string[],
) {
  const disks = [...row.blockdevice_set].sort((a, b) => (a.id === row.boot_disk?.id ? -1 : b.id === row.boot_disk?.id ? 1 : a.id - b.id));
  const ifaces = [...row.interface_set].sort((a, b) => (a.id === row.boot_interface?.id ? -1 : b.id === row.boot_interface?.id ? 1 : a.id - b.id));
  return {
    storage: Object.fromEntries(storage.map((s, i) => [s.label, disks[i] ? [disks[i]!.id] : []])),
    interfaces: Object.fromEntries(ifaceLabels.map((l, i) => [l, ifaces[i] ? [ifaces[i]!.id] : []])),
  };
}

function lifecycleSites(caller: Caller): number[] | null {
  if (caller.bindings.some((b) => b.siteId === null && can(caller, "machine.lifecycle", null))) return null;
  return caller.bindings.filter((b) => b.siteId !== null && can(caller, "machine.lifecycle", b.siteId)).map((b) => b.siteId!);
}

/** dry_run: the machine allocate would pick, found without changing anything. */
async function dryRun(r: Req, k: AllocateConstraints, arches: string[]): Promise<MachineRow | null> {
  const sites = lifecycleSites(r.caller);
  const { rows } = await listMachines(r.db, {
    status: [4],
    zone: k.zone ? [k.zone] : undefined,
    pool: k.pool ? [k.pool] : undefined,
    tags: k.tags,
    notTags: k.not_tags,
    hostname: k.hostname ? [k.hostname] : undefined,
    systemId: k.system_id ? [k.system_id] : undefined,
    visibleSites: sites ?? visibleSites(r.caller),
    limit: 1000,
  });
  return (
    rows.find(
      (m) =>
        !m.locked &&
        (!arches.length || arches.some((a) => m.architecture === a || m.architecture.startsWith(`${a}/`))) &&
        m.cpuCount >= (k.cpu_count ?? 0) &&
        m.memory >= (k.mem ?? 0) &&
        m.storage >= (k.storage ?? 0) &&
        !(k.not_in_zone ?? []).includes(m.zone) &&
        !(k.not_in_pool ?? []).includes(m.pool),
    ) ?? null
  );
}

async function allocateOp(r: Req): Promise<Response> {
  const b = parse(AllocateBody, r.p, ["arch", "tags", "not_tags", "not_in_zone", "not_in_pool"]);
  if (!r.caller.bindings.some((x) => can(r.caller, "machine.lifecycle", x.siteId))) throw forbidden("Your role does not allow allocating machines.");
  const storage = b.storage ? parseStorage(b.storage) : [];
  const ifaceLabels = b.interfaces ? parseInterfaces(b.interfaces) : [];
  const arches = b.arch ?? [];
  if (arches.length > 1) throw fieldError("arch", "Plinth matches one architecture per request.");
  const totalGb = storage.reduce((s, x) => s + x.size, 0);
  const k: AllocateConstraints = {
    hostname: b.name,
    system_id: b.system_id,
    arch: arches[0],
    cpu_count: b.cpu_count !== undefined ? Math.ceil(b.cpu_count) : undefined,
    mem: b.mem !== undefined ? Math.ceil(b.mem) : undefined,
    storage: totalGb > 0 ? totalGb * 1000 : undefined,
    tags: b.tags,
    not_tags: b.not_tags,
    zone: b.zone,
    not_in_zone: b.not_in_zone,
    pool: b.pool,
    not_in_pool: b.not_in_pool,
    comment: b.comment,
  };
  let systemId: string | null;
  if (b.dry_run) systemId = (await dryRun(r, k, arches))?.systemId ?? null;
  else {
    systemId = await allocate(r.db, r.caller, k);
    if (systemId && b.agent_name) await setAgentName(r.db, (await getMachine(r.db, systemId))!.id, b.agent_name);
  }
  if (!systemId) {
    const given = Object.entries(b).filter(([key, v]) => v !== undefined && key !== "comment" && key !== "dry_run" && key !== "verbose");
    throw new MaasError(
      409,
      `No available machine matches constraints: [${given.map(([key, v]) => `('${key}', ${JSON.stringify(Array.isArray(v) ? v : [String(v)])})`).join(", ")}] (resolved to "${given.map(([key, v]) => `${key}=${Array.isArray(v) ? v.join(",") : v}`).join(" ")}")`,
    );
  }
  const [row] = await machinesJson(r.db, [(await getMachine(r.db, systemId))!]);
  return json({ ...row!, constraints_by_type: constraintsByType(row!, storage, ifaceLabels) });
}

async function releaseMany(r: Req): Promise<Response> {
  const ids = r.p.all("machines");
  if (ids.length === 0) throw fieldError("machines", "This field is required.");
  const b = parse(ReleaseBody, r.p);
  const rows: MachineRow[] = [];
  const unknown: string[] = [];
  for (const id of ids) {
    const m = /^[a-z0-9]{1,64}$/.test(id) ? await getMachine(r.db, id) : null;
    const sites = visibleSites(r.caller);
    if (!m || (sites !== null && !sites.includes(m.siteId))) unknown.push(id);
    else rows.push(m);
  }
  if (unknown.length) throw new MaasError(400, `Unknown machine(s): ${unknown.join(", ")}.`);
  for (const m of rows) if (!can(r.caller, "machine.lifecycle", m.siteId)) throw forbidden(`You do not have permission to release ${m.systemId}.`);
  const released: string[] = [];
  const failed: string[] = [];
  for (const m of rows) {
    try {
      const before = m.status;
      await releaseOne(r, m, b);
      if (before !== 4) released.push(m.systemId);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 409) throw e;
      failed.push(`${m.systemId} ('${e.message}')`);
    }
  }
  if (failed.length) throw new MaasError(409, `Machine(s) cannot be released in their current state: ${failed.join(", ")}.`);
  return json(released);
}

export const machinesOps: Action[] = [
  {
    method: "POST",
    op: "allocate",
    doc: "Allocate an available machine for deployment. Constraints: name, system_id, arch, cpu_count, mem (MiB), tags, not_tags, zone, not_in_zone, pool, not_in_pool, storage, interfaces.",
    params: [
      "name",
      "system_id",
      "arch",
      "cpu_count",
      "mem",
      "tags",
      "not_tags",
      "zone",
      "not_in_zone",
      "pool",
      "not_in_pool",
      "storage",
      "interfaces",
      "agent_name",
      "comment",
      "dry_run",
      "verbose",
    ],
    run: allocateOp,
  },
  {
    method: "POST",
    op: "release",
    doc: "Release multiple machines.",
    params: ["machines", "comment", "erase", "secure_erase", "quick_erase", "force"],
    run: releaseMany,
  },
];
