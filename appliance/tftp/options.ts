// Option negotiation for a read request: blksize (RFC 2348), timeout and tsize (RFC 2349),
// windowsize (RFC 7440). Pure. A value we cannot honour is dropped from the OACK rather than
// refused: the client then falls back to the RFC 1350 default, which every client handles.
import type { Options } from "./packet";

export interface Limits {
  /** Largest block we agree to; above the path MTU means IP fragments, so sites may lower it. */
  maxBlksize: number;
  /** Largest window; bursts beyond the client's socket buffer are just lost packets. */
  maxWindowsize: number;
}

export const DEFAULT_LIMITS: Limits = { maxBlksize: 65464, maxWindowsize: 512 };

export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** Seconds, when the client asked for one (RFC 2349); otherwise the server's own policy. */
  timeout: number | null;
  /** The options to acknowledge; null means no OACK, start with DATA 1 (RFC 1350). */
  oack: Options | null;
}

function intIn(value: string | undefined, min: number, max: number): number | null {
  if (value === undefined || !/^\d{1,10}$/.test(value)) return null;
  const n = Number(value);
  return n >= min && n <= max ? n : null;
}

/** Negotiate for an RRQ on a file of `size` bytes (null when unknown ahead of time). */
export function negotiate(requested: Options, size: number | null, limits: Limits = DEFAULT_LIMITS): Negotiated {
  const oack: Options = {};
  let blksize = 512;
  let windowsize = 1;
  let timeout: number | null = null;

  // RFC 2348 range is 8..65464; a larger request is answered with our maximum.
  const b = intIn(requested["blksize"], 8, 65535);
  if (b !== null) {
    blksize = Math.min(b, limits.maxBlksize, 65464);
    oack["blksize"] = String(blksize);
  }
  const t = intIn(requested["timeout"], 1, 255);
  if (t !== null) {
    timeout = t;
    oack["timeout"] = String(t);
  }
  // In an RRQ the client sends tsize 0 and the server answers with the real size. Not for an
  // empty file: curl (7.88) fails on "tsize 0" as invalid, against tftpd-hpa and atftpd too,
  // which both send it; leaving it out is allowed (RFC 2349) and every client then just reads.
  if (requested["tsize"] !== undefined && size !== null && size > 0 && intIn(requested["tsize"], 0, Number.MAX_SAFE_INTEGER) !== null) {
    oack["tsize"] = String(size);
  }
  const w = intIn(requested["windowsize"], 1, 65535);
  if (w !== null) {
    windowsize = Math.min(w, limits.maxWindowsize);
    oack["windowsize"] = String(windowsize);
  }
  return { blksize, windowsize, timeout, oack: Object.keys(oack).length > 0 ? oack : null };
}
