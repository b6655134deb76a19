// Codec failures are their own class: a malformed packet from a BMC is dropped by the
// session layer (it may be a stray or late datagram), never surfaced as a power result.
export class IpmiDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IpmiDecodeError";
  }
}

export function need(buf: Uint8Array, len: number, what: string): void {
  if (buf.length < len) throw new IpmiDecodeError(`${what}: ${buf.length} bytes, need ${len}`);
}

/** RMCP+ status codes (IPMI 2.0 table 13-15), as returned in Open Session and RAKP messages. */
export const RMCP_PLUS_STATUS: Record<number, string> = {
  0: "no errors",
  1: "insufficient resources to create a session",
  2: "invalid session ID",
  3: "invalid payload type",
  4: "invalid authentication algorithm",
  5: "invalid integrity algorithm",
  6: "no matching authentication payload",
  7: "no matching integrity payload",
  8: "inactive session ID",
  9: "invalid role",
  10: "unauthorized role or privilege level requested",
  11: "insufficient resources to create a session at the requested role",
  12: "invalid name length",
  13: "unauthorized name",
  14: "unauthorized GUID",
  15: "invalid integrity check value",
  16: "invalid confidentiality algorithm",
  17: "no cipher suite match with proposed security algorithms",
  18: "illegal or unrecognized parameter",
};

/** IPMI completion codes (IPMI 2.0 table 5-2) worth naming to an operator. */
export const COMPLETION_CODES: Record<number, string> = {
  192: "node busy",
  193: "invalid command",
  194: "command invalid for given LUN",
  195: "timeout while processing command",
  196: "out of space",
  197: "reservation cancelled or invalid",
  198: "request data truncated",
  199: "request data length invalid",
  200: "request data field length limit exceeded",
  201: "parameter out of range",
  202: "cannot return number of requested data bytes",
  203: "requested sensor, data, or record not present",
  204: "invalid data field in request",
  205: "command illegal for specified sensor or record type",
  206: "command response could not be provided",
  207: "cannot execute duplicated request",
  208: "SDR repository in update mode",
  209: "device in firmware update mode",
  210: "BMC initialization in progress",
  211: "destination unavailable",
  212: "insufficient privilege level",
  213: "command not supported in present state",
  214: "command sub-function has been disabled or is unavailable",
  255: "unspecified error",
};

/** Completion codes that a later retry can cure; everything else is a settings or support problem. */
export const TRANSIENT_COMPLETION_CODES = new Set([0xc0, 0xc3, 0xce, 0xcf, 0xd2, 0xd3, 0xff]);
