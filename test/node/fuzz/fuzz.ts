// Shared settings of the property-based fuzzers. `npm test` runs a short, seeded pass (the same
// inputs every time, so a failure reproduces and never flakes); `npm run fuzz` sets FUZZ_RUNS
// for a long pass from a fresh seed, which fast-check prints with any counterexample:
// FUZZ_SEED=<seed> FUZZ_RUNS=<n> replays it.
import fc from "fast-check";

const LONG = Number(process.env.FUZZ_RUNS ?? 0);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

/** fast-check parameters: `short` runs from a fixed seed, or FUZZ_RUNS from a fresh one. */
export function runs(short: number): fc.Parameters<unknown> {
  if (LONG > 0) return { numRuns: LONG, ...(SEED === undefined ? {} : { seed: SEED }) };
  return { numRuns: short, seed: SEED ?? 0x21 };
}

/** Long enough for a long pass: 100,000 inputs of the slower parsers take minutes on 2 cores. */
export const TIMEOUT = LONG > 0 ? 3_600_000 : 30_000;

/**
 * Calls `f`, and returns what it threw when that is one of `allowed`. Anything else (a
 * TypeError, a RangeError from a Buffer read) is a crash and fails the property.
 */
export function expectOnly<T>(f: () => T, ...allowed: (abstract new (...a: never[]) => Error)[]): { value: T } | { error: Error } {
  try {
    return { value: f() };
  } catch (e) {
    if (allowed.some((c) => e instanceof c)) return { error: e as Error };
    throw e;
  }
}

/** Bytes with a bias towards `seeds` (valid packets) flipped, cut, extended and spliced. */
export function mutated(seeds: fc.Arbitrary<Uint8Array>, maxLength = 1500): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
  );
  return fc.tuple(seeds, fc.array(edit, { maxLength: 8 })).map(([seed, edits]) => {
    let b = Buffer.from(seed);
    for (const e of edits) {
      const at = b.length === 0 ? 0 : e.at % (b.length + 1);
      if (e.kind === "set" && at < b.length) b[at] = e.byte;
      else if (e.kind === "cut") b = b.subarray(0, at);
      else if (e.kind === "insert") b = Buffer.concat([b.subarray(0, at), e.bytes, b.subarray(at)]);
    }
    return b.length > maxLength ? b.subarray(0, maxLength) : b;
  });
}

/** Plain random bytes, or a mutation of a valid input: both kinds in one arbitrary. */
export function bytes(seeds: fc.Arbitrary<Uint8Array>, maxLength = 1500): fc.Arbitrary<Buffer> {
  return fc.oneof({ weight: 1, arbitrary: fc.uint8Array({ maxLength }).map((u) => Buffer.from(u)) }, { weight: 3, arbitrary: mutated(seeds, maxLength) });
}

/** A JSON value with one value somewhere inside replaced (by any JSON: a string for an object, null...). */
export function replaceAt(v: unknown, path: number[], by: unknown): unknown {
  if (path.length === 0 || v === null || typeof v !== "object") return by;
  const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v);
  if (entries.length === 0) return by;
  const i = path[0]! % entries.length;
  const [k, child] = entries[i]!;
  const next = replaceAt(child, path.slice(1), by);
  if (Array.isArray(v)) return v.map((x, j) => (j === i ? next : x));
  return { ...(v as object), [k]: next };
}
