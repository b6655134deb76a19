// The 429 a client address gets once it has sent too many bad tokens (cloud/domain/users.ts
// counts them). Checked only after a token failed, so a valid one is never slowed or refused.
import type { Context } from "hono";
import type { RackAuth } from "../domain/racks/credentials";
import { recordBadToken } from "../domain/users";
import { ApiError } from "../http/errors";
import { clientAddress } from "./session";

/** Counts a bad token from the caller's address: seconds to wait when over the limit, else 0. */
export function badToken(c: Context): Promise<number> {
  return recordBadToken(c.env.DB, clientAddress(c));
}

export const tooManyBadTokens = (wait: number) =>
  new ApiError(
    429,
    "too_many_attempts",
    `too many failed authentication attempts from this address: try again in ${Math.ceil(wait / 60)} minute(s)`,
    { retry_after_s: wait },
    { "retry-after": String(wait) },
  );

/** The /api/v1 refusal of a bad token: 429 once the address is over the limit, else `refusal`. */
export async function refuseBadToken(c: Context, refusal: ApiError): Promise<never> {
  const wait = await badToken(c);
  throw wait > 0 ? tooManyBadTokens(wait) : refusal;
}

/** A rack credential refused: a wrong one counts as a bad token; a revoked rack's does not (it is real). */
export async function refuseRack(c: Context, auth: Extract<RackAuth, { ok: false }>): Promise<never> {
  const refusal = new ApiError(401, auth.code, auth.message, undefined, { "www-authenticate": 'Bearer realm="plinth-rack"' });
  if (auth.code === "unauthorized") await refuseBadToken(c, refusal);
  throw refusal;
}
