// BMC parameters: validated per power type, encrypted at rest bound to their machine, and read
// back in one place (the region never returns them except through an audited reveal).
import { powerParameterSchemas, type PowerType } from "../../../shared/power";
import { decryptJson, encryptJson } from "../../auth/secrets";
import { badRequest } from "../../http/errors";
import { eventStatement } from "../events";

export interface SealedPower {
  powerType: PowerType;
  /** The encrypted parameters, or null when none is set. */
  enc: string | null;
  /** The names of the parameters that are set (what the API shows). */
  set: string[];
}

/** Validates power parameters for their type and encrypts them; returns what to store. */
export async function sealPower(secretKey: string, type: PowerType, params: Record<string, unknown>, systemId: string): Promise<SealedPower> {
  const r = powerParameterSchemas[type].safeParse(params);
  if (!r.success)
    throw badRequest(
      `power_parameters are not valid for power_type ${type}`,
      r.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
    );
  const set = Object.entries(r.data as Record<string, unknown>)
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k]) => k)
    .sort();
  return { powerType: type, enc: set.length ? await encryptJson(secretKey, r.data, systemId) : null, set };
}

/**
 * The stored parameters of one machine, decrypted ({} when none are set). A machine read with
 * getMachine carries them already (`powerParamsEnc`), and is not read again.
 */
export async function storedPowerParams(
  db: D1Database,
  secretKey: string,
  m: { id: number; systemId: string; powerParamsEnc?: string | null | undefined },
): Promise<Record<string, unknown>> {
  if (m.powerParamsEnc !== undefined) return openPowerParams(secretKey, m.powerParamsEnc, m.systemId);
  const row = await db.prepare("SELECT power_params_enc AS enc FROM machines WHERE id = ?").bind(m.id).first<{ enc: string | null }>();
  return openPowerParams(secretKey, row?.enc ?? null, m.systemId);
}

export async function openPowerParams(secretKey: string, enc: string | null, systemId: string): Promise<Record<string, unknown>> {
  return enc ? ((await decryptJson(secretKey, enc, systemId)) as Record<string, unknown>) : {};
}

/**
 * New parameters for a machine: of the same type, the given ones update the stored ones (so a
 * password can change alone); of another type they replace them.
 */
export async function resealPower(
  db: D1Database,
  secretKey: string,
  m: { id: number; systemId: string; powerType: string; powerParamsEnc?: string | null | undefined },
  type: PowerType,
  given: Record<string, unknown>,
): Promise<SealedPower> {
  const params = type === m.powerType && type !== "manual" ? { ...(await storedPowerParams(db, secretKey, m)), ...given } : given;
  return sealPower(secretKey, type, params, m.systemId);
}

/** The decrypted parameters for an admin, with the reveal in the audit log. */
export async function revealPowerParams(
  db: D1Database,
  secretKey: string,
  m: { id: number; systemId: string; hostname: string; siteId: number; status: number; powerParamsEnc?: string | null | undefined },
  actor: string,
  via = "",
): Promise<Record<string, unknown>> {
  const params = await storedPowerParams(db, secretKey, m);
  await eventStatement(db, {
    machineId: m.id,
    systemId: m.systemId,
    hostname: m.hostname,
    siteId: m.siteId,
    type: "machine.power_parameters_revealed",
    level: "AUDIT",
    actor,
    description: `BMC parameters revealed${via}`,
    fromStatus: m.status,
    toStatus: m.status,
  }).run();
  return params;
}
