// How IPMI failures become PowerErrors (fatal: the operator must change something; transient:
// worth a retry), shared by the handshake, the session and the driver.
import { PowerError } from "../driver";
import { COMPLETION_CODES, IpmiDecodeError, TRANSIENT_COMPLETION_CODES } from "./errors";
import { NoResponseError } from "./transport";

export function fatal(code: string, message: string): PowerError {
  return new PowerError("fatal", code, message);
}

export function toPowerError(e: unknown, where: string): PowerError {
  if (e instanceof PowerError) return e;
  if (e instanceof NoResponseError) {
    return new PowerError("transient", e.reason === "timeout" ? "no_response" : "connection", `${e.message}`);
  }
  if (e instanceof IpmiDecodeError) return new PowerError("transient", "protocol", `${where}: ${e.message}`);
  return new PowerError("transient", "internal", `${where}: ${(e as Error).message ?? String(e)}`);
}

export function completionError(cc: number, what: string, where: string): PowerError {
  const text = COMPLETION_CODES[cc] ?? `completion code 0x${cc.toString(16)}`;
  const msg = `${where}: ${what} failed: ${text}`;
  if (cc === 0xd4) return fatal("insufficient_privilege", `${msg}; the BMC user needs a higher privilege`);
  if (cc === 0xc1) return fatal("unsupported", msg);
  return new PowerError(TRANSIENT_COMPLETION_CODES.has(cc) ? "transient" : "fatal", `completion_0x${cc.toString(16)}`, msg);
}
