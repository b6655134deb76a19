// Allocation with constraints, MAAS's way: one READY machine matching them changes owner
// atomically, whichever API asks.
import { decide, NODE_STATUS } from "../../../shared/lifecycle";
import { can, type Caller } from "../../auth/roles";
import { badRequest } from "../../http/errors";
import { machineEventStatement } from "../events";

/** What a caller may ask for (both APIs parse their own forms into this). */
export interface AllocateConstraints {
  system_id?: string | undefined;
  hostname?: string | undefined;
  arch?: string | undefined;
  cpu_count?: number | undefined;
  mem?: number | undefined;
  storage?: number | undefined;
  tags?: string[] | undefined;
  not_tags?: string[] | undefined;
  zone?: string | undefined;
  not_in_zone?: string[] | undefined;
  pool?: string | undefined;
  not_in_pool?: string[] | undefined;
  site?: string | undefined;
  comment?: string | undefined;
}

/**
 * Allocates one READY machine matching the constraints in a single conditional UPDATE
 * (D1 runs each statement atomically), so concurrent callers never get the same machine.
 * The event is written in the same batch, keyed by a nonce. Returns the system_id or null.
 */
export async function allocate(db: D1Database, caller: Caller, k: AllocateConstraints): Promise<string | null> {
  return (await allocateThenRead(db, caller, k, () => [])).systemId;
}

/**
 * allocate, with reads of the allocated machine in the same batch (after the change, so they see
 * it; found by the operation's nonce, so they find nothing when nothing was allocated): the
 * caller's answer costs no further round trip. `results` are the reads' results, in order.
 */
export async function allocateThenRead(
  db: D1Database,
  caller: Caller,
  k: AllocateConstraints,
  reads: (where: "op_nonce = ?", nonce: string) => D1PreparedStatement[],
): Promise<{ systemId: string | null; results: D1Result[] }> {
  // The lifecycle table names the move; only a READY, unlocked machine may make it.
  const from = NODE_STATUS.READY;
  const d = decide({ status: from, previousStatus: null, locked: false }, "allocate");
  if (!d.ok) throw new Error(`the lifecycle table no longer allows allocating a Ready machine: ${d.reason}`);
  const where = ["c.status = ?", "c.locked = 0"];
  const args: (string | number)[] = [from];
  const add = (sql: string, ...a: (string | number)[]) => {
    where.push(sql);
    args.push(...a);
  };
  // Only sites where the caller may allocate.
  if (!caller.bindings.some((b) => b.siteId === null && can(caller, "machine.lifecycle", null))) {
    const sites = caller.bindings.filter((b) => b.siteId !== null && can(caller, "machine.lifecycle", b.siteId)).map((b) => b.siteId!);
    add("c.site_id IN (SELECT value FROM json_each(?))", JSON.stringify(sites));
  }
  if (k.system_id) add("c.system_id = ?", k.system_id);
  if (k.hostname) add("c.hostname = ?", k.hostname);
  if (k.arch) add("(c.architecture = ? OR c.architecture LIKE ? ESCAPE '\\')", k.arch, `${k.arch.replace(/[\\%_]/g, (x) => `\\${x}`)}/%`);
  if (k.cpu_count) add("c.cpu_count >= ?", k.cpu_count);
  if (k.mem) add("c.memory >= ?", k.mem);
  if (k.storage) add("c.storage >= ?", k.storage);
  if (k.zone) add("c.zone_id = (SELECT id FROM zones WHERE name = ?)", k.zone);
  if (k.pool) add("c.pool_id = (SELECT id FROM resource_pools WHERE name = ?)", k.pool);
  if (k.site) add("c.site_id = (SELECT id FROM sites WHERE name = ?)", k.site);
  if (k.not_in_zone?.length) add("c.zone_id NOT IN (SELECT id FROM zones WHERE name IN (SELECT value FROM json_each(?)))", JSON.stringify(k.not_in_zone));
  if (k.not_in_pool?.length)
    add("c.pool_id NOT IN (SELECT id FROM resource_pools WHERE name IN (SELECT value FROM json_each(?)))", JSON.stringify(k.not_in_pool));
  for (const t of k.tags ?? []) add("EXISTS (SELECT 1 FROM machine_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.machine_id = c.id AND t.name = ?)", t);
  for (const t of k.not_tags ?? [])
    add("NOT EXISTS (SELECT 1 FROM machine_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.machine_id = c.id AND t.name = ?)", t);
  if (args.length > 90) throw badRequest("too many constraints");

  const nonce = crypto.randomUUID();
  const now = Date.now();
  const results = await db.batch([
    db
      .prepare(
        `UPDATE machines SET status = ?, owner_id = ?, op_nonce = ?, updated_at = ?, previous_status = NULL, status_expires = NULL, status_message = ?
         WHERE id = (SELECT c.id FROM machines c WHERE ${where.join(" AND ")} ORDER BY c.id LIMIT 1) AND status = ? AND locked = 0
         RETURNING system_id`,
      )
      .bind(d.to, caller.userId, nonce, now, k.comment ?? "", ...args, from),
    machineEventStatement(
      db,
      {
        type: "machine.allocate",
        actor: caller.username,
        fromStatus: from,
        toStatus: "current",
        description: k.comment ? `allocate: ${k.comment}` : "allocate",
        at: now,
      },
      "m.op_nonce = ?",
      nonce,
    ),
    ...reads("op_nonce = ?", nonce),
  ]);
  const row = results[0]?.results?.[0] as { system_id: string } | undefined;
  return { systemId: row?.system_id ?? null, results: results.slice(2) };
}
