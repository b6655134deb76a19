// Human tables by default, JSON with --json (one document on stdout, nothing else there).
import { decimalBytes } from "../shared/format";

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown) => (v === null || v === undefined || v === "" ? "-" : Array.isArray(v) ? v.join(",") || "-" : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join("\n");
}

export function printTable(rows: Record<string, unknown>[], columns: string[], empty = "nothing to show"): void {
  process.stdout.write(rows.length ? `${table(rows, columns)}\n` : `${empty}\n`);
}

export function printFields(obj: Record<string, unknown>, fields: string[]): void {
  const w = Math.max(...fields.map((f) => f.length));
  for (const f of fields) {
    const v = obj[f];
    process.stdout.write(
      `${f.padEnd(w)}  ${v === null || v === undefined || v === "" ? "-" : Array.isArray(v) ? v.join(", ") || "-" : typeof v === "object" ? JSON.stringify(v) : String(v)}\n`,
    );
  }
}

export function mib(n: number): string {
  return n >= 1024 ? `${+(n / 1024).toFixed(1)}G` : `${n}M`;
}

/** Decimal units, as disk vendors and the dashboard print them. */
export const bytes = decimalBytes;
