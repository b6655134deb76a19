// Operator record data, checked per type. Data is stored as the operator wrote it (clients such
// as terraform compare what they read back with what they sent) and normalised into the
// snapshot's form (shared/dns/zone.ts: absolute names, no trailing dot) when zones are built.
import { OPERATOR_RR_TYPES } from "../../../shared/dns/zone";
import { parseIp } from "../addresses";
import { nameProblem } from "./names";

export type OperatorRrType = (typeof OPERATOR_RR_TYPES)[number];

export const isOperatorType = (t: string): t is OperatorRrType => (OPERATOR_RR_TYPES as readonly string[]).includes(t);

export type Parsed = { ok: true; data: string } | { ok: false; error: string };

const u16 = (s: string | undefined) => s !== undefined && /^\d{1,5}$/.test(s) && Number(s) <= 65535;

/**
 * A target name in record data: with a trailing dot or a dot inside it is absolute; a single
 * label is relative to the record's domain (as in a master file with $ORIGIN at the domain).
 * "." is the root (a null MX or an SRV "no service here").
 */
function target(raw: string | undefined, domain: string): Parsed {
  if (raw === undefined || raw === "") return { ok: false, error: "a target name is missing" };
  if (raw === ".") return { ok: true, data: "" };
  const abs = raw.endsWith(".") || raw.slice(0, -1).includes(".");
  const name = raw.replace(/\.$/, "").toLowerCase();
  const p = nameProblem(name, { underscore: true });
  if (p) return { ok: false, error: p };
  const fq = abs ? name : `${name}.${domain}`;
  if (fq.length > 253) return { ok: false, error: `"${fq}" is longer than 253 characters` };
  return { ok: true, data: fq };
}

/** The data of an operator record in the snapshot's form, or why it is not valid for its type. */
export function parseRrdata(type: string, rrdata: string, domain: string): Parsed {
  const text = rrdata.trim();
  const f = text.split(/\s+/);
  switch (type) {
    case "A":
    case "AAAA": {
      const a = parseIp(text);
      const want = type === "A" ? 4 : 6;
      if (!a || a.family !== want) return { ok: false, error: `${type} data must be an IPv${want} address, not "${text}"` };
      return { ok: true, data: text.toLowerCase() === text ? text : text.toLowerCase() };
    }
    case "CNAME":
    case "NS":
      if (f.length !== 1) return { ok: false, error: `${type} data must be one name, not "${text}"` };
      return target(f[0], domain);
    case "MX": {
      if (f.length !== 2 || !u16(f[0])) return { ok: false, error: `MX data must be "preference name" (preference 0-65535), not "${text}"` };
      const t = target(f[1], domain);
      return t.ok ? { ok: true, data: `${Number(f[0])} ${t.data}` } : t;
    }
    case "SRV": {
      if (f.length !== 4 || !u16(f[0]) || !u16(f[1]) || !u16(f[2]))
        return { ok: false, error: `SRV data must be "priority weight port target" (numbers 0-65535), not "${text}"` };
      const t = target(f[3], domain);
      return t.ok ? { ok: true, data: `${Number(f[0])} ${Number(f[1])} ${Number(f[2])} ${t.data}` } : t;
    }
    case "TXT": {
      // One pair of enclosing quotes is the master-file spelling of the text, not part of it.
      const body = text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
      if (body.length === 0) return { ok: false, error: "TXT data cannot be empty" };
      if (body.length > 4000) return { ok: false, error: "TXT data is longer than 4000 characters" };
      return { ok: true, data: body };
    }
    default:
      return { ok: false, error: `"${type}" is not a record type operators may create (${OPERATOR_RR_TYPES.join(", ")})` };
  }
}
