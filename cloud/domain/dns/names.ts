// DNS names as RFC 1035 (with RFC 1123's leading digits) allows them: labels of 1..63 letters,
// digits and hyphens, no hyphen at either end, at most 253 characters in all. Owner names of SRV
// and TXT data may hold underscore labels ("_sip._tcp", "_dmarc"), so `owner` allows them.

/** Why `name` is not a valid domain name, or null when it is. Lower case is the caller's job. */
export function nameProblem(name: string, opts: { underscore?: boolean } = {}): string | null {
  if (name.length === 0) return "a name cannot be empty";
  if (name.length > 253) return `"${name.slice(0, 40)}…" is longer than 253 characters`;
  for (const label of name.split(".")) {
    const p = labelProblem(label, opts);
    if (p) return `"${name}": ${p}`;
  }
  return null;
}

export function labelProblem(label: string, opts: { underscore?: boolean } = {}): string | null {
  if (label.length === 0) return "a label cannot be empty (two dots in a row, or a dot at an end)";
  if (label.length > 63) return `the label "${label.slice(0, 20)}…" is longer than 63 characters`;
  // An underscore label is a service or attribute tag (RFC 8552): "_" then an ordinary label.
  const body = opts.underscore && label.startsWith("_") ? label.slice(1) : label;
  if (!/^[a-z0-9-]+$/i.test(body)) return `the label "${label}" may hold only letters, digits and hyphens`;
  if (body.startsWith("-") || body.endsWith("-")) return `the label "${label}" cannot start or end with a hyphen`;
  return null;
}

/** The name of a record in its domain: "@" is the apex; else one or more labels, underscores allowed. */
export function ownerProblem(name: string, domain: string): string | null {
  if (name === "@") return null;
  const p = nameProblem(name, { underscore: true });
  if (p) return p;
  if (name.length + 1 + domain.length > 253) return `"${name}.${domain}" is longer than 253 characters`;
  return null;
}

export const fqdnOf = (name: string, domain: string) => (name === "@" ? domain : `${name}.${domain}`);

/** A name given with a trailing dot means the same name; DNS compares names without case. */
export const normalName = (s: string) => s.trim().replace(/\.$/, "").toLowerCase();
