// One byte range of a Range header (RFC 9110 §14.1.2), as a rack asks to resume a download.
// Only single ranges: a rack never asks for several, so anything else is refused as bad.

export type ByteRange = { kind: "none" } | { kind: "range"; offset: number; length: number } | { kind: "bad" };

export function parseByteRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return { kind: "none" };
  const m = /^bytes=(\d{0,16})-(\d{0,16})$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return { kind: "bad" };
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return { kind: "bad" };
    const n = Math.min(suffix, size);
    return { kind: "range", offset: size - n, length: n };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return { kind: "bad" };
  return { kind: "range", offset: start, length: end - start + 1 };
}
