// Applies one lifecycle action to one machine: the decision comes from shared/lifecycle.ts,
// the change is a compare-and-set UPDATE, and its event is written in the same D1 batch
// (one transaction), so no transition is ever recorded without its event or the reverse.
import { type Action, decide, NODE_STATUS, PHASE_DEADLINES, type Status, STATUS_NAME, allowedActions } from "../../../shared/lifecycle";
import { randomString } from "../../auth/crypto";
import { ApiError } from "../../http/errors";
import { releaseAutoStatement } from "../addresses";
import { machineEventStatement } from "../events";

export interface MachineCore {
  id: number;
  systemId: string;
  status: number;
  previousStatus: number | null;
  locked: boolean;
  powerType: string;
}

export interface ActionOptions {
  actor: string;
  reason?: string;
  erase?: boolean;
  now?: number;
  /** New owner (allocate, deploy from READY). */
  ownerId?: number;
  /** Extra columns to set in the same UPDATE (osystem, distro_series, user_data). */
  set?: Record<string, string | number | null>;
}

const OWNERLESS = new Set<Status>([NODE_STATUS.NEW, NODE_STATUS.READY, NODE_STATUS.COMMISSIONING, NODE_STATUS.FAILED_COMMISSIONING, NODE_STATUS.TESTING]);

export function illegal(m: { status: number; previousStatus: number | null; locked: boolean }, reason: string, allowed?: string[]) {
  const status = m.status as Status;
  return new ApiError(409, "illegal_transition", reason, {
    status,
    status_name: STATUS_NAME[status],
    locked: m.locked,
    allowed_actions: allowed ?? allowedActions({ status, previousStatus: m.previousStatus as Status | null, locked: m.locked }),
  });
}

const SAFE_COLUMN = /^[a-z_]+$/;

/** Statuses a machine holds no deployment in, so no AUTO address either. */
const RETURNS_ADDRESSES = new Set<Status>([NODE_STATUS.READY, NODE_STATUS.ALLOCATED, NODE_STATUS.NEW]);

/** Returns the new status, or throws 409 (illegal, or changed under us). */
export async function applyAction(db: D1Database, m: MachineCore, action: Action, opts: ActionOptions): Promise<Status> {
  const state = { status: m.status as Status, previousStatus: m.previousStatus as Status | null, locked: m.locked };
  const d = decide(state, action, { erase: opts.erase });
  if (!d.ok) throw illegal(m, d.reason, d.allowed);
  const now = opts.now ?? Date.now();
  const nonce = randomString(20);
  const deadline = PHASE_DEADLINES[d.to];
  const expires = deadline && d.to !== m.status ? now + deadline.minutes * 60_000 : d.to === m.status ? undefined : null;

  const sets: string[] = ["status = ?", "previous_status = ?", "locked = ?", "op_nonce = ?", "updated_at = ?"];
  const args: (string | number | null)[] = [d.to, d.previousStatus, d.locked ? 1 : 0, nonce, now];
  if (expires !== undefined) {
    sets.push("status_expires = ?");
    args.push(expires);
  }
  if (d.to !== m.status) {
    sets.push("status_message = ?");
    args.push(opts.reason ?? "");
  }
  if (opts.ownerId !== undefined) {
    sets.push("owner_id = ?");
    args.push(opts.ownerId);
  } else if (OWNERLESS.has(d.to)) {
    sets.push("owner_id = NULL");
  }
  for (const [col, v] of Object.entries(opts.set ?? {})) {
    if (!SAFE_COLUMN.test(col)) throw new Error(`bad column ${col}`);
    sets.push(`${col} = ?`);
    args.push(v);
  }
  const description = opts.reason ? `${action}: ${opts.reason}` : action;
  const update = db
    .prepare(`UPDATE machines SET ${sets.join(", ")} WHERE id = ? AND status = ? AND locked = ?`)
    .bind(...args, m.id, m.status, m.locked ? 1 : 0);
  const level = action === "timeout" || action.endsWith("failed") ? "ERROR" : "INFO";
  const event = machineEventStatement(
    db,
    { type: `machine.${action}`, level, actor: opts.actor, fromStatus: m.status, toStatus: "current", description, at: now },
    "m.op_nonce = ?",
    nonce,
  );
  // Back to READY or ALLOCATED (release, an aborted deployment): AUTO addresses go back to
  // their subnets in the same transaction; STATIC ones and reservations stay.
  const giveBack = d.to !== m.status && RETURNS_ADDRESSES.has(d.to) ? [releaseAutoStatement(db, m.id, { nonce })] : [];
  const [u] = await db.batch([update, event, ...giveBack]);
  if (u?.meta.changes !== 1) {
    throw new ApiError(409, "concurrent_change", "the machine changed while this action was applied; read it and try again");
  }
  return d.to;
}
