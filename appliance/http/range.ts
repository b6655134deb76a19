// Single-range byte requests (RFC 9110 §14). Multi-range and malformed headers are ignored
// (the whole file is sent), as the RFC allows: iPXE, curl and the deploy environment only
// ever ask for one range, to resume.

export type RangeResult = { kind: "full" } | { kind: "partial"; start: number; end: number } | { kind: "unsatisfiable" };

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return { kind: "full" };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return { kind: "full" };
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return { kind: "unsatisfiable" };
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) return { kind: "full" };
  }
  if (start >= size || !Number.isSafeInteger(start)) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end };
}
